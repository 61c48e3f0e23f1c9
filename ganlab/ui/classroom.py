"""What the teacher's Classroom tab does: every run in the class, stop or pause any, broadcast one, push a lesson.

    h = ClassroomHandlers(sessions)
    h.sign_in(password, key)              # the in-app teacher sign-in (no --auth): this browser becomes the teacher
    rows = h.runs(key)                    # [[owner, dataset, model, step, state, img/s, run], ...]
    h.pause_run(ref, key); h.stop_run(ref, key)
    h.broadcast(ref, key); h.end_broadcast(key)     # every student's Train tab shows that run (now shared)
    h.push_lesson("collapse", key)        # every student's Playground loads it
    items = h.gallery(key)                # one tile per student: their run's latest samples

Every action checks, here on the server, that the caller is the teacher: a
student calling these endpoints through the API gets a sentence and nothing
else. No action writes into a student's folder; a stopped run keeps its
checkpoint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import GanlabError
from ..lessons import LESSONS
from ..viz import samples_image
from .sessions import Session, Sessions

HEADERS = ["owner", "dataset", "model", "step", "state", "img/s", "run"]
NOT_TEACHER = "Only the teacher can do that; sign in with the teacher password first."


class ClassroomHandlers:
    def __init__(self, sessions: Sessions):
        self.sessions = sessions

    def _teacher(self, key: str) -> None:
        if not self.sessions.classroom.enabled or not self.sessions.is_teacher(key):
            raise GanlabError(NOT_TEACHER)

    def sign_in(self, password: str, key: str, address: Optional[str] = None) -> str:
        if not self.sessions.classroom.enabled:
            raise GanlabError("This server has no classroom; start it with --classroom.")
        self.sessions.unlock_teacher(key, password, address)
        return "Signed in as the teacher: the Classroom tab is open."

    # ---- the class's runs ----------------------------------------------------------------------------
    def _entries(self) -> List[Tuple[Session, str, Any, Dict]]:
        """(session, kind, engine or None, facts) for every run a browser has now: Train tab and Playground."""
        out = []
        for s in self.sessions.everyone():                # pages, and runs training with no page open
            v = s.train
            if v is not None and v.mine:
                out.append((s, "train", v.engine, {"view": v}))
            if s.play is not None:
                for p in s.play.panels:
                    out.append((s, "play", p.engine, {"panel": p.name}))
        return out

    def runs(self, key: str) -> List[List[Any]]:
        self._teacher(key)
        rows = []
        for s, kind, e, facts in self._entries():
            rows.append(self._row(s, kind, e, facts))
        return rows

    def _row(self, s: Session, kind: str, e, facts: Dict) -> List[Any]:
        access = self.sessions.access
        st: Dict[str, Any] = {}
        if e is not None:
            try:
                st = e.cached_status() if hasattr(e, "cached_status") else e.status()
            except GanlabError:
                st = {}
        v = facts.get("view")
        state = st.get("state", "")
        if v is not None and v.ticket is not None and v.ticket.state in ("waiting", "starting", "failed"):
            place, _ = self.sessions.scheduler.position(v.ticket)
            state = f"waiting ({place} in line)" if place else v.ticket.state
        path = Path(st["run_dir"]) if st.get("run_dir") else (v.path if v is not None else None)
        data, model = "", ""
        if path is not None and (path / "config.json").is_file():
            from ..checkpoint import read_config
            try:
                cfg = read_config(path)
                data, model = access.display_dataset(cfg.data.name), cfg.model.name
            except GanlabError:
                pass
        if kind == "play":
            model = f"playground {facts['panel']}".strip()
        return [s.who.label, data, model, int(st.get("step", 0)), state,
                round(float(st.get("images_per_s", 0.0)) if state == "running" else 0.0),
                access.ref(path) if path is not None else ""]

    def _find(self, ref: str):
        """The live engine of the run ``ref`` names, from any browser's session."""
        target = self.sessions.access.resolve(ref).resolve()
        for _, _, e, _ in self._entries():
            if e is not None and Path(e.run.path).resolve() == target:
                return e
        raise GanlabError(f"No browser is training `{ref}` now; pick a run from the table.")

    def pause_run(self, ref: str, key: str) -> str:
        self._teacher(key)
        e = self._find(ref)
        if e.state != "running":
            return f"`{ref}` is {e.state}, not training."
        e.pause()
        return f"Paused `{ref}` at step {e.status()['step']:,}; its owner can resume it."

    def stop_run(self, ref: str, key: str) -> str:
        self._teacher(key)
        e = self._find(ref)
        e.stop()
        return f"Stopped `{ref}`; its checkpoint is saved in its owner's folder."

    # ---- the whole class ---------------------------------------------------------------------------
    def broadcast(self, ref: str, key: str) -> str:
        self._teacher(key)
        who = self.sessions.who(key)
        path = self.sessions.access.run_path(ref, who)
        if self.sessions.access.is_shipped(path):
            raise GanlabError("Broadcast a run (one that trains, or trained); shipped models are in Explore.")
        self.sessions.access.share(path, True, who)       # what the class sees, it may open and fork
        self.sessions.classroom.broadcast = path
        return (f"Broadcasting `{self.sessions.access.ref(path)}`: every Train tab shows it beside the student's "
                "own run.")

    def end_broadcast(self, key: str) -> str:
        self._teacher(key)
        self.sessions.classroom.broadcast = None
        return "The broadcast ended."

    def push_lesson(self, lesson: Optional[str], key: str) -> str:
        self._teacher(key)
        if lesson not in LESSONS:
            raise GanlabError("Pick a lesson to push first.")
        self.sessions.classroom.push_lesson(lesson)
        return (f"Pushed “{LESSONS[lesson].title}”: every student's Playground loads it (as soon as their "
                "Playground is open).")

    def gallery(self, key: str) -> List[Tuple[Any, str]]:
        """One tile per browser with a Train-tab run: its latest samples, captioned."""
        self._teacher(key)
        best: Dict[str, Tuple[int, Any, str]] = {}        # one tile per student: their run with the most steps
        for s, kind, e, facts in self._entries():
            if kind != "train":
                continue
            picture = _latest_picture(e, facts["view"])
            if picture is not None:
                row = self._row(s, kind, e, facts)
                caption = f"{row[0]} · {row[1]} · {row[2]} · step {row[3]:,}"
                if s.who.owner not in best or row[3] > best[s.who.owner][0]:
                    best[s.who.owner] = (row[3], picture, caption)
        return [(labelled(picture, caption), caption) for _, picture, caption in best.values()]


def labelled(picture, caption: str, width: int = 256):
    """The tile as the gallery shows it: the student's samples, scaled to ``width``, with their name, run and
    step written above them (a gallery's own captions show only on hover)."""
    from PIL import Image, ImageDraw
    pic = picture.convert("RGB")
    scale = width / max(1, pic.width)
    pic = pic.resize((width, max(1, round(pic.height * scale))), Image.Resampling.NEAREST)
    lines = [caption[i:i + 40] for i in range(0, len(caption), 40)][:2]
    band = 14 * len(lines) + 6
    tile = Image.new("RGB", (width, pic.height + band), "white")
    draw = ImageDraw.Draw(tile)
    for i, line in enumerate(lines):
        draw.text((4, 3 + 14 * i), line, fill=(20, 20, 20))
    tile.paste(pic, (0, band))
    return tile


def _latest_picture(e, view):
    """The run's newest fixed-noise samples as a picture: from its engine, or its newest saved grid."""
    if e is not None:
        try:
            if not (getattr(e, "ended", False) or e.state in ("stopped", "error")):
                step, x = e.latest_samples()
                if x is not None:
                    real = e.real_points(300) if x.dim() == 2 else None
                    return samples_image(x, real, nrow=e.data_info().get("sample_nrow"))
        except GanlabError:
            pass
    if view is not None and view.path is not None:
        from ..runs import RunDir
        run = RunDir(view.path, None)
        steps = run.sample_steps()
        if steps:
            from PIL import Image
            try:
                with Image.open(run.sample_path(steps[-1])) as im:
                    return im.convert("RGB")
            except OSError:
                return None
    return None
