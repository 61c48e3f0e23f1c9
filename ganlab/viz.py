"""Pictures of samples: image grids and 2-D point plots, as PIL images.

    grid_image(x)                 # [B, C, H, W] in [-1, 1] -> one PIL grid
    points_image(fake, real)      # [B, 2] points -> a scatter picture of the plane
    samples_image(x, real)        # whichever of the two fits x
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision.utils import make_grid

BOX = 1.25            # 2-D plots show [-BOX, BOX]^2; the toys live in [-1, 1]^2


def grid_image(x: torch.Tensor, nrow: Optional[int] = None, scale: int = 2) -> Image.Image:
    """Tile a batch of images in [-1, 1] into one picture, enlarged ``scale`` times."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(len(x)))))
    grid = make_grid(x.float().clamp(-1, 1), nrow=nrow, padding=2, pad_value=1.0)  # [C, H, W]
    arr = ((grid + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    if scale != 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def to_pixels(points: np.ndarray, size: int) -> np.ndarray:
    """Plane points [B, 2] -> drawing coordinates (x right, y down) [B, 2] in a size x size picture.

    The picture's edges are the plane's: -BOX maps to 0 and +BOX to ``size`` (the outer
    edge of the last pixel), so it lines up with axes that stretch it over [-BOX, BOX].
    """
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[:, 0] + BOX, BOX - p[:, 1]], 1) * (size / (2 * BOX))


def points_image(fake: torch.Tensor, real: Optional[torch.Tensor] = None, size: int = 320) -> Image.Image:
    """Real points (grey) and generated points (orange) on the plane [-BOX, BOX]^2."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def to_px(p: torch.Tensor) -> np.ndarray:
        return to_pixels(p.detach().cpu().float().numpy(), size)

    draw.line([(0, size // 2), (size, size // 2)], fill=(230, 230, 230))
    draw.line([(size // 2, 0), (size // 2, size)], fill=(230, 230, 230))
    for pts, colour in ((real, (150, 150, 150)), (fake, (235, 110, 20))):
        if pts is None:
            continue
        for x, y in to_px(pts):
            draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=colour)
    return img


def samples_image(x: torch.Tensor, real: Optional[torch.Tensor] = None, nrow: Optional[int] = None) -> Image.Image:
    return points_image(x, real) if x.dim() == 2 else grid_image(x, nrow=nrow)
