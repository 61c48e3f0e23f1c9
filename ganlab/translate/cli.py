"""``python -m ganlab translate``: every image of a folder through an image-to-image model, one PNG out each.

    python -m ganlab translate --run runs/edges2emoji-pix2pix --input sketches/ --out emoji/
    python -m ganlab translate --run runs/sneaker2boot --input sneakers/ --out boots/ --direction AB
    python -m ganlab translate --run runs/sr-emoji --input small/ --out big/          # 4x the input's side
    python -m ganlab translate --run runs/inpaint-emoji --input photos/ --masks holes/ --out filled/

Inputs are the PNG, JPEG and WebP files directly in the folder, in sorted order. Each is made
into what G takes by :meth:`Translator.prepare` (transparency on white, the model's channels,
padded square with white and resized), and its output is written as ``<stem>.png``. Files
that do not decode are skipped and counted.

Inpainting needs to know where the hole is. With ``--masks DIR``, the mask of ``photo.jpg`` is
the file in DIR with the same name (or the same stem, any of the types above): its light pixels
(over mid-grey) are the hole. Without ``--masks``, an input's transparent pixels (alpha under
128) are the hole, as left by an image editor's eraser; an input with neither is skipped.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm import tqdm

from ..errors import GanlabError
from .model import Translator

IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".webp")
MASK_LEVEL = 128          # mask files: a pixel at this grey or lighter is in the hole; inputs: alpha below it


@dataclass
class FolderReport:
    written: List[Path] = field(default_factory=list)
    unreadable: List[str] = field(default_factory=list)          # names that did not decode (or were refused)
    unmasked: List[str] = field(default_factory=list)            # inpaint: names with no hole given
    resized: Counter = field(default_factory=Counter)            # "WxH" -> how many inputs had that size
    renamed: Dict[str, str] = field(default_factory=dict)        # input name -> output name, where stems clash
    padded: int = 0                                              # of those resized, how many were not square
    side: int = 0                                                # the side the inputs were resized to

    def lines(self, tr: Translator, direction: str, out: Path) -> List[str]:
        """What happened, in sentences: the CLI prints them."""
        what = f" {direction[0]} -> {direction[1]}" if tr.task == "unpaired" else ""
        said = [f"{len(self.written)} image{'s' * (len(self.written) != 1)} through {tr.family}{what} "
                f"(step {tr.step:,}) -> {out}"]
        if self.resized:
            n = sum(self.resized.values())
            sizes = ", ".join(f"{k} ({v})" if v > 1 else k for k, v in self.resized.most_common(5))
            more = ", ..." if len(self.resized) > 5 else ""
            said.append(f"note: {n} input{'s were' if n != 1 else ' was'} resized to {self.side}x{self.side}, "
                        f"the size this model takes (from {sizes}{more})"
                        + (f"; {self.padded} not square, so padded with white first." if self.padded else "."))
        if self.renamed:
            pairs = ", ".join(f"{k} -> {v}" for k, v in list(self.renamed.items())[:3])
            said.append(f"note: {len(self.renamed)} input(s) share a stem with another, so they were named {pairs}.")
        if self.unreadable:
            said.append(f"skipped {len(self.unreadable)} file(s) that are not readable images: "
                        f"{', '.join(self.unreadable[:5])}{', ...' if len(self.unreadable) > 5 else ''}")
        if self.unmasked:
            said.append(f"skipped {len(self.unmasked)} image(s) with no hole: give each a mask in --masks DIR "
                        f"(same name, white = hole) or erase the hole to transparency: "
                        f"{', '.join(self.unmasked[:5])}{', ...' if len(self.unmasked) > 5 else ''}")
        return said


def list_images(folder: Path) -> List[Path]:
    """The image files directly in ``folder``, sorted (hidden files left out)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GanlabError(f"There is no folder at {folder}; --input takes a folder of images.")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_TYPES and not p.name.startswith("."))


def read_image(path: Path) -> Optional[Image.Image]:
    """The decoded image, or None when it is not one (truncated, another kind of file, a decompression bomb)."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except Exception:        # hostile files make PIL raise many types; all mean "not an image"
        return None


def _mask_file(masks: Path, name: str) -> Optional[Path]:
    exact = masks / name
    if exact.is_file():
        return exact
    stem = Path(name).stem
    same = [p for p in sorted(masks.glob(f"{stem}.*")) if p.suffix.lower() in IMAGE_TYPES]
    return same[0] if same else None


def _painted(img: Image.Image, masks: Optional[Path], name: str) -> Optional[np.ndarray]:
    """[H, W] bool of the hole at the input's own size, or None when none is given."""
    if masks is not None:
        path = _mask_file(masks, name)
        m = read_image(path) if path else None
        if m is None:
            return None
        if m.size != img.size:
            m = m.resize(img.size, Image.Resampling.NEAREST)
        if m.mode in ("RGBA", "LA", "P"):                     # a painted layer: transparent = not painted
            m = m.convert("RGBA")
            m = Image.alpha_composite(Image.new("RGBA", m.size, (0, 0, 0, 255)), m)
        hole = np.asarray(m.convert("L")) >= MASK_LEVEL
    else:
        if "A" not in img.getbands() and "transparency" not in img.info:
            return None
        hole = np.asarray(img.convert("RGBA"))[..., 3] < MASK_LEVEL
    return hole if hole.any() else None


def _mask_tensor(tr: Translator, hole: np.ndarray) -> torch.Tensor:
    """The hole padded square the way prepare() pads the image (centred), then at G's side: [1, 1, R, R]."""
    m = Image.fromarray(hole.astype(np.uint8) * 255)
    if m.width != m.height:
        m = ImageOps.pad(m, (max(m.size),) * 2, color=0)
    return tr.mask_from(np.asarray(m))


def save_png(x: torch.Tensor, path: Path) -> None:
    """[1, C, H, W] in [-1, 1] -> an 8-bit PNG (grey stays one channel)."""
    a = ((x[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(path)


def _out_name(path: Path, stems: Counter, report: FolderReport) -> str:
    if stems[path.stem.lower()] == 1:
        return f"{path.stem}.png"
    name = f"{path.stem}_{path.suffix.lstrip('.').lower()}.png"       # photo.jpg and photo.png: both kept
    report.renamed[path.name] = name
    return name


def translate_folder(tr: Translator, inputs: Path, out: Path, direction: str = "AB", masks: Optional[Path] = None,
                     progress: bool = True) -> FolderReport:
    """Translate every image in ``inputs`` into ``out`` (created); a report of what was written and skipped."""
    files = list_images(inputs)
    if not files:
        raise GanlabError(f"{inputs} holds no PNG, JPEG or WebP images.")
    if Path(out).resolve() == Path(inputs).resolve():
        raise GanlabError("--out must be another folder than --input, or the outputs would overwrite the inputs.")
    if masks is not None and not Path(masks).is_dir():
        raise GanlabError(f"There is no folder at {masks}; --masks takes a folder of masks named like the inputs.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = FolderReport(side=tr.input_side())
    stems = Counter(p.stem.lower() for p in files)
    for path in tqdm(files, unit="image", dynamic_ncols=True, disable=not progress):
        img = read_image(path)
        if img is None:
            report.unreadable.append(path.name)
            continue
        mask = None
        if tr.task == "inpaint":
            hole = _painted(img, masks, path.name)
            if hole is None:
                report.unmasked.append(path.name)
                continue
            mask = _mask_tensor(tr, hole)
        try:
            x, note = tr.prepare(img, direction)
        except GanlabError:                                    # too many pixels: refused like a broken file
            report.unreadable.append(path.name)
            continue
        if note:
            report.resized[f"{img.width}x{img.height}"] += 1
            report.padded += img.width != img.height
        target = out / _out_name(path, stems, report)
        save_png(tr.translate(x, direction, mask=mask), target)
        report.written.append(target)
    return report


__all__ = ["translate_folder", "FolderReport", "list_images", "read_image", "save_png", "IMAGE_TYPES"]
