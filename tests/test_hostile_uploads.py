"""Hostile uploads against the real folder loader, with its real caps (nothing patched).

Each input is built here (zipfile, PIL, os.symlink). For every one the load must skip the bad file
(counted in ``ds.skipped``, the good images still loaded) or raise one GanlabError sentence, and:
- write nothing anywhere: the tree under tmp_path, its parent and the absolute targets are listed
  before and after, with the working directory inside the upload's folder;
- read nothing outside the folder: the files the hostile entries point at are green, the good ones red
  and blue, so a green image in the set means the loader followed a name or link outside;
- inflate no bomb: the peak of Python allocations (tracemalloc: zlib's output is Python bytes) and the
  growth of the process's peak RSS stay far below the bomb's size. The RSS check can only miss (when an
  earlier test already pushed the peak higher), never fail wrongly; tracemalloc is exact.
"""
import io
import os
import resource
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganlab.config import DataConfig
from ganlab.data import load_dataset
from ganlab.errors import GanlabError

MB = 2**20
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
PY_PEAK = 16 * MB             # a load of a few tiny images allocates well under this
RSS_GROWTH = 64 * MB
ABSOLUTE_TARGETS = [Path("/tmp/evil.png"), Path("/evil.png")]


def png(colour, size=(16, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


GOOD = {"a.png": png(RED), "b.png": png(BLUE)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(side=20_000) -> bytes:
    """A valid black side x side PNG of ~50 KB: 1 bit per pixel, 50 MB of rows deflated ~1000:1.

    Decoded it is side**2 bytes (PIL keeps a byte per pixel): 400 MB.
    """
    row = b"\0" * (1 + side // 8)                     # filter byte 0, then the row's packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * 1000) for _ in range(side // 1000)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)    # bit depth 1, greyscale, no interlace
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    assert len(data) < 100_000
    return data


def truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


BAD_CONTENT = {
    "huge.png": huge_png(),
    "truncated.png": truncated_png(),
    "notes.png": b"a shopping list, not an image\n" * 20,
}


# ---- building and watching ------------------------------------------------------------------------------
def write_zip(path: Path, members: dict, extra=None) -> Path:
    """``members`` name -> bytes, deflated; ``extra(zf)`` may add hand-made members."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if extra is not None:
            extra(zf)
    return path


def add_zeros(name: str, size: int):
    """A member of ``size`` zero bytes, streamed in 1 MiB chunks (never ``size`` bytes in memory)."""
    def add(zf: zipfile.ZipFile) -> None:
        chunk = bytes(MB)
        with zf.open(name, "w") as f:
            for _ in range(size // MB):
                f.write(chunk)
    return add


def snapshot(tmp_path: Path) -> set:
    return (set(tmp_path.rglob("*")) | set(tmp_path.parent.iterdir())
            | {p for p in ABSOLUTE_TARGETS if p.exists()})


def max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # KiB on Linux


def load_watched(path: Path, tmp_path: Path, monkeypatch):
    """Load folder:path from inside its folder; the dataset (or the GanlabError) and what it cost."""
    monkeypatch.chdir(path.parent if path.is_file() else path)           # a relative write lands in tmp_path
    before, rss = snapshot(tmp_path), max_rss()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = load_dataset(DataConfig(name=f"folder:{path}"))
    except GanlabError as e:
        result = e
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert snapshot(tmp_path) == before, "the load wrote or removed files"
    assert peak < PY_PEAK, f"the load allocated {peak / MB:.0f} MiB"
    assert max_rss() - rss < RSS_GROWTH, f"the process grew by {(max_rss() - rss) / MB:.0f} MiB"
    assert seconds < 2, seconds
    return result


def assert_good_only(ds, skipped: int) -> None:
    """The red and blue good images, and nothing else (a green one was read from outside)."""
    assert not isinstance(ds, GanlabError), ds
    assert ds.skipped == skipped and f"skipped {skipped} file" in ds.note, (ds.skipped, ds.note)
    colours = ((ds.x.mean((2, 3)) + 1) * 127.5).round().int().tolist()
    assert sorted(map(tuple, colours)) == sorted([BLUE, RED]), colours


# ---- names that point outside ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../evil.png", "/tmp/evil.png", "good/../../evil.png", "..\\evil.png",
                                  "C:\\evil.png"])
def test_zip_member_named_outside_is_skipped(tmp_path, monkeypatch, name):
    up = tmp_path / "uploads"
    up.mkdir()
    path = write_zip(up / "set.zip", {**GOOD, name: png(GREEN)})
    assert_good_only(load_watched(path, tmp_path, monkeypatch), skipped=1)


def test_zip_of_only_hostile_names_is_one_sentence(tmp_path, monkeypatch):
    path = write_zip(tmp_path / "set.zip", {"../evil.png": png(GREEN), "/tmp/evil.png": png(GREEN)})
    err = load_watched(path, tmp_path, monkeypatch)
    assert isinstance(err, GanlabError) and "None of the 2 files" in str(err) and "\n" not in str(err)


# ---- symlinks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["/etc/passwd", "sentinel"])
def test_zip_symlink_member_is_skipped_not_followed(tmp_path, monkeypatch, target):
    sentinel = tmp_path / "sentinel.png"
    sentinel.write_bytes(png(GREEN))
    target = str(sentinel) if target == "sentinel" else target

    def link(zf: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo("link.png")
        info.create_system = 3                                # Unix: the high 16 bits are st_mode
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)                             # a link's data is its target path

    up = tmp_path / "uploads"
    up.mkdir()
    path = write_zip(up / "set.zip", GOOD, extra=link)
    assert stat.S_ISLNK(zipfile.ZipFile(path).getinfo("link.png").external_attr >> 16)
    assert_good_only(load_watched(path, tmp_path, monkeypatch), skipped=1)


def test_folder_symlink_to_a_file_outside_is_skipped(tmp_path, monkeypatch):
    root = tmp_path / "set"
    root.mkdir()
    for name, data in GOOD.items():
        (root / name).write_bytes(data)
    (tmp_path / "sentinel.png").write_bytes(png(GREEN))
    os.symlink(tmp_path / "sentinel.png", root / "link.png")             # absolute link out
    os.symlink("../sentinel.png", root / "relative.png")                 # relative link out
    os.symlink(tmp_path, root / "outside")                               # a folder out: os.walk stays in
    assert_good_only(load_watched(root, tmp_path, monkeypatch), skipped=2)


def test_folder_symlink_inside_the_folder_is_read(tmp_path, monkeypatch):
    root = tmp_path / "set"
    (root / "pool").mkdir(parents=True)
    (root / "pool" / "a.png").write_bytes(png(RED))
    os.symlink("pool/a.png", root / "again.png")
    ds = load_watched(root, tmp_path, monkeypatch)
    assert len(ds) == 2 and ds.skipped == 0


# ---- bombs ----------------------------------------------------------------------------------------------
def test_zip_bomb_over_the_size_cap_is_not_inflated(tmp_path, monkeypatch):
    path = write_zip(tmp_path / "bomb.zip", GOOD, extra=add_zeros("x.png", 200 * MB))
    info = zipfile.ZipFile(path).getinfo("x.png")
    assert info.file_size == 200 * MB and info.file_size > 500 * info.compress_size      # ~1000:1
    assert_good_only(load_watched(path, tmp_path, monkeypatch), skipped=1)


def test_zip_bomb_under_the_size_cap_is_not_inflated(tmp_path, monkeypatch):
    path = write_zip(tmp_path / "bomb.zip", GOOD, extra=add_zeros("x.png", 40 * MB))
    assert_good_only(load_watched(path, tmp_path, monkeypatch), skipped=1)


def test_zip_bomb_whose_header_understates_its_size_is_not_inflated(tmp_path, monkeypatch):
    path = write_zip(tmp_path / "bomb.zip", GOOD, extra=add_zeros("x.png", 200 * MB))
    data = bytearray(path.read_bytes())
    for header, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):   # local, central
        at = data.find(header)
        while at >= 0:
            if data[at + name_at:at + name_at + 5] == b"x.png":
                data[at + size_at:at + size_at + 4] = struct.pack("<I", 1000)
            at = data.find(header, at + 1)
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).getinfo("x.png").file_size == 1000
    assert_good_only(load_watched(path, tmp_path, monkeypatch), skipped=1)


# ---- files that are not what they say -------------------------------------------------------------------
@pytest.mark.parametrize("container", ["folder", "zip"])
@pytest.mark.parametrize("name", sorted(BAD_CONTENT))
def test_broken_or_lying_images_are_skipped(tmp_path, monkeypatch, container, name):
    files = {**GOOD, name: BAD_CONTENT[name]}
    if container == "zip":
        path = write_zip(tmp_path / "set.zip", files)
    else:
        path = tmp_path / "set"
        path.mkdir()
        for n, data in files.items():
            (path / n).write_bytes(data)
    assert_good_only(load_watched(path, tmp_path, monkeypatch), skipped=1)
