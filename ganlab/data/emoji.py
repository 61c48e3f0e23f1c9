"""Two offline colour emoji sets from Debian packages: ``emoji`` (Noto) and ``emoji-one`` (EmojiOne).

    ds = load_dataset(DataConfig(name="emoji"))         # [N, 3, 64, 64] on white, the training 90%
    ds.class_names                                      # Unicode groups: "Smileys & Emotion", ...
    ds.captions[0], ds.keys[0]                          # "grinning face", "1F600"
    load_split("emoji-one", "test")                     # the held-out 10% of code points
    relabel(ds, "subgroup")                             # "face-smiling", "animal-mammal", ...

``emoji`` renders every fully-qualified emoji of Unicode's emoji-test.txt that
Noto Color Emoji draws as one glyph (fonts-noto-color-emoji, unicode-data);
``emoji-one`` reads the 64x64 PNGs of ruby-gemojione. Labels are the Unicode
group (the "Component" group, bare skin tones and hair, is left out) and the
subgroup is an attribute. One code point in ten is held out of both sets for
good, picked by a hash of the sequence, so FID references, inversion targets
and memorisation checks never see a training image. Noto renders are cached
as uint8 .npz files in :func:`data_root`, read without unpickling.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from ..config import DataConfig
from ..errors import GanlabError
from .base import DATASETS, DataSource
from .convert import check_shape_options, data_root, to_images

NOTO_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
GEMS = Path("/usr/share/rubygems-integration/all/gems")     # holds gemojione-<version>/assets/png
NOTO_SIZE = 109            # the font's only bitmap strike: glyphs are 136 x 128 px
NOTO_CELL = 136            # the square each glyph is centred in before resizing
DEFAULT_RESOLUTION = 64
HOLDOUT_EVERY = 10         # one code point in ten is held out
CACHE_VERSION = 1
SKIPPED_GROUP = "Component"
SETS = ("emoji", "emoji-one")
NOTO_NEEDS = ("The emoji set needs Debian's fonts-noto-color-emoji and unicode-data; "
              "run `sudo apt-get install fonts-noto-color-emoji unicode-data`.")
ONE_NEEDS = "The emoji-one set needs Debian's ruby-gemojione; run `sudo apt-get install ruby-gemojione`."
_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*fully-qualified\s*#\s*\S+\s+E\d+\.\d+\s+(.+)$")


@dataclass(frozen=True)
class Emoji:
    key: str          # code points as emoji-test.txt lists them, joined by "-": "1F468-200D-1F373"
    name: str         # lowercase: "man cook"
    group: str        # "People & Body"
    subgroup: str     # "person-role"

    @property
    def text(self) -> str:
        return "".join(chr(int(c, 16)) for c in self.key.split("-"))


# ---------------------------------------------------------------- which emoji, and the held-out split

def canonical(key: str) -> str:
    """The sequence without FE0F (emoji style) and 200D (joiner): EmojiOne's file names omit both."""
    return "-".join(c for c in key.upper().split("-") if c not in ("FE0F", "200D"))


def held_out(key: str) -> bool:
    """Whether a code point sequence belongs to the fixed held-out 10%, the same in every set and version."""
    return int(hashlib.sha1(canonical(key).encode()).hexdigest(), 16) % HOLDOUT_EVERY == 0


def read_emoji_test(path: Path) -> List[Emoji]:
    """The fully-qualified emoji of an emoji-test.txt, in its order, without the Component group."""
    out, group, subgroup = [], "", ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("# group:"):
                group = line.split(":", 1)[1].strip()
            elif line.startswith("# subgroup:"):
                subgroup = line.split(":", 1)[1].strip()
            elif (m := _LINE.match(line.strip())) and group != SKIPPED_GROUP:
                out.append(Emoji("-".join(m.group(1).split()), m.group(2).strip().lower(), group, subgroup))
    return out


def _vocab(values) -> List[str]:
    return list(dict.fromkeys(values))               # first-seen order, as the file lists them


# ---------------------------------------------------------------- emoji: Noto Color Emoji through Pillow

def _noto_font():
    from PIL import ImageFont
    if not (NOTO_FONT.is_file() and EMOJI_TEST.is_file()):
        raise GanlabError(NOTO_NEEDS)
    try:
        return ImageFont.truetype(str(NOTO_FONT), NOTO_SIZE)
    except OSError as e:
        raise GanlabError(f"{NOTO_FONT} cannot be read as a font; reinstall it with "
                          "`sudo apt-get install --reinstall fonts-noto-color-emoji`.") from e


def _one_glyph(font, text: str, advance: float) -> bool:
    """A sequence the font really has: it shapes to one glyph's advance and has ink. A missing
    code point shapes to .notdef, which has an advance but an empty box; a sequence the font
    (or Pillow without raqm) cannot join shapes to two or more advances."""
    left, top, right, bottom = font.getbbox(text)
    return abs(font.getlength(text) - advance) < 1 and bottom > top and right > left


def _render(font, text: str, side: int) -> Optional[np.ndarray]:
    """One glyph centred on white, uint8 [side, side, 3]; None if it drew nothing."""
    from PIL import Image, ImageDraw
    left, top, right, bottom = font.getbbox(text)                   # (0, 0, 136, 128) for Noto
    cell = Image.new("RGBA", (NOTO_CELL, NOTO_CELL), (255, 255, 255, 0))
    at = ((NOTO_CELL - right - left) // 2, (NOTO_CELL - bottom - top) // 2)
    ImageDraw.Draw(cell).text(at, text, font=font, embedded_color=True)
    if cell.getchannel("A").getbbox() is None:
        return None
    return _on_white(cell, side)


def _on_white(img, side: int) -> np.ndarray:
    """An RGBA picture composited onto white and resized: uint8 [side, side, 3]."""
    from PIL import Image
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, img).convert("RGB")
    if rgb.size != (side, side):
        rgb = rgb.resize((side, side), Image.Resampling.LANCZOS)
    return np.asarray(rgb)


def render_noto(entries: List[Emoji], side: int) -> Tuple[List[str], np.ndarray]:
    """Keys and uint8 [N, 3, side, side] of the entries Noto draws as one glyph (the rest are left out)."""
    font = _noto_font()
    advance = font.getlength("\U0001F600")
    keys, pixels = [], []
    for e in entries:
        if not _one_glyph(font, e.text, advance):
            continue
        img = _render(font, e.text, side)
        if img is not None:
            keys.append(e.key)
            pixels.append(img)
    u8 = np.stack(pixels).transpose(0, 3, 1, 2) if pixels else np.zeros((0, 3, side, side), np.uint8)
    return keys, np.ascontiguousarray(u8)


def _stamp() -> np.ndarray:
    """What a cached render depends on: the font and emoji-test files, the layout engine, this code."""
    from PIL import features
    f, t = NOTO_FONT.stat(), EMOJI_TEST.stat()
    raqm = int(bool(features.check("raqm")))
    return np.array([f.st_size, f.st_mtime_ns, t.st_size, t.st_mtime_ns, raqm, CACHE_VERSION], np.int64)


def _noto_cached(cfg: DataConfig, entries: List[Emoji], side: int) -> Tuple[List[str], np.ndarray]:
    """Keys and pixels from ``emoji-noto-<side>.npz`` when its stamp matches, else rendered and saved."""
    path = data_root(cfg) / f"emoji-noto-{side}.npz"
    stamp = _stamp()
    try:
        with np.load(path, allow_pickle=False) as z:
            if np.array_equal(z["stamp"], stamp):
                return z["keys"].tolist(), z["pixels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass                                         # absent, stale or damaged: render again
    keys, u8 = render_noto(entries, side)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, stamp=stamp, keys=np.array(keys, dtype=str), pixels=u8)
        os.replace(tmp, path)                        # readers see the old file or the whole new one
    except OSError:
        pass                                         # a read-only data folder: render next time too
    return keys, u8


def _noto(cfg: DataConfig, side: int) -> Tuple[List[Emoji], np.ndarray, str]:
    _noto_font()                                     # the missing-package sentence comes first
    entries = read_emoji_test(EMOJI_TEST)
    keys, u8 = _noto_cached(cfg, entries, min(side, NOTO_CELL))
    by_key = {e.key: e for e in entries}
    drawn = [by_key[k] for k in keys]
    note = (f"Noto Color Emoji (Debian's fonts-noto-color-emoji) drawn by Pillow: {len(drawn):,} of the "
            f"{len(entries):,} fully-qualified emoji in Unicode's emoji-test.txt draw as one glyph")
    return drawn, u8, note


# ---------------------------------------------------------------- emoji-one: EmojiOne's PNGs

def _gemojione_dir() -> Path:
    found = sorted(glob.glob(str(GEMS / "gemojione-*" / "assets" / "png")))
    if not found or not any(Path(found[-1]).glob("*.png")):
        raise GanlabError(ONE_NEEDS)
    return Path(found[-1])                           # the newest version if several are installed


def _emojione_entries(png_dir: Path) -> Tuple[List[Emoji], Dict[str, Path]]:
    """Entries in emoji-test order and their files; without emoji-test, names from the gem's index."""
    files = {canonical(p.stem): p for p in png_dir.glob("*.png")}
    if EMOJI_TEST.is_file():
        entries = [e for e in read_emoji_test(EMOJI_TEST) if canonical(e.key) in files]
    else:
        entries = _fallback_entries(png_dir.parent.parent / "config" / "index.json", files)
    return entries, {e.key: files[canonical(e.key)] for e in entries}


def _fallback_entries(index: Path, files: Dict[str, Path]) -> List[Emoji]:
    """Names and categories from gemojione's index.json, else unicodedata and "Other"."""
    try:
        rows = {canonical(v["unicode"]): v for v in json.loads(index.read_text()).values()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        rows = {}
    out = []
    for key in sorted(files):
        row = rows.get(key, {})
        category = str(row.get("category", "other"))
        if category in ("modifier", "regional"):     # bare skin tones and letters, like Component
            continue
        name = row.get("name") or _unicode_name(key)
        out.append(Emoji(key, str(name).lower(), category.title(), category))
    return out


def _unicode_name(key: str) -> str:
    cps = key.split("-")
    return unicodedata.name(chr(int(cps[0], 16)), key) if len(cps) == 1 else key


def _emojione(side: int) -> Tuple[List[Emoji], np.ndarray, str]:
    from PIL import Image
    png_dir = _gemojione_dir()
    entries, paths = _emojione_entries(png_dir)
    kept, pixels = [], []
    for e in entries:
        try:
            with Image.open(paths[e.key]) as img:
                pixels.append(_on_white(img.convert("RGBA"), side))    # palette + transparency -> RGBA
            kept.append(e)
        except OSError:                                                # a damaged file: leave it out
            continue
    u8 = np.stack(pixels).transpose(0, 3, 1, 2) if pixels else np.zeros((0, 3, side, side), np.uint8)
    names = "Unicode's emoji-test.txt" if EMOJI_TEST.is_file() else "the gem's index.json"
    note = (f"EmojiOne (CC-BY 4.0) 64x64 PNGs from Debian's ruby-gemojione: {len(kept):,} "
            f"emoji named in {names}")
    return kept, np.ascontiguousarray(u8), note


# ---------------------------------------------------------------- one DataSource per split

def emoji_split(name: str, split: str, cfg: Optional[DataConfig] = None) -> DataSource:
    """The "train" (90%) or "test" (held-out 10%) part of "emoji" or "emoji-one", shaped as cfg asks."""
    cfg = cfg or DataConfig(name=name)
    check_shape_options(cfg.resolution, cfg.channels)
    side = cfg.resolution or DEFAULT_RESOLUTION
    entries, u8, note = _noto(cfg, side) if name == "emoji" else _emojione(side)
    test = np.array([held_out(e.key) for e in entries], dtype=bool)
    keep = np.flatnonzero(test if split == "test" else ~test)
    groups, subgroups = _vocab(e.group for e in entries), _vocab(e.subgroup for e in entries)
    chosen = [entries[i] for i in keep]
    x = to_images(torch.from_numpy(np.ascontiguousarray(u8[keep])), side, cfg.channels or 3)
    part = "the training part" if split == "train" else "the held-out part"
    note += (f"; 1 code point in {HOLDOUT_EVERY} ({int(test.sum()):,}) is held out of training for good, "
             f"and this is {part} ({len(chosen):,} images)")
    return DataSource(
        name, x, note=note, keys=[e.key for e in chosen], captions=[e.name for e in chosen],
        labels=torch.tensor([groups.index(e.group) for e in chosen], dtype=torch.long), class_names=groups,
        attributes={"subgroup": torch.tensor([subgroups.index(e.subgroup) for e in chosen], dtype=torch.long)},
        attribute_names={"subgroup": subgroups})


@DATASETS.register("emoji", "Noto Color Emoji, ~3,300 colour emoji on white, 64 px, 9 Unicode groups (offline)")
def emoji(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    return emoji_split("emoji", "train", cfg)


@DATASETS.register("emoji-one", "EmojiOne (CC-BY 4.0), ~1,600 colour emoji on white, 64 px, 9 groups (offline)")
def emoji_one(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    return emoji_split("emoji-one", "train", cfg)
