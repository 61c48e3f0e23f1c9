"""The Compare runs tab: pick finished or running runs, see their curves overlaid and their samples side by side.

    with gr.Tab("Compare runs", id="compare") as tab:
        build_compare_tab(sessions, tab)

    h = CompareHandlers(Path("runs"))          # the handlers alone, for tests
    msg, runs, curves, slider, grids = h.add("runs/ring", [])

The tab only reads run folders (see ganlab.ui.compare): it starts no training
and no threads, and it keeps no per-browser state, so its handlers need no
session key. Every control has a stable ``elem_id`` (``compare-...``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import gradio as gr

from ..errors import GanlabError
from .compare import (
    PALETTE,
    common_steps,
    compare_figure,
    find_runs,
    grids_at_step,
    is_run,
    read_metrics,
    run_label,
    side_by_side,
)
from .sessions import Sessions
from .train_handlers import guarded

MAX_COMPARE = len(PALETTE)          # beyond this, colours repeat and the legend stops helping
INTRO = ("Pick runs from the list (runs made in this app or by the CLI under the runs folder), or type "
         "the path of any other run folder. Their curves share one step axis; move the slider to compare "
         "their sample grids at the same step.")
PICK = "Pick one or more runs in the list above, or add a run folder by its path, to compare them."


def _key(path) -> str:
    """One spelling per folder, so a typed path and the listed one count as the same run."""
    return str(Path(path).expanduser().resolve())


class CompareHandlers:
    """What the tab's controls do; each returns plain values for its outputs and never raises."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def choices(self, extra: Sequence[str] = (), found: Optional[List[Path]] = None) -> List[Tuple[str, str]]:
        """(label, path) for every run under the root (``found``, if already scanned), then the runs
        in ``extra`` that live elsewhere, e.g. typed CLI runs, so the chosen values stay valid choices."""
        paths = [str(p) for p in (find_runs(self.root) if found is None else found)]
        known = {_key(p) for p in paths}
        for e in extra:
            if _key(e) not in known and is_run(Path(e).expanduser()):
                paths.append(str(e))
                known.add(_key(e))
        return [(run_label(Path(p).expanduser(), self.root), p) for p in paths]

    def _runs(self, selected: Optional[Sequence[str]]) -> List[Path]:
        """The chosen folders, checked: at least one, each still a run, not too many."""
        if not selected:
            raise GanlabError(PICK)
        if len(selected) > MAX_COMPARE:
            raise GanlabError(f"Compare at most {MAX_COMPARE} runs at once; remove some from the list.")
        paths = [Path(s).expanduser() for s in selected]
        for p in paths:
            if not is_run(p):
                raise GanlabError(f"`{p}` is no longer a run folder (moved or deleted?); press Refresh list.")
        return paths

    def _view(self, selected: Sequence[str]) -> Tuple[str, object, Dict, object]:
        """(message, curves, slider update, grids) for the chosen runs, grids at the latest step."""
        paths = self._runs(selected)
        labels = [run_label(p, self.root) for p in paths]
        fig = compare_figure({lab: read_metrics(p) for lab, p in zip(labels, paths)})
        lo, hi = common_steps(paths)
        grids = grids_at_step(paths, hi)
        # a one-value slider cannot move; give it a range anyway so Gradio draws it sanely
        slider = gr.update(minimum=lo, maximum=max(hi, lo + 1), value=hi, interactive=hi > lo)
        missing = sum(1 for _, image, _ in grids if image is None)
        msg = f"Comparing {len(paths)} run(s); sample grids at step {hi:,} (each run's nearest saved grid)."
        if missing:
            msg += f" {missing} run(s) have no sample grids yet."
        return msg, fig, slider, side_by_side(grids, labels)

    @guarded(5)
    def refresh(self, selected: Optional[Sequence[str]]) -> tuple:
        """Scan the runs folder again; keep the chosen runs that still exist and redraw them."""
        kept = [s for s in (selected or []) if is_run(Path(s).expanduser())]
        found = find_runs(self.root)
        choices = self.choices(kept, found)
        where = f"Found {len(found)} run(s) under `{self.root}`." if found else \
            f"No runs under `{self.root}` yet: train one in the Train tab, or add a run folder by its path."
        if not kept:
            return where, gr.update(choices=choices, value=[]), gr.skip(), gr.skip(), gr.skip()
        msg, fig, slider, image = self._view(kept)
        return f"{where} {msg}", gr.update(choices=choices, value=kept), fig, slider, image

    @guarded(5)
    def add(self, path: Optional[str], selected: Optional[Sequence[str]]) -> tuple:
        """Add the run folder typed in the box (e.g. a CLI run outside the runs folder) and redraw."""
        path = (path or "").strip()
        if not path:
            raise GanlabError("Type the path of a run folder (the one holding config.json) first.")
        p = Path(path).expanduser()
        if not p.is_dir():
            raise GanlabError(f"There is no folder at `{path}`; check the path and try again.")
        if not is_run(p):
            raise GanlabError(f"`{path}` is not a run folder: it needs both config.json and metrics.jsonl.")
        selected = list(selected or [])
        choices = self.choices(selected + [path])
        value = next(v for _, v in choices if _key(v) == _key(p))      # the listed spelling, if listed
        if _key(value) not in {_key(s) for s in selected}:
            selected.append(value)
        msg, fig, slider, image = self._view(selected)
        return msg, gr.update(choices=choices, value=selected), fig, slider, image

    @guarded(5)
    def show(self, selected: Optional[Sequence[str]]) -> tuple:
        """Draw the chosen runs; a warning when none is chosen."""
        msg, fig, slider, image = self._view(selected or [])
        return msg, gr.skip(), fig, slider, image

    def pick(self, selected: Optional[Sequence[str]]) -> tuple:
        """The user changed the list: draw the chosen runs, or clear the views when none is left."""
        if selected:
            return self.show(selected)
        return PICK, gr.skip(), compare_figure({}), gr.update(value=0, interactive=False), None

    @guarded(2)
    def at_step(self, selected: Optional[Sequence[str]], step: Optional[float]) -> tuple:
        """The slider moved: every run's saved grid nearest ``step``, side by side."""
        paths = self._runs(selected)
        step = int(step or 0)
        grids = grids_at_step(paths, step)
        used = {s for _, image, s in grids if image is not None}
        msg = f"Sample grids at step {step:,}." if used <= {step} else \
            f"Sample grids nearest step {step:,} (saved at step{'s' if len(used) > 1 else ''} " \
            f"{', '.join(f'{s:,}' for s in sorted(used))})."
        return msg, side_by_side(grids, [run_label(p, self.root) for p in paths])


def build_compare_tab(sessions: Sessions, tab: gr.Tab) -> None:
    """Lay out the tab inside the current gr.Tab; its list refreshes whenever the tab is selected."""
    h = CompareHandlers(sessions.root)
    gr.Markdown(INTRO, elem_id="compare-intro")
    with gr.Row(equal_height=True):
        runs = gr.Dropdown([], value=[], multiselect=True, max_choices=MAX_COMPARE, label="runs to compare",
                           elem_id="compare-runs", scale=5)
        refresh = gr.Button("Refresh list", elem_id="compare-refresh", scale=1, min_width=110)
    with gr.Row(equal_height=True):
        path = gr.Textbox(label="add a run folder by path", placeholder="runs/ring (holds config.json)",
                          max_lines=1, elem_id="compare-path", scale=5)
        add = gr.Button("Add", elem_id="compare-add", scale=1, min_width=110)
    message = gr.Markdown("", elem_id="compare-message")
    curves = gr.Plot(compare_figure({}), label="curves", show_label=False, elem_id="compare-curves")
    step = gr.Slider(0, 1, value=0, step=1, label="sample grids at step", interactive=False,
                     elem_id="compare-step")
    grids = gr.Image(label="sample grids", show_label=False, type="pil", format="png", interactive=False,
                     elem_id="compare-grids", buttons=["download"])

    view = [message, runs, curves, step, grids]
    tab.select(h.refresh, runs, view, show_progress="hidden")
    refresh.click(h.refresh, runs, view, show_progress="hidden")
    runs.input(h.pick, runs, view, show_progress="hidden")
    add.click(h.add, [path, runs], view)
    path.submit(h.add, [path, runs], view)
    step.release(h.at_step, [runs, step], [message, grids], show_progress="hidden")
