"""Plotly figures for the 2-D Playground, as pure functions of PlaneViews and metric rows.

    fig = plane_figure(view, layers={"heat", "real", "fake", "arrows", "manifold"})
    fig = playground_charts({"vanilla": rows_a, "WGAN-GP": rows_b}, {"vanilla": js_a, ...})

Colours follow GAN Lab: real data green, G's points purple, and D's heatmap
green where D says "real" and purple where it says "fake".
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from ..plane import PlaneView
from ..viz import BOX
from .plots import _axis, _figure, thin

REAL, FAKE, MANIFOLD = "#2ca25f", "#7b3294", "rgba(123, 50, 148, 0.45)"
HEAT = [[0.0, "#b07cc6"], [0.5, "#ffffff"], [1.0, "#5bb87a"]]      # fake purple -> white -> real green
ARROW_MAX = 0.3             # the longest an arrow gets, in plane units
ARROW_HALF = 0.2            # the gradient length drawn at half of ARROW_MAX
ALL_LAYERS = ("heat", "real", "fake", "arrows", "manifold")
PANEL_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def _segments(starts: np.ndarray, ends: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """x and y [3n] drawing each start->end segment, NaN between them (one trace, many lines).

    float32 arrays travel to the browser as base64 (a third of the JSON text of a list of
    numbers) and plotly breaks a line at NaN as it does at null.
    """
    n = len(starts)
    xy = np.full((n, 3, 2), np.nan, dtype=np.float32)
    xy[:, 0], xy[:, 1] = starts, ends
    return xy[..., 0].ravel(), xy[..., 1].ravel()


def arrow_ends(fake: np.ndarray, grads: np.ndarray, max_len: float = ARROW_MAX,
               half: float = ARROW_HALF) -> np.ndarray:
    """Where each arrow ends: along the gradient, ``max_len * g / (g + half)`` long for gradient length g.

    The same fixed curve in every frame: small gradients stay nearly proportional
    (a vanishing gradient shrinks to a dot) and large ones never leave the plot.
    """
    g = np.linalg.norm(grads, axis=1, keepdims=True)
    length = max_len * g / (g + half)
    return fake + grads / np.maximum(g, 1e-12) * length


def _polylines(lines: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """x and y of several polylines, each followed by NaN (a break in the line)."""
    if not len(lines):
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    gap = np.full((1, 2), np.nan)
    xy = np.concatenate([part for line in lines for part in (line, gap)]).astype(np.float32)
    return xy[:, 0], xy[:, 1]


def plane_figure(view: PlaneView, layers: Iterable[str] = ALL_LAYERS, title: str = "",
                 size: int = 430, n_arrows: int = 200) -> "go.Figure":  # noqa: F821
    """One panel: D's heatmap under real points, G's points, their gradient arrows and G's manifold."""
    layers = set(layers)
    data: List[Dict] = []
    if "heat" in layers:
        heat = dict(type="heatmap", x=view.axis.round(4), y=view.axis.round(4), z=view.heat.round(4),
                    colorscale=HEAT, showscale=True, hoverinfo="skip", name="D",
                    colorbar=dict(thickness=8, len=0.6, x=1.0, title=dict(text="D", side="right")))
        if view.heat_is_probability:
            heat.update(zmin=0, zmax=1)
        else:                                            # raw scores: centre white between real and fake
            lo, hi = float(view.heat.min()), float(view.heat.max())
            heat.update(zmin=lo, zmax=hi if hi > lo else lo + 1e-6)
        data.append(heat)
    if "manifold" in layers and view.manifold:
        xs, ys = _polylines(view.manifold)
        data.append(dict(type="scattergl", x=xs, y=ys, mode="lines", name="G(noise grid)",
                         line=dict(color=MANIFOLD, width=1), hoverinfo="skip"))
    if "real" in layers:
        data.append(dict(type="scattergl", x=view.real[:, 0].round(4), y=view.real[:, 1].round(4),
                         mode="markers", name="real data", hoverinfo="skip",
                         marker=dict(color=REAL, size=4, opacity=0.55)))
    if "fake" in layers:
        data.append(dict(type="scattergl", x=view.fake[:, 0].round(4), y=view.fake[:, 1].round(4),
                         mode="markers", name="G(z)", hoverinfo="skip",
                         marker=dict(color=FAKE, size=5, opacity=0.85)))
    if "arrows" in layers and len(view.fake):
        k = min(n_arrows, len(view.fake))
        starts = view.fake[:k]
        ends = arrow_ends(starts, view.grads[:k])
        xs, ys = _segments(starts, ends)
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", name="G's gradient",
                         line=dict(color="#222222", width=1), hoverinfo="skip"))
        data.append(dict(type="scatter", x=ends[:, 0].round(4), y=ends[:, 1].round(4), mode="markers",
                         showlegend=False, hoverinfo="skip", marker=dict(color="#222222", size=3)))
    rng = [-BOX, BOX]
    layout = dict(width=size, height=size, margin=dict(l=30, r=10, t=34, b=26), plot_bgcolor="white",
                  title=dict(text=title or f"step {view.step:,}", x=0.02, font=dict(size=13)),
                  xaxis=_axis(range=rng, constrain="domain"),
                  yaxis=_axis(range=rng, scaleanchor="x", scaleratio=1),
                  showlegend=False, uirevision="plane", template="none")   # no 7 KB default template per frame
    return _figure(data, layout)


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
