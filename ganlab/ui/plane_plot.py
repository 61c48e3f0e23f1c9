"""Plotly figures for the 2-D Playground, as pure functions of PlaneViews and metric rows.

    fig = plane_figure(view, layers={"heat", "real", "fake", "arrows", "manifold"})
    img = plane_picture(view, layers, px=352)          # the plane alone, as a PIL image
    fig = playground_charts({"vanilla": rows_a, "WGAN-GP": rows_b}, {"vanilla": js_a, ...})

Colours follow GAN Lab: real data green, G's points purple, and D's heatmap
green where D says "real" and purple where it says "fake".
"""
from __future__ import annotations

import base64
import io
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..plane import PlaneView
from ..viz import BOX, to_pixels
from .plots import _axis, _figure, thin

REAL, FAKE = "#2ca25f", "#7b3294"
HEAT = [[0.0, "#b07cc6"], [0.5, "#ffffff"], [1.0, "#5bb87a"]]      # fake purple -> white -> real green
ARROW_MAX = 0.3             # the longest an arrow gets, in plane units
ARROW_HALF = 0.2            # the gradient length drawn at half of ARROW_MAX
ALL_LAYERS = ("heat", "real", "fake", "arrows", "manifold")
PANEL_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def arrow_ends(fake: np.ndarray, grads: np.ndarray, max_len: float = ARROW_MAX,
               half: float = ARROW_HALF) -> np.ndarray:
    """Where each arrow ends: along the gradient, ``max_len * g / (g + half)`` long for gradient length g.

    The same fixed curve in every frame: small gradients stay nearly proportional
    (a vanishing gradient shrinks to a dot) and large ones never leave the plot.
    """
    g = np.linalg.norm(grads, axis=1, keepdims=True)
    length = max_len * g / (g + half)
    return fake + grads / np.maximum(g, 1e-12) * length


def _rgb(hex_colour: str) -> Tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def heat_range(view: PlaneView) -> Tuple[float, float]:
    """The values at the two ends of the heatmap's colour scale."""
    if view.heat_is_probability:
        return 0.0, 1.0
    lo, hi = float(view.heat.min()), float(view.heat.max())         # raw scores: white mid-way
    return lo, (hi if hi > lo else lo + 1e-6)


def heat_colours(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """HEAT's colours for values z [...] on the scale lo..hi, as uint8 RGB [..., 3]."""
    stops = np.array([s for s, _ in HEAT])
    cols = np.array([_rgb(c) for _, c in HEAT], dtype=np.float32)
    t = np.clip((z - lo) / (hi - lo), 0, 1)
    out = np.stack([np.interp(t, stops, cols[:, k]) for k in range(3)], -1)
    return out.round().astype(np.uint8)


def plane_picture(view: PlaneView, layers: Iterable[str] = ALL_LAYERS, px: int = 380,
                  n_arrows: int = 200, supersample: int = 1) -> Image.Image:
    """The plane [-BOX, BOX]^2 drawn as a px x px RGB image: heatmap, manifold, points, arrows.

    Drawn on the server so the browser shows one picture per frame instead of re-rendering
    a thousand markers; ``supersample`` > 1 draws it that many times larger and shrinks it
    (smoother edges, about 3x the time at 2; the live view uses 1).
    """
    layers, big = set(layers), px * supersample
    if "heat" in layers:
        rgb = heat_colours(view.heat[::-1], *heat_range(view))        # row 0 = the top (largest y)
        img = Image.fromarray(rgb, "RGB").resize((big, big), Image.BILINEAR).convert("RGBA")
    else:
        img = Image.new("RGBA", (big, big), (255, 255, 255, 255))

    def at(points: np.ndarray) -> np.ndarray:                          # plane -> pixel coordinates
        return to_pixels(points, big)

    def dots(points: np.ndarray, r: float, fill) -> None:
        # every point's disc in one numpy scatter: no Python loop, so the GIL stays with training
        ys, xs = np.mgrid[-int(r):int(r) + 1, -int(r):int(r) + 1]
        disc = (xs ** 2 + ys ** 2) <= r * r
        dx, dy = xs[disc], ys[disc]                                    # [m] offsets inside the disc
        c = at(points).round().astype(np.int64)                        # [B, 2] centres
        px_x, px_y = (c[:, :1] + dx).ravel(), (c[:, 1:] + dy).ravel()
        keep = (px_x >= 0) & (px_x < big) & (px_y >= 0) & (px_y < big)
        over = np.zeros((big, big, 4), np.uint8)
        over[px_y[keep], px_x[keep]] = fill
        img.alpha_composite(Image.fromarray(over, "RGBA"))

    s = supersample
    if "manifold" in layers and view.manifold:
        over = Image.new("RGBA", img.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(over)
        for line in view.manifold:
            draw.line([tuple(p) for p in at(line)], fill=_rgb(FAKE) + (115,), width=s)
        img.alpha_composite(over)
    if "real" in layers:
        dots(view.real, 2 * s, _rgb(REAL) + (140,))
    if "fake" in layers:
        dots(view.fake, 2.5 * s, _rgb(FAKE) + (217,))
    if "arrows" in layers and len(view.fake):
        k = min(n_arrows, len(view.fake))
        ends = arrow_ends(view.fake[:k], view.grads[:k])
        draw = ImageDraw.Draw(img)
        for a, b in zip(at(view.fake[:k]), at(ends)):
            draw.line((tuple(a), tuple(b)), fill=(34, 34, 34, 255), width=s)
        dots(ends, 1.5 * s, (34, 34, 34, 255))                         # the arrow heads
    return img.convert("RGB").reduce(supersample)                     # a box filter: the mean of s x s pixels


def _data_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)           # ~19 KB a frame (26 KB at 90, no visible change); PNG 3x
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def plane_figure(view: PlaneView, layers: Iterable[str] = ALL_LAYERS, title: str = "",
                 size: int = 430, n_arrows: int = 200, as_dict: bool = False):
    """One panel: D's heatmap under real points, G's points, their gradient arrows and G's manifold.

    The plane itself is a picture (plane_picture) laid on plotly's axes, with D's colour
    bar beside it; ``layout.meta`` carries the numbers behind it: G's points [B, 2],
    D's grid [n, n] on ``axis`` and the arrow ends [k, 2]. A go.Figure, or with
    ``as_dict`` the plain {"data", "layout"} dict that live_value serialises directly.
    """
    layers = set(layers)
    margin = dict(l=30, r=48, t=34, b=26)
    px = size - margin["l"] - margin["r"]
    rng = [-BOX, BOX]
    data: List[Dict] = []
    if "heat" in layers:                        # only its colour bar shows: its cells lie off the axes
        lo, hi = heat_range(view)
        data.append(dict(type="heatmap", x=[10 * BOX, 11 * BOX], y=[10 * BOX, 11 * BOX], z=[[lo, hi], [lo, hi]],
                         zmin=lo, zmax=hi, colorscale=HEAT, showscale=True, hoverinfo="skip", name="D",
                         colorbar=dict(thickness=8, len=0.6, x=1.0, title=dict(text="D", side="right"))))
    k = min(n_arrows, len(view.fake))
    meta = dict(fake=view.fake.astype(np.float32), heat=view.heat.astype(np.float32),
                axis=view.axis.astype(np.float32),
                arrow_ends=arrow_ends(view.fake[:k], view.grads[:k]).astype(np.float32), layers=sorted(layers))
    image = dict(source=_data_uri(plane_picture(view, layers, px, n_arrows)), xref="x", yref="y",
                 x=-BOX, y=BOX, sizex=2 * BOX, sizey=2 * BOX, sizing="stretch", layer="below")
    layout = dict(width=size, height=size - margin["r"] + margin["l"], margin=margin, plot_bgcolor="white",
                  title=dict(text=title or f"step {view.step:,}", x=0.02, font=dict(size=13)),
                  xaxis=_axis(range=rng, constrain="domain", showgrid=False),
                  yaxis=_axis(range=rng, scaleanchor="x", scaleratio=1, showgrid=False),
                  images=[image], meta=meta, showlegend=False, uirevision="plane",
                  template="none")                                     # no 7 KB default template per frame
    if not as_dict:
        return _figure(data, layout)
    layout["meta"] = {name: _typed(v) if isinstance(v, np.ndarray) else v for name, v in meta.items()}
    return {"data": data, "layout": layout}


def _typed(a: np.ndarray) -> Dict:
    """An array the way plotly's own JSON writes one (base64 bytes): half the size of a list of numbers."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    out = {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        out["shape"] = ", ".join(str(d) for d in a.shape)
    return out


def gradient_size(view: PlaneView) -> float:
    """Mean length of G's per-point gradient: near 0 means G has stopped learning (saturation)."""
    return float(np.linalg.norm(view.grads, axis=1).mean()) if len(view.grads) else 0.0


def view_stats(view: PlaneView) -> Dict[str, float]:
    out = {"step": view.step, "kl": view.kl, "js": view.js, "grad": gradient_size(view)}
    if view.coverage is not None:
        out.update(modes=view.coverage["modes"], of=view.coverage["of"], hq=view.coverage["high_quality"])
    return out


def stats_markdown(name: str, st: Dict[str, float], steps_per_s: float = 0.0) -> str:
    parts = [f"**{name}**" if name else "", f"step {int(st['step']):,}"]
    if steps_per_s:
        parts.append(f"{steps_per_s:,.0f} steps/s")
    parts.append(f"KL {st['kl']:.3f} · JS {st['js']:.3f}")
    if "modes" in st:
        parts.append(f"modes {int(st['modes'])}/{int(st['of'])} · high quality {100 * st['hq']:.0f}%")
    parts.append(f"mean |∇G| {st['grad']:.3g}")
    return " · ".join(p for p in parts if p)


# (subplot title, [(row key, dash)])
CHARTS = [("loss", [("loss_d", "solid"), ("loss_g", "dot")]),
          ("D output (solid: real, dotted: fake)", [("d_real", "solid"), ("d_fake", "dot")]),
          ("JS divergence (real ‖ G)", [("js", "solid")])]


def playground_charts(rows: Dict[str, Sequence[Dict]], divergence: Dict[str, Sequence[Dict]],
                      height: int = 430) -> "go.Figure":  # noqa: F821
    """Losses, D's outputs and the JS divergence over steps; one colour per panel (run)."""
    n, gap = len(CHARTS), 0.1
    h = (1 - gap * (n - 1)) / n
    layout = dict(height=height, margin=dict(l=45, r=10, t=24, b=36), plot_bgcolor="white",
                  paper_bgcolor="white", uirevision="charts", annotations=[],
                  legend=dict(orientation="h", y=-0.12, x=0, font=dict(size=11)))
    for i, (title, _) in enumerate(CHARTS, start=1):
        sfx = "" if i == 1 else str(i)
        top = round(1 - (i - 1) * (h + gap), 4)
        layout[f"yaxis{sfx}"] = _axis(domain=[round(top - h, 4), top], anchor=f"x{sfx}")
        layout[f"xaxis{sfx}"] = _axis(anchor=f"y{sfx}", matches="x" if i > 1 else None,
                                      showticklabels=i == n)
        layout["annotations"].append(dict(text=title, xref="paper", yref="paper", x=0, y=top + 0.005,
                                          xanchor="left", yanchor="bottom", showarrow=False,
                                          font=dict(size=11, color="#555")))
    data: List[Dict] = []
    for p, name in enumerate(rows):
        colour = PANEL_COLOURS[p % len(PANEL_COLOURS)]
        sources = [thin(rows[name], 800), thin(rows[name], 800), thin(divergence.get(name, []), 800)]
        for i, ((_, series), src) in enumerate(zip(CHARTS, sources), start=1):
            sfx = "" if i == 1 else str(i)
            for key, dash in series:
                pts = [r for r in src if key in r]
                data.append(dict(type="scatter", mode="lines", x=[r["step"] for r in pts],
                                 y=[round(float(r[key]), 5) for r in pts], xaxis=f"x{sfx}", yaxis=f"y{sfx}",
                                 name=name or "run", legendgroup=name, showlegend=(i == 1 and dash == "solid"),
                                 line=dict(color=colour, width=1.5, dash=dash)))
    return _figure(data, layout)
