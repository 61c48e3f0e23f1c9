"""Data sources behind one interface.

    from ganlab.data import load_dataset
    ds = load_dataset(DataConfig(name="fashion-mnist"))   # DataSource
    ds.x      # [N, 1, 28, 28] in [-1, 1]

Names: ring, grid, spiral, moons, line, disjoint, mnist, fashion-mnist,
shapes, folder:PATH (a folder or .zip of images) and torchvision:NAME.
"""
from __future__ import annotations

from typing import List, Tuple

from ..config import DataConfig
from ..errors import GanlabError
from . import (
    folder,  # noqa: F401
    images,  # noqa: F401
    shapes,  # noqa: F401
    toys,  # noqa: F401  (registers the loaders)
)
from .base import DATASETS, DataSource

__all__ = ["DATASETS", "DataSource", "load_dataset", "list_datasets"]


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
    return ds


def list_datasets() -> List[Tuple[str, str]]:
    return DATASETS.describe()
