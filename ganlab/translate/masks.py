"""Holes for inpainting: random rectangles and free-form strokes, drawn from a torch generator.

    mask = draw_masks(16, 32, "mixed", gen)      # [16, 1, 32, 32] float, 1 in the hole

Rectangles take a quarter to a half of each side, anywhere in the image. Strokes are a
random walk of 2 to 4 segments with a round brush a tenth of the side wide, the kind of
hole a user paints over a photo. "mixed" draws each mask as one or the other, half and
half.
"""
from __future__ import annotations

import math

import torch

KINDS = ("rect", "stroke", "mixed")


def _rect(side: int, gen: torch.Generator) -> torch.Tensor:
    lo, hi = max(1, side // 4), max(2, side // 2)
    h, w = (int(torch.randint(lo, hi + 1, (), generator=gen)) for _ in range(2))
    top = int(torch.randint(0, side - h + 1, (), generator=gen))
    left = int(torch.randint(0, side - w + 1, (), generator=gen))
    m = torch.zeros(side, side)
    m[top:top + h, left:left + w] = 1
    return m


def _stroke(side: int, gen: torch.Generator) -> torch.Tensor:
    radius = max(1.0, side / 20)
    p = torch.rand(2, generator=gen) * side * 0.6 + side * 0.2
    points = [p]
    for _ in range(int(torch.randint(2, 5, (), generator=gen))):
        angle = float(torch.rand((), generator=gen)) * 2 * math.pi
        length = (0.2 + 0.3 * float(torch.rand((), generator=gen))) * side
        p = (p + length * torch.tensor([math.cos(angle), math.sin(angle)])).clamp(0, side - 1)
        points.append(p)
    path = torch.cat([torch.lerp(a, b, torch.linspace(0, 1, 2 * side)[:, None]) for a, b in zip(points, points[1:])])
    yy, xx = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    grid = torch.stack([yy.flatten(), xx.flatten()], 1)                      # [side^2, 2]
    near = torch.cdist(grid, path).amin(1) <= radius
    return near.float().view(side, side)


def draw_masks(n: int, side: int, kind: str, gen: torch.Generator) -> torch.Tensor:
    out = []
    for _ in range(n):
        k = kind if kind != "mixed" else ("rect" if torch.rand((), generator=gen) < 0.5 else "stroke")
        out.append(_rect(side, gen) if k == "rect" else _stroke(side, gen))
    return torch.stack(out)[:, None]
