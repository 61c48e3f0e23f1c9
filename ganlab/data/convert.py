"""Pixels to training tensors, shared by every image source.

    x = to_images(u8, resolution=32, channels=3)   # uint8 [N, C, H, W] -> float [N, 3, 32, 32]

``resolution`` (None keeps the native size) resizes the short side and
centre-crops a square, since every network here makes square images;
``channels`` (None keeps the native count) makes grey (1) or RGB (3).
Values end up in [-1, 1], the range of G's tanh output.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DataConfig
from ..errors import GanlabError

_GREY = torch.tensor([0.299, 0.587, 0.114])   # ITU-R 601 luma, what PIL's "L" uses


def data_root(cfg: DataConfig) -> Path:
    """cfg.root, else $GANLAB_DATA, else ~/.cache/ganlab/data."""
    root = cfg.root or os.environ.get("GANLAB_DATA") or "~/.cache/ganlab/data"
    return Path(root).expanduser()


def check_shape_options(resolution: Optional[int], channels: Optional[int]) -> None:
    if resolution is not None and not 4 <= resolution <= 1024:
        raise GanlabError(f"The image resolution must be between 4 and 1024 pixels (got {resolution}).")
    if channels not in (None, 1, 3):
        raise GanlabError(f"Channels must be 1 (grey) or 3 (RGB) (got {channels}).")


def to_images(u8: torch.Tensor, resolution: Optional[int] = None,
              channels: Optional[int] = None, chunk: int = 4096) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 [N, C', R, R] in [-1, 1].

    Works in chunks so the peak memory is the output plus one chunk, not a
    second float copy of the whole set.
    """
    check_shape_options(resolution, channels)
    n, c, h, w = u8.shape
    if c == 4:                                          # RGBA: GANs here do not model alpha
        u8, c = u8[:, :3], 3
    side = resolution or (h if h == w else min(h, w))
    out_c = channels or c
    out = torch.empty(n, out_c, side, side)
    for i in range(0, n, chunk):
        x = u8[i:i + chunk].float().div_(127.5).sub_(1)    # [n, C, H, W] in [-1, 1]
        out[i:i + chunk] = _fit_channels(_fit_square(x, side), out_c)
    return out


def _fit_square(x: torch.Tensor, side: int) -> torch.Tensor:
    """Resize the short side to `side`, then centre-crop a square."""
    h, w = x.shape[-2:]
    if (h, w) != (side, side):
        scale = side / min(h, w)
        size = (max(side, round(h * scale)), max(side, round(w * scale)))
        # antialias: plain bilinear aliases badly when shrinking photos.
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        top, left = (size[0] - side) // 2, (size[1] - side) // 2
        x = x[..., top:top + side, left:left + side].clamp_(-1, 1)
    return x


def _fit_channels(x: torch.Tensor, c: int) -> torch.Tensor:
    if x.shape[1] == c:
        return x
    if c == 1:
        return (x * _GREY[:, None, None]).sum(1, keepdim=True)
    return x.expand(-1, 3, -1, -1)


def as_nchw(data) -> torch.Tensor:
    """A uint8 array as [N, C, H, W]; accepts [N, H, W], [N, H, W, C] and [N, C, H, W]."""
    t = torch.as_tensor(np.asarray(data))
    if t.dim() == 3:
        return t[:, None]
    if t.shape[-1] in (1, 3, 4) and t.shape[1] not in (1, 3, 4):
        return t.permute(0, 3, 1, 2)
    return t

