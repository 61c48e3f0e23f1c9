"""Drawing a Train-tab view: status line, curves, samples, health and classes, from whatever holds the run.

    outputs = render(sessions, view)     # (status, curves, points, grid, health, classes), gr.skip() where unchanged
    text = status_text(sessions, view)   # the status line alone

A view is this browser's own run (waiting in line, training, paused, ended)
or someone else's (read-only). While it trains it is read from its engine (one
snapshot call); once its engine has ended, from its folder.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import gradio as gr
from PIL import Image

from ..metrics.health import health_markdown
from ..viz import samples_image
from .common import minutes, ordinal
from .liveplot import live_value
from .plots import classes_figure, compact, curves_figure, points_figure, status_markdown
from .runview import DiskRun, LiveRun
from .sessions import Sessions, TrainView

REAL_POINTS = 400                           # grey real points under the scatter


def _ended(e) -> bool:
    return getattr(e, "ended", False) or e.state in ("stopped", "error")


def source(sessions: Sessions, view: TrainView):
    """Where to read the view from now (None while its run waits for a slot or failed to start)."""
    if not view.mine:
        src = view.source
        if isinstance(src, LiveRun) and _ended(src.engine):         # the owner stopped it: read the folder
            view.source = src = DiskRun(view.path, sessions.access.ref(view.path), state="stopped")
        return src
    t = view.ticket
    if t is not None and t.state in ("waiting", "starting", "failed", "cancelled") or view.path is None:
        return None
    e = view.engine
    if e is not None and not _ended(e):
        if not isinstance(view.source, LiveRun) or view.source.engine is not e:
            view.source = LiveRun(e)
        return view.source
    if not isinstance(view.source, DiskRun):
        st = e.status() if e is not None else {"state": "stopped", "error": ""}
        state = "paused" if t is not None and t.note else st["state"]
        if t is not None and "finished" in t.states.values():      # it reached its steps, then its process ended
            state = "finished"
        note = t.note if t is not None and t.note else st.get("error", "")
        view.source = DiskRun(view.path, sessions.access.ref(view.path), state=state, note=note)
    return view.source


def status_text(sessions: Sessions, view: TrainView, snap: Optional[Dict] = None) -> str:
    t = view.ticket
    if view.mine and t is not None and t.state == "waiting":
        place, eta = sessions.scheduler.position(t)
        return (f"**WAITING FOR A TRAINING SLOT** · {ordinal(place or 1)} in line · {minutes(eta)} · all "
                f"{sessions.max_runs} slots are busy; your run starts by itself")
    if view.mine and t is not None and t.state == "starting":
        return "**STARTING** · loading the data and building the nets"
    if view.mine and t is not None and t.state == "failed":
        return f"**FAILED TO START** · ⚠️ {sessions.access.scrub(t.error)}"
    src = source(sessions, view)
    if src is None:
        return ""
    if snap is None:
        snap = src.snapshot(view.cursor, 10 ** 12)            # status only: the rows stay for the next poll
    st = dict(snap["status"], run_dir=sessions.access.ref(view.path) if view.path else "")
    text = status_markdown(st, _note(sessions, src))
    if not view.mine:                           # someone else's run (or a shipped model): looked at, not trained
        text = f"👁 **READ-ONLY** ({view.label or 'not yours'}; Fork trains a copy) · {text}"
    if view.notice:
        text = f"ℹ️ {view.notice}\n\n{text}"
    return sessions.access.scrub(text)


def _note(sessions: Sessions, src) -> str:
    info = src.info()
    name = info["name"]
    shown = sessions.access.display_dataset(name)
    note = (info["note"] or name).replace(name.partition(":")[2] or "\0", shown.partition(":")[2] or shown)
    if info["skipped"] and "skipped" not in note:
        note += f" · skipped {info['skipped']:,} unreadable file(s)"
    return f"{note} · {info['items']:,} items" if info["items"] else note


def render(sessions: Sessions, view: TrainView) -> tuple:
    """The six Train-tab outputs for ``view``: what changed since the last call, gr.skip() elsewhere."""
    skip = gr.skip()
    src = source(sessions, view)
    if src is None:
        text = status_text(sessions, view)
        status, view.status_text = (skip if text == view.status_text else text), text
        return (status,) + (skip,) * 5
    snap = src.snapshot(view.cursor, view.shown_step)
    rows, view.cursor = snap["rows"], snap["cursor"]
    if rows:
        view.rows = compact(view.rows + rows)
    info = snap["status"]
    curves = skip
    if rows or view.redraw:
        curves = live_value(curves_figure(view.rows, probability=info["probability"], as_dict=True))
        view.redraw = False
    text = status_text(sessions, view, snap)
    status, view.status_text = (skip if text == view.status_text else text), text
    points, grid = _samples(view, src, snap)
    return (status, curves, points, grid) + _quality(view, snap, rows)


def _samples(view: TrainView, src, snap: Dict) -> tuple:
    skip = gr.skip()
    if snap["samples"] is None:
        return skip, skip
    step, x = snap["samples"]
    view.shown_step = step
    info = src.info()
    # visibility only when it changes: an update that sets it makes Gradio rebuild the component's
    # config (py-spy: pydantic schemas for every poll), a bare value does not
    if isinstance(x, Image.Image) or info["is_image"]:
        picture = x if isinstance(x, Image.Image) else samples_image(x, nrow=info.get("sample_nrow"))
        if view.shows == "grid":
            return gr.skip(), picture
        view.shows = "grid"
        return gr.update(visible=False), gr.update(value=picture, visible=True)
    if view.real is None:
        view.real = src.real_points(REAL_POINTS)
    fig = live_value(points_figure(x, view.real, step, as_dict=True))
    if view.shows == "points":
        return fig, gr.skip()
    view.shows = "points"
    return gr.update(value=fig, visible=True), gr.update(visible=False)


def _quality(view: TrainView, snap: Dict, rows: List[Dict]) -> tuple:
    """The health findings (when they change) and the class histogram (when a new one arrives)."""
    health = health_markdown(snap["health"])
    out_health = gr.skip() if health == view.health_text else health
    view.health_text = health
    hists = [r for r in rows if "class_hist" in r]
    classes: Any = gr.skip()
    if hists:
        latest = max(hists, key=lambda r: r["step"])
        fig = classes_figure(latest["class_hist"], latest["step"])
        classes = fig if view.classes_shown else gr.update(value=fig, visible=True)
        view.classes_shown = True
    elif view.redraw_classes:
        classes = gr.update(visible=False)
    view.redraw_classes = False
    return out_health, classes


def full_render(sessions: Sessions, view: TrainView) -> Dict[str, Any]:
    """Every output as a value (nothing skipped), for a picture shared by many pages (the broadcast)."""
    src = source(sessions, view)
    if src is None:
        return {}
    snap = src.snapshot(view.cursor, -1)
    rows, view.cursor = snap["rows"], snap["cursor"]
    if rows:
        view.rows = compact(view.rows + rows)
    out: Dict[str, Any] = {"status": status_text(sessions, view, snap),
                           "curves": live_value(curves_figure(view.rows, probability=snap["status"]["probability"],
                                                              height=480, as_dict=True)),
                           "step": snap["status"]["step"]}
    if snap["samples"] is not None:
        step, x = snap["samples"]
        info = src.info()
        if isinstance(x, Image.Image) or info["is_image"]:
            out["grid"] = x if isinstance(x, Image.Image) else samples_image(x, nrow=info.get("sample_nrow"))
        else:
            if view.real is None:
                view.real = src.real_points(REAL_POINTS)
            out["points"] = live_value(points_figure(x, view.real, step, size=360, as_dict=True))
    return out

