"""2-D toy distributions, as GAN Lab has them, drawn deterministically from a seed.

All sets live in the box [-1, 1]^2 so plots and heatmaps share one frame.
The two mixtures (ring, grid) record their mode centres and std, which the
mode-coverage metric needs.
"""
from __future__ import annotations

import math

import torch

from ..config import DataConfig
from .base import DATASETS, DataSource

DEFAULT_N = 10_000


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _mixture(name: str, centres: torch.Tensor, std: float, n: int, g: torch.Generator) -> DataSource:
    idx = torch.randint(len(centres), (n,), generator=g)
    x = centres[idx] + std * torch.randn(n, 2, generator=g)
    return DataSource(name, x, labels=idx, modes=centres, mode_std=std,
                      class_names=[f"mode {i}" for i in range(len(centres))])


@DATASETS.register("ring", "8 Gaussians on a circle (2-D)")
def ring(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    angles = torch.arange(8) * (2 * math.pi / 8)
    centres = 0.8 * torch.stack([angles.cos(), angles.sin()], 1)
    return _mixture("ring", centres, 0.04, cfg.n or DEFAULT_N, _gen(seed))


@DATASETS.register("grid", "5x5 grid of 25 Gaussians (2-D)")
def grid(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    ticks = torch.linspace(-0.8, 0.8, 5)
    centres = torch.cartesian_prod(ticks, ticks)
    return _mixture("grid", centres, 0.025, cfg.n or DEFAULT_N, _gen(seed))


@DATASETS.register("spiral", "a two-turn spiral (2-D)")
def spiral(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    g, n = _gen(seed), cfg.n or DEFAULT_N
    t = torch.rand(n, generator=g).sqrt() * 4 * math.pi          # sqrt: even density along the arm
    r = 0.85 * t / (4 * math.pi)
    x = torch.stack([r * t.cos(), r * t.sin()], 1) + 0.02 * torch.randn(n, 2, generator=g)
    return DataSource("spiral", x)


@DATASETS.register("moons", "two interleaving half circles (2-D)")
def moons(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    g, n = _gen(seed), cfg.n or DEFAULT_N
    which = torch.randint(2, (n,), generator=g)
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.stack([t.cos(), t.sin()], 1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)
    x = torch.where(which[:, None] == 0, upper, lower)
    x = (x - torch.tensor([0.5, 0.25])) * 0.55 + 0.05 * torch.randn(n, 2, generator=g)
    return DataSource("moons", x, labels=which, class_names=["upper moon", "lower moon"])


@DATASETS.register("line", "points along a slanted line segment (2-D)")
def line(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    g, n = _gen(seed), cfg.n or DEFAULT_N
    t = torch.rand(n, generator=g) * 1.6 - 0.8
    x = torch.stack([t, 0.5 * t + 0.1], 1) + 0.015 * torch.randn(n, 2, generator=g)
    return DataSource("line", x)


@DATASETS.register("disjoint", "uniform points in two separate boxes (2-D)")
def disjoint(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    g, n = _gen(seed), cfg.n or DEFAULT_N
    which = torch.randint(2, (n,), generator=g)
    u = torch.rand(n, 2, generator=g)
    lo = torch.tensor([[-0.8, -0.8], [0.3, 0.1]])                 # lower-left corners
    size = torch.tensor([[0.5, 0.5], [0.5, 0.7]])
    x = lo[which] + u * size[which]
    return DataSource("disjoint", x, labels=which, class_names=["lower-left box", "upper-right box"])
