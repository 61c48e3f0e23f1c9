"""Layers with an equalised learning rate, shared by the style-based and progressive families.

Karras et al. (2018) store weights as N(0, 1) and multiply by He's constant at every
forward pass instead of once at init. Adam's step is then the same size relative to
every layer's weights, whatever its fan-in, so no layer learns much faster than another.
``lr_mul`` (StyleGAN's mapping network uses 0.01) slows one layer on purpose.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2) scaled by sqrt(2), so a layer keeps its input's variance."""
    return F.leaky_relu(x, 0.2) * SQRT2


class EqualLinear(nn.Module):
    def __init__(self, n_in: int, n_out: int, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((n_out,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(n_in), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(y) if self.act else y


class EqualConv2d(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, bias: bool = True, act: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale, self.pad, self.act = 1.0 / math.sqrt(c_in * k * k), k // 2, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)
        return lrelu(y) if self.act else y


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Each pixel's (or vector's) features scaled to unit mean square, over dim 1 (Karras et al. 2018)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)
