"""How close an image-to-image model's outputs come to the truth, and the fills that involve no learning.

    psnr(out, target), ssim(out, target)               # [N] per image, images in [-1, 1] measured in [0, 1]
    hole_psnr(out, target, mask), hole_ssim(...)       # [N] the same inside the hole only (mask 1 = hole)
    mean_fill(x, mask), laplace_fill(x, mask)          # classical fills: the known pixels' mean, diffusion
    telea_fill(x, mask)                                # OpenCV's cv2.inpaint (Telea 2004), None without OpenCV

PSNR and SSIM are torchmetrics' (SSIM with its Gaussian window, 11 px, or the largest odd
size under half the side for small images). PSNR is capped at PSNR_CAP, so identical
images (MSE 0, PSNR infinite) still average and write to JSON. Inside a hole, PSNR is
10 log10(1 / MSE) with the MSE over the hole's pixels (all channels), and SSIM is
torchmetrics' full SSIM map averaged over the hole's pixels: each value there still sees
the window around it, known pixels included, as the eye does at a fill's edge. Images
whose mask is empty have no hole figures (NaN, left out of the means).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
from tqdm import tqdm

PSNR_CAP = 100.0          # dB: an MSE of 1e-10 on [0, 1]; identical images read as this, not infinity
LAPLACE_TOL = 1e-4        # the diffusion stops when no hole pixel moves more than this (on [-1, 1]) per sweep
LAPLACE_MAX_SWEEPS = 5000


def unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], as float32."""
    return ((x.float() + 1) / 2).clamp(0, 1)


def window(side: int) -> int:
    return max(3, min(11, side // 2 * 2 - 1))


def psnr(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N] PSNR in dB of [N, C, H, W] images in [-1, 1], each image on its own."""
    v = peak_signal_noise_ratio(unit(out), unit(target), data_range=1.0, dim=(1, 2, 3), reduction="none")
    return v.clamp(max=PSNR_CAP)


def ssim(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[N] SSIM of [N, C, H, W] images in [-1, 1]."""
    return structural_similarity_index_measure(unit(out), unit(target), data_range=1.0,
                                               kernel_size=window(out.shape[-1]), reduction="none")


def hole_psnr(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[N] PSNR over the pixels where ``mask`` [N, 1, H, W] is 1; NaN for an image with no hole."""
    m = (mask > 0.5).float().expand_as(out)
    area = m.flatten(1).sum(1)
    mse = ((unit(out) - unit(target)).pow(2) * m).flatten(1).sum(1) / area.clamp(min=1)
    db = (10 * torch.log10(1.0 / mse.clamp(min=10 ** (-PSNR_CAP / 10)))).clamp(max=PSNR_CAP)
    return torch.where(area > 0, db, torch.full_like(db, float("nan")))


def hole_ssim(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[N] torchmetrics' SSIM map averaged over the hole's pixels; NaN for an image with no hole."""
    _, full = structural_similarity_index_measure(unit(out), unit(target), data_range=1.0,
                                                  kernel_size=window(out.shape[-1]), reduction="none",
                                                  return_full_image=True)              # [N, C, H, W]
    m = (mask > 0.5).float().expand_as(full)
    area = m.flatten(1).sum(1)
    v = (full * m).flatten(1).sum(1) / area.clamp(min=1)
    return torch.where(area > 0, v, torch.full_like(v, float("nan")))


def mean(v: torch.Tensor) -> float:
    """The mean of the figures that exist (NaN ones, images with no hole, left out)."""
    v = v[~torch.isnan(v)]
    return float(v.mean()) if len(v) else float("nan")


# ---- fills that involve no learning ------------------------------------------------------------------

def mean_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each image's hole ([N, 1, H, W], 1 = hole) filled with the mean colour of its known pixels."""
    known = 1 - (mask > 0.5).float()
    colour = (x * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp(min=1)   # [N, C, 1, 1]
    return x * known + colour * (1 - known)


def laplace_fill(x: torch.Tensor, mask: torch.Tensor, tol: float = LAPLACE_TOL, max_sweeps: int = LAPLACE_MAX_SWEEPS,
                 desc: Optional[str] = None) -> torch.Tensor:
    """The hole solved for Laplace's equation with the known pixels fixed (a diffusion fill).

    Every hole pixel is moved towards the mean of its 4 neighbours (the image edge mirrors its
    last pixel, so no gradient leaves the image) until no pixel moves more than ``tol``: red-black
    successive over-relaxation from the mean fill, which needs sweeps in proportion to the side
    where plain averaging (Jacobi) needs them in proportion to its square. Harmonic functions
    are kept exactly: a flat colour stays flat and a linear ramp is restored across the hole.
    """
    hole = (mask > 0.5).expand_as(x)
    n, c, h, w = x.shape
    k = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]], dtype=x.dtype, device=x.device)
    k = k.expand(c, 1, 3, 3)                                                            # one per channel
    ii, jj = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    red = (ii + jj) % 2 == 0                                                            # [H, W] checkerboard
    omega = 2 / (1 + math.sin(math.pi / max(h, w, 2)))                                  # the optimal factor
    y = mean_fill(x, mask)
    bar = tqdm(total=max_sweeps, desc=desc, unit="sweep", leave=False, disable=desc is None)
    for _ in range(max_sweeps):
        moved = 0.0
        for colour in (red, ~red):               # a pixel's 4 neighbours are all of the other colour
            avg = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), k, groups=c)
            step = torch.where(hole & colour, omega * (avg - y), torch.zeros_like(y))
            y = y + step
            moved = max(moved, float(step.abs().max()))
        bar.update()
        if moved < tol:
            break
    bar.close()
    return y


def telea_fill(x: torch.Tensor, mask: torch.Tensor, radius: int = 3) -> Optional[torch.Tensor]:
    """OpenCV's fast-marching fill (Telea 2004) on 8-bit images, or None when OpenCV is not installed."""
    try:
        import cv2
    except ImportError:
        return None
    u8 = ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()     # [N, H, W, C]
    holes = (mask[:, 0] > 0.5).byte().numpy()
    out = []
    for img, m in zip(u8, holes):
        filled = cv2.inpaint(img if img.shape[-1] == 3 else img[..., 0], m, radius, cv2.INPAINT_TELEA)
        out.append(torch.from_numpy(filled.reshape(img.shape)))
    y = torch.stack(out).permute(0, 3, 1, 2).float() / 127.5 - 1
    return torch.where(mask > 0.5, y, x)                     # known pixels exactly as given, not 8-bit rounded


__all__ = ["psnr", "ssim", "hole_psnr", "hole_ssim", "mean", "mean_fill", "laplace_fill", "telea_fill", "unit",
           "PSNR_CAP"]
