"""ReACGAN (Kang et al. 2021): ACGAN made stable by classifying through unit vectors.

ACGAN's classifier is trained with softmax cross-entropy on unnormalised
features, whose gradients grow large early in training and push G towards
images that are easy to classify rather than varied. ReACGAN's D instead maps
each image to a unit vector and learns a unit *proxy* per class; the
data-to-data cross-entropy (``ganlab.losses.data_to_data_cross_entropy``)
pulls each image's vector to its class's proxy and away from the other-class
images in the batch. D trains it on real images, G on its own for the class
it was asked for. It is the strongest conditional family in StudioGAN's
benchmark.

D returns ``(logits [B], (embedding [B, E], proxy of y [B, E]))``; G has
conditional BatchNorm, as in the projection family.

``proj-reacgan`` also gives D's logits the projection family's class term
(``<embed(y), phi(x)>``, Miyato & Koyama), so D judges realism given the class
as well as learning the classes through the proxies: the class analogue of
the text GAN's projection plus contrastive terms. On Fashion-MNIST it learned
the classes faster than either parent (models/fashion-mnist-cgan's card).
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from . import MODELS
from .common import maybe_spectral_norm
from .conditioning import class_table, embed
from .projection import cbn_family, class_projection, projection_table, summed_features


class ProxyDiscriminator(nn.Module):
    class_loss = "d2d-ce"         # ganlab.losses.CLASS_LOSSES
    classify_fakes = False        # D learns the classes from real images only

    def __init__(self, channels: int, resolution: int, ndf: int, num_classes: int, sn: bool, mbstd: bool,
                 factors=None, project: bool = False):
        super().__init__()
        self.features, ch = summed_features(channels, resolution, ndf, sn, mbstd)
        self.adv = maybe_spectral_norm(nn.Linear(ch, 1), sn)
        self.embedding = maybe_spectral_norm(nn.Linear(ch, ch), sn)
        self.proxies = class_table(num_classes, ch, factors)
        self.class_embed = projection_table(num_classes, ch, factors, sn) if project else None

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        phi = self.features(x).sum(dim=(2, 3))                                    # [B, ch]
        e = F.normalize(self.embedding(phi), dim=1)                              # [B, ch], unit rows
        logits = self.adv(phi).squeeze(1)
        if self.class_embed is not None:
            logits = logits + class_projection(self.class_embed, y, phi)
        return logits, (e, F.normalize(embed(self.proxies, y), dim=1))


def _build(name: str, project: bool):
    def build(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
        return cbn_family(name, cfg, sample_shape, num_classes, lambda channels, res, factors: ProxyDiscriminator(
            channels, res, cfg.width, num_classes, cfg.spectral_norm, cfg.minibatch_std, factors, project=project))
    return build


MODELS.register("reacgan", "class-conditioned: ACGAN with the data-to-data cross-entropy (Kang et al.)")(
    _build("reacgan", project=False))
MODELS.register("proj-reacgan", "class-conditioned: projection D plus ReACGAN's data-to-data cross-entropy")(
    _build("proj-reacgan", project=True))
