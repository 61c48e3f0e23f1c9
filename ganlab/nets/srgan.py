"""SRGAN-style super-resolution (Ledig et al. 2017): a residual G with pixel-shuffle upsampling.

    G, D = MODELS.get("srgan")(cfg.model, (3, 64, 64))     # cfg.model.sr_scale: 2 or 4 (default 4)
    hi = G(lo)              # [B, 3, 16, 16] -> [B, 3, 64, 64]
    logits, feats = D(hi, features=True)

G works at the low resolution: a 9x9 conv, residual blocks (conv-PReLU-conv, no batch
norm, as EDSR found better for SR), a long skip over them, then one conv + pixel
shuffle (x2) per doubling and a 9x9 conv out. Its output is added to the bicubic
up-sample of the input, so G learns only the detail bicubic misses; its last conv
starts at zero, so an untrained G is exactly bicubic, the baseline it must beat.

D is a PatchGAN at the high resolution; its feature maps give the "D-feature"
content loss (the offline stand-in for SRGAN's VGG loss: no VGG weights ship here).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanlabError
from . import MODELS
from .pix2pix import PatchDiscriminator, check_translation_shape

DEFAULT_WIDTH = 32
BLOCKS = 6
SCALES = (2, 4)


def bicubic(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize [B, C, h, w] to size x size, bicubic (anti-aliased when shrinking), kept in [-1, 1]."""
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False,
                         antialias=size < x.shape[-1]).clamp(-1, 1)


class SRBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.PReLU(ch), nn.Conv2d(ch, ch, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGenerator(nn.Module):
    def __init__(self, channels: int, resolution: int, scale: int, width: int, blocks: int = BLOCKS):
        super().__init__()
        self.z_dim = 0
        self.scale, self.resolution = scale, resolution
        self.in_channels = self.out_channels = channels
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, 1, 4), nn.PReLU(width))
        self.body = nn.Sequential(*[SRBlock(width) for _ in range(blocks)], nn.Conv2d(width, width, 3, 1, 1))
        up = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(width, 4 * width, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, channels, 9, 1, 4)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(self, lo: torch.Tensor) -> torch.Tensor:
        h = self.head(lo)
        h = self.up(h + self.body(h))
        return bicubic(lo, lo.shape[-1] * self.scale) + self.tail(h)


def low_resolution(resolution: int, scale: int) -> int:
    if scale not in SCALES:
        raise GanlabError(f"--sr-scale must be 2 or 4 (got {scale}).")
    if resolution % scale:
        raise GanlabError(f"A {resolution} px image cannot be shrunk {scale}x evenly; use a resolution divisible "
                          f"by {scale}.")
    return resolution // scale


@MODELS.register("srgan", "super-resolution x2/x4: residual G with pixel shuffle over bicubic, PatchGAN D")
def build_srgan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    c, res = check_translation_shape(sample_shape, "srgan")
    cfg.width = cfg.width or DEFAULT_WIDTH
    cfg.z_dim = 0
    cfg.sr_scale = cfg.sr_scale or 4
    low_resolution(res, cfg.sr_scale)
    cfg.in_channels = c
    return SRGenerator(c, res, cfg.sr_scale, cfg.width), PatchDiscriminator(c, res, cfg.width, cfg.spectral_norm)
