"""Explore's "Edit your own image": project a picture into the open model, watch it converge, then edit it.

    for msg, picture, latent_file in project_stream(h, key, upload, held_out, steps, space):
        ...                                   # the page shows each as it comes
    msg = open_latent(h, key, "smile.safetensors")

The picture is an upload (PNG/JPEG, transparency on white, checked as every upload is) or one of the
held-out emoji, which the model never saw. The result is kept per browser (ExploreHandlers.projected):
"start from my image" puts it in place of seed A, so walks, directions, noise and the mixing grid apply
to it. It is also written as a small .safetensors latent that the same model can reopen here or in the CLI.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import torch
from PIL import Image

from ..config import DataConfig
from ..engine.background import streamed
from ..errors import GanlabError
from ..explore import Explorer
from ..style.project import load_image, load_latent, project, save_latent, side_by_side

EMOJI_SETS = ("emoji", "emoji-one")
MAX_STEPS = 1000
UI_STEPS = 600                     # the page's default: about 15 s for a 64 px model on a 2-core laptop
_held: Dict[Tuple[str, int], object] = {}
_held_lock = threading.Lock()


def _side(ex: Explorer) -> Tuple[int, int]:
    from ..explore import cfg_shape
    shape = cfg_shape(ex.G, ex.cfg)
    return shape[0], shape[-1]


def held_out(ex: Explorer):
    """The held-out emoji (never trained on) at the model's size, or None when it was not trained on emoji."""
    name = ex.cfg.data.name
    if name not in EMOJI_SETS:
        return None
    channels, side = _side(ex)
    with _held_lock:
        if (name, side) not in _held:
            from ..data.images import load_split
            _held[(name, side)] = load_split(name, "test", DataConfig(name=name, resolution=side, channels=channels))
        return _held[(name, side)]


def held_out_choices(ex: Explorer) -> List[Tuple[str, int]]:
    """(label, index) per held-out emoji: the emoji itself and its name."""
    try:
        ds = held_out(ex)
    except GanlabError:                  # the emoji packages are not installed here: uploads still work
        return []
    if ds is None:
        return []
    keys, names = ds.keys or [""] * len(ds), ds.captions or [""] * len(ds)
    return [(f"{_glyph(k)} {n}".strip(), i) for i, (k, n) in enumerate(zip(keys, names))]


def _glyph(key: str) -> str:
    try:
        return "".join(chr(int(cp, 16)) for cp in key.split("-") if cp)
    except ValueError:
        return ""


def target_of(ex: Explorer, upload: Optional[str], pick: Optional[int]) -> Tuple[torch.Tensor, str]:
    """The picture to project ([C, H, W] in [-1, 1]) and its name."""
    channels, side = _side(ex)
    if upload:
        return load_image(upload, channels, side), Path(upload).name
    if pick not in (None, ""):
        ds = held_out(ex)
        if ds is None:
            raise GanlabError("This model was not trained on emoji; upload a picture instead.")
        i = int(pick)
        if not 0 <= i < len(ds):
            raise GanlabError("Pick a held-out emoji from the list.")
        return ds.x[i], (ds.captions or [f"held-out {i}"])[i]
    raise GanlabError("Upload a picture, or pick a held-out emoji, first.")


def project_stream(h, key: str, upload: Optional[str], pick: Optional[int], steps, space: str
                   ) -> Iterator[Tuple[str, Optional[Image.Image], Optional[str]]]:
    """(message, input | reconstruction picture, latent file when done), as the projection runs."""
    ex = h.explorer(key)
    target, name = target_of(ex, upload, pick)
    try:
        steps = int(steps)
    except (TypeError, ValueError):
        raise GanlabError("The number of steps must be a whole number.") from None
    if not 10 <= steps <= MAX_STEPS:
        raise GanlabError(f"Use 10 to {MAX_STEPS} steps (got {steps}).")
    space = (space or ("W+" if ex.style else "z")).lower()

    def job(report):
        return project(ex.G, target, steps=steps, space=space,
                       progress=lambda i, loss, img: report((i, loss, img)))

    shown = None
    for kind, item in streamed(job, every=0.5, name="projection"):
        if kind == "progress":
            i, loss, img = item
            shown = _pair(target, img)
            yield f"Projecting **{name}** into {space.upper()}: step {i} / {steps} · loss {loss:.4f}", shown, None
        else:
            p = item
            h.remember_projection(key, ex, p.latent)
            path = save_latent(Path(h.sessions.scratch_dir(key)) / f"{Path(name).stem[:40] or 'latent'}.safetensors",
                               p, model=ex.cfg.model.name, source=name)
            yield (f"**{name}** in {p.space.upper()}: PSNR {p.psnr:.1f} dB · SSIM {p.ssim:.3f} · {p.steps} steps in "
                   f"{p.seconds:.0f} s (loss: {p.distance}). \"Start from my image\" is on: the sliders, noise and "
                   "mixing now apply to it.", side_by_side(p), str(path))


def _pair(target: torch.Tensor, image: torch.Tensor) -> Image.Image:
    from .explore import to_picture
    return to_picture(torch.stack([target.cpu(), image.detach().cpu().clamp(-1, 1)]), nrow=2, target=160)


def open_latent(h, key: str, path: Optional[str]) -> str:
    """Reopen a saved latent for the open model (refused with a sentence if it was made for another)."""
    if not path:
        raise GanlabError("Choose a .safetensors latent saved by a projection first.")
    ex = h.explorer(key)
    latent, meta = load_latent(path, ex.G)
    h.remember_projection(key, ex, latent)
    return (f"Opened the latent of **{meta.get('source') or Path(path).name}** ({meta.get('space', '?').upper()}); "
            "\"start from my image\" is on.")
