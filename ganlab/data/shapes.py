"""Procedural shapes: coloured circles, squares and triangles on black.

A set small enough to train on a CPU in minutes, whose every image has known
attributes (shape, colour, size, position) and a caption built from them, so
conditional and text-conditioned models have something checkable to learn:

    ds = load_dataset(DataConfig(name="shapes", n=1000))
    ds.x                      # [1000, 3, 32, 32] in [-1, 1]
    ds.attributes["colour"]   # [1000] int64 index into COLOURS
    ds.captions[0]            # "a small red circle at the top left"

The set is a pure function of (n, resolution, seed). Shapes are drawn as
coverage masks at 4x the size and box-filtered down, which anti-aliases the
edges; the colour is applied afterwards in one tensor multiply.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..config import DataConfig
from ..errors import GanlabError
from .base import DATASETS, DataSource

SHAPES = ["circle", "square", "triangle"]
COLOURS = ["red", "green", "blue", "yellow", "magenta", "cyan", "white", "orange"]
COLOUR_RGB = {
    "red": (230, 30, 30), "green": (30, 200, 40), "blue": (40, 80, 255),
    "yellow": (245, 225, 20), "magenta": (230, 40, 230), "cyan": (20, 220, 230),
    "white": (245, 245, 245), "orange": (255, 140, 0),
}
SIZES = ["small", "medium", "large"]
POSITIONS = ["top left", "top", "top right", "left", "centre", "right",
             "bottom left", "bottom", "bottom right"]
ATTRIBUTES = {"shape": SHAPES, "colour": COLOURS, "size": SIZES, "position": POSITIONS}

# The preposition that makes each position read naturally in a caption.
_PREPOSITION = {"left": "on the", "right": "on the", "centre": "in the"}

DEFAULT_N = 10_000
RESOLUTIONS = (32, 64)
SUPERSAMPLE = 4
# Radius of each size as a fraction of the image side; centres are then
# pulled in where needed so that every shape stays wholly inside the image.
_SIZE_FRAC = (0.075, 0.115, 0.155)
_JITTER_FRAC = 0.03
_EXTENT = (1.0, 0.886, 1.17)     # half-width of circle, square, triangle per unit radius


def caption_for(shape: Union[int, str], colour: Union[int, str],
                size: Union[int, str], position: Union[int, str]) -> str:
    """'a small red circle at the top left'; each part is an index or a vocab word."""
    shape, colour, size, position = (
        _word(vocab, v) for vocab, v in zip((SHAPES, COLOURS, SIZES, POSITIONS),
                                            (shape, colour, size, position)))
    return f"a {size} {colour} {shape} {_PREPOSITION.get(position, 'at the')} {position}"


def _word(vocab: Sequence[str], v: Union[int, str]) -> str:
    if isinstance(v, str):
        if v not in vocab:
            raise GanlabError(f"{v!r} is not one of {', '.join(vocab)}; use one of those words.")
        return v
    return vocab[int(v)]


def _draw_mask(shape: int, cx: float, cy: float, r: float, side: int) -> np.ndarray:
    """Coverage of one shape, [side, side] uint8; centre and radius in output pixels."""
    s = SUPERSAMPLE
    big = Image.new("L", (side * s, side * s), 0)
    draw = ImageDraw.Draw(big)
    cx, cy, r = cx * s, cy * s, r * s
    if shape == 0:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif shape == 1:
        h = r * _EXTENT[1]                               # same area as the circle
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=255)
    else:
        R = r * 1.35                                     # circumradius: about the circle's area
        cy += R / 4                                      # centre the bounding box, not the circumcentre
        pts = [(cx + R * math.sin(a), cy - R * math.cos(a))
               for a in (0.0, 2 * math.pi / 3, 4 * math.pi / 3)]
        draw.polygon(pts, fill=255)
    # BOX averages each 4x4 block: exact area coverage, i.e. anti-aliased edges.
    return np.asarray(big.resize((side, side), Image.Resampling.BOX))


def make_shapes(n: int = DEFAULT_N, resolution: int = 32, seed: int = 0) -> DataSource:
    """Draw n random shapes at resolution 32 or 64, deterministically from seed."""
    if resolution not in RESOLUTIONS:
        raise GanlabError(f"The shapes set comes at 32 or 64 pixels, not {resolution}; pick one of those.")
    if n < 1:
        raise GanlabError(f"The shapes set needs at least 1 item (got n={n}).")
    rng = np.random.default_rng(seed)
    attrs = {k: rng.integers(len(v), size=n) for k, v in ATTRIBUTES.items()}
    jitter = rng.uniform(-_JITTER_FRAC, _JITTER_FRAC, size=(n, 2)) * resolution

    masks = np.empty((n, resolution, resolution), np.uint8)          # [N, H, W]
    for i in range(n):
        row, col = divmod(int(attrs["position"][i]), 3)
        shape, r = int(attrs["shape"][i]), _SIZE_FRAC[attrs["size"][i]] * resolution
        lo = _EXTENT[shape] * r + 0.5
        cx = np.clip((col + 0.5) / 3 * resolution + jitter[i, 0], lo, resolution - lo)
        cy = np.clip((row + 0.5) / 3 * resolution + jitter[i, 1], lo, resolution - lo)
        masks[i] = _draw_mask(shape, float(cx), float(cy), r, resolution)

    rgb = torch.tensor([COLOUR_RGB[c] for c in COLOURS], dtype=torch.float32) / 255   # [K, 3]
    colour = rgb[torch.from_numpy(attrs["colour"])]                                   # [N, 3]
    cover = torch.from_numpy(masks).float().div_(255)                                # [N, H, W]
    x = cover[:, None] * colour[:, :, None, None] * 2 - 1                            # [N, 3, H, W]

    t = {k: torch.from_numpy(v).long() for k, v in attrs.items()}
    captions = [caption_for(*vals) for vals in zip(*(attrs[k].tolist() for k in ATTRIBUTES))]
    return DataSource(
        "shapes", x, labels=t["shape"], class_names=list(SHAPES), captions=captions,
        attributes=t, attribute_names={k: list(v) for k, v in ATTRIBUTES.items()},
        note=f"{n:,} procedural shapes at {resolution}x{resolution}, seed {seed}")


@DATASETS.register("shapes", "coloured circles, squares and triangles with captions (32 or 64 px)")
def shapes(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    return make_shapes(cfg.n or DEFAULT_N, cfg.resolution or 32, seed)
