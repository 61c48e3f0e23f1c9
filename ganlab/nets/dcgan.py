"""DCGAN (Radford et al. 2016) for 28, 32 and 64 px images with 1 or 3 channels.

G: transposed convolutions with BatchNorm and ReLU, tanh out.
D: strided convolutions with LeakyReLU(0.2). By default D has no BatchNorm so that
every loss works with it, WGAN-GP included (its penalty is per sample);
``d_norm="batch"`` adds BatchNorm after every conv but the first, as pytorch/examples'
DCGAN does (bench/train_throughput.py compares the two loops on those networks).
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import GanlabError
from . import MODELS
from .common import MinibatchStd, maybe_spectral_norm

# resolution -> side of the first feature map; each stage after it doubles it
BASE = {28: 7, 32: 4, 64: 4}


def _stages(resolution: int) -> int:
    if resolution not in BASE:
        raise GanlabError(f"DCGAN works at 28, 32 or 64 px, not {resolution}; set the resolution to one of those.")
    return {28: 2, 32: 3, 64: 4}[resolution]


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, ngf: int):
        super().__init__()
        self.z_dim = z_dim
        n = _stages(resolution)
        ch = ngf * 2 ** (n - 1)
        layers = [  # state size. z_dim x 1 x 1 -> ch x base x base
            nn.ConvTranspose2d(z_dim, ch, BASE[resolution], 1, 0, bias=False),
            nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):  # each block: ch x s x s -> ch/2 x 2s x 2s
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        # state size. ngf x res/2 x res/2 -> channels x res x res
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])                         # [B, C, H, W]


def conv_features(channels: int, resolution: int, ndf: int, batch_norm: bool = False) -> Tuple[List[nn.Module], int]:
    """D's strided conv blocks: channels x res x res -> ch_out x base x base; returns (layers, ch_out).

    ``batch_norm``: BatchNorm after every conv but the first (whose conv then needs no bias)."""
    n = _stages(resolution)
    layers, ch_in, ch = [], channels, ndf
    for i in range(n):  # each block: ch_in x s x s -> ch x s/2 x s/2
        norm = batch_norm and i > 0
        layers += [nn.Conv2d(ch_in, ch, 4, 2, 1, bias=not norm)]
        layers += [nn.BatchNorm2d(ch)] if norm else []
        layers += [nn.LeakyReLU(0.2, True)]
        ch_in, ch = ch, ch * 2
    return layers, ch_in


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, ndf: int, sn: bool, mbstd: bool = False,
                 batch_norm: bool = False):
        super().__init__()
        layers, ch_in = conv_features(channels, resolution, ndf, batch_norm)
        if mbstd:                                   # ch_in x base x base -> (ch_in + 1) x base x base
            layers.append(MinibatchStd())
            ch_in += 1
        # state size. ch_in x base x base -> 1 x 1 x 1
        layers.append(nn.Conv2d(ch_in, 1, BASE[resolution], 1, 0))
        self.net = maybe_spectral_norm(nn.Sequential(*layers), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()                                 # [B] logits


def check_image_shape(sample_shape: Tuple[int, ...], family: str = "DCGAN") -> Tuple[int, int]:
    """(channels, resolution) of a square image set, or a clear error for points."""
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise GanlabError(f"{family} needs square images; use the mlp model for 2-D points.")
    _stages(sample_shape[1])
    return sample_shape[0], sample_shape[1]


@MODELS.register("dcgan", "DCGAN for 28/32/64 px images, 1 or 3 channels")
def build_dcgan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    check_image_shape(sample_shape)
    channels, res = sample_shape[0], sample_shape[1]
    cfg.z_dim = cfg.z_dim or 64
    cfg.width = cfg.width or 32
    G = DCGANGenerator(cfg.z_dim, channels, res, cfg.width)
    D = DCGANDiscriminator(channels, res, cfg.width, cfg.spectral_norm, cfg.minibatch_std,
                           batch_norm=cfg.d_norm == "batch")
    return G, D
