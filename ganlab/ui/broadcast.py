"""The teacher's broadcast run beside every student's own, and the classroom notice above it.

    outputs = broadcast_outputs(sessions, session)   # (box, status, curves, points, grid, notice)

The broadcast run is drawn once a second for the whole class (one frame,
shared), and each page is sent a frame only when it is newer than the one it
shows: thirty students watching cost one figure a second, not thirty.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

import gradio as gr

from .runview import DiskRun, LiveRun
from .sessions import Session, Sessions, TrainView

N_OUTPUTS = 6
FRAME_SECONDS = 1.0


def _frame(sessions: Sessions, path) -> Optional[Dict[str, Any]]:
    """The shared drawing of the broadcast run, redrawn at most once a second."""
    from .train_handlers import live_engine
    from .train_view import full_render
    room = sessions.classroom
    with room.frame_lock:
        f = room.frame
        now = time.monotonic()
        if f is not None and f["path"] == path and now - f["time"] < FRAME_SECONDS:
            return f
        if f is None or f["path"] != path:
            f = {"path": path, "version": 0, "time": 0.0, "view": None, "out": {}, "key": None}
        live = live_engine(sessions, path)
        view = f["view"]
        if view is None or (live is not None and not isinstance(view.source, LiveRun)):
            src = LiveRun(live) if live is not None else DiskRun(path, sessions.access.ref(path), state="stopped")
            view = f["view"] = TrainView(path=path, mine=False, source=src, label="shown to the class by your teacher")
        try:
            out = full_render(sessions, view)
        except Exception:                                  # the run vanished or its engine ended mid-call
            view.source = DiskRun(path, sessions.access.ref(path), state="stopped")
            out = full_render(sessions, view)
        key = (out.get("status"), out.get("step"), len(view.rows))
        if key != f["key"]:
            if "grid" in out:                              # encoded once here, not once per page
                out["grid"] = _save(room, out["grid"], f["version"] + 1)
            f["out"] = dict(f["out"], **out)
            f["key"], f["version"] = key, f["version"] + 1
        f["time"] = now
        room.frame = f
        return f


def _save(room, picture, version: int) -> str:
    import tempfile
    from pathlib import Path
    if getattr(room, "frame_dir", None) is None:
        room.frame_dir = Path(tempfile.mkdtemp(prefix="ganlab-broadcast-"))
    path = room.frame_dir / f"frame-{version}.png"
    picture.save(path)
    old = room.frame_dir / f"frame-{version - 2}.png"     # pages may still fetch the last one
    old.unlink(missing_ok=True)
    return str(path)


def _owns(sessions: Sessions, s: Session, path) -> bool:
    try:
        return sessions.access.can_write(path, s.who)
    except OSError:
        return False


def _notice(sessions: Sessions, s: Session) -> Any:
    room = sessions.classroom
    text = ""
    if room.lesson and room.lesson_seq > s.lesson_seen:
        from ..lessons import LESSONS
        lesson = LESSONS.get(room.lesson)
        title = lesson.title if lesson else room.lesson
        text = f"📣 Your teacher pushed **{title}**: open the **2-D Playground** tab to see it."
    if room.broadcast is not None and _owns(sessions, s, room.broadcast):
        text = (text + "  \n" if text else "") + "📡 The class sees this run of yours, live, beside their own."
    elif room.broadcast is not None:
        text = (text + "  \n" if text else "") + ("📡 Your teacher is showing a run to the class, below your own; "
                                                 "**Fork it** to train a copy with your own settings.")
    if text == s.notice_text:
        return gr.skip()
    s.notice_text = text
    return text


def broadcast_outputs(sessions: Sessions, s: Optional[Session]) -> tuple:
    skip = gr.skip()
    if s is None or not sessions.classroom.enabled:
        return (skip,) * N_OUTPUTS
    notice = _notice(sessions, s)
    path = sessions.classroom.broadcast
    if path is None:
        if s.broadcast_seen is not None:
            s.broadcast_seen = None
            return (gr.update(visible=False),) + (skip,) * 4 + (notice,)
        return (skip,) * 5 + (notice,)
    if _owns(sessions, s, path):                          # its owner's own Train tab shows it: no copy below
        if s.broadcast_seen is not None:
            s.broadcast_seen = None
            return (gr.update(visible=False),) + (skip,) * 4 + (notice,)
        return (skip,) * 5 + (notice,)
    f = _frame(sessions, path)
    if f is None or s.broadcast_seen == (path, f["version"]):
        return (skip,) * 5 + (notice,)
    first = s.broadcast_seen is None or s.broadcast_seen[0] != path
    s.broadcast_seen = (path, f["version"])
    out = f["out"]
    box = gr.update(visible=True) if first else skip
    points = gr.update(value=out["points"], visible=True) if "points" in out else gr.update(visible=False)
    grid = gr.update(value=out["grid"], visible=True) if "grid" in out else gr.update(visible=False)
    status = f"📡 **Broadcast by your teacher** · {out.get('status', '')}"
    return box, status, out.get("curves", skip), points, grid, notice
