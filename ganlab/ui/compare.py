"""Compare runs: find run folders on disk, overlay their curves, put their sample grids side by side.

    paths = find_runs(Path("runs"))                       # newest first
    labels = [run_label(p, Path("runs")) for p in paths]
    fig = compare_figure({lab: read_metrics(p) for lab, p in zip(labels, paths)})
    lo, hi = common_steps(paths)                          # the range of the step slider
    picture = side_by_side(grids_at_step(paths, hi), labels)

Everything here only reads files (config.json, metrics.jsonl, samples/*.png)
and returns plain values, so it works on finished runs, runs still training and
runs made by the CLI alike, and every function is unit-testable without Gradio.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont

from ..checkpoint import read_config
from ..errors import GanlabError
from ..runs import RunDir, find_runs, is_run  # noqa: F401  (re-exported for the tabs)
from .plots import _axis, _figure, thin

# Plotly's D3 palette: distinct enough for the handful of runs one compares at once
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# (panel title, [(row key, hover name, line dash)]); D solid and G dotted, as the title says
PANELS = [
    ("D loss (solid) / G loss (dotted)", [("loss_d", "D loss", "solid"), ("loss_g", "G loss", "dot")]),
    ("FID estimate (lower is better)", [("fid", "FID", "solid")]),
    ("recall (higher is better)", [("recall", "recall", "solid")]),
    ("diversity (1 = as varied as real data)", [("diversity", "diversity", "solid")]),
]
EMPTY_NOTE = {"fid": "no FID estimates in these runs (train with eval_every > 0 on an image set)",
              "recall": "no recall estimates in these runs", "diversity": "no diversity in these runs"}
GAP, HEADER_LINE = 12, 14         # pixels between grids; pixels per line of text above each grid


def _short_data(name: str) -> str:
    # "folder:/home/me/pics/cats" says no more than "folder:cats" and is much wider
    kind, sep, rest = name.partition(":")
    return f"{kind}:{Path(rest).name or rest}" if sep and kind == "folder" else name


def run_label(path: Path, root: Optional[Path] = None) -> str:
    """``ui/20240101-ring-ab12cd · ring · mlp · ns``; just the path when config.json is unreadable."""
    path = Path(path)
    try:
        where = str(path.resolve().relative_to(Path(root).resolve())) if root is not None else str(path)
    except ValueError:                                # outside the runs root, e.g. a CLI run
        where = str(path)
    try:
        cfg = read_config(path)
    except (OSError, ValueError, TypeError, KeyError):   # GanlabError is a ValueError
        return where
    return f"{where} · {_short_data(cfg.data.name)} · {cfg.model.name} · {cfg.train.loss}"


# ---- curves ------------------------------------------------------------------------
def _series(rows: Sequence[Dict], key: str) -> Tuple[List, List]:
    """(steps, values) of the rows that hold ``key``, in step order (evaluation rows arrive late)."""
    have = [r for r in rows if r.get(key) is not None and r.get("step") is not None]
    have = thin(sorted(have, key=lambda r: r["step"]))           # sorted() is stable: ties keep file order
    return [r["step"] for r in have], [r[key] for r in have]


def _compare_layout(height: int, empty: Dict[int, str]) -> Dict:
    """Stacked panels sharing the step axis, titles on the left, one legend (the runs) on top."""
    n, gap, legend_room = len(PANELS), 0.06, 0.1
    h = (1 - legend_room - gap * (n - 1)) / n
    layout = dict(height=height, margin=dict(l=45, r=10, t=10, b=40), plot_bgcolor="white",
                  paper_bgcolor="white", hovermode="x unified", uirevision="compare", annotations=[],
                  legend=dict(orientation="h", x=0, y=1, yanchor="top", font=dict(size=11)))
    for i, (title, _) in enumerate(PANELS, start=1):
        sfx = "" if i == 1 else str(i)
        top = round(1 - legend_room - (i - 1) * (h + gap), 4)
        bottom = max(0.0, round(top - h, 4))
        layout[f"xaxis{sfx}"] = _axis(anchor=f"y{sfx}", matches=f"x{n}" if i < n else None,
                                      showticklabels=i == n, title=dict(text="step") if i == n else None)
        layout[f"yaxis{sfx}"] = _axis(anchor=f"x{sfx}", domain=[bottom, top])
        layout["annotations"].append(dict(text=title, x=0, xanchor="left", y=top, yanchor="bottom",
                                          xref="paper", yref="paper", showarrow=False, font=dict(size=12)))
        if i in empty:                                # say why a panel is blank rather than leave it bare
            layout["annotations"].append(dict(text=empty[i], x=0.5, y=(top + bottom) / 2, xref="paper",
                                              yref="paper", showarrow=False, font=dict(size=11, color="#999")))
    return layout


def compare_figure(runs: Dict[str, Sequence[Dict]], height: int = 640) -> go.Figure:
    """Curves of several runs in one figure: one colour per run, the legend names the runs.

    ``runs`` maps a run's label to its metrics rows (``RunDir.read_metrics()``).
    Clicking a run in the legend hides all of its curves together.
    """
    data, empty, in_legend = [], {}, set()
    for i, (_, series) in enumerate(PANELS, start=1):
        sfx = "" if i == 1 else str(i)
        drawn = False
        for key, name, dash in series:
            for j, (label, rows) in enumerate(runs.items()):
                steps, values = _series(rows, key)
                if not steps:                         # this run never logged ``key``
                    continue
                # one point (a single FID estimate) draws no line, so it gets a marker
                data.append(dict(type="scatter", mode="lines+markers" if len(steps) == 1 else "lines",
                                 name=label, legendgroup=label, showlegend=label not in in_legend,
                                 x=steps, y=values, xaxis=f"x{sfx}", yaxis=f"y{sfx}",
                                 hovertemplate=f"{name} %{{y:.4g}}",
                                 line=dict(color=PALETTE[j % len(PALETTE)], width=1.5, dash=dash)))
                in_legend.add(label)
                drawn = True
        if not drawn:
            empty[i] = EMPTY_NOTE.get(series[0][0], "no data in these runs")
    return _figure(data, _compare_layout(height, empty))


# ---- sample grids ------------------------------------------------------------------
def _layout_only(path: Path) -> RunDir:
    # RunDir.open() would create missing samples/ and checkpoints/ folders and needs a valid
    # config; comparing only reads, and only the folder layout (sample_path) is used.
    return RunDir(Path(path), None)


def common_steps(run_dirs: Sequence[Path]) -> Tuple[int, int]:
    """(first, last) saved sample step over all runs, for the step slider; (0, 0) when none has grids."""
    steps = [s for p in run_dirs for s in _layout_only(p).sample_steps()]
    return (min(steps), max(steps)) if steps else (0, 0)


def read_metrics(path: Path) -> List[Dict]:
    """The rows of a run's metrics.jsonl (lines cut short by a crash are skipped)."""
    return _layout_only(path).read_metrics()


def _nearest(steps: Sequence[int], step: int) -> int:
    """The latest saved step at or below ``step``; the first one when all are above it."""
    below = [s for s in steps if s <= step]
    return max(below) if below else min(steps)


def grids_at_step(run_dirs: Sequence[Path], step: int) -> List[Tuple[str, Optional[Image.Image], int]]:
    """(run path, its grid nearest ``step``, the step used) per run; (path, None, -1) without grids."""
    out: List[Tuple[str, Optional[Image.Image], int]] = []
    for p in run_dirs:
        run = _layout_only(p)
        steps = run.sample_steps()
        if not steps:
            out.append((str(p), None, -1))
            continue
        used = _nearest(steps, int(step))
        try:
            with Image.open(run.sample_path(used)) as im:
                image = im.convert("RGB")             # convert() loads it, so the file closes here
        except OSError:                               # removed or unreadable: show the gap, keep going
            image, used = None, -1
        out.append((str(p), image, used))
    return out


def _font() -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=12)        # Pillow >= 10.1 with FreeType: a scalable font
    except TypeError:                                 # older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def _header(label: str, used: int, width: int, font, draw: ImageDraw.ImageDraw) -> List[str]:
    """The label wrapped to the grid's width, then the step line."""
    char_w = max(1.0, draw.textlength("n", font=font))
    lines = textwrap.wrap(label, width=max(8, int(width / char_w)), break_long_words=True) or [""]
    return lines + ["no sample grids yet" if used < 0 else f"step {used:,}"]


def side_by_side(grids: Sequence[Tuple[str, Optional[Image.Image], int]], labels: Sequence[str]) -> Image.Image:
    """Each run's grid next to the others, its label and step above it, on one white picture.

    ``grids`` is what :func:`grids_at_step` returns; a run without grids gets a grey box.
    """
    if not grids:
        raise GanlabError("Pick at least one run to show its samples.")
    sizes = [g[1].size for g in grids if g[1] is not None]
    blank = (max(w for w, _ in sizes), max(h for _, h in sizes)) if sizes else (256, 256)
    font = _font()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels = list(labels) + [g[0] for g in grids[len(labels):]]      # too few labels: fall back to paths
    tiles = []
    for (path, image, used), label in zip(grids, labels):
        image = image if image is not None else Image.new("RGB", blank, "#eeeeee")
        tiles.append((image, _header(label or path, used, max(image.width, 160), font, probe)))
    header_h = max(len(lines) for _, lines in tiles) * HEADER_LINE + 6   # same for all: grids line up
    widths = [max(image.width, 160) for image, _ in tiles]
    height = header_h + max(image.height for image, _ in tiles)
    canvas = Image.new("RGB", (sum(widths) + GAP * (len(tiles) - 1), height), "white")
    draw, x = ImageDraw.Draw(canvas), 0
    for (image, lines), w in zip(tiles, widths):
        for k, line in enumerate(lines):
            draw.text((x, 2 + k * HEADER_LINE), line, fill="#222222" if k < len(lines) - 1 else "#666666", font=font)
        canvas.paste(image, (x, header_h))
        x += w + GAP
    return canvas
