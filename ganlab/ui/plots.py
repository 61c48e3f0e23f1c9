"""Figures and status text for the UI, as pure functions of metric rows and samples.

    fig = curves_figure(rows)                 # D/G loss, D(x) vs D(G(z)), grad norms, FID, diversity/recall
    fig = points_figure(fake, real)           # 2-D samples over the real data
    text = status_markdown(engine.status(), note="...")

``rows`` are the dicts of the engine's metrics stream (``step``, ``loss_d``,
``loss_g``, ``d_real``, ``d_fake``, ``grad_norm_d``, ``grad_norm_g``, ...).
Nothing here touches an engine, so every function is unit-testable.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..viz import BOX

MAX_POINTS = 2000                         # curve points sent to the browser per trace
REAL_COLOUR, FAKE_COLOUR = "#9a9a9a", "#eb6e14"   # grey real data, orange G(z), as in viz.py
D_COLOUR, G_COLOUR = "#1f77b4", "#eb6e14"

# (subplot title, [(row key, legend name, colour)])
PANELS = [
    ("loss", [("loss_d", "D loss", D_COLOUR), ("loss_g", "G loss", G_COLOUR), ("gp", "grad penalty", "#7f7f7f")]),
    ("D output", [("d_real", "D(x)", D_COLOUR), ("d_fake", "D(G(z))", G_COLOUR)]),
    ("gradient norm", [("grad_norm_d", "|∇D|", D_COLOUR), ("grad_norm_g", "|∇G|", G_COLOUR)]),
    ("FID estimate (lower is better)", [("fid", "FID", "#2ca02c")]),
    ("diversity and recall (1 = like real data)", [("diversity", "diversity", "#9467bd"),
                                                   ("recall", "recall", "#8c564b"),
                                                   ("class_agreement", "class as asked", "#17becf")]),
]
SPARSE = {"fid", "recall", "diversity", "class_agreement"}   # keys only some rows carry, in any step order


def thin(rows: Sequence[Dict], max_points: int = MAX_POINTS) -> List[Dict]:
    """Every k-th row so at most ``max_points`` remain; the newest row is always kept."""
    rows = list(rows)
    if len(rows) <= max_points:
        return rows
    idx = np.linspace(0, len(rows) - 1, max_points).round().astype(int)
    return [rows[i] for i in sorted(set(idx.tolist()))]


def compact(rows: Sequence[Dict], keep: int = 6000) -> List[Dict]:
    """The rows a page keeps for its curves: at most ``keep`` training rows (thinned, ends kept), and every
    row with a sparse key (FID, recall, ...), in their order; a long run's page does not grow without end."""
    rows = list(rows)
    if len(rows) <= keep:
        return rows
    kept = {id(r) for r in thin([r for r in rows if not SPARSE & r.keys()], keep // 2)}
    return [r for r in rows if id(r) in kept or SPARSE & r.keys()]


def _figure(data: List[Dict], layout: Dict) -> go.Figure:
    # The timer redraws every second for every browser: validating a 3-panel figure costs
    # ~150 ms, so figures are built as plain dicts (fixed below) and wrapped unvalidated (~10 ms).
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _axis(**kw) -> Dict:
    return dict(gridcolor="#ececec", zeroline=False, linecolor="#cccccc", automargin=True,
                **{k: v for k, v in kw.items() if v is not None})


def _curves_layout(probability: bool, height: int, panels=PANELS) -> Dict:
    """Stacked panels sharing the step axis; each title on the left, its legend on the right."""
    n, gap = len(panels), 0.05
    h = (1 - gap * (n - 1)) / n
    layout = dict(height=height, margin=dict(l=45, r=10, t=30, b=40), plot_bgcolor="white",
                  paper_bgcolor="white", hovermode="x unified", uirevision="curves", annotations=[])
    for i, (title, _) in enumerate(panels, start=1):
        sfx = "" if i == 1 else str(i)
        top = round(1 - (i - 1) * (h + gap), 4)
        if i == 2 and not probability:
            title = "critic scores D(x), D(G(z))"
        elif i == 2:
            title = "D(x) and D(G(z))"
        layout[f"xaxis{sfx}"] = _axis(anchor=f"y{sfx}", matches=f"x{n}" if i < n else None,
                                      showticklabels=i == n, title=dict(text="step") if i == n else None)
        layout[f"yaxis{sfx}"] = _axis(anchor=f"x{sfx}", domain=[max(0.0, round(top - h, 4)), top],
                                      range=[-0.02, 1.02] if i == 2 and probability else None)
        layout["legend" if i == 1 else f"legend{i}"] = dict(orientation="h", x=1, xanchor="right", y=top,
                                                            yanchor="bottom", font=dict(size=11),
                                                            bgcolor="rgba(0,0,0,0)")
        layout["annotations"].append(dict(text=title, x=0, xanchor="left", y=top, yanchor="bottom",
                                          xref="paper", yref="paper", showarrow=False, font=dict(size=12)))
    return layout


def curves_figure(rows: Sequence[Dict], probability: bool = True, height: Optional[int] = None,
                  as_dict: bool = False) -> go.Figure:
    """Losses, D's outputs, gradient norms, then the FID estimate and diversity/recall once a run has them.

    ``as_dict``: the plain {"data", "layout"} for a live plot (ui.liveplot), no go.Figure built at all.
    """
    sparse = {k: thin(sorted((r for r in rows if k in r), key=lambda r: r["step"])) for k in SPARSE}
    panels = PANELS[:3] + [p for p in PANELS[3:] if any(sparse.get(k) for k, _, _ in p[1])]
    height = height or 130 + 110 * len(panels)
    rows = thin([r for r in rows if "loss_d" in r])          # training rows; evaluator rows are sparse
    steps = [r.get("step") for r in rows]
    data = []
    for i, (_, series) in enumerate(panels, start=1):
        sfx = "" if i == 1 else str(i)
        for key, name, colour in series:
            pts = sparse.get(key)
            if pts is not None:
                x, y, mode = [r["step"] for r in pts], [r[key] for r in pts], "lines+markers"
            else:
                x, y, mode = steps, [r.get(key) for r in rows], "lines"
            if any(v is not None for v in y):
                data.append(dict(type="scatter", mode=mode, name=name, x=x, y=y,
                                 xaxis=f"x{sfx}", yaxis=f"y{sfx}", legend="legend" if i == 1 else f"legend{i}",
                                 line=dict(color=colour, width=1.5), marker=dict(size=4), hovertemplate="%{y:.4g}"))
    layout = _curves_layout(probability, height, panels)
    return {"data": data, "layout": layout} if as_dict else _figure(data, layout)


def points_figure(fake: Any, real: Optional[Any] = None, step: Optional[int] = None, size: int = 420,
                  as_dict: bool = False) -> go.Figure:
    """Generated points (orange) over real ones (grey) on the fixed square [-BOX, BOX]^2."""
    data = []
    for pts, name, colour, opacity in ((real, "real data", REAL_COLOUR, 0.5), (fake, "G(z)", FAKE_COLOUR, 0.85)):
        if pts is None:
            continue
        xy = np.asarray(pts, dtype=np.float32).reshape(-1, 2)       # [N, 2]
        data.append(dict(type="scatter", mode="markers", name=name, x=xy[:, 0].tolist(), y=xy[:, 1].tolist(),
                         marker=dict(color=colour, size=5, opacity=opacity), hoverinfo="skip"))
    axis = dict(range=[-BOX, BOX], zeroline=True, zerolinecolor="#e5e5e5", showgrid=False, constrain="domain",
                linecolor="#cccccc")
    title = "samples" if step is None else f"samples at step {step:,}"
    layout = dict(title=dict(text=title, font=dict(size=13), x=0.02), height=size, plot_bgcolor="white",
                  paper_bgcolor="white", margin=dict(l=30, r=10, t=35, b=30), uirevision="points",
                  legend=dict(orientation="h", y=-0.06, x=0), xaxis=axis,
                  yaxis=dict(axis, scaleanchor="x", scaleratio=1))
    return {"data": data, "layout": layout} if as_dict else _figure(data, layout)


def empty_points_figure(as_dict: bool = False) -> go.Figure:
    return points_figure(np.zeros((0, 2)), None, as_dict=as_dict)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def device_label(device: str) -> str:
    """'cuda:0' -> 'CUDA (cuda:0)', 'cpu' -> 'CPU', 'mps' -> 'MPS (Apple GPU)'."""
    kind = device.split(":")[0]
    label = {"cpu": "CPU", "cuda": "CUDA GPU", "mps": "MPS (Apple GPU)"}.get(kind, device.upper())
    return f"{label} ({device})" if ":" in device else label


def status_markdown(st: Dict[str, Any], note: str = "") -> str:
    """One status block from ``Engine.status()`` plus a note about the data."""
    state = st["state"]
    parts = [f"**{state.upper()}**", f"step **{st['step']:,} / {st['steps']:,}**",
             f"{st['images_per_s']:,.0f} img/s" if state == "running" else None,
             f"device **{device_label(st['device'])}**" if st.get("device") else None,
             f"ETA {_duration(st['eta_s'])}" if st.get("eta_s") is not None else None,
             f"trained {st.get('trained_s', 0) / 60:.1f} of {st['budget_s'] / 60:g} min" if st.get("budget_s")
             else None,
             f"lr G {st['lr_g']:.2g} · lr D {st['lr_d']:.2g} · n_critic {st['n_critic']}"]
    lines = [" · ".join(p for p in parts if p)]
    if st.get("family_note"):
        lines.append(f"🌱 {st['family_note']}")
    if st.get("error"):
        lines.append(f"⚠️ {st['error']}")
    if state == "finished" and st.get("budget_s") and st["step"] < st["steps"]:
        lines.append(f"⏱ Its {st['budget_s'] / 60:g}-minute budget is spent (a checkpoint is saved); Resume trains "
                     "another.")
    lines.append(f"run folder `{st['run_dir']}`" + (f" · data: {note}" if note else ""))
    return "  \n".join(lines)


def classes_figure(hist: Dict[str, float], step: int, height: int = 260) -> go.Figure:
    """Bar chart of the classes a classifier sees in G's samples; a flat histogram is a healthy one."""
    names, shares = list(hist), [round(100 * v, 1) for v in hist.values()]
    fair = 100 / max(1, len(names))
    data = [dict(type="bar", x=names, y=shares, marker=dict(color=G_COLOUR), hovertemplate="%{x}: %{y:.1f}%",
                 name="G's samples")]
    layout = dict(height=height, margin=dict(l=45, r=10, t=34, b=60), plot_bgcolor="white", paper_bgcolor="white",
                  title=dict(text=f"classes in G's samples at step {step:,} (dashed: an even share)",
                             font=dict(size=12), x=0.02),
                  yaxis=_axis(title=dict(text="% of samples"), rangemode="tozero"), xaxis=_axis(tickangle=-30),
                  shapes=[dict(type="line", xref="paper", x0=0, x1=1, y0=fair, y1=fair,
                               line=dict(color="#555", dash="dash", width=1))], showlegend=False)
    return _figure(data, layout)
