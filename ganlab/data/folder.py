"""The user's own images: ``folder:PATH``, a folder (searched recursively) or a .zip.

    ds = load_dataset(DataConfig(name="folder:~/Pictures/cats", resolution=64))
    ds.x         # [N, 3, 64, 64]: short side resized, centre-cropped square
    ds.skipped   # files that were not readable images (also said in ds.note)

Every image sits in a first-level subfolder (``cats/1.png``, ``dogs/2.jpg``)?
Then the subfolders are the classes. A .zip holding one top-level folder is
read as that folder.

Uploads are untrusted, so: zips are read in memory and never extracted, and
members named outside the folder (``../evil.png``, ``/tmp/x.png``, ``C:\\x``) or
stored as symlinks are skipped unread; members over MAX_FILE_BYTES, or
compressed over 100:1, are skipped as likely zip bombs, and no member is
inflated past the size its header declares; in a folder, a symlink that
resolves outside the folder is skipped (one to a file inside it is read);
images over MAX_PIXELS are skipped before decoding; any file PIL cannot
decode is counted and skipped, never fatal. At most MAX_IMAGES are loaded,
in sorted path order; hidden files and macOS ``__MACOSX`` folders are ignored.
"""
from __future__ import annotations

import io
import os
import stat
import zipfile
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps

from ..config import DataConfig
from ..errors import GanlabError
from .base import DATASETS, DataSource
from .convert import check_shape_options, to_images

DEFAULT_RESOLUTION = 32
MAX_IMAGES = 50_000
MAX_FILE_BYTES = 50 * 2**20
MAX_PIXELS = 64 * 2**20       # ~67 MP: a 50 MP phone photo passes, a decompression bomb does not
MAX_ZIP_RATIO = 100           # images are already compressed; 100:1 is a bomb, not a photo

# (path parts relative to the root, a function returning the bytes or None if too big)
Entry = Tuple[Tuple[str, ...], Callable[[], Optional[bytes]]]


@DATASETS.register("folder:", "your own images: folder:PATH to a folder (recursive) or a .zip")
def folder(cfg: DataConfig, arg: Optional[str], seed: int = 0) -> DataSource:
    check_shape_options(cfg.resolution, cfg.channels)
    path = Path(arg or "").expanduser()
    if "," in (arg or "") and not path.exists():
        return _two_folders(cfg, arg)
    if path.is_dir():
        return _load(path, _folder_entries(path), cfg)
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise GanlabError(f"{path} is a damaged .zip; zip the images again and retry.") from e
        with zf:
            return _load(path, _zip_entries(zf), cfg)
    if path.is_file():
        raise GanlabError(f"{path} is neither a folder nor a .zip; give a folder of images or a .zip of them.")
    raise GanlabError(f"There is no folder or .zip at {path}; check the path.")


def _load(path: Path, entries: Iterator[Entry], cfg: DataConfig) -> DataSource:
    side = cfg.resolution or DEFAULT_RESOLUTION
    mode = "L" if cfg.channels == 1 else "RGB"
    pixels: List[np.ndarray] = []
    folders: List[Optional[str]] = []
    keys: List[str] = []
    skipped, capped = 0, False
    for parts, read in entries:
        if len(pixels) == MAX_IMAGES:
            capped = True
            break
        img = _decode(read(), side, mode)
        if img is None:
            skipped += 1
            continue
        pixels.append(img)
        folders.append(parts[0] if len(parts) > 1 else None)
        keys.append("/".join(parts))
    if not pixels:
        raise GanlabError(_nothing_read(path, skipped))

    u8 = torch.from_numpy(np.stack(pixels))                       # [N, H, W] or [N, H, W, 3]
    u8 = u8[:, None] if u8.dim() == 3 else u8.permute(0, 3, 1, 2)   # [N, C, H, W]
    labels, class_names = _classes(folders)
    note = f"{len(pixels):,} images from {path}"
    if class_names:
        more = ", ..." if len(class_names) > 5 else ""
        note += f" in {len(class_names)} classes ({', '.join(class_names[:5])}{more})"
    if skipped:
        what = "was not a readable image" if skipped == 1 else "were not readable images"
        note += f"; skipped {_files(skipped)} that {what}"
    if capped:
        note += f"; stopped at {MAX_IMAGES:,} images"
    return DataSource(f"folder:{path}", to_images(u8), labels=labels, class_names=class_names,
                      skipped=skipped, note=note, keys=keys)


def _two_folders(cfg: DataConfig, arg: str) -> DataSource:
    """``folder:A,B``: two folders (or zips) as the two classes "A" and "B", each file keyed "A/<its path>",
    for the image-to-image families (``pairs.pairs_of`` pairs them by file name)."""
    parts = [p.strip() for p in arg.split(",")]
    if len(parts) != 2 or not all(parts):
        raise GanlabError("Give two folders as folder:A,B (a folder or .zip each, separated by one comma).")
    sets = [folder(cfg, p) for p in parts]
    names = [Path(p).expanduser().name.removesuffix(".zip") or f"side {i + 1}" for i, p in enumerate(parts)]
    if names[0] == names[1]:
        names = [f"A ({names[0]})", f"B ({names[1]})"]
    if sets[0].x.shape[1:] != sets[1].x.shape[1:]:
        channels = max(s.x.shape[1] for s in sets)
        sets = [s if s.x.shape[1] == channels else DataSource(s.name, s.x.expand(-1, channels, -1, -1).clone(),
                                                               keys=s.keys, skipped=s.skipped) for s in sets]
    keys = [f"{names[i]}/{k}" for i, s in enumerate(sets) for k in (s.keys or [])]
    labels = torch.cat([torch.full((len(s),), i, dtype=torch.long) for i, s in enumerate(sets)])
    return DataSource(f"folder:{arg}", torch.cat([s.x for s in sets]), labels=labels, class_names=names,
                      keys=keys, skipped=sum(s.skipped for s in sets),
                      note=f"{len(sets[0]):,} images in {parts[0]} and {len(sets[1]):,} in {parts[1]}")


def _nothing_read(path: Path, skipped: int) -> str:
    if skipped:
        return (f"None of the {_files(skipped)} in {path} could be read as an image; "
                "add PNG or JPEG files and try again.")
    return f"{path} holds no files; add PNG or JPEG images and try again."


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n:,} files"


def _classes(folders: List[Optional[str]]):
    """Labels from first-level subfolders, when every image has one and there are at least two."""
    if any(f is None for f in folders) or len(set(folders)) < 2:
        return None, None
    names = sorted(set(folders))
    index = {n: i for i, n in enumerate(names)}
    return torch.tensor([index[f] for f in folders]), names


def _decode(data: Optional[bytes], side: int, mode: str) -> Optional[np.ndarray]:
    """Bytes -> uint8 [side, side] or [side, side, 3], or None if they are not a usable image."""
    if not data:
        return None
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            return None
        img.draft(mode, (side, side))       # JPEG decodes straight to 1/2..1/8 size: much faster
        img = ImageOps.exif_transpose(img)   # phone photos are stored sideways plus a rotate tag
        img = ImageOps.fit(_flatten(img).convert(mode), (side, side), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.uint8)
    except Exception:   # hostile or broken files make PIL raise many types; none may stop the load
        return None


def _flatten(img: Image.Image) -> Image.Image:
    """Composite transparency onto white: hidden pixels hold arbitrary colours."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img


def _hidden(parts: Tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _folder_entries(root: Path) -> Iterator[Entry]:
    # os.walk does not follow symlinked folders, so a link loop cannot trap it (nor lead it outside).
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(dirnames)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            parts = path.relative_to(root).parts
            if not _hidden(parts):
                yield parts, partial(_read_file, path, real_root)


def _read_file(path: Path, real_root: Path) -> Optional[bytes]:
    try:
        real = path.resolve(strict=True)
        if not real.is_relative_to(real_root):      # a symlink out of the folder: never read through it
            return None
        if real.stat().st_size > MAX_FILE_BYTES:
            return None
        return real.read_bytes()
    except (OSError, RuntimeError):  # unreadable (permissions, broken link, link loop): skip it
        return None


def _zip_entries(zf: zipfile.ZipFile) -> Iterator[Entry]:
    items, refused = [], []
    for info in zf.infolist():
        # Member names are only labels, never paths; still, a name reaching outside the folder or a
        # symlink is an attack, not an image: it is counted as skipped and never read.
        name = info.filename.replace("\\", "/")
        if info.is_dir():
            continue
        if _outside(name) or stat.S_ISLNK(info.external_attr >> 16):
            refused.append(name)
            continue
        parts = tuple(p for p in PurePosixPath(name).parts if p not in ("/", "."))
        if parts and not _hidden(parts):
            items.append((parts, info))
    # A zip made from a folder holds just that folder: read it as the root.
    if len({p[0] for p, _ in items}) == 1 and all(len(p) > 1 for p, _ in items):
        items = [(p[1:], info) for p, info in items]
    for parts, info in sorted(items, key=lambda item: item[0]):
        yield parts, partial(_read_member, zf, info)
    for name in sorted(refused):
        yield (name,), lambda: None


def _outside(name: str) -> bool:
    """A member name that extracting would place outside the folder: ``/x``, ``C:x``, ``a/../../x``."""
    return name.startswith("/") or bool(PureWindowsPath(name).drive) or ".." in name.split("/")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Optional[bytes]:
    if info.file_size > MAX_FILE_BYTES:
        return None
    if info.file_size > 2**20 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
        return None
    try:
        with zf.open(info) as f:
            # Ask for no more than the header declares (zipfile never returns more): it inflates
            # as much as is asked for before trimming to that size, so asking for the cap let a
            # header that understates a bomb inflate MAX_FILE_BYTES. A lying header fails the CRC.
            return f.read(info.file_size)
    except Exception:   # encrypted, corrupt or unsupported compression, bad CRC: skip
        return None
