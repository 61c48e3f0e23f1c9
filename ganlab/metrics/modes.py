"""Mode coverage for 2-D Gaussian mixtures, as in VEEGAN and PacGAN.

A sample is *high quality* when it lies within 3 std of its nearest mode
centre. A mode is *covered* when at least 20% of its fair share of samples
(n / K) land on it as high-quality samples; with 2,500 samples on the
25-Gaussian grid that is 20 samples, PacGAN's threshold.
"""
from __future__ import annotations

from typing import Dict

import torch


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float,
                  share: float = 0.2) -> Dict[str, float]:
    """``samples`` [N, 2], ``centres`` [K, 2] -> modes covered, their count and high-quality fraction."""
    samples, centres = samples.float(), centres.float().to(samples.device)
    dist = torch.cdist(samples, centres)                  # [N, K]
    nearest_d, nearest = dist.min(dim=1)
    good = nearest_d <= 3 * std
    per_mode = torch.bincount(nearest[good], minlength=len(centres))   # [K]
    need = max(1.0, share * len(samples) / len(centres))
    covered = int((per_mode >= need).sum())
    return {"modes": covered, "of": len(centres), "high_quality": good.float().mean().item()}
