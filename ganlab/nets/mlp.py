"""Fully connected GAN for 2-D points and for flattened small images.

Points come out unbounded (the toys live in [-1, 1]^2 but G must be free to
overshoot while it learns); images come out through tanh into [-1, 1].
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import nn

from ..config import ModelConfig
from . import MODELS
from .common import MinibatchStd, maybe_spectral_norm


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, out_shape: Tuple[int, ...], width: int, depth: int):
        super().__init__()
        self.z_dim, self.out_shape = z_dim, tuple(out_shape)
        layers, d_in = [], z_dim
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.ReLU()]
            d_in = width
        layers.append(nn.Linear(d_in, math.prod(out_shape)))
        if len(out_shape) > 1:                      # images: squash into the data range
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)      # [B, *out_shape]


class MLPDiscriminator(nn.Module):
    def __init__(self, in_shape: Tuple[int, ...], width: int, depth: int, sn: bool, mbstd: bool = False):
        super().__init__()
        layers, d_in = [nn.Flatten()], math.prod(in_shape)
        for _ in range(depth):
            layers += [nn.Linear(d_in, width), nn.LeakyReLU(0.2)]
            d_in = width
        if mbstd:                                   # [B, width] -> [B, width + 1]
            layers.append(MinibatchStd())
            d_in += 1
        layers.append(nn.Linear(d_in, 1))
        self.net = maybe_spectral_norm(nn.Sequential(*layers), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)                                # [B] logits


@MODELS.register("mlp", "fully connected G and D, for 2-D points or flattened images")
def build_mlp(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    points = len(sample_shape) == 1
    cfg.z_dim = cfg.z_dim or (2 if points else 64)
    cfg.width = cfg.width or (128 if points else 512)
    G = MLPGenerator(cfg.z_dim, sample_shape, cfg.width, cfg.depth)
    D = MLPDiscriminator(sample_shape, cfg.width, cfg.depth, cfg.spectral_norm, cfg.minibatch_std)
    return G, D
