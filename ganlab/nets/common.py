"""Small pieces shared by the network families."""
from __future__ import annotations

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
