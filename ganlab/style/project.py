"""GAN inversion: find the latent whose image is a given picture, so it can be edited.

    G, cfg, step = load_generator("runs/emoji-style")
    x = load_image("smile.png", channels=3, resolution=64)      # [3, 64, 64] in [-1, 1], RGBA on white
    p = project(G, x, space="w+")                                # a W phase, then a W+ phase
    p.psnr, p.ssim, p.seconds, p.distance                        # how close, how long, measured how
    save_latent("smile.safetensors", p, model=cfg.model.name, source="smile.png")
    ws, meta = load_latent("smile.safetensors", G)               # refused with a sentence if it does not fit G

Spaces. A style-based G (stylegan) starts from the mean of W (``w_avg``, estimated as
StyleGAN2's projector does from a few thousand mapped z) and optimises one w broadcast to
every layer ("w"); "w+" then continues with one w per layer, starting from that result
(Image2StyleGAN, Abdal et al. 2019): closer reconstructions, less regular latents. Any
other unconditional G (dcgan, mlp, progan), or a style G with ``space="z"``, optimises z
from the best of ``STARTS`` seeded draws and zero. The noise inputs stay at their fixed
"const" maps: optimising them (as StyleGAN2 does) makes the latent explain less of the
picture and would have to be saved beside it.

The loss is MSE, plus, with ``feature="inception"``, 0.1 x an offline LPIPS-style distance
on the first layers of the FID Inception network at 128 px (ganlab.style.distance; LPIPS
cannot be downloaded here, and D is not in a slim model folder). The default is MSE alone,
because it measured better in the same time. On this box (2 cores shared with other work,
one torch thread), a 64 px stylegan (width 16, 400 steps on emoji) costs ~22 ms a step with
MSE and ~60 ms with the Inception term (the distance alone ~38 ms forward and backward; the
whole net at 299 px would be ~520 ms). The defaults, in W+, on three held-out emoji and
on one of G's own images:

    MSE, 1500 steps (29-40 s)                 PSNR 24.4 / 23.0 / 30.0 dB, SSIM 0.86 / 0.80 / 0.91; own 56.8
    MSE + 0.1 Inception, 600 steps (30-40 s)  PSNR 23.0 / 21.9 / 28.3 dB, SSIM 0.83 / 0.78 / 0.89; own 56.3

so ``steps=None`` means 1500 with MSE and 600 with the Inception term, ~35 s either way;
an Inception weight of 1 cost ~3 dB more, and W alone reached 16.4 dB on the first. From
``project(G, load_split("emoji", "test").x[i])`` for i = 7, 100, 30 with one torch thread.

Each phase follows StyleGAN2's projector: the learning rate ramps up over the first 5 %
and down (cosine) over the last 25 %, and noise that fades out by 3/4 of the W phase is
added to the latent so it can leave a poor basin. The latent is optimised in units of
W's spread around its mean, so one ``lr`` suits any trained scale of W. W+ takes the last
40 % of the steps at 2 x that rate, and its answer is kept only if its loss is no higher
than W's. (On held-out emoji 4 x gained ~1 dB over 2 x and 2 x ~1.5 dB over 0.5 x, but on
an untrained 16 px G 4 x ended 20 dB below 0.5 x after 120 steps: 2 x is the safe middle.)
"""
from __future__ import annotations

import io
import math
import os
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from ..data.folder import MAX_FILE_BYTES, MAX_PIXELS, _decode
from ..errors import GanlabError
from ..trainer import draw_noise
from ..viz import grid_image
from .distance import image_distance
from .mixing import is_style

SPACES = ("w", "w+", "z")
STEPS = {"pixel": 1500, "inception": 600}   # all phases together, ~35 s at 64 px here (see above)
LR = 0.1                    # in units of W's spread (or of z's, which is about 1)
W_PLUS_SHARE = 0.4
W_PLUS_LR = 2.0            # W+ continues at 2 x lr (each style moves one layer), without latent noise
STARTS = 16                 # random z tried before optimising z, plus z = 0
W_SAMPLES = 2000            # mapped z for w_avg and W's spread
NOISE_START = 0.05          # latent noise at step 0, in units of the spread x sqrt(dim), as StyleGAN2
Progress = Callable[[int, float, torch.Tensor], None]


@dataclass
class Projection:
    space: str                  # "w", "w+" or "z"
    latent: torch.Tensor        # [1, num_ws, w_dim] styles (w, w+), or [1, z_dim] noise (z)
    image: torch.Tensor         # [C, H, W] the reconstruction, in [-1, 1]
    target: torch.Tensor        # [C, H, W] the picture it was fitted to
    distance: str               # what the loss measured, in words (for a model card)
    steps: int
    seconds: float
    losses: List[float] = field(default_factory=list)    # one per step
    psnr: float = float("nan")  # dB, images in [0, 1]
    ssim: float = float("nan")


def check_unconditional(G: nn.Module, what: str = "Inversion") -> None:
    """GanlabError unless G is an unconditional generator fed by z alone."""
    if getattr(G, "num_classes", 0):
        raise GanlabError(f"This model is class-conditional; {what.lower()} works on unconditional models only, "
                          "because the class is not part of the latent.")
    if getattr(G, "cond_dim", None):
        raise GanlabError(f"This model is text-conditioned; {what.lower()} works on unconditional models only, "
                          "because the prompt is not part of the latent.")
    if not getattr(G, "z_dim", None):
        raise GanlabError(f"This model has no noise input, so {what.lower()} has no latent to work on.")


def pick_space(G: nn.Module, space: Optional[str]) -> str:
    space = space or ("w+" if is_style(G) else "z")
    if space not in SPACES:
        raise GanlabError(f"Unknown latent space {space!r}; use one of: {', '.join(SPACES)}.")
    if space != "z" and not is_style(G):
        raise GanlabError(f"Space {space!r} needs a style-based model (stylegan); this one inverts in z.")
    return space


@contextmanager
def _frozen(G: nn.Module):
    """G in eval mode with no parameter gradients, restored afterwards: only the latent learns."""
    was, grads = G.training, [p.requires_grad for p in G.parameters()]
    G.eval().requires_grad_(False)
    try:
        yield
    finally:
        G.train(was)
        for p, g in zip(G.parameters(), grads):
            p.requires_grad_(g)


@torch.no_grad()
def image_shape(G: nn.Module) -> Tuple[int, int]:
    """(channels, side) of G's images, from one eval-mode draw; GanlabError for a model of 2-D points."""
    was = G.training
    probe = G.eval()(torch.zeros(1, G.z_dim, device=next(G.parameters()).device))
    G.train(was)
    if probe.dim() != 4 or probe.shape[2] != probe.shape[3]:
        raise GanlabError("This model makes points, not square images, so there is no picture to invert.")
    return int(probe.shape[1]), int(probe.shape[2])


def _as_target(G: nn.Module, target: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = target[None] if target.dim() == 3 else target
    c, side = image_shape(G)
    if x.dim() != 4 or len(x) != 1 or tuple(x.shape[1:]) != (c, side, side):
        raise GanlabError(f"The image is {'x'.join(map(str, x.shape[-3:]))} but this model makes {c}x{side}x{side} "
                          "images; read it with load_image(path, channels, resolution).")
    return x.float().clamp(-1, 1).to(device)                      # [1, C, H, W]


def lr_at(t: float, lr: float) -> float:
    """StyleGAN2's schedule: ramp up over the first 5 %, cosine down over the last 25 % (t in [0, 1])."""
    down = 0.5 - 0.5 * math.cos(math.pi * min(1.0, (1.0 - t) / 0.25))
    return lr * down * min(1.0, t / 0.05)


def _fit(render, u: torch.Tensor, loss_fn, steps: int, lr: float, noise: float, gen: torch.Generator,
         losses: List[float], progress: Optional[Progress]) -> torch.Tensor:
    """Adam on ``u`` for ``steps``; ``render(u)`` -> image. Latent noise ``noise`` fades to 0 by 3/4."""
    u = u.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([u], lr=lr, betas=(0.9, 0.999))
    for i in range(steps):
        t = i / max(1, steps)
        for g in opt.param_groups:
            g["lr"] = lr_at(t, lr)
        jitter = noise * max(0.0, 1 - t / 0.75) ** 2
        shaken = u + jitter * torch.randn(u.shape, generator=gen).to(u.device) if jitter else u
        image = render(shaken)
        loss = loss_fn(image)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(len(losses), losses[-1], image[0].detach())
    return u.detach()


def _loss_fn(dist, target: torch.Tensor, pixel: str, feature_weight: float):
    with torch.no_grad():
        want = dist.features(target)
    pix = F.mse_loss if pixel == "mse" else F.l1_loss
    if dist.name.startswith("pixel"):
        return lambda x: pix(x, target)
    return lambda x: pix(x, target) + feature_weight * dist.between(dist.features(x), want).mean()


@torch.no_grad()
def w_stats(G: nn.Module, seed: int = 0, n: int = W_SAMPLES):
    """(w_avg [w_dim], spread): W's mean and its RMS distance from it per coordinate."""
    device = next(G.parameters()).device
    z = draw_noise(n, G.z_dim, getattr(G, "z_dist", "gaussian"), torch.Generator().manual_seed(seed))
    w = G.mapping(z.to(device))                                                 # [n, w_dim]
    avg = w.mean(0)
    return avg, float((w - avg).pow(2).mean().sqrt().clamp_min(1e-8))


def _style_phases(G, space: str, steps: int, lr: float, loss_fn, gen, losses, progress) -> torch.Tensor:
    """W (and then W+) phases from w_avg; returns ws [1, num_ws, w_dim]."""
    avg, spread = w_stats(G, int(torch.randint(2 ** 31, (1,), generator=gen)))
    noise = NOISE_START * math.sqrt(G.w_dim)
    w_steps = steps if space == "w" else steps - int(round(steps * W_PLUS_SHARE))
    u = torch.zeros(1, G.w_dim, device=avg.device)                  # [1, w_dim]: w = avg + spread * u
    u = _fit(lambda v: G.synthesis(G.broadcast(avg + spread * v), "const"), u, loss_fn, w_steps, lr, noise,
             gen, losses, progress)
    ws = G.broadcast(avg + spread * u).detach()
    if space == "w+" and steps > w_steps:                            # one w per layer, from W's answer
        u = G.broadcast(u).clone()                                   # [1, num_ws, w_dim]
        u = _fit(lambda v: G.synthesis(avg + spread * v, "const"), u, loss_fn, steps - w_steps, lr * W_PLUS_LR, 0.0,
                 gen, losses, progress)
        with torch.no_grad():                                        # W+ never ends worse than the W it began at
            plus = avg + spread * u
            if float(loss_fn(G.synthesis(plus, "const"))) <= float(loss_fn(G.synthesis(ws, "const"))):
                ws = plus
    return ws


def _z_phase(G, steps: int, lr: float, loss_fn, gen, losses, progress) -> torch.Tensor:
    """z from the best of STARTS draws and zero; returns z [1, z_dim]."""
    device = next(G.parameters()).device
    uniform = getattr(G, "z_dist", "gaussian") == "uniform"
    draws = draw_noise(STARTS, G.z_dim, getattr(G, "z_dist", "gaussian"), gen)     # G's own distribution
    starts = torch.cat([torch.zeros(1, G.z_dim), draws]).to(device)   # [STARTS + 1, z_dim]
    with torch.no_grad():
        scores = [float(loss_fn(G(z[None]))) for z in starts]
    z = starts[min(range(len(scores)), key=scores.__getitem__)][None]
    z = _fit(lambda v: G(v.clamp(-1, 1) if uniform else v), z, loss_fn, steps, lr, NOISE_START * math.sqrt(G.z_dim),
             gen, losses, progress)
    return z.clamp(-1, 1) if uniform else z


def project(G: nn.Module, target: torch.Tensor, steps: Optional[int] = None, space: Optional[str] = None,
            lr: float = LR, feature: str = "pixel", seed: int = 0, progress: Optional[Progress] = None,
            pixel: str = "mse", feature_weight: float = 0.1) -> Projection:
    """Fit G's latent to ``target`` ([C, H, W] or [1, C, H, W] in [-1, 1]); see the module docstring."""
    check_unconditional(G)
    space = pick_space(G, space)
    steps = STEPS.get(feature, STEPS["pixel"]) if steps is None else steps
    if steps < 1 or not lr > 0:
        raise GanlabError(f"Projection needs at least 1 step and a learning rate above 0 (got {steps}, {lr}).")
    if pixel not in ("mse", "l1"):
        raise GanlabError(f"Unknown pixel loss {pixel!r}; use mse or l1.")
    device = next(G.parameters()).device
    t0, gen, losses = time.perf_counter(), torch.Generator().manual_seed(seed), []
    with _frozen(G):
        x = _as_target(G, target, device)
        dist = image_distance(feature, device).to(device)
        loss_fn = _loss_fn(dist, x, pixel, feature_weight)
        if space == "z":
            latent = _z_phase(G, steps, lr, loss_fn, gen, losses, progress)
        else:
            latent = _style_phases(G, space, steps, lr, loss_fn, gen, losses, progress)
        with torch.no_grad():
            image = render(G, latent, space)
    words = f"{pixel} + {feature_weight:g} x {dist.name}" if feature != "pixel" else f"{pixel} on pixels"
    p = Projection(space, latent.cpu(), image[0].cpu(), x[0].cpu(), words, steps,
                   time.perf_counter() - t0, losses)
    p.psnr, p.ssim = quality(p.image, p.target)
    return p


@torch.no_grad()
def render(G: nn.Module, latent: torch.Tensor, space: str) -> torch.Tensor:
    """A saved latent's image [B, C, H, W]: styles through synthesis ("const" noise), z through G."""
    device = next(G.parameters()).device
    if space == "z":
        return G(latent.to(device))
    return G.synthesis(latent.to(device), "const")


def quality(image: torch.Tensor, target: torch.Tensor):
    """(PSNR in dB, SSIM) of [C, H, W] images in [-1, 1], measured in [0, 1] with torchmetrics."""
    a, b = ((image[None].float() + 1) / 2).clamp(0, 1), ((target[None].float() + 1) / 2).clamp(0, 1)
    psnr = float(peak_signal_noise_ratio(a, b, data_range=1.0))
    ssim = float(structural_similarity_index_measure(a, b, data_range=1.0,
                                                     kernel_size=min(11, a.shape[-1] // 2 * 2 - 1)))
    return psnr, ssim


# ---- the latent file ------------------------------------------------------------------------
LATENT_FORMAT = "ganlab-latent-1"


def save_latent(path, projection: Projection, model: str = "", source: str = "") -> Path:
    """Write ``projection``'s latent as a small .safetensors file (tmp + rename, so never half-written)."""
    path = Path(path)
    lat = projection.latent.detach().cpu().contiguous()
    meta = {"format": LATENT_FORMAT, "space": projection.space, "model": model, "source": Path(source).name,
            "shape": ",".join(map(str, lat.shape)), "distance": projection.distance,
            "steps": str(projection.steps), "psnr": f"{projection.psnr:.3f}", "ssim": f"{projection.ssim:.4f}"}
    if projection.space == "z":
        meta["z_dim"] = str(lat.shape[-1])
    else:
        meta.update(num_ws=str(lat.shape[1]), w_dim=str(lat.shape[2]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        save_file({"latent": lat}, str(tmp), metadata=meta)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_latent(path, G: Optional[nn.Module] = None) -> Tuple[torch.Tensor, Dict[str, str]]:
    """(ws [1, num_ws, w_dim] or z [1, z_dim], metadata); with ``G``, GanlabError unless it fits G."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            lat = f.get_tensor("latent") if "latent" in f.keys() else None
    except (OSError, SafetensorError) as e:
        raise GanlabError(f"{path.name} is not a readable latent file ({e}).") from None
    if meta.get("format") != LATENT_FORMAT or lat is None or meta.get("space") not in SPACES:
        raise GanlabError(f"{path.name} is not a ganlab latent; make one with `python -m ganlab project`.")
    if G is not None:
        check_latent(G, lat, meta)
    return lat, meta


def check_latent(G: nn.Module, latent: torch.Tensor, meta: Dict[str, str]) -> None:
    """GanlabError, in a sentence, when a saved latent does not fit G."""
    space = meta.get("space")
    if space == "z":
        want = (1, G.z_dim)
    elif is_style(G):
        want = (1, G.num_ws, G.w_dim)
    else:
        raise GanlabError(f"This latent is in {space.upper()}, which needs a style-based model; "
                          "this model only takes z.")
    if tuple(latent.shape) != want:
        made = f" (made for {meta['model']})" if meta.get("model") else ""
        raise GanlabError(f"This latent is shaped {list(latent.shape)}{made} but this model takes "
                          f"{list(want)}; project the image again with this model.")
    if not torch.isfinite(latent).all():
        raise GanlabError("This latent holds NaN or infinite values; project the image again.")


# ---- input pictures ---------------------------------------------------------------------------
def load_image(path, channels: int, resolution: int) -> torch.Tensor:
    """A PNG/JPEG as [channels, resolution, resolution] in [-1, 1]: transparency composited onto white,
    short side resized and centre-cropped. The limits and the decoder are the folder loader's."""
    path = Path(path)
    if not path.is_file():
        raise GanlabError(f"There is no image file at {path}.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise GanlabError(f"{path.name} is over {MAX_FILE_BYTES // 2**20} MB; use a smaller picture.")
    data = path.read_bytes()
    pixels = _decode(data, resolution, "L" if channels == 1 else "RGB")  # [R, R] or [R, R, 3] uint8
    if pixels is None:
        raise GanlabError(_why_unreadable(path.name, data))
    x = torch.from_numpy(pixels.copy()).float()
    x = x[None] if x.dim() == 2 else x.permute(2, 0, 1)
    return x / 127.5 - 1                                                 # [C, R, R]


def _why_unreadable(name: str, data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
    except Image.DecompressionBombError:
        w = h = None
    except Exception:   # hostile files make PIL raise many types; all mean "not an image"
        return f"{name} is not a readable PNG or JPEG image (truncated or another kind of file)."
    if w is None or w * h > MAX_PIXELS:
        size = f" ({w:,} x {h:,} pixels)" if w else ""
        return f"{name} is too large{size}; images can have at most {MAX_PIXELS // 2**20} megapixels."
    return f"{name} could not be decoded (truncated or damaged); save it again as PNG or JPEG."


def side_by_side(p: Projection) -> Image.Image:
    """The input and its reconstruction next to each other, as one picture."""
    return grid_image(torch.stack([p.target, p.image]), nrow=2, scale=max(1, 128 // p.image.shape[-1]))
