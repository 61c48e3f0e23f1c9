"""The captioned built-in sets as one 32x32 RGB set: ``captioned`` or ``captioned:fashion-mnist+shapes``.

    ds = load_dataset(DataConfig(name="captioned"))       # Fashion-MNIST + MNIST + shapes
    ds.captions[i]                  # one caption per image ("a photo of a sneaker", "the digit seven", ...)
    ds.attributes["domain"]         # 0 fashion-mnist, 1 mnist, 2 shapes
    caption_pool(ds)                # every caption variant, and which images each one describes

Grey sets are resized to 32x32 and tiled to RGB so all share one shape.
Shapes whose (shape, colour) pair is in HELD_OUT_PAIRS are left out, so
generating them tests generalisation to unseen combinations.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import List

import torch

from ..config import DataConfig
from ..data.base import DATASETS, DataSource
from ..data.convert import to_images
from ..data.images import load_split
from ..data.shapes import COLOURS, POSITIONS, SHAPES, SIZES, make_shapes
from ..errors import GanlabError
from .captions import (
    HELD_OUT_PAIRS,
    all_digit_captions,
    all_fashion_captions,
    digit_caption,
    fashion_caption,
)

DOMAINS = ["fashion-mnist", "mnist", "shapes"]
SIDE = 32
N_SHAPES = 20_000
# attribute columns: domain, class (fashion/digit) or shape, colour, size, position; -1 = not applicable
ATTRS = ["domain", "class", "colour", "size", "position"]
_PREP = {"left": "on the", "right": "on the", "centre": "in the"}


@DATASETS.register("captioned", "Fashion-MNIST + MNIST + shapes with captions, 32x32 RGB")
def captioned(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    return make_captioned(_domains(arg), n_shapes=cfg.n or N_SHAPES, seed=seed)


DATASETS.register("captioned:", "some of them: captioned:fashion-mnist+shapes")(captioned)


def _domains(arg) -> List[str]:
    if arg in (None, "", "all"):
        return list(DOMAINS)
    names = [a.strip() for a in arg.split("+") if a.strip()]
    bad = [n for n in names if n not in DOMAINS]
    if bad:
        raise GanlabError(f"captioned: knows {', '.join(DOMAINS)} (joined with +), not {', '.join(bad)}.")
    return names


def make_captioned(domains: List[str], n_shapes: int = N_SHAPES, seed: int = 0) -> DataSource:
    rng = random.Random(seed)
    xs, captions, attrs, notes = [], [], [], []
    for d, name in enumerate(DOMAINS):
        if name not in domains:
            continue
        if name == "shapes":
            ds = make_shapes(n_shapes, SIDE, seed)
            keep = _not_held_out(ds)
            x = ds.x[keep]
            a = torch.stack([torch.full((int(keep.sum()),), d), ds.attributes["shape"][keep],
                             ds.attributes["colour"][keep], ds.attributes["size"][keep],
                             ds.attributes["position"][keep]], 1)
            # one variant per image, as for the other sets: G must know "a red square" as well as the full caption
            caps = [rng.choice(shape_captions(*(int(v) for v in row[1:])))[0] for row in a]
            notes.append(f"{len(x):,} shapes (held-out pairs removed)")
        else:
            ds = load_split(name, "train", DataConfig(name=name))
            x = to_images(((ds.x + 1) * 127.5).round().byte(), SIDE, 3)
            labels = ds.labels
            a = torch.stack([torch.full_like(labels, d), labels] + [torch.full_like(labels, -1)] * 3, 1)
            make = fashion_caption if name == "fashion-mnist" else digit_caption
            caps = [make(int(k), rng) for k in labels]
            notes.append(f"{len(x):,} {name}")
        xs.append(x)
        attrs.append(a)
        captions += caps
    if not xs:
        raise GanlabError("captioned: needs at least one of " + ", ".join(DOMAINS))
    a = torch.cat(attrs)
    return DataSource("captioned", torch.cat(xs), captions=captions,
                      labels=a[:, 0].clone(), class_names=list(DOMAINS),
                      attributes={k: a[:, i].clone() for i, k in enumerate(ATTRS)},
                      note="captioned built-in sets at 32x32 RGB: " + ", ".join(notes))


def _not_held_out(ds: DataSource) -> torch.Tensor:
    keep = torch.ones(len(ds), dtype=torch.bool)
    for shape, colour in HELD_OUT_PAIRS:
        keep &= ~((ds.attributes["shape"] == SHAPES.index(shape)) & (ds.attributes["colour"] == COLOURS.index(colour)))
    return keep


# ---- every caption variant and what it describes --------------------------------------------------------
@dataclass
class CaptionPool:
    texts: List[str]
    values: torch.Tensor          # [T, 5] attribute values the caption states (-1: not stated)

    def matches(self, item_attrs: torch.Tensor) -> torch.Tensor:
        """[N, T] bool: caption t describes item n (every attribute it states is the item's)."""
        stated = self.values >= 0                                           # [T, 5]
        eq = item_attrs[:, None, :] == self.values[None, :, :]              # [N, T, 5]
        return (eq | ~stated[None]).all(-1)


def shape_captions(shape: int, colour: int, size: int, position: int) -> List[tuple]:
    """(text, stated attribute mask) variants for one shape: short ones teach the words one at a time."""
    s, c, z, p = SHAPES[shape], COLOURS[colour], SIZES[size], POSITIONS[position]
    where = f"{_PREP.get(p, 'at the')} {p}"
    return [(f"a {z} {c} {s} {where}", (1, 1, 1, 1)), (f"a {c} {s}", (1, 1, 0, 0)),
            (f"a {z} {c} {s}", (1, 1, 1, 0)), (f"a {c} {s} {where}", (1, 1, 0, 1)), (f"a {s}", (1, 0, 0, 0))]


def caption_pool(domains: List[str] = DOMAINS) -> CaptionPool:
    texts, values = [], []
    for d, name in enumerate(DOMAINS):
        if name not in domains:
            continue
        if name == "shapes":
            seen = set()
            for sh in range(len(SHAPES)):
                for co in range(len(COLOURS)):
                    if (SHAPES[sh], COLOURS[co]) in HELD_OUT_PAIRS:
                        continue
                    for si in range(len(SIZES)):
                        for po in range(len(POSITIONS)):
                            for text, mask in shape_captions(sh, co, si, po):
                                if text in seen:
                                    continue
                                seen.add(text)
                                vals = [d] + [v if m else -1 for v, m in zip((sh, co, si, po), mask)]
                                texts.append(text)
                                values.append(vals)
        else:
            make = all_fashion_captions if name == "fashion-mnist" else all_digit_captions
            for k in range(10):
                for text in make(k):
                    texts.append(text)
                    values.append([d, k, -1, -1, -1])
    return CaptionPool(texts, torch.tensor(values))
