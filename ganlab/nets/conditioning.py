"""Pieces shared by the class-conditioned families (cgan, projection, acgan).

A class condition ``y`` is either class indices ``[B]`` (int64) or class
weights ``[B, K]`` (float, rows summing to 1). Weights let the Explore tab
blend two classes: every embedding of ``y`` is then the weighted mix of the
classes' embeddings, so a slider from "sneaker" to "sandal" moves through
the embedding space in a straight line.

    G = ConditionalGenerator(z_dim=64, channels=1, resolution=28, ngf=32, num_classes=10, mode="concat")
    x = G(z, y)                               # [B, 1, 28, 28]

``mode="concat"`` joins a learned label embedding to z (Mirza & Osindero 2014);
``mode="cbn"`` gives every BatchNorm a per-class scale and shift instead
(conditional BatchNorm, as in the projection-discriminator paper).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dcgan import BASE, _stages


def embed(table: nn.Embedding, y: torch.Tensor) -> torch.Tensor:
    """Rows of ``table`` for class indices, or their weighted mix for class weights: [B, dim]."""
    if y.dtype in (torch.int64, torch.int32):
        return table(y)
    return y.to(table.weight.dtype) @ table.weight


def as_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices or weights -> weights [B, K]."""
    if y.dtype in (torch.int64, torch.int32):
        return F.one_hot(y, num_classes).float()
    return y.float()


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part; the class picks the scale and the shift."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g, b = embed(self.gamma, y), embed(self.beta, y)          # [B, C] each
        return self.bn(x) * g[:, :, None, None] + b[:, :, None, None]


class ConditionalGenerator(nn.Module):
    """DCGAN's generator, told which class to draw (see the module docstring for the two modes)."""

    def __init__(self, z_dim: int, channels: int, resolution: int, ngf: int, num_classes: int,
                 mode: str = "concat", embed_dim: int = 32):
        super().__init__()
        self.z_dim, self.num_classes, self.mode = z_dim, num_classes, mode
        n = _stages(resolution)
        ch = ngf * 2 ** (n - 1)
        z_in = z_dim
        if mode == "concat":
            self.label = nn.Embedding(num_classes, embed_dim)
            z_in += embed_dim
        # state size. z_in x 1 x 1 -> ch x base x base, then each block doubles the side and halves ch
        self.ups = nn.ModuleList([nn.ConvTranspose2d(z_in, ch, BASE[resolution], 1, 0, bias=False)])
        self.norms = nn.ModuleList([self._norm(ch)])
        for _ in range(n - 1):
            self.ups.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            self.norms.append(self._norm(ch // 2))
            ch //= 2
        # state size. ngf x res/2 x res/2 -> channels x res x res
        self.out = nn.ConvTranspose2d(ch, channels, 4, 2, 1)

    def _norm(self, ch: int) -> nn.Module:
        return ConditionalBatchNorm2d(ch, self.num_classes) if self.mode == "cbn" else nn.BatchNorm2d(ch)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = z
        if self.mode == "concat":
            h = torch.cat([z, embed(self.label, y)], 1)
        h = h[:, :, None, None]                                      # [B, z_in, 1, 1]
        for up, norm in zip(self.ups, self.norms):
            h = up(h)
            h = F.relu(norm(h, y) if self.mode == "cbn" else norm(h))
        return torch.tanh(self.out(h))                               # [B, C, H, W]


def default_sizes(cfg) -> None:
    """The conditional families' defaults, written back so config.json records them."""
    cfg.z_dim = cfg.z_dim or 64
    cfg.width = cfg.width or 32
