"""Conditional GAN (Mirza & Osindero 2014): the label goes to G and to D.

G joins a learned label embedding to z. D sees the label as K extra input
planes (the class weights, constant over the image) stacked on the image.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from ..config import ModelConfig
from ..errors import GanlabError
from . import MODELS
from .conditioning import ConditionalGenerator, as_weights, default_sizes, label_factors
from .dcgan import DCGANDiscriminator, check_image_shape


class LabelPlanesDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, ndf: int, num_classes: int, sn: bool, mbstd: bool):
        super().__init__()
        self.num_classes = num_classes
        # state size. (channels + K) x res x res -> [B] logits, DCGAN's D otherwise
        self.body = DCGANDiscriminator(channels + num_classes, resolution, ndf, sn, mbstd)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = as_weights(y, self.num_classes).to(x.dtype)                 # [B, K]
        planes = w[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.body(torch.cat([x, planes], 1))


def need_classes(num_classes: int, family: str) -> None:
    if num_classes < 2:
        raise GanlabError(f"The {family} model is class-conditioned and needs a labelled dataset "
                          "(mnist, fashion-mnist, shapes, a folder with class subfolders, ...).")


@MODELS.register("cgan", "class-conditioned: label embedding joined to z, label planes into D (Mirza & Osindero)")
def build_cgan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    channels, res = check_image_shape(sample_shape, "cgan")
    need_classes(num_classes, "cgan")
    default_sizes(cfg)
    cfg.num_classes = num_classes
    G = ConditionalGenerator(cfg.z_dim, channels, res, cfg.width, num_classes, mode="concat",
                             factors=label_factors(cfg))
    D = LabelPlanesDiscriminator(channels, res, cfg.width, num_classes, cfg.spectral_norm, cfg.minibatch_std)
    return G, D
