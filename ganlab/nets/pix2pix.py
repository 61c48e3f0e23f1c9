"""Pix2Pix (Isola et al. 2017): a U-Net G from one image to another and a PatchGAN D on both, stacked.

    G, D = MODELS.get("pix2pix")(cfg.model, (3, 32, 32))     # cfg.model.in_channels: the input's channels
    y = G(x)                      # [B, in_channels, 32, 32] -> [B, 3, 32, 32] in [-1, 1]
    logits = D(x, y)              # [B, P]: one logit per overlapping patch

G halves the side down to 2 px (a side like 28 is padded to 32 first, and cropped back), then
doubles it back, each up-step fed the down-step of its size (the skips carry the
input's layout straight to the output). Dropout in the three innermost up-steps
is G's only noise, as in the paper; it is off in eval mode, so a trained model
gives one answer per input. Instance norm, not batch norm: a batch of one is
common here (the Image -> Image tab translates one drawing), and batch statistics
would then be the image's own anyway.

D (PatchGAN) classifies overlapping patches; its receptive field is sized to the
resolution (:func:`patch_layers`): 16 px patches at 16-32 px, 34 px at 64 px, and
the paper's 70 px from 128 px up. No batch norm in D, so R1 and WGAN-GP (per
sample) work with it. The same builders serve the other image-to-image families.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanlabError
from . import MODELS
from .common import maybe_spectral_norm

DEFAULT_WIDTH = 16


def receptive_field(n_layers: int) -> int:
    """PatchGAN's receptive field in px: n stride-2 4x4 convs, then two stride-1 4x4 convs."""
    rf = 1
    for stride in reversed([2] * n_layers + [1, 1]):
        rf = (rf - 1) * stride + 4
    return rf


def patch_layers(resolution: int) -> int:
    """Strided layers for D: the most whose receptive field stays within ~half the image (at least 1, at most 3)."""
    n = 1
    while n < 3 and receptive_field(n + 1) <= 0.55 * resolution:
        n += 1
    return n


def check_translation_shape(sample_shape: Tuple[int, ...], family: str) -> Tuple[int, int]:
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise GanlabError(f"{family} translates square images; pick an image set (see `python -m ganlab list`).")
    c, res = sample_shape[0], sample_shape[1]
    if res < 8:
        raise GanlabError(f"{family} needs images of at least 8 px (got {res}).")
    return c, res


class UNetGenerator(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, resolution: int, width: int, dropout: float = 0.5):
        super().__init__()
        self.z_dim = 0                                   # no noise input: dropout is G's noise
        self.in_channels, self.out_channels, self.resolution = in_ch, out_ch, resolution
        # a side that is not a power of two (28) is padded up to one (32) and the output cropped back,
        # so every U-Net halves down to 2 px whatever the set's size
        self.padded = 1 << (resolution - 1).bit_length()
        sides, side = [], self.padded
        while side > 2:                                  # 32 -> 16 -> 8 -> 4 -> 2
            side //= 2
            sides.append(side)
        if not sides:
            raise GanlabError(f"The U-Net needs images of at least 4 px (got {resolution}).")
        chans = [min(width * 2 ** i, width * 8) for i in range(len(sides))]
        self.down = nn.ModuleList()
        prev = in_ch
        for i, ch in enumerate(chans):                   # C64-C128-C256-C512-C512..., halving the side each time
            layers: List[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(prev, ch, 4, 2, 1, bias=i == 0 or i == len(chans) - 1))
            if 0 < i < len(chans) - 1:
                layers.append(nn.InstanceNorm2d(ch, affine=True))
            self.down.append(nn.Sequential(*layers))
            prev = ch
        self.up = nn.ModuleList()
        n = len(chans)
        for i in reversed(range(n)):                     # up-step i undoes down-step i; its input is cat(skip, below)
            src = chans[i] if i == n - 1 else 2 * chans[i]
            dst = out_ch if i == 0 else chans[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(src, dst, 4, 2, 1, bias=i == 0)]
            if i == 0:
                layers.append(nn.Tanh())
            else:
                layers.append(nn.InstanceNorm2d(dst, affine=True))
                if dropout > 0 and i >= n - 3 and n > 3:  # the innermost three, as in the paper
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = x.shape[-1]
        pad = self.padded - side
        if pad:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), mode="replicate")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for i, block in enumerate(self.up):
            if i > 0:
                x = torch.cat([skips.pop(), x], 1)
            x = block(x)
        return x[..., pad // 2:pad // 2 + side, pad // 2:pad // 2 + side] if pad else x


class PatchDiscriminator(nn.Module):
    """``D(x)`` -> [B, P] patch logits; ``D(x, features=True)`` -> (logits, [feature maps]) for feature losses."""

    def __init__(self, in_ch: int, resolution: int, width: int, sn: bool = False, n_layers: Optional[int] = None):
        super().__init__()
        n = n_layers or patch_layers(resolution)
        self.receptive_field = receptive_field(n)
        blocks: List[nn.Module] = [nn.Sequential(nn.Conv2d(in_ch, width, 4, 2, 1), nn.LeakyReLU(0.2))]
        ch = width
        for i in range(1, n + 1):                        # n - 1 more stride-2 layers, then one stride-1
            nxt = min(width * 2 ** i, width * 8)
            blocks.append(nn.Sequential(nn.Conv2d(ch, nxt, 4, 2 if i < n else 1, 1),
                                        nn.InstanceNorm2d(nxt, affine=True), nn.LeakyReLU(0.2)))
            ch = nxt
        self.blocks = maybe_spectral_norm(nn.ModuleList(blocks), sn)
        self.out = maybe_spectral_norm(nn.Conv2d(ch, 1, 4, 1, 1), sn)

    def forward(self, x: torch.Tensor, features: bool = False):
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        logits = self.out(x).flatten(1)                  # [B, P]
        return (logits, feats) if features else logits


class PairDiscriminator(nn.Module):
    """PatchGAN on the input and output stacked: D judges whether the output fits its input."""

    def __init__(self, in_ch: int, out_ch: int, resolution: int, width: int, sn: bool):
        super().__init__()
        self.patch = PatchDiscriminator(in_ch + out_ch, resolution, width, sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.patch(torch.cat([x, y], 1))


def input_channels(cfg: ModelConfig, sample_shape) -> int:
    return cfg.in_channels or sample_shape[0]


@MODELS.register("pix2pix", "paired image-to-image: U-Net G, PatchGAN D on (input, output), adversarial + 100 L1")
def build_pix2pix(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    c, res = check_translation_shape(sample_shape, "pix2pix")
    cfg.width = cfg.width or DEFAULT_WIDTH
    cfg.z_dim = 0
    cin = input_channels(cfg, sample_shape)
    cfg.in_channels = cin
    G = UNetGenerator(cin, c, res, cfg.width)
    D = PairDiscriminator(cin, c, res, cfg.width, cfg.spectral_norm)
    return G, D
