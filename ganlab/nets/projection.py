"""Projection discriminator (Miyato & Koyama 2018) with conditional BatchNorm in G.

D computes features phi(x) and scores ``psi(phi(x)) + <embed(y), phi(x)>``:
the class enters as an inner product with the features rather than as an
input, which is what made conditional GANs work at ImageNet scale.
G gets the class through per-class BatchNorm scales and shifts.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from ..config import ModelConfig
from . import MODELS
from .cgan import need_classes
from .common import MinibatchStd, maybe_spectral_norm
from .conditioning import ConditionalGenerator, class_table, default_sizes, embed, label_factors
from .dcgan import check_image_shape, conv_features


def summed_features(channels: int, resolution: int, ndf: int, sn: bool, mbstd: bool) -> Tuple[nn.Module, int]:
    """D's convolutional trunk (spectrally normalised with ``sn``) and its width ch; the projection-style
    discriminators sum its output over positions into features [B, ch]."""
    layers, ch = conv_features(channels, resolution, ndf)
    if mbstd:
        layers.append(MinibatchStd())
        ch += 1
    # state size. ch x base x base
    return maybe_spectral_norm(nn.Sequential(*layers), sn), ch


def projection_table(num_classes: int, ch: int, factors, sn: bool) -> nn.Module:
    """The class rows that D's features are projected on (with spectral norm, as D's other layers)."""
    table = class_table(num_classes, ch, factors)
    if sn:
        for part in getattr(table, "parts", [table]):
            nn.utils.parametrizations.spectral_norm(part)
    return table


def class_projection(table: nn.Module, y: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """The projection term <embed(y), phi(x)> per row [B], from D's features phi [B, ch]."""
    return (embed(table, y) * phi).sum(1)


def cbn_family(name: str, cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int, make_d):
    """G with conditional BatchNorm and ``make_d(channels, resolution, factors)`` as D: the build shared by
    the families whose D reads the class from its features (projection, reacgan, proj-reacgan)."""
    channels, res = check_image_shape(sample_shape, name)
    need_classes(num_classes, name)
    default_sizes(cfg)
    cfg.num_classes = num_classes
    factors = label_factors(cfg)
    G = ConditionalGenerator(cfg.z_dim, channels, res, cfg.width, num_classes, mode="cbn", factors=factors)
    return G, make_d(channels, res, factors)


class ProjectionDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, ndf: int, num_classes: int, sn: bool, mbstd: bool,
                 factors=None):
        super().__init__()
        self.features, ch = summed_features(channels, resolution, ndf, sn, mbstd)
        self.psi = maybe_spectral_norm(nn.Linear(ch, 1), sn)
        self.class_embed = projection_table(num_classes, ch, factors, sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.features(x).sum(dim=(2, 3))                         # [B, ch]
        return self.psi(phi).squeeze(1) + class_projection(self.class_embed, y, phi)   # [B] logits


@MODELS.register("projection", "class-conditioned: projection D (Miyato & Koyama) + conditional BatchNorm in G")
def build_projection(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    return cbn_family("projection", cfg, sample_shape, num_classes, lambda channels, res, factors: (
        ProjectionDiscriminator(channels, res, cfg.width, num_classes, cfg.spectral_norm, cfg.minibatch_std,
                                factors)))
