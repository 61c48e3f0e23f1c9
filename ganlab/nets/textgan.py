"""Text-conditioned GAN on joint text-image embeddings (LAFITE, Zhou et al. 2022), 28/32/64 px.

G maps noise z and a unit-length condition c [B, E] (a CLIP-space embedding:
a perturbed image embedding in training, a prompt's text embedding at
inference) to an image; c enters at the input (joined to z) and in every
BatchNorm as a per-channel scale and shift. D scores
``psi(phi(x)) + <W c, phi(x)>`` (projection) and also maps phi(x) into the
embedding space (``D.embed``) for LAFITE's contrastive terms. How the two are
trained is in ganlab.text.trainer.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanlabError
from . import MODELS
from .common import maybe_spectral_norm
from .dcgan import BASE, _stages, check_image_shape, conv_features


class EmbeddingBatchNorm2d(nn.Module):
    """BatchNorm whose scale (1 + W_g c) and shift (W_b c) follow a continuous condition c."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Linear(cond_dim, channels)
        self.beta = nn.Linear(cond_dim, channels)
        for lin in (self.gamma, self.beta):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1 + self.gamma(c))[:, :, None, None] + self.beta(c)[:, :, None, None]


class TextConditionalGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, resolution: int, ngf: int, cond_dim: int, c_in: int = 64):
        super().__init__()
        self.z_dim, self.cond_dim, self.num_classes = z_dim, cond_dim, 0
        n = _stages(resolution)
        ch = ngf * 2 ** (n - 1)
        self.c_in = nn.Linear(cond_dim, c_in)
        # state size. (z_dim + c_in) x 1 x 1 -> ch x base x base, then each block doubles the side
        self.ups = nn.ModuleList([nn.ConvTranspose2d(z_dim + c_in, ch, BASE[resolution], 1, 0, bias=False)])
        self.norms = nn.ModuleList([EmbeddingBatchNorm2d(ch, cond_dim)])
        for _ in range(n - 1):
            self.ups.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            self.norms.append(EmbeddingBatchNorm2d(ch // 2, cond_dim))
            ch //= 2
        # state size. ngf x res/2 x res/2 -> channels x res x res
        self.out = nn.ConvTranspose2d(ch, channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, self.c_in(c)], 1)[:, :, None, None]          # [B, z + c_in, 1, 1]
        for up, norm in zip(self.ups, self.norms):
            h = F.relu(norm(up(h), c))
        return torch.tanh(self.out(h))                                    # [B, C, H, W]


class TextProjectionDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, ndf: int, cond_dim: int, sn: bool):
        super().__init__()
        layers, ch = conv_features(channels, resolution, ndf)
        # state size. ch x base x base -> phi [B, ch] (summed over positions)
        self.features = maybe_spectral_norm(nn.Sequential(*layers), sn)
        self.psi = maybe_spectral_norm(nn.Linear(ch, 1), sn)
        self.project = maybe_spectral_norm(nn.Linear(cond_dim, ch, bias=False), sn)
        self.to_embedding = nn.Linear(ch, cond_dim)          # LAFITE's contrastive head

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(logits [B], D's unit-length embedding of x [B, E])."""
        phi = self.phi(x)
        logits = self.psi(phi).squeeze(1) + (self.project(c) * phi).sum(1)
        return logits, F.normalize(self.to_embedding(phi), dim=-1)


@MODELS.register("text-gan", "text-conditioned on CLIP-space embeddings (LAFITE); --clip minilm|openclip:M:T")
def build_text_gan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    channels, res = check_image_shape(sample_shape, "text-gan")
    if not cfg.cond_dim:
        raise GanlabError("text-gan needs an embedder to size its condition; train it with --clip minilm "
                          "(or openclip:MODEL:TAG).")
    cfg.z_dim = cfg.z_dim or 64
    cfg.width = cfg.width or 48
    cfg.clip = cfg.clip or "minilm"
    G = TextConditionalGenerator(cfg.z_dim, channels, res, cfg.width, cfg.cond_dim)
    D = TextProjectionDiscriminator(channels, res, cfg.width, cfg.cond_dim, cfg.spectral_norm)
    return G, D
