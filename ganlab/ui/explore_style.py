"""The Explore tab's controls for style-based models: W or Z, style mixing, noise, layer-range edits,
and the projected image ("edit your own image") standing in for seed A.

    ws = view_ws(ex, view, own)                 # [1, num_ws, w_dim]: what the sliders describe
    x = ex.render_ws(ws, view_noise(ex, view))   # the main image
    img = mixing_picture(ex, view)               # the mixing grid for the rows/columns seeds and layers

``own`` is this browser's projected latent (W+ styles, or z for other families), or None.
Pure functions of the view, like the rest of ui/explore.py.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from PIL import Image, ImageDraw

from ..errors import GanlabError
from ..explore import Explorer, interpolate
from ..style.cli import seeds
from ..style.mixing import mix_grid, noise_for, parse_layers

SPACES = ("W", "Z")
LAYER_RANGES = ("all", "coarse", "middle", "fine")
NOISE = ("fixed", "zero", "fresh")


def style_layer_choices(ex: Explorer) -> List[tuple]:
    """(label, index) per style: "3 · 16 px"."""
    return [(f"{i} · {r} px", i) for i, r in enumerate(ex.G.layer_resolutions())]


def noise_layer_choices(ex: Explorer) -> List[tuple]:
    return [(f"{i} · {layer.res} px", i) for i, layer in enumerate(ex.G.convs)]


def preset_layers(ex: Explorer, name: str) -> List[int]:
    """The style indices of a mixing preset (coarse / middle / fine)."""
    return parse_layers(ex.G, name) if name in ("coarse", "middle", "fine") else []


def _layers(ex: Explorer, value, what: str) -> List[int]:
    try:
        return parse_layers(ex.G, [int(v) for v in (value or [])])
    except (TypeError, ValueError):
        raise GanlabError(f"{what}: pick layers from the list.") from None


def view_noise(ex: Explorer, view: Dict[str, Any]):
    """The noise entry per conv layer the noise controls describe."""
    how = view.get("noise") or "fixed"
    if how not in NOISE:
        raise GanlabError(f"Noise is one of: {', '.join(NOISE)}.")
    mode = {"fixed": "const", "zero": "zero", "fresh": "random"}[how]
    return noise_for(ex.G, mode, _layers_noise(ex, view.get("noise_layers")), seed=int(view.get("noise_seed") or 0))


def _layers_noise(ex: Explorer, value) -> List[int]:
    picked = [int(v) for v in (value or [])]
    return picked or list(range(len(ex.G.convs)))          # none ticked: every layer


def view_ws(ex: Explorer, view: Dict[str, Any], za: torch.Tensor, zb: torch.Tensor, t: float, psi: float,
            own: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Styles [1, num_ws, w_dim] from A (or the projected image) to B at t, then the W directions."""
    space = (view.get("space") or "W").upper()
    if space not in SPACES:
        raise GanlabError("Interpolate in W or in Z.")
    wa = own if own is not None else ex.ws(za, psi)
    wb = ex.ws(zb, psi)
    if space == "W" or own is not None:                     # a projected image has no z: its walk is in W
        ws = interpolate(wa, wb, t, "lerp")
    else:
        ws = ex.ws(interpolate(za, zb, t, view.get("mode") or "slerp"), psi)
    rng = view.get("dir_layers") or "all"
    if rng not in LAYER_RANGES:
        raise GanlabError(f"Apply directions to one of: {', '.join(LAYER_RANGES)}.")
    layers = None if rng == "all" else parse_layers(ex.G, rng)
    amounts = [float(v or 0) for v in view.get("directions", [])]
    return ex.move_ws(ws, amounts, layers)


def style_caption(ex: Explorer, view: Dict[str, Any], own: bool) -> List[str]:
    parts = [f"in {(view.get('space') or 'W').upper()}" if not own else "from your projected image in W"]
    if any(float(v or 0) for v in view.get("directions", [])) and (view.get("dir_layers") or "all") != "all":
        parts.append(f"directions on {view['dir_layers']} layers")
    if (view.get("noise") or "fixed") != "fixed":
        which = view.get("noise_layers") or []
        parts.append(f"noise {view['noise']}" + (f" on layers {sorted(int(i) for i in which)}" if which else "")
                     + (f" (seed {int(view.get('noise_seed') or 0)})" if view["noise"] == "fresh" else ""))
    return parts


def mixing_picture(ex: Explorer, view: Dict[str, Any], psi: float, own: Optional[torch.Tensor] = None,
                   cell: int = 64) -> Image.Image:
    """The mixing grid: rows are A seeds (your projected image first, if any), columns B seeds."""
    from .explore import to_picture
    if not ex.style:
        raise GanlabError("Style mixing needs a style-based model (stylegan); open models/emoji-stylegan.")
    rows = seeds(view.get("mix_rows") or "1,2,3", "The rows (seeds A)")
    cols = seeds(view.get("mix_cols") or "10,11,12,13", "The columns (seeds B)")
    if len(rows) * len(cols) > 64:
        raise GanlabError(f"Use at most 64 cells ({len(rows)} x {len(cols)} asked); fewer seeds, please.")
    layers = _layers(ex, view.get("mix_layers"), "Mixing")
    wa = torch.cat([ex.ws(ex.z(s), psi) for s in rows])
    if own is not None:
        wa = torch.cat([own, wa])
    wb = torch.cat([ex.ws(ex.z(s), psi) for s in cols])
    x, nrow = mix_grid(ex.G, wa, wb, layers, view_noise(ex, view))
    pic = to_picture(x, nrow=nrow, target=cell)
    labels = (["yours"] if own is not None else []) + [str(s) for s in rows]
    return _label(pic, [str(s) for s in cols], labels, nrow)


def _label(img: Image.Image, cols: List[str], rows: List[str], nrow: int, pad: int = 16) -> Image.Image:
    """Seed numbers above the columns and left of the rows."""
    out = Image.new("RGB", (img.width + pad * 3, img.height + pad), "white")
    out.paste(img.convert("RGB"), (pad * 3, pad))
    draw = ImageDraw.Draw(out)
    w, h = img.width / nrow, img.height / (len(rows) + 1)
    draw.text((2, 2), "A \\ B", fill=(90, 90, 90))
    for j, name in enumerate(cols, start=1):
        draw.text((pad * 3 + int(j * w + 4), 2), name[:8], fill=(30, 30, 30))
    for i, name in enumerate(rows, start=1):
        draw.text((2, pad + int(i * h + h / 2 - 6)), name[:7], fill=(30, 30, 30))
    return out
