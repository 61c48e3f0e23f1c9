"""2-D toy distributions, as GAN Lab has them, drawn deterministically from a seed.

All sets live in the box [-1, 1]^2 so plots and heatmaps share one frame.
The two mixtures (ring, grid) record their mode centres and std, which the
mode-coverage metric needs.
"""
from __future__ import annotations

import math

import torch

from ..config import DataConfig
from ..errors import GanlabError
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


# ---- your own points ------------------------------------------------------------------
MAX_POINTS = 100_000
DRAW_JITTER = 0.01          # drawn points get this much Gaussian blur, so a stroke has width


@DATASETS.register("points:", "points:FILE.csv, your own 2-D points (x,y per line, inside [-1, 1]^2)")
def points_file(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    """2-D points from a CSV file (``x,y`` per line; a header line is allowed)."""
    from pathlib import Path
    path = Path(arg).expanduser()
    if not path.is_file():
        raise GanlabError(f"There is no points file at {path}; give a CSV with one 'x,y' pair per line.")
    rows = []
    for i, line in enumerate(path.read_text(errors="replace").splitlines()):
        parts = [p.strip() for p in line.replace(";", ",").split(",") if p.strip()]
        if not parts:
            continue
        try:
            x, y = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            if i == 0:
                continue                                   # a header such as "x,y"
            # never quote the line: a page must not learn what a file it named holds
            raise GanlabError(f"{path.name} line {i + 1} is not an 'x,y' pair of numbers; give one pair per "
                              "line.") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise GanlabError(f"{path.name} line {i + 1} holds a value that is not a finite number.")
        rows.append((x, y))
        if len(rows) > MAX_POINTS:
            raise GanlabError(f"{path.name} has more than {MAX_POINTS:,} points; use fewer.")
    if len(rows) < 2:
        raise GanlabError(f"{path.name} needs at least 2 points (found {len(rows)}).")
    x = torch.tensor(rows, dtype=torch.float32)
    if x.abs().max() > 1.5:
        raise GanlabError(f"{path.name} has points outside [-1.5, 1.5]^2; scale them into [-1, 1]^2 "
                          "(the playground shows [-1.25, 1.25]^2).")
    return DataSource("points", x, note=f"{len(x):,} points from {path.name}")


def points_from_drawing(ink: torch.Tensor, n: int = 2000, seed: int = 0) -> torch.Tensor:
    """Sample ``n`` points [n, 2] in [-1, 1]^2 from the inked pixels of a drawing.

    ``ink`` [H, W] is how much ink each pixel holds (0 = blank). Row 0 is the top
    of the canvas, so y grows upwards as on the plane. Each point is a random
    inked pixel (weighted by ink) plus a little jitter.
    """
    if ink.dim() != 2:
        raise GanlabError("A drawing must be a 2-D array of ink.")
    h, w = ink.shape
    weights = ink.float().clamp(min=0).flatten()
    if float(weights.sum()) <= 0:
        raise GanlabError("The canvas is empty: draw some strokes or click some points first.")
    g = _gen(seed)
    idx = torch.multinomial(weights, n, replacement=True, generator=g)
    rows, cols = (idx // w).float(), (idx % w).float()
    x = (cols + 0.5) / w * 2 - 1
    y = 1 - (rows + 0.5) / h * 2
    pts = torch.stack([x, y], 1) + DRAW_JITTER * torch.randn(n, 2, generator=g)
    return pts.clamp(-1, 1)


def write_points(points: torch.Tensor, path) -> None:
    """Write [N, 2] points as the CSV that ``points:PATH`` reads."""
    from pathlib import Path
    lines = ["x,y"] + [f"{x:.5f},{y:.5f}" for x, y in points.tolist()]
    Path(path).write_text("\n".join(lines) + "\n")
