"""Data sources behind one interface.

    from ganlab.data import load_dataset
    ds = load_dataset(DataConfig(name="fashion-mnist"))   # DataSource
    ds.x      # [N, 1, 28, 28] in [-1, 1]

Names: ring, grid, spiral, moons, line, disjoint, mnist, fashion-mnist,
shapes, emoji, emoji-one, folder:PATH (a folder or .zip of images) and
torchvision:NAME.
"""
from __future__ import annotations

from typing import List, Tuple

import torch

from ..config import DataConfig
from ..errors import GanlabError
from . import (
    emoji,  # noqa: F401
    folder,  # noqa: F401
    images,  # noqa: F401
    pairs,  # noqa: F401
    shapes,  # noqa: F401
    toys,  # noqa: F401  (registers the loaders)
)
from .base import DATASETS, DataSource

__all__ = ["DATASETS", "DataSource", "load_dataset", "list_datasets", "relabel"]


def load_dataset(cfg: DataConfig, seed: int = 0) -> DataSource:
    """Load the set named by ``cfg.name``; names with a colon carry an argument."""
    name = (cfg.name or "").strip()
    if not name:
        raise GanlabError("No dataset named; choose one from `python -m ganlab list`.")
    key, sep, arg = name.partition(":")
    if sep:
        key += ":"
        if not arg:
            raise GanlabError(f"{key} needs something after the colon, e.g. {key}...")
    builder = DATASETS.get(key)
    ds = builder(cfg, arg or None, seed=seed)
    if len(ds) == 0:
        raise GanlabError(f"The dataset {name!r} is empty.")
    if cfg.label:
        relabel(ds, cfg.label)
    return ds


def relabel(ds: DataSource, label: str) -> DataSource:
    """Make ``label`` the set's classes: "class" (as loaded), an attribute ("colour"), or two joined
    with "+" ("shape+colour": one class per combination, named "red circle" and so on)."""
    if label == "class":
        return ds
    parts = [p.strip() for p in label.split("+")]
    missing = [p for p in parts if p not in ds.attributes]
    if missing:
        have = ", ".join(ds.attributes) or "none"
        raise GanlabError(f"{ds.name} has no attribute {missing[0]!r} to condition on; it has: {have}.")
    labels = torch.zeros(len(ds), dtype=torch.long)
    names = [""]
    for p in parts:                                  # mixed radix: the first part varies slowest
        vocab = ds.attribute_names[p]
        labels = labels * len(vocab) + ds.attributes[p]
        names = [f"{a} {b}".strip() for a in names for b in vocab]
    if len(parts) == 2:                              # "circle red" reads better as "red circle"
        names = [" ".join(reversed(n.split(" ", 1))) if " " in n else n for n in names]
    ds.labels, ds.class_names = labels, names
    ds.label_factors = [len(ds.attribute_names[p]) for p in parts] if len(parts) > 1 else None
    return ds


def list_datasets() -> List[Tuple[str, str]]:
    return DATASETS.describe()


from ..text import data as _captioned  # noqa: E402,F401  (registers captioned, built from the sets above)
