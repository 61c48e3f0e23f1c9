"""Small pieces shared by the network families."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def maybe_spectral_norm(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap every Linear/Conv weight of ``module`` in spectral norm (Miyato et al. 2018)."""
    if not enabled:
        return module
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            spectral_norm(m)
    return module


class MinibatchStd(nn.Module):
    """Append the batch's mean feature std as one more feature (Karras et al. 2018).

    A collapsed G makes near-identical samples, so the spread of a fake batch is
    far below a real one's; D sees it and G is pushed towards diversity.
    Works on [B, F] vectors and [B, C, H, W] maps (adds one feature or channel).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = x.std(dim=0, unbiased=False).mean()                 # scalar over the batch
        extra = std.expand(x.shape[0], 1, *x.shape[2:])           # [B, 1] or [B, 1, H, W]
        return torch.cat([x, extra], dim=1)
