"""What the 2-D Playground's controls do: one or more side-by-side 2-D runs per browser.

    h = PlaygroundHandlers(Sessions())
    h.open(key)                              # first visit: the pretrained ring, paused
    h.new(settings, key)                     # a fresh run from the controls (dataset, noise, ...)
    h.load_lesson("collapse", key)           # one run per panel, started together
    h.play(key); h.pause(key); h.step("d" | "g" | "both", key)
    h.live(settings, key)                    # loss, optimizer, lrs, D:G ratio, speed: applied at once
    h.draw(sketch, key)                      # train on the user's drawing
    outputs = h.tick(layers, key)            # panels, stats, charts: what changed since the last call
    async for outputs in h.stream(layers, key):  # (message, panels, stats, charts, lesson text), pushed to the
                                                 # browser up to 5 times a second; loads lessons the teacher pushes

Each run trains in a child process of its own (ganlab.engine.remote), so the
server's work of drawing frames does not take the run's interpreter lock; with
GANLAB_PLAY_PROCESSES=0 runs train on threads of the server instead. The run copies
out its weights between two training steps, and the views are drawn here from
a mirror of its nets (ganlab.plane.Mirror); on threads, the run draws them
itself between two steps (ganlab.plane.view_between_steps).
"""
from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Dict, List, Optional, Sequence

import anyio
import gradio as gr
import numpy as np
import torch

from ..config import OPTIMIZERS, RunConfig
from ..data.toys import points_from_drawing, write_points
from ..engine import Engine, Job
from ..engine.remote import RemoteEngine
from ..engine.scheduler import stop_engines
from ..errors import GanlabError
from ..lessons import BEST, LESSONS, THREADS, best_preset
from ..losses import LOSSES
from ..plane import Mirror, PlaneView, view_between_steps
from ..pretrained import pretrained_path
from .common import guarded, minutes, ordinal
from .liveplot import live_value
from .plane_plot import ALL_LAYERS, plane_figure, playground_charts, stats_markdown, view_stats
from .sessions import Sessions

log = logging.getLogger(__name__)

MAX_PANELS = 3
TOY_SETS = ["ring", "grid", "spiral", "moons", "line", "disjoint"]
DRAWING = "my drawing"
DEFAULT_SETTINGS = dict(dataset="ring", z_dim=2, z_dist="gaussian", pretrained=True)
LIVE_DEFAULTS = dict(loss=BEST.train.loss, optimizer=BEST.train.optimizer, lr_g=BEST.train.lr_g,
                     lr_d=BEST.train.lr_d, n_critic=BEST.train.n_critic, delay=0.0)     # the best preset's
HISTORY = 4000                      # divergence points kept per panel
REFRESH_SECONDS = 0.18             # the stream's period: the plane redraws up to ~5.5 times a second
STATS_SECONDS = 0.5                 # the stats line, redrawn at most this often while training runs
CHARTS_SECONDS = 1.0                # the charts move slowly: redraw them at most this often
START_WAIT = 20.0                   # a handler waits this long for its runs to start (a free slot: < 1 s)
PANEL_BYTES = 80 * 2**20            # a playground run's process: 35-50 MB of its own, plus its nets and batches


@dataclass
class Panel:
    name: str
    engine: Any                     # an Engine, or a RemoteEngine (the same controls, in a child process)
    cursor: int = 0
    rows: List[Dict] = field(default_factory=list)
    divergence: List[Dict] = field(default_factory=list)
    view: Optional[PlaneView] = None
    shown: Any = None               # (step, layers) of the figure on screen, to skip redraws
    stats_at: float = 0.0           # time.monotonic() of the view's last divergences and mode count
    visible: bool = False           # its plot has been made visible on screen
    mirror: Optional[Mirror] = None  # the run's nets in this process, for a run in a process of its own


@dataclass
class Playground:
    panels: List[Panel]
    lesson: str = ""                # key in LESSONS, or "" for a free run
    drawing: Optional[str] = None   # points:PATH of the user's last drawing
    charts_rows: int = -1           # rows drawn in the charts, to skip redraws
    charts_at: float = 0.0          # time.monotonic() of the last charts redraw
    shown_panels: int = -1          # panels visible on screen, to hide the others only once
    stats_text: str = ""            # the stats line on screen
    stats_at: float = 0.0           # time.monotonic() of its last redraw
    ticket: Any = None              # the scheduler's ticket for these runs (one slot per panel)

    def engines(self) -> List[Any]:
        return [p.engine for p in self.panels]


def _settings_config(settings: Dict[str, Any], drawing: Optional[str]) -> RunConfig:
    name = settings.get("dataset") or "ring"
    if name == DRAWING:
        if not drawing:
            raise GanlabError("Draw something on the canvas below and press 'Train on my drawing' first.")
        name = drawing
    elif name not in TOY_SETS:
        raise GanlabError(f"Unknown 2-D set {name!r}; choose one of {', '.join(TOY_SETS)}.")
    z_dim = int(settings.get("z_dim") or 2)
    if z_dim not in (1, 2):
        raise GanlabError("The noise must be 1-D or 2-D in the playground.")
    z_dist = settings.get("z_dist") or "gaussian"
    if z_dist not in ("gaussian", "uniform"):
        raise GanlabError("The noise distribution must be gaussian or uniform.")
    cfg = best_preset(name)
    cfg.model.z_dim, cfg.model.z_dist = z_dim, z_dist
    return cfg


def _apply_live(cfg: RunConfig, live: Dict[str, Any]) -> RunConfig:
    """The live controls written into a config (for a fresh run built while they are set)."""
    cfg = copy.deepcopy(cfg)
    t = cfg.train
    t.loss = live.get("loss") or t.loss
    t.optimizer = live.get("optimizer") or t.optimizer
    t.lr_g = float(live.get("lr_g") or t.lr_g)
    t.lr_d = float(live.get("lr_d") or t.lr_d)
    t.n_critic = int(live.get("n_critic") or t.n_critic)
    return cfg


class PlaygroundHandlers:
    def __init__(self, sessions: Sessions, processes: Optional[bool] = None):
        self.sessions = sessions
        # each run in a child process of its own (ganlab.engine.remote) unless --play-processes 0
        self.processes = sessions.options.play_processes if processes is None else processes
        sessions.on_close.append(lambda s: self._stop(s.play))

    # ---- state ------------------------------------------------------------------------
    def _play(self, key: str) -> Playground:
        s = self.sessions.peek(key)
        if s is None or s.play is None or (not s.play.panels and s.play.ticket is None):
            raise GanlabError("The playground has no run yet; pick a distribution or a lesson.")
        if not s.play.panels:
            raise GanlabError(self._waiting(s.play))
        return s.play

    def _waiting(self, play: Playground) -> str:
        t = play.ticket
        if t is not None and t.state == "failed":
            return t.error
        place, eta = self.sessions.scheduler.position(t) if t is not None else (None, None)
        if place is None:
            return "The runs are starting; one moment."
        return (f"All {self.sessions.max_runs} training slots of this server are busy: you are {ordinal(place)} in "
                f"line ({minutes(eta)}); your runs start by themselves.")

    def _stop(self, play: Optional[Playground]) -> None:
        if play is None:
            return
        if play.ticket is not None and play.ticket.state == "waiting":
            self.sessions.scheduler.cancel(play.ticket)
        for p in play.panels:
            try:
                p.engine.stop()
            except GanlabError:
                pass

    def _launch(self, key: str, runs: Sequence[tuple], lesson: str = "", start: bool = False,
                delay: float = 0.0) -> Playground:
        """Replace the session's runs by ``runs`` [(panel name, config, pretrained start or None, run folder to
        reopen or None)], built when the scheduler gives them slots (one per panel); waits briefly for that."""
        s = self.sessions.get(key)
        old, drawing = s.play, (s.play.drawing if s.play is not None else None)
        play = s.play = Playground([], lesson, drawing)
        self._stop(old)
        who = s.who

        def build() -> list:
            panels = []
            try:
                for name, cfg, init, reopen in runs:
                    panels.append(Panel(name, self._engine(who, cfg, init, reopen)))
                    if delay:
                        panels[-1].engine.set_delay(delay)
                if start:
                    for p in panels:
                        p.engine.start()
            except BaseException:
                for p in panels:
                    p.engine.stop()
                raise
            play.panels = panels
            return [p.engine for p in panels]
        play.ticket = self.sessions.scheduler.request(Job(
            owner=key, label=f"{who.label} · playground", start=build, units=len(runs),
            memory=PANEL_BYTES * len(runs), on_idle=stop_engines, on_end=stop_engines))
        if play.ticket.state != "waiting":                 # it has its slots: building takes a moment
            play.ticket.ready.wait(START_WAIT)
        if play.ticket.state == "failed":
            raise GanlabError(play.ticket.error)
        return play

    def _engine(self, who, cfg: RunConfig, init=None, reopen=None):
        if reopen is not None:                   # a run that gave its slot back: continue its folder
            if self.processes:
                return RemoteEngine.open(reopen, threads=THREADS, nice=self.sessions.options.train_nice,
                                         cpus=self.sessions.options.train_cpus)
            return Engine.open(reopen, threads=THREADS)
        tag = "drawing" if cfg.data.name.startswith("points:") else cfg.data.name
        run_dir = self.sessions.access.new_run_dir(who, f"play-{tag}", area="playground")
        if self.processes:                       # the child makes its own copy of the (small) 2-D set
            return RemoteEngine.new(cfg, run_dir, init=init, threads=THREADS, nice=self.sessions.options.train_nice,
                                    cpus=self.sessions.options.train_cpus)
        data = self.sessions.data.get(cfg.data, seed=cfg.train.seed)
        return Engine.new(cfg, run_dir, data=data, init=init, threads=THREADS)

    # ---- building runs ------------------------------------------------------------------
    def open(self, key: str) -> None:
        """First visit to the tab: a lesson the teacher pushed, else the pretrained ring (or nothing new if the
        session has runs)."""
        s = self.sessions.get(key)
        if self.pushed(key):
            self.load_pushed(key)
        elif s.play is None or (not s.play.panels and s.play.ticket is None):
            self._new(dict(DEFAULT_SETTINGS), dict(LIVE_DEFAULTS), key)

    def pushed(self, key: str) -> bool:
        """A lesson the teacher pushed that this browser has not loaded yet."""
        room, s = self.sessions.classroom, self.sessions.get(key)
        return bool(room.enabled and room.lesson and room.lesson_seq > s.lesson_seen)

    def load_pushed(self, key: str) -> tuple:
        room, s = self.sessions.classroom, self.sessions.get(key)
        s.lesson_seen = room.lesson_seq
        msg, text = self.load_lesson(room.lesson, key)[:2]
        return f"📣 Your teacher pushed this lesson. {msg}", text

    def _new(self, settings: Dict[str, Any], live: Dict[str, Any], key: str) -> str:
        s = self.sessions.get(key)
        drawing = s.play.drawing if s.play is not None else None
        cfg = _apply_live(_settings_config(settings, drawing), live)
        cfg.validate()
        init = None
        if settings.get("pretrained") and settings.get("dataset") in TOY_SETS:
            shipped = pretrained_path(settings["dataset"])
            if shipped is not None and _same_model(shipped, cfg):
                init = shipped
        play = self._launch(key, [("", cfg, init, None)], delay=float(live.get("delay") or 0.0))
        if not play.panels:
            return self._waiting(play)
        start = f"pretrained for {play.panels[0].engine.status()['step']:,} steps" if init else "from scratch"
        name = "drawing" if cfg.data.name.startswith("points:") else cfg.data.name
        return f"New {name} run, {start}; press ▶ Play."

    @guarded(1)
    def new(self, settings: Dict[str, Any], live: Dict[str, Any], key: str):
        return self._new(settings, live, key)

    @guarded(7)
    def load_lesson(self, lesson_key: str, key: str):
        """Every run of the lesson in its own panel, loaded paused (▶ Play starts them together); returns the
        message, the lesson's text, and the live controls' values as the lesson really sets them (its first
        panel's: loss, optimizer, lr G, lr D, n_critic)."""
        lesson = LESSONS.get(lesson_key)
        if lesson is None:
            raise GanlabError(f"Unknown lesson {lesson_key!r}.")
        runs = [(name, copy.deepcopy(cfg), None, None) for name, cfg in lesson.runs]
        play = self._launch(key, runs, lesson.key, start=False)
        text = f"### {lesson.title}\n{lesson.text}"
        t = lesson.runs[0][1].train
        controls = (t.loss, t.optimizer, t.lr_g, t.lr_d, t.n_critic)
        if not play.panels:
            return (self._waiting(play), text) + controls
        differ = len({(c.train.loss, c.train.lr_g, c.train.lr_d, c.train.n_critic) for _, c in lesson.runs}) > 1
        side = (f"{len(play.panels)} runs side by side" if len(play.panels) > 1 else "one run") + \
            (" (the controls show the first panel's settings; a change applies to every panel)" if differ else "")
        return (f"Lesson loaded, paused: {side}. Press ▶ Play to watch it train.", text) + controls

    @guarded(2)
    def draw(self, sketch: Any, settings: Dict[str, Any], live: Dict[str, Any], key: str):
        """Turn the canvas into a points file (an upload of this user's) and train a fresh run on it."""
        ink = _ink(sketch)
        pts = points_from_drawing(torch.from_numpy(ink), n=2000)
        s = self.sessions.get(key)
        folder = self.sessions.access.new_upload(s.who, "drawing")
        path = folder / "drawing.csv"
        write_points(pts, path)
        if s.play is None:
            s.play = Playground([])
        s.play.drawing = f"points:{path.resolve()}"
        settings = dict(settings, dataset=DRAWING, pretrained=False)
        msg = self._new(settings, live, key)
        return msg, gr.update(value=DRAWING)

    # ---- controls --------------------------------------------------------------------
    @guarded(1)
    def play(self, key: str):
        play = self._play(key)
        for p in play.panels:
            if p.engine.state == "error":
                raise GanlabError(p.engine.status()["error"] or "This run failed; press 'New run'.")
        if all(_released(p.engine) for p in play.panels):       # idle too long: back in line, same folders
            runs = [(p.name, None, None, p.engine.run.path) for p in play.panels]
            play = self._launch(key, runs, play.lesson, start=True)
            return "Continuing where it stopped." if play.panels else self._waiting(play)
        need = sum(1 for p in play.panels if p.engine.state != "running")
        for p in play.panels:
            if p.engine.state in ("idle", "paused"):
                p.engine.start()
        self.sessions.scheduler.touch(play.ticket)
        if need == 0:
            return "Already playing."
        states = {p.engine.state for p in play.panels}
        if states == {"finished"}:
            raise GanlabError("This run reached its step limit; press 'New run' to start another.")
        return "Playing: D's heatmap, the arrows and G's points move as it learns."

    @guarded(1)
    def pause(self, key: str):
        for p in self._play(key).panels:
            if p.engine.state == "running":
                p.engine.pause()
        return "Paused. Step D only, G only or both to see one update at a time."

    @guarded(1)
    def step(self, which: str, key: str):
        """One update of D only ("d"), G only ("g") or both, in every panel."""
        play = self._play(key)
        for p in play.panels:
            if p.engine.state == "running":
                p.engine.pause()
        for p in play.panels:
            if which == "d":
                p.engine.step_d_once()
            elif which == "g":
                p.engine.step_g_once()
            else:
                p.engine.step_once()
            p.view = None                                    # D-only steps leave the step count alone
        what = {"d": "D only: the heatmap moved, G's points did not",
                "g": "G only: the points moved along their arrows, the heatmap did not"}.get(which, "D then G")
        return f"One step of {what}."

    @guarded(1)
    def live(self, live: Dict[str, Any], key: str):
        """Apply the live controls to every panel now."""
        play = self._play(key)
        loss, opt = live.get("loss"), live.get("optimizer")
        if loss not in LOSSES:
            raise GanlabError(f"Unknown loss {loss!r}.")
        if opt not in OPTIMIZERS:
            raise GanlabError(f"Unknown optimizer {opt!r}.")
        lr_g, lr_d = _lr(live.get("lr_g"), "lr G"), _lr(live.get("lr_d"), "lr D")
        n_critic = int(live.get("n_critic") or 1)
        delay = float(live.get("delay") or 0.0)
        for p in play.panels:
            e, st = p.engine, p.engine.status()
            if st["loss"] != loss:
                e.set_loss(loss)
            if st["optimizer"] != opt:
                e.set_optimizer(opt)
            e.set_lr(lr_g=lr_g, lr_d=lr_d)
            e.set_n_critic(n_critic)
            e.set_delay(delay)
            p.view = None                                    # a new loss changes what the heatmap shows
        return (f"Applied: {loss} loss, {opt}, lr G {lr_g:g}, lr D {lr_d:g}, D:G {n_critic}:1"
                + (f", {delay:g} s between steps" if delay else "") + ".")

    # ---- the views -------------------------------------------------------------------
    def set_layers(self, layers: Optional[Sequence[str]], key: str) -> None:
        """Which layers this browser shows (the 'show' checkboxes); used by tick(None, key)."""
        self.sessions.get(key).play_layers = tuple(sorted(layers or ()))

    def tick(self, layers: Optional[Sequence[str]], key: str) -> tuple:
        """New figures for panels whose step (or layer choice) changed; gr.skip() elsewhere.

        ``layers=None`` uses the browser's choice from set_layers.
        """
        skip = gr.skip()
        s = self.sessions.peek(key)
        if s is None or s.play is None:
            return (skip,) * (MAX_PANELS + 2)
        if not s.play.panels:                               # waiting for slots: say where in line
            text = self._waiting(s.play) if s.play.ticket is not None else ""
            same = text == s.play.stats_text
            s.play.stats_text = text
            return (skip,) * MAX_PANELS + (skip if same else text, skip)
        shown = s.play_layers if layers is None else tuple(sorted(layers))
        try:
            return self._tick(s.play, ALL_LAYERS if shown is None else shown)
        except GanlabError as e:                            # e.g. a run replaced or ended meanwhile
            log.info("playground tick skipped: %s", e)
            return (skip,) * (MAX_PANELS + 2)
        except Exception:                                   # a poll must never raise; the next one retries
            log.exception("playground tick failed")
            return (skip,) * (MAX_PANELS + 2)

    async def stream(self, layers: Sequence[str], key: str):
        """tick()'s outputs whenever something changed, at most every REFRESH_SECONDS, while the session lives.

        One long event per browser instead of a timer's poll: a poll costs a round trip
        through Gradio's queue (about 0.4 s on a busy 2-core machine), a yield costs none.
        Between yields it holds no thread, so 30 browsers cost 30 sleeping coroutines.
        """
        self.set_layers(layers, key)
        while self.sessions.peek(key) is not None:         # unload (the browser closed) ends it
            start = time.monotonic()
            lesson = gr.skip()
            if self.pushed(key):                            # the teacher pushed a lesson: load it here
                msg, lesson = await anyio.to_thread.run_sync(self.load_pushed, key)
                yield (msg,) + (gr.skip(),) * (MAX_PANELS + 2) + (lesson,)
            out = await anyio.to_thread.run_sync(self.tick, None, key)
            if any(not _skipped(o) for o in out):
                yield (gr.skip(),) + out + (gr.skip(),)
            await asyncio.sleep(max(0.02, REFRESH_SECONDS - (time.monotonic() - start)))

    def _tick(self, play: Playground, layers: tuple) -> tuple:
        skip = gr.skip()
        plots, visible, texts, shown_now = [], [], [], []
        for i in range(MAX_PANELS):
            if i >= len(play.panels):
                plots.append(gr.update(visible=False) if play.shown_panels != len(play.panels) else skip)
                continue
            p = play.panels[i]
            rows, p.cursor = p.engine.metrics_since(p.cursor)
            p.rows.extend(rows)
            st = p.engine.status()
            step = st["step"]
            if st["state"] == "error" and p.view is not None:  # the run failed: keep its last picture
                visible.append((p, st))
                plots.append(skip)
                continue
            if p.view is None or p.view.step != step:         # also after a D-only or G-only step
                now = time.monotonic()
                fresh = (p.view is None or now - p.stats_at >= STATS_SECONDS
                         or st["state"] != "running")                 # divergences and modes: 2/s is plenty
                if isinstance(p.engine, RemoteEngine):          # drawn here, from the run's weights
                    if p.mirror is None:
                        p.mirror = Mirror(p.engine)
                    view = p.mirror.view(stats=fresh)
                else:
                    # computed on the run's worker thread, between two steps: a view computed beside
                    # training would fight it for the GIL (measured: 66% of the steps instead of 75%)
                    view = p.engine.inspect(partial(view_between_steps, stats=fresh))
                if fresh:
                    p.stats_at = now
                    measured = view_stats(view)
                    if not p.divergence or p.divergence[-1]["step"] != measured["step"]:
                        p.divergence.append(measured)
                        del p.divergence[:-HISTORY]
                else:                                          # keep the last measured ones on screen
                    view = replace(view, kl=p.view.kl, js=p.view.js, coverage=p.view.coverage)
                p.view, p.shown = view, None
            if p.shown != (p.view.step, layers):
                p.shown = (p.view.step, layers)
                fig = plane_figure(p.view, layers, title=_title(p), as_dict=True)
                # a bare value while the panel shows: an update with visible=True makes Gradio
                # rebuild the component's config every frame (py-spy: a third of the server's work)
                plots.append(live_value(fig) if p.visible else gr.update(value=live_value(fig), visible=True))
                shown_now.append(p)
            else:
                plots.append(skip)
            visible.append((p, st))
        for p, st in visible:             # the status read above: one round trip per panel and tick
            line = stats_markdown(p.name, view_stats(p.view), st["steps_per_s"] if st["state"] == "running" else 0)
            failed = f" ⚠️ {st['error']} Press 'New run' to start another." if st["state"] == "error" else ""
            texts.append(f"{line} · *{st['state']}*{failed}")
        play.shown_panels = len(play.panels)
        now = time.monotonic()
        running = any(st["state"] == "running" for _, st in visible)
        stats = "\n\n".join(texts)
        if stats == play.stats_text or (running and now - play.stats_at < STATS_SECONDS):
            stats = skip
        else:
            play.stats_text, play.stats_at = stats, now
        total = sum(len(p.rows) + len(p.divergence) for p in play.panels)
        charts = skip
        if total != play.charts_rows and now - play.charts_at >= CHARTS_SECONDS:
            play.charts_rows, play.charts_at = total, now
            charts = live_value(playground_charts({p.name or "run": p.rows for p in play.panels},
                                                  {p.name or "run": p.divergence for p in play.panels}))
        for p in shown_now:                # only now: a tick that fails midway delivers nothing
            p.visible = True
        return tuple(plots) + (stats, charts)

    def close(self, key: str) -> None:
        s = self.sessions.peek(key)
        if s is not None and s.play is not None:
            self._stop(s.play)
            s.play = None


def _released(e) -> bool:
    """A run that ended without failing: stopped by the idle timeout or its browser; its folder can continue."""
    return (getattr(e, "ended", False) or e.state == "stopped") and e.state != "error"


def _skipped(update: Any) -> bool:
    return isinstance(update, dict) and update.get("__type__") == "update" and len(update) == 1


def _title(p: Panel) -> str:
    return f"{p.name + ' · ' if p.name else ''}step {p.view.step:,}"


def _lr(v: Any, label: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise GanlabError(f"{label} must be a number.") from None
    if not 0 < x <= 1:
        raise GanlabError(f"{label} must be above 0 and at most 1 (got {x:g}).")
    return x


def _same_model(ckpt, cfg: RunConfig) -> bool:
    from ..checkpoint import read_config
    from ..nets import MODELS
    want = copy.deepcopy(cfg.model)
    MODELS.get(want.name)(want, (2,))                 # fills the family's defaults (width, z_dim)
    try:
        theirs = read_config(ckpt)
    except GanlabError:
        return False
    return theirs.model == want and theirs.train.optimizer == cfg.train.optimizer


def _ink(sketch: Any) -> np.ndarray:
    """How much ink each pixel of a gr.Sketchpad value holds, [H, W] floats in [0, 1]."""
    if sketch is None:
        raise GanlabError("The canvas is empty: draw some strokes or click some points first.")
    layers = sketch.get("layers") if isinstance(sketch, dict) else None
    img = None
    if layers:
        drawn = [np.asarray(x) for x in layers if x is not None]
        if drawn and drawn[0].ndim == 3 and drawn[0].shape[2] == 4:
            return np.max(np.stack([d[..., 3] for d in drawn]), axis=0).astype(np.float32) / 255.0
    img = sketch.get("composite") if isinstance(sketch, dict) else sketch
    if img is None:
        raise GanlabError("The canvas is empty: draw some strokes or click some points first.")
    a = np.asarray(img).astype(np.float32)
    if a.ndim == 3 and a.shape[2] == 4:
        return a[..., 3] / 255.0 * (1 - a[..., :3].mean(2) / 255.0)
    if a.ndim == 3:
        a = a.mean(2)
    return 1 - a / 255.0


__all__ = ["PlaygroundHandlers", "Playground", "Panel", "MAX_PANELS", "TOY_SETS", "DRAWING",
           "ALL_LAYERS", "DEFAULT_SETTINGS", "LIVE_DEFAULTS"]
