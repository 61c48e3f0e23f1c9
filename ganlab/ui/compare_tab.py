"""The Compare runs tab: pick finished or running runs, see their curves overlaid and their samples side by side.

    with gr.Tab("Compare runs", id="compare") as tab:
        build_compare_tab(sessions, tab)

    h = CompareHandlers(sessions)              # the handlers alone, for tests
    msg, runs, curves, slider, grids = h.add("ui/20261201-ring-a1b2c3", [], key)

    msg, runs, curves, slider, grids = h.follow(["watch:runs/ddp"], step, key)   # the timer: redrawn if grown

The tab only reads run folders (see ganlab.ui.compare): it starts no training
and no threads. It lists and opens only the runs the browser may see (its
own, shared ones, and the folders the server watches: a cluster job's run,
read-only; ganlab.access). While "follow" is ticked, a timer redraws the
chosen runs whenever their files grow, so a run still training elsewhere can
be watched from here. Every control has a stable ``elem_id`` (``compare-...``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import gradio as gr

from ..errors import GanlabError
from .common import guarded, keyed
from .compare import (
    PALETTE,
    common_steps,
    compare_figure,
    grids_at_step,
    is_run,
    read_metrics,
    run_label,
    side_by_side,
)
from .sessions import Session, Sessions

MAX_COMPARE = len(PALETTE)          # beyond this, colours repeat and the legend stops helping
FOLLOW_SECONDS = 5.0                # a watched run logs every few seconds; a faster poll mostly finds nothing new
INTRO = ("Pick runs from the list: your own, and the runs others shared with the class (on your own machine, "
         "the CLI's runs under the runs folder too). Their curves share one step axis; move the slider to compare "
         "their sample grids at the same step. Runs the server watches (e.g. a cluster job's, `watch:...`) are "
         "listed too, read-only; with follow ticked, the view redraws as they grow.")
PICK = "Pick one or more runs in the list above, or add one by its name, to compare them."


def _key(path) -> str:
    """One spelling per folder, so a typed path and the listed one count as the same run."""
    return str(Path(path).expanduser().resolve())


class CompareHandlers:
    """What the tab's controls do; each returns plain values for its outputs and never raises.

    A browser compares the runs it may open (ganlab.access): its own, shared ones and, for the teacher, all.
    """

    def __init__(self, sessions: Sessions):
        self.sessions = sessions
        self.root = Path(sessions.root)
        self._seen: Dict[str, tuple] = {}            # browser -> (runs, their files' stamp, last step shown)
        sessions.on_close.append(self._forget)

    def _forget(self, session: Session) -> None:
        self._seen.pop(session.key, None)

    def _label(self, path: Path) -> str:
        # a watched run lies outside the runs folder: its label names it as the list does, not by server path
        return self.sessions.access.scrub(run_label(path, self.root))

    def _who(self, key: Optional[str]):
        return self.sessions.who(key)

    def choices(self, key: Optional[str] = None, found: Optional[List[Path]] = None) -> List[Tuple[str, str]]:
        """(label, ref) for every run this browser may open (``found``, if already listed)."""
        access = self.sessions.access
        paths = found if found is not None else [e.path for e in access.visible_runs(self._who(key))]
        return [(self._label(p), access.ref(p)) for p in paths]

    def _runs(self, selected: Optional[Sequence[str]], key: Optional[str]) -> List[Path]:
        """The chosen runs, checked: at least one, each still a run this browser may open, not too many."""
        if not selected:
            raise GanlabError(PICK)
        if len(selected) > MAX_COMPARE:
            raise GanlabError(f"Compare at most {MAX_COMPARE} runs at once; remove some from the list.")
        paths = [self.sessions.access.run_path(s, self._who(key)) for s in selected]
        for p, s in zip(paths, selected):
            if not is_run(p):
                raise GanlabError(f"`{s}` is no longer a run folder (moved or deleted?); press Refresh list.")
        return paths

    def _view(self, selected: Sequence[str], key: Optional[str]) -> Tuple[str, object, Dict, object]:
        """(message, curves, slider update, grids) for the chosen runs, grids at the latest step."""
        paths = self._runs(selected, key)
        labels = [self._label(p) for p in paths]
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
    def refresh(self, selected: Optional[Sequence[str]], key: Optional[str] = None) -> tuple:
        """List the runs again; keep the chosen runs that still exist and redraw them."""
        access, who = self.sessions.access, self._who(key)
        found = [e.path for e in access.visible_runs(who)]
        refs = {access.ref(p) for p in found}
        kept = [s for s in (selected or []) if s in refs]
        choices = self.choices(key, found)
        where = f"Found {len(found)} run(s) you can open." if found else \
            "No runs yet: train one in the Train tab (runs others share appear here too)."
        if not kept:
            return where, gr.update(choices=choices, value=[]), gr.skip(), gr.skip(), gr.skip()
        msg, fig, slider, image = self._view(kept, key)
        return f"{where} {msg}", gr.update(choices=choices, value=kept), fig, slider, image

    @guarded(5)
    def add(self, path: Optional[str], selected: Optional[Sequence[str]], key: Optional[str] = None) -> tuple:
        """Add the run typed in the box (as the list names it) and redraw."""
        path = (path or "").strip()
        if not path:
            raise GanlabError("Type the name of a run (as the list shows it) first.")
        access = self.sessions.access
        folder = access.run_path(path, self._who(key))
        if not is_run(folder):
            raise GanlabError(f"`{path}` is not a run folder: it needs both config.json and metrics.jsonl.")
        ref = access.ref(folder)
        selected = list(selected or [])
        if ref not in selected:
            selected.append(ref)
        msg, fig, slider, image = self._view(selected, key)
        return msg, gr.update(choices=self.choices(key), value=selected), fig, slider, image

    @guarded(5)
    def show(self, selected: Optional[Sequence[str]], key: Optional[str] = None) -> tuple:
        """Draw the chosen runs; a warning when none is chosen."""
        msg, fig, slider, image = self._view(selected or [], key)
        return msg, gr.skip(), fig, slider, image

    def pick(self, selected: Optional[Sequence[str]], key: Optional[str] = None) -> tuple:
        """The user changed the list: draw the chosen runs, or clear the views when none is left."""
        if selected:
            return self.show(selected, key)
        return PICK, gr.skip(), compare_figure({}), gr.update(value=0, interactive=False), None

    def follow(self, selected: Optional[Sequence[str]], step: Optional[float], key: Optional[str] = None) -> tuple:
        """The follow timer: redraw the chosen runs if their files changed since the last tick; the grids
        move to the newest step unless the slider was moved back to look at an older one."""
        skip = (gr.skip(),) * 5
        if not selected:
            return skip
        try:
            paths = self._runs(selected, key)
        except GanlabError as e:                      # deleted meanwhile: said quietly, no toast every tick
            return (f"⚠️ {e}",) + skip[1:]
        stamp = _stamp(paths)
        k = key or "local"
        last = self._seen.get(k)
        if last is not None and last[0] == tuple(selected) and last[1] == stamp:
            return skip
        msg, fig, slider, image = self._view(selected, key)
        hi = slider["value"]
        self._seen[k] = (tuple(selected), stamp, hi)
        looking_back = last is not None and last[0] == tuple(selected) and step is not None and step < last[2]
        if looking_back:                              # keep the older step on screen; only the range grows
            return msg, gr.skip(), fig, gr.update(maximum=slider["maximum"], interactive=True), gr.skip()
        return msg, gr.skip(), fig, slider, image

    @guarded(2)
    def at_step(self, selected: Optional[Sequence[str]], step: Optional[float], key: Optional[str] = None) -> tuple:
        """The slider moved: every run's saved grid nearest ``step``, side by side."""
        paths = self._runs(selected, key)
        step = int(step or 0)
        grids = grids_at_step(paths, step)
        used = {s for _, image, s in grids if image is not None}
        msg = f"Sample grids at step {step:,}." if used <= {step} else \
            f"Sample grids nearest step {step:,} (saved at step{'s' if len(used) > 1 else ''} " \
            f"{', '.join(f'{s:,}' for s in sorted(used))})."
        return msg, side_by_side(grids, [self._label(p) for p in paths])


def _stamp(paths: Sequence[Path]) -> tuple:
    """What changes when a run grows: its metrics file's time and size, and its newest sample grid."""
    out = []
    for p in paths:
        try:
            st = (p / "metrics.jsonl").stat()
            out.append((st.st_mtime_ns, st.st_size, common_steps([p])[1]))
        except OSError:
            out.append(None)
    return tuple(out)


def build_compare_tab(sessions: Sessions, tab: gr.Tab) -> None:
    """Lay out the tab inside the current gr.Tab; its list refreshes whenever the tab is selected."""
    h = CompareHandlers(sessions)
    gr.Markdown(INTRO, elem_id="compare-intro")
    with gr.Row(equal_height=True):
        runs = gr.Dropdown([], value=[], multiselect=True, max_choices=MAX_COMPARE, label="runs to compare",
                           elem_id="compare-runs", scale=5)
        refresh = gr.Button("Refresh list", elem_id="compare-refresh", scale=1, min_width=110)
    with gr.Row(equal_height=True):
        path = gr.Textbox(label="add a run by name", placeholder="ui/20261201-101500-ring-a1b2c3",
                          max_lines=1, elem_id="compare-path", scale=5)
        add = gr.Button("Add", elem_id="compare-add", scale=1, min_width=110)
    follow = gr.Checkbox(True, label=f"follow: redraw every {FOLLOW_SECONDS:g} s while the runs grow",
                         elem_id="compare-follow")
    timer = gr.Timer(FOLLOW_SECONDS)
    message = gr.Markdown("", elem_id="compare-message")
    curves = gr.Plot(compare_figure({}), label="curves", show_label=False, elem_id="compare-curves")
    step = gr.Slider(0, 1, value=0, step=1, label="sample grids at step", interactive=False,
                     elem_id="compare-step")
    grids = gr.Image(label="sample grids", show_label=False, type="pil", format="png", interactive=False,
                     elem_id="compare-grids", buttons=["download"])

    view = [message, runs, curves, step, grids]
    tab.select(keyed(h.refresh, sessions, 1), runs, view, show_progress="hidden")
    refresh.click(keyed(h.refresh, sessions, 1), runs, view, show_progress="hidden")
    runs.input(keyed(h.pick, sessions, 1), runs, view, show_progress="hidden")
    add.click(keyed(h.add, sessions, 2), [path, runs], view)
    path.submit(keyed(h.add, sessions, 2), [path, runs], view)
    step.release(keyed(h.at_step, sessions, 2), [runs, step], [message, grids], show_progress="hidden")
    timer.tick(keyed(h.follow, sessions, 2), [runs, step], view, show_progress="hidden")
    follow.change(lambda on: gr.Timer(active=on), follow, timer, show_progress="hidden")
