"""Scores between two sets of features: FID, KID, precision/recall, density/coverage.

    fid(real_f, fake_f)            # Fréchet distance of Gaussians fitted to the features (Heusel et al. 2017)
    kid(real_f, fake_f)            # {"kid": mean, "kid_std": std} over subsets (Binkowski et al. 2018)
    prdc(real_f, fake_f, k=5)      # precision, recall (Kynkäänniemi et al. 2019), density, coverage
                                   # (Naeem et al. 2020)

Features are ``[N, D]`` tensors, normally Inception pool_3 from
:mod:`ganlab.metrics.inception`, computed once and cached (reference sets)
so that each score is cheap. The maths is the libraries': torchmetrics for
FID and KID, fed precomputed features through a pass-through extractor, and
NAVER's ``prdc`` reference implementation for the four manifold scores.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from typing import Dict

import numpy as np
import torch
from torch import nn

from ..errors import GanlabError


class _Precomputed(nn.Module):
    """A torchmetrics feature extractor that returns its input: the features are already computed."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return f


def _check(real: torch.Tensor, fake: torch.Tensor, least: int = 2) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise GanlabError(f"Feature sets must be [N, D] with the same D (got {list(real.shape)} "
                          f"and {list(fake.shape)}).")
    if len(real) < least or len(fake) < least:
        raise GanlabError(f"These scores need at least {least} samples on each side "
                          f"(got {len(real)} real and {len(fake)} generated).")


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet Inception Distance between the Gaussians fitted to ``real`` and ``fake`` features."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    _check(real, fake)
    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]))
    metric.update(real.double(), real=True)          # float64: the covariance sums lose digits in float32
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> Dict[str, float]:
    """Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel, mean and std over subsets."""
    from torchmetrics.image.kid import KernelInceptionDistance
    _check(real, fake)
    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():              # "KID keeps all features in memory": they are already in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Precomputed(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):          # torchmetrics draws its subsets from the global RNG
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"kid": float(mean), "kid_std": float(std)}


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> Dict[str, float]:
    """Precision, recall, density and coverage with k-nearest-neighbour balls (k = 5 as in both papers)."""
    from prdc import compute_prdc
    _check(real, fake, least=k + 2)
    with contextlib.redirect_stdout(io.StringIO()):   # prdc prints the set sizes
        out = compute_prdc(np.ascontiguousarray(real.float().numpy()),
                           np.ascontiguousarray(fake.float().numpy()), nearest_k=k)
    return {name: float(v) for name, v in out.items()}
