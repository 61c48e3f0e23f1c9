"""ACGAN (Odena et al. 2017): D also classifies, and both nets are trained to get the class right.

D returns ``(adversarial logits [B], class logits [B, K])``; the trainer adds
the cross-entropy of the class logits to D's loss (real and fake images)
and to G's (fake images, for the class G was asked for). D does not see the
label as input.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from ..config import ModelConfig
from . import MODELS
from .cgan import need_classes
from .common import MinibatchStd, maybe_spectral_norm
from .conditioning import ConditionalGenerator, default_sizes, label_factors
from .dcgan import BASE, check_image_shape, conv_features


class AuxClassifierDiscriminator(nn.Module):
    class_loss = "cross-entropy"  # ganlab.losses.CLASS_LOSSES
    classify_fakes = True         # as in the paper, D learns the class of G's images too

    def __init__(self, channels: int, resolution: int, ndf: int, num_classes: int, sn: bool, mbstd: bool):
        super().__init__()
        layers, ch = conv_features(channels, resolution, ndf)
        if mbstd:
            layers.append(MinibatchStd())
            ch += 1
        # state size. ch x base x base -> [B, ch * base * base]
        self.features = maybe_spectral_norm(nn.Sequential(*layers, nn.Flatten()), sn)
        flat = ch * BASE[resolution] ** 2
        self.adv = maybe_spectral_norm(nn.Linear(flat, 1), sn)
        self.cls = nn.Linear(flat, num_classes)        # no spectral norm: the classifier may be sharp

    def forward(self, x: torch.Tensor, y: torch.Tensor = None) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.adv(h).squeeze(1), self.cls(h)


@MODELS.register("acgan", "class-conditioned: D also classifies the image (Odena et al.)")
def build_acgan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    channels, res = check_image_shape(sample_shape, "acgan")
    need_classes(num_classes, "acgan")
    default_sizes(cfg)
    cfg.num_classes = num_classes
    G = ConditionalGenerator(cfg.z_dim, channels, res, cfg.width, num_classes, mode="concat",
                             factors=label_factors(cfg))
    D = AuxClassifierDiscriminator(channels, res, cfg.width, num_classes, cfg.spectral_norm, cfg.minibatch_std)
    return G, D
