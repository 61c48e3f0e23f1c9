"""Perceptual path length (Karras et al. 2019): how smoothly images change along latent walks.

    r = path_length(G, n=2000, seed=0)
    r["ppl_z"], r["ppl_w"]      # lower = smoother; ppl_w only for a style-based G
    r["distance"], r["n"], r["eps"]

For ``n`` pairs of latents and t ~ U(0, 1) (the paper's "full" paths), the images at t
and t + eps are compared with a feature distance d, and d / eps^2 is one sample; the
score is their mean after dropping the lowest and highest 1 %, as the paper does. In Z
the walk is a slerp between two z (the norm moving linearly, so it also suits G's that
do not normalise z); in W it is a lerp between mapping(z) of the pair, broadcast to every
layer, with the fixed "const" noise maps for both images.

The paper's d is LPIPS, whose weights cannot be downloaded here; the default d is the
offline LPIPS-style distance on the FID Inception network's first layers
(ganlab.style.distance, the same one inversion uses), and "pixel" is the mean squared
pixel difference. Numbers are comparable only with the same distance, which every
result names. Cost: ~25 ms per image on one CPU thread at 64 px (G plus the distance), so
the default 2,000 pairs take ~100 s per space; the paper's 100,000 want a GPU.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

import torch
from torch import nn
from tqdm import tqdm

from ..errors import GanlabError
from ..trainer import draw_noise
from .distance import image_distance
from .mixing import is_style
from .project import check_unconditional

EPS = 1e-4
N = 2000
BATCH = 25
TRIM = 0.01                 # the paper drops the lowest and highest 1 %


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Along the great circle from a to b [B, D] at t [B, 1], the norm moving linearly (as Explore's)."""
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.acos((ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / so.clamp_min(1e-6)
    return torch.where(so < 1e-6, a.lerp(b, t), direction * (na + (nb - na) * t))   # (anti)parallel: lerp


def trimmed_mean(values: torch.Tensor, trim: float = TRIM) -> float:
    """The mean of the values between the ``trim`` and ``1 - trim`` quantiles (inclusive)."""
    v = values.double()
    lo, hi = torch.quantile(v, trim), torch.quantile(v, 1 - trim)
    return float(v[(v >= lo) & (v <= hi)].mean())


def _walk(G: nn.Module, space: str, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, eps: float):
    """Images [2B, C, H, W]: the B walks at t, then the same walks at t + eps."""
    if space == "z":
        return G(torch.cat([slerp(z0, z1, t), slerp(z0, z1, t + eps)]))
    w0, w1 = G.mapping(z0), G.mapping(z1)                           # [B, w_dim]
    w = torch.cat([w0.lerp(w1, t), w0.lerp(w1, t + eps)])
    return G.synthesis(G.broadcast(w), "const")


@torch.no_grad()
def path_samples(G: nn.Module, space: str, n: int, dist: Callable, eps: float = EPS, batch: int = BATCH,
                 seed: int = 0, desc: Optional[str] = None) -> torch.Tensor:
    """[n] samples d(G(walk(t)), G(walk(t + eps))) / eps^2, seeded (the same pairs for either space)."""
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    dist_name = getattr(G, "z_dist", "gaussian")
    out: List[torch.Tensor] = []
    for start in tqdm(range(0, n, batch), desc=desc, disable=desc is None, leave=False, unit="batch"):
        b = min(batch, n - start)
        z0, z1 = (draw_noise(b, G.z_dim, dist_name, gen).to(device) for _ in range(2))
        t = torch.rand(b, 1, generator=gen).to(device)
        x = _walk(G, space, z0, z1, t, eps).float()                  # [2b, C, H, W]
        out.append((dist(x[:b], x[b:]) / eps ** 2).cpu())
    return torch.cat(out)


def path_length(G: nn.Module, n: int = N, feature: str = "inception", eps: float = EPS, batch: int = BATCH,
                seed: int = 0, progress: bool = False) -> Dict:
    """PPL in Z (any unconditional G) and in W (style-based G); see the module docstring."""
    check_unconditional(G, "Path length")
    if n < 10 or not eps > 0:
        raise GanlabError(f"Path length needs at least 10 pairs and eps above 0 (got {n}, {eps}).")
    t0, device = time.perf_counter(), next(G.parameters()).device
    dist = image_distance(feature, device).to(device)
    was = G.training
    G.eval()
    try:
        report: Dict = {"distance": dist.name, "n": n, "eps": eps, "seed": seed, "sampling": "full, t ~ U(0, 1)",
                        "trim": f"lowest and highest {TRIM:.0%} dropped"}
        for space in ("z", "w") if is_style(G) else ("z",):
            samples = path_samples(G, space, n, dist, eps, batch, seed, f"PPL in {space.upper()}" if progress else None)
            report[f"ppl_{space}"] = trimmed_mean(samples)
    finally:
        G.train(was)
    if "ppl_w" in report:
        report["smoother"] = "w" if report["ppl_w"] < report["ppl_z"] else "z"
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def describe(report: Dict) -> str:
    """Both numbers, which space is smoother, and how they were measured, as a few lines."""
    lines = [f"  PPL in Z       {report['ppl_z']:.4g}"]
    if "ppl_w" in report:
        lines.append(f"  PPL in W       {report['ppl_w']:.4g}")
        lines.append(f"  smoother       {report['smoother'].upper()} (lower is smoother)")
    lines.append(f"PPL: {report['n']:,} pairs, eps {report['eps']:g}, {report['sampling']}, {report['trim']}; "
                 f"distance {report['distance']}; {report['seconds']:.0f} s")
    return "\n".join(lines)
