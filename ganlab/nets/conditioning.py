"""Pieces shared by the class-conditioned families (cgan, projection, acgan, reacgan).

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

A label joined from parts (shapes' "shape+colour": 3 x 8 = 24 classes) can
be *factorised* (``factors=[3, 8]``): every class table is then the sum of
one small table per part, so "triangle" is learned once from all eight
colours' triangles rather than eight times from an eighth of the data each.
The joint table still has one row per class, so blending and indexing work
as before.
"""
from __future__ import annotations

from math import prod

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanlabError
from .dcgan import BASE, _stages


def embed(table: nn.Embedding, y: torch.Tensor) -> torch.Tensor:
    """Rows of ``table`` for class indices, or their weighted mix for class weights: [B, dim]."""
    if y.dtype in (torch.int64, torch.int32):
        return table(y)
    return y.to(table.weight.dtype) @ table.weight


class FactorisedEmbedding(nn.Module):
    """An ``nn.Embedding``-like table of ``prod(factors)`` rows, each the sum of one row per part.

    Classes are numbered in mixed radix with the first part varying slowest, as
    ``ganlab.data.relabel`` numbers them: with factors [3, 8], class 11 is part
    values (1, 3) and its row is ``parts[0][1] + parts[1][3]``.
    """

    def __init__(self, factors, dim: int):
        super().__init__()
        self.factors = [int(k) for k in factors]
        self.parts = nn.ModuleList(nn.Embedding(k, dim) for k in self.factors)
        digits = torch.unravel_index(torch.arange(prod(self.factors)), tuple(self.factors))
        self.register_buffer("digits", torch.stack(digits), persistent=False)     # [P, K] part values

    @property
    def weight(self) -> torch.Tensor:
        return sum(part(d) for part, d in zip(self.parts, self.digits))            # [K, dim]

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return sum(part(self.digits[i, y]) for i, part in enumerate(self.parts))

    def fill_(self, value: float) -> None:
        """Every class row = ``value`` (the first part holds it, the others start at zero)."""
        with torch.no_grad():
            for i, part in enumerate(self.parts):
                part.weight.fill_(value if i == 0 else 0.0)


def class_table(num_classes: int, dim: int, factors=None) -> nn.Module:
    """A learned row per class: an ``nn.Embedding``, or a ``FactorisedEmbedding`` over ``factors``."""
    if factors:
        if prod(factors) != num_classes:
            raise GanlabError(f"The label parts {factors} do not multiply to the {num_classes} classes.")
        return FactorisedEmbedding(factors, dim)
    return nn.Embedding(num_classes, dim)


def fill_table_(table: nn.Module, value: float) -> None:
    if isinstance(table, FactorisedEmbedding):
        table.fill_(value)
    else:
        nn.init.constant_(table.weight, value)


def as_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices or weights -> weights [B, K]."""
    if y.dtype in (torch.int64, torch.int32):
        return F.one_hot(y, num_classes).float()
    return y.float()


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without its own affine part; the class picks the scale and the shift."""

    def __init__(self, channels: int, num_classes: int, factors=None):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = class_table(num_classes, channels, factors)
        self.beta = class_table(num_classes, channels, factors)
        fill_table_(self.gamma, 1.0)
        fill_table_(self.beta, 0.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g, b = embed(self.gamma, y), embed(self.beta, y)          # [B, C] each
        return self.bn(x) * g[:, :, None, None] + b[:, :, None, None]


class ConditionalGenerator(nn.Module):
    """DCGAN's generator, told which class to draw (see the module docstring for the two modes)."""

    def __init__(self, z_dim: int, channels: int, resolution: int, ngf: int, num_classes: int,
                 mode: str = "concat", embed_dim: int = 32, factors=None):
        super().__init__()
        self.z_dim, self.num_classes, self.mode, self.factors = z_dim, num_classes, mode, factors
        n = _stages(resolution)
        ch = ngf * 2 ** (n - 1)
        z_in = z_dim
        if mode == "concat":
            self.label = class_table(num_classes, embed_dim, factors)
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
        return ConditionalBatchNorm2d(ch, self.num_classes, self.factors) if self.mode == "cbn" else nn.BatchNorm2d(ch)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = z
        if self.mode == "concat":
            h = torch.cat([z, embed(self.label, y)], 1)
        h = h[:, :, None, None]                                      # [B, z_in, 1, 1]
        for up, norm in zip(self.ups, self.norms):
            h = up(h)
            h = F.relu(norm(h, y) if self.mode == "cbn" else norm(h))
        return torch.tanh(self.out(h))                               # [B, C, H, W]


def label_factors(cfg):
    """The label parts to factorise the class tables over (``--factorised``), or None."""
    if not cfg.factorised:
        return None
    if not cfg.class_factors:
        raise GanlabError("Factorised conditioning needs a label joined from parts, such as shapes' "
                          "shape+colour (--label shape+colour).")
    return cfg.class_factors


def default_sizes(cfg) -> None:
    """The conditional families' defaults, written back so config.json records them."""
    cfg.z_dim = cfg.z_dim or 64
    cfg.width = cfg.width or 32
