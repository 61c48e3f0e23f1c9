"""Inpainting (Iizuka et al. 2017): G fills a hole given the masked image and the mask; a global and a local D.

    G, D = MODELS.get("inpaint")(cfg.model, (3, 32, 32))
    out = G(x, mask)        # mask [B, 1, H, W], 1 in the hole: only the hole is replaced, the rest is x
    logits = D(out, mask)   # [B, P]: the global D's patches, then the local D's on a crop around the hole

G is the pix2pix U-Net on (image with the hole set to 0, mask): 1 more input channel.
Its output is composited, ``x * (1 - mask) + G(...) * mask``, so pixels outside the
mask can never change. The global D sees the whole image, the local D a square of
half the side centred on the hole's bounding box (clamped inside the image), which
is where a bad fill shows.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from ..config import ModelConfig
from . import MODELS
from .pix2pix import DEFAULT_WIDTH, PatchDiscriminator, UNetGenerator, check_translation_shape


def hole(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The image with its hole blanked (0, mid-grey on [-1, 1]) and the mask as one more channel."""
    return torch.cat([x * (1 - mask), mask], 1)


class InpaintGenerator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int):
        super().__init__()
        self.z_dim = 0
        self.in_channels = self.out_channels = channels
        self.resolution = resolution
        self.unet = UNetGenerator(channels + 1, channels, resolution, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x * (1 - mask) + self.unet(hole(x, mask)) * mask


def crop_boxes(mask: torch.Tensor, side: int) -> torch.Tensor:
    """[B, 2] top-left corners of side x side squares centred on each mask's bounding box."""
    b, _, h, w = mask.shape
    rows, cols = mask.amax(3)[:, 0] > 0, mask.amax(2)[:, 0] > 0        # [B, H], [B, W]
    idx_h, idx_w = torch.arange(h, device=mask.device), torch.arange(w, device=mask.device)
    big = torch.tensor(10 ** 6, device=mask.device)

    def centre(on, idx):
        lo = torch.where(on, idx, big).amin(1)
        hi = torch.where(on, idx, -big).amax(1)
        empty = ~on.any(1)
        return torch.where(empty, torch.full_like(lo, len(idx) // 2), (lo + hi + 1) // 2)

    top = (centre(rows, idx_h) - side // 2).clamp(0, h - side)
    left = (centre(cols, idx_w) - side // 2).clamp(0, w - side)
    return torch.stack([top, left], 1)


class InpaintDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int, sn: bool):
        super().__init__()
        self.side = resolution // 2
        self.whole = PatchDiscriminator(channels, resolution, width, sn)
        self.local = PatchDiscriminator(channels, self.side, width, sn)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # (the memory budget runs a step on the meta device, where a box cannot be read: any box costs the same)
        boxes = [(0, 0)] * len(x) if mask.is_meta else crop_boxes(mask, self.side).tolist()
        crops = torch.stack([x[i, :, t:t + self.side, c:c + self.side] for i, (t, c) in enumerate(boxes)])
        return torch.cat([self.whole(x), self.local(crops)], 1)


@MODELS.register("inpaint", "hole filling: U-Net G on (masked image, mask), global + local PatchGAN D")
def build_inpaint(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    c, res = check_translation_shape(sample_shape, "inpaint")
    cfg.width = cfg.width or DEFAULT_WIDTH
    cfg.z_dim = 0
    cfg.in_channels = c
    return InpaintGenerator(c, res, cfg.width), InpaintDiscriminator(c, res, cfg.width, cfg.spectral_norm)
