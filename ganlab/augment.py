"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020).

    x = augment(x, "translation,cutout", gen)     # [B, C, H, W] -> same shape, new random draw each call

D sees real and generated images through the same random augmentations, and
the gradient flows back through them into G, so G learns the real images, not
augmented ones. It helps most when data is scarce (a few thousand images) and
lets D train longer before it memorises. Every draw comes from ``gen``, so
runs stay deterministic. Points (2-D toys) pass through untouched.

Policies, joined with commas:

- ``translation``: shift by up to 1/8 of the side, filling with black (-1);
- ``cutout``: blank a random square of half the side;
- ``color``: random brightness, saturation (RGB only) and contrast.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch

from .errors import GanlabError

Part = Tuple[int, int]          # (rank, ranks): which share of a data-parallel batch a tensor is
WHOLE: Part = (0, 1)


def _rows(t: torch.Tensor, part: Part) -> torch.Tensor:
    """Share ``part`` of a draw made for the whole batch: [ranks * b, ...] -> [b, ...]."""
    rank, ranks = part
    b = len(t) // ranks
    return t[rank * b:(rank + 1) * b]


def _translation(x: torch.Tensor, gen: torch.Generator, part: Part = WHOLE, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = max(1, int(h * ratio)), max(1, int(w * ratio))
    dy = _rows(torch.randint(-sh, sh + 1, (b * part[1], 1, 1), generator=gen), part).to(x.device)
    dx = _rows(torch.randint(-sw, sw + 1, (b * part[1], 1, 1), generator=gen), part).to(x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1) + dy                      # [B, H, 1] source rows
    xx = torch.arange(w, device=x.device).view(1, 1, w) + dx                      # [B, 1, W] source columns
    inside = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)).unsqueeze(1)          # [B, 1, H, W]
    yy, xx = yy.clamp(0, h - 1).expand(b, h, w), xx.clamp(0, w - 1).expand(b, h, w)
    flat = (yy * w + xx).view(b, 1, h * w).expand(-1, x.shape[1], -1)
    moved = x.flatten(2).gather(2, flat).view_as(x)
    return torch.where(inside, moved, torch.full_like(x, -1.0))


def _cutout(x: torch.Tensor, gen: torch.Generator, part: Part = WHOLE, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _rows(torch.randint(0, h + (1 - ch % 2), (b * part[1], 1, 1), generator=gen), part).to(x.device)
    cx = _rows(torch.randint(0, w + (1 - cw % 2), (b * part[1], 1, 1), generator=gen), part).to(x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    hole = ((yy - cy).abs() * 2 < ch) & ((xx - cx).abs() * 2 < cw)              # [B, H, W]
    return torch.where(hole.unsqueeze(1), torch.full_like(x, -1.0), x)


def _color(x: torch.Tensor, gen: torch.Generator, part: Part = WHOLE) -> torch.Tensor:
    b = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * _rows(torch.rand(b * part[1], 1, 1, 1, generator=gen), part)).to(x.device)

    x = x + u(-0.5, 0.5)                                          # brightness (on the [-1, 1] scale)
    if x.shape[1] == 3:
        mean = x.mean(1, keepdim=True)
        x = (x - mean) * u(0.0, 2.0) + mean                       # saturation
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * u(0.5, 1.5) + mean                        # contrast


POLICIES: Dict[str, Callable[..., torch.Tensor]] = {
    "translation": _translation, "cutout": _cutout, "color": _color}


def check_policy(policy: str) -> None:
    unknown = [p for p in _parts(policy) if p not in POLICIES]
    if unknown:
        raise GanlabError(f"Unknown augmentation {', '.join(unknown)}; use a comma-separated mix of "
                          f"{', '.join(POLICIES)} (or nothing).")


def _parts(policy: str):
    return [p.strip() for p in (policy or "").split(",") if p.strip()]


def augment(x: torch.Tensor, policy: str, gen: torch.Generator, part: Part = WHOLE) -> torch.Tensor:
    """``x`` through the policy; ``part`` = (rank, ranks) when ``x`` is one rank's share of a data-parallel
    batch: the draws are made for the whole batch and this share's rows kept, as one process would."""
    if not policy or x.dim() != 4:
        return x
    for name in _parts(policy):
        x = POLICIES[name](x, gen, part)
    return x
