"""What the Train tab's buttons do: thin calls into the engine, one per browser session.

    h = TrainHandlers(Sessions())
    h.build(form_values, key)        # make the run (a new Engine); h.launch(key) starts it
    h.pause(key); h.step(key); h.resume(key); h.stop(key)
    status, curves, points, grid, health, classes = h.tick(key)     # the gr.Timer poll

Every handler takes the caller's ``request.session_hash`` as ``key`` and returns
plain values for the outputs; a user's mistake (GanlabError) or a bug becomes a
message, never an exception, so one browser's error cannot take the server down.
"""
from __future__ import annotations

import functools
import logging
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import gradio as gr

from ..config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ..data import DATASETS
from ..engine import Engine
from ..errors import GanlabError
from ..metrics.health import health_markdown
from ..viz import samples_image
from .plots import classes_figure, curves_figure, points_figure, status_markdown
from .sessions import Session, Sessions

log = logging.getLogger(__name__)

# The form, in the order the tab passes it; POINT_DEFAULTS give a live demo in seconds.
FORM_FIELDS = ["dataset", "custom", "label", "factorised", "model", "loss", "steps", "batch_size", "lr_g", "lr_d",
               "n_critic", "spectral_norm", "label_smoothing", "instance_noise", "ema", "seed", "resolution", "device",
               "eval_every", "eval_n"]
# Image sets get a background FID estimate: 500 images cost about a minute of one CPU core
# (Inception at 299 px), nothing much on a GPU.
POINT_DEFAULTS = dict(model="mlp", lr_g=1e-3, lr_d=1e-3, eval_every=0)
IMAGE_DEFAULTS = dict(model="dcgan", lr_g=2e-4, lr_d=2e-4, eval_every=2000)
DEFAULT_FORM = dict(dataset="ring", custom="", label="", factorised=False, model="mlp", loss="ns", steps=5000,
                    batch_size=128, lr_g=1e-3, lr_d=1e-3, n_critic=1, spectral_norm=False, label_smoothing=0.0,
                    instance_noise=0.0, ema=0.0, seed=0, resolution=None, device="auto", eval_every=0, eval_n=500)
POINT_SAMPLES, IMAGE_SAMPLES = 512, 64      # fixed-noise samples: a dense scatter, or an 8x8 grid
REAL_POINTS = 400                           # grey real points under the scatter


def is_point_set(name: str) -> bool:
    """True for the 2-D toys (registered in ganlab.data.toys); image sets get DCGAN defaults."""
    key = name.strip().partition(":")[0] + (":" if ":" in name else "")
    return key in DATASETS and DATASETS.get(key).__module__.endswith(".toys")


def dataset_name(values: Dict[str, Any]) -> str:
    """The typed name wins over the dropdown, so ``folder:PATH`` needs no dropdown entry."""
    return (values.get("custom") or "").strip() or (values.get("dataset") or "")


def _need(values: Dict[str, Any], key: str, label: str, kind=float):
    v = values.get(key)
    if v is None or v == "":
        raise GanlabError(f"Fill in {label} before pressing Start.")
    return kind(v)


def config_from_form(values: Dict[str, Any]) -> RunConfig:
    """The form's values as a RunConfig; validation happens in the engine."""
    name = dataset_name(values)
    res = values.get("resolution")
    return RunConfig(
        data=DataConfig(name=name, resolution=int(res) if res else None,
                        label=(values.get("label") or "").strip() or None),
        model=ModelConfig(name=values.get("model") or "mlp", spectral_norm=bool(values.get("spectral_norm")),
                          factorised=bool(values.get("factorised"))),
        train=TrainConfig(
            loss=values.get("loss") or "ns", steps=_need(values, "steps", "the number of steps", int),
            batch_size=_need(values, "batch_size", "the batch size", int),
            lr_g=_need(values, "lr_g", "lr G"), lr_d=_need(values, "lr_d", "lr D"),
            n_critic=_need(values, "n_critic", "n_critic", int),
            label_smoothing=float(values.get("label_smoothing") or 0.0),
            instance_noise=float(values.get("instance_noise") or 0.0), ema=float(values.get("ema") or 0.0),
            seed=int(values.get("seed") or 0), device=values.get("device") or "auto",
            eval_every=int(values.get("eval_every") or 0), eval_n=int(values.get("eval_n") or 500),
            n_samples=POINT_SAMPLES if is_point_set(name) else IMAGE_SAMPLES))


def guarded(n_outputs: int) -> Callable:
    """Turn GanlabError (and any bug) into a message in the first output plus a toast."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except GanlabError as e:
                sentence = str(e)
            except Exception as e:                          # a bug: keep the server up, say what happened
                log.exception("UI handler %s failed", fn.__name__)
                sentence = f"Something went wrong: {type(e).__name__}: {e}"
            gr.Warning(sentence)
            if n_outputs == 1:                              # one output: Gradio wants the bare value
                return f"⚠️ {sentence}"
            return (f"⚠️ {sentence}",) + tuple(gr.skip() for _ in range(n_outputs - 1))
        return run
    return wrap


class TrainHandlers:
    def __init__(self, sessions: Sessions):
        self.sessions = sessions

    def _engine(self, key: str) -> Engine:
        s = self.sessions.peek(key)
        if s is None or s.engine is None:
            raise GanlabError("There is no run yet; press Start (or open a run folder) first.")
        return s.engine

    def _status(self, key: str) -> Any:
        s = self.sessions.peek(key)
        if s is None or s.engine is None:
            return gr.skip()
        s.status_text = status_markdown(s.engine.status(), _data_note(s.engine.data_info()))
        return s.status_text

    # ---- the form ---------------------------------------------------------------
    @staticmethod
    def dataset_defaults(name: str) -> tuple:
        """Picking a dataset: clear the typed name, suggest a model and learning rates."""
        d = POINT_DEFAULTS if is_point_set(name) else IMAGE_DEFAULTS
        return "", d["model"], d["lr_g"], d["lr_d"], d["eval_every"]

    @staticmethod
    def custom_defaults(name: str) -> tuple:
        """Typing a name: suggest a model and learning rates, or change nothing if blank."""
        if not (name or "").strip():
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        d = POINT_DEFAULTS if is_point_set(name) else IMAGE_DEFAULTS
        return d["model"], d["lr_g"], d["lr_d"], d["eval_every"]

    @guarded(6)
    def upload(self, files: Optional[Sequence[str]], key: str) -> tuple:
        """Save uploaded images (or one .zip) into a folder of this session; name it ``folder:PATH``."""
        files = [Path(f) for f in (files or [])]
        if not files:
            return "", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        dest = self.sessions.upload_dir(key)
        if len(files) == 1 and files[0].suffix.lower() == ".zip":
            target = dest / "images.zip"
            shutil.copyfile(files[0], target)
        else:
            for i, f in enumerate(files):
                shutil.copyfile(f, dest / f"{i:05d}-{f.name}")
            target = dest
        msg = f"Saved {len(files)} file(s); press Start to train on them (unreadable files are skipped)."
        d = IMAGE_DEFAULTS
        return msg, f"folder:{target.resolve()}", d["model"], d["lr_g"], d["lr_d"], d["eval_every"]

    # ---- run control --------------------------------------------------------------
    @guarded(2)
    def build(self, values: Dict[str, Any], key: str) -> tuple:
        """Make a new run from the form; the session's old run is stopped once this one exists."""
        cfg = config_from_form(values).validate()           # cheap mistakes first,
        self.sessions.check_capacity(key)                   # then the cap, before loading any data
        data = self.sessions.data.get(cfg.data, seed=cfg.train.seed)
        engine = Engine.new(cfg, self.sessions.new_run_dir(key, cfg.data.name), data=data,
                            evaluator=self.sessions.evaluator)
        s = self.sessions.set_engine(key, engine)
        s.launch = True
        return f"New run in `{engine.run.path}`.", self._status(key)

    @guarded(2)
    def launch(self, key: str) -> tuple:
        """Start the run that build() made; the tab runs this one session at a time (the cap)."""
        s = self.sessions.peek(key)
        if s is None or not s.launch or s.engine is None:
            return gr.skip(), gr.skip()
        s.launch = False
        self.sessions.check_capacity(key)
        s.engine.start()
        return "Training started: the curves and samples update every second.", self._status(key)

    @guarded(2)
    def pause(self, key: str) -> tuple:
        e = self._engine(key)
        if e.state != "running":
            return f"Nothing to pause: the run is {e.state}.", self._status(key)
        e.pause()
        return f"Paused at step {e.status()['step']:,}.", self._status(key)

    @guarded(2)
    def resume(self, key: str) -> tuple:
        e = self._engine(key)
        state = e.state
        if state == "running":
            return "The run is already training.", self._status(key)
        if state == "finished":
            raise GanlabError(f"This run reached its {e.status()['steps']:,} steps; to train longer, "
                              "open its folder below with a larger 'train until' step.")
        if state == "error":
            raise GanlabError(e.status()["error"])
        self.sessions.check_capacity(key)
        if state == "stopped":                              # continue from the final checkpoint
            e = Engine.open(e.run.path, evaluator=self.sessions.evaluator)
            self.sessions.set_engine(key, e)
        e.start()
        return f"Training from step {e.status()['step']:,}.", self._status(key)

    @guarded(2)
    def step(self, key: str) -> tuple:
        """Exactly one training step (pausing first if the run is training), and its metrics."""
        e = self._engine(key)
        if e.state == "running":
            e.pause()
        m = e.step_once()
        return (f"Step {m['step']:,}: D loss {m['loss_d']:.4f} · G loss {m['loss_g']:.4f} · "
                f"D(x) {m['d_real']:.3f} · D(G(z)) {m['d_fake']:.3f} · "
                f"|∇D| {m['grad_norm_d']:.3g} · |∇G| {m['grad_norm_g']:.3g}"), self._status(key)

    @guarded(2)
    def stop(self, key: str) -> tuple:
        e = self._engine(key)
        e.stop()
        st = e.status()
        return (f"Stopped at step {st['step']:,}; checkpoint in `{st['checkpoint']}`. "
                "Resume continues from it."), self._status(key)

    @guarded(2)
    def apply(self, lr_g: Optional[float], lr_d: Optional[float], n_critic: Optional[int], key: str) -> tuple:
        """Change the live knobs; the engine applies them before its next step."""
        e = self._engine(key)
        e.set_lr(lr_g=lr_g, lr_d=lr_d)
        if n_critic is not None:
            e.set_n_critic(int(n_critic))
        st = e.status()
        return (f"Applied at step {st['step']:,}: lr G {st['lr_g']:.2g}, lr D {st['lr_d']:.2g}, "
                f"n_critic {st['n_critic']}."), self._status(key)

    @guarded(3)
    def save_checkpoint(self, key: str) -> tuple:
        """Save (unless the run has ended and already has a final one) and zip it for download."""
        e = self._engine(key)
        st = e.status()
        ckpt = Path(st["checkpoint"]) if e.state in ("stopped", "error") and st["checkpoint"] else e.save_checkpoint()
        base = self.sessions.scratch_dir(key) / f"{e.run.path.name}-{ckpt.name}"
        archive = shutil.make_archive(str(base), "zip", root_dir=ckpt.parent, base_dir=ckpt.name)
        return f"Checkpoint saved in `{ckpt}`; the .zip is ready below.", self._status(key), archive

    @guarded(3)
    def gif(self, key: str) -> tuple:
        e = self._engine(key)
        src = e.make_gif()
        out = self.sessions.scratch_dir(key) / f"{e.run.path.name}-step{e.status()['step']}.gif"
        shutil.copyfile(src, out)
        return "The GIF of the sample grids over training is ready below.", self._status(key), str(out)

    @guarded(5)
    def open_run(self, path: str, until: Optional[int], key: str) -> tuple:
        """Continue a run folder (from the CLI or an earlier session) from its last checkpoint."""
        path = (path or "").strip()
        if not path:
            raise GanlabError("Type the path of a run folder (the one holding config.json) first.")
        if until is not None and until < 0:
            raise GanlabError(f"The number of steps cannot be negative (got {until}).")
        owner = self.sessions.owner_of(path)
        if owner is not None and owner != (key or "local"):
            raise GanlabError("Another browser has that run open right now; open a different folder.")
        if owner is not None:                               # our own run: stop it before reading its folder
            self.sessions.set_engine(key, None)
        e = Engine.open(path, steps=int(until) if until else None, evaluator=self.sessions.evaluator)
        s = self.sessions.set_engine(key, e)
        st = e.status()
        s.launch = st["step"] < st["steps"]                 # launch() checks the cap
        msg = (f"Opened `{e.run.path}` at step {st['step']:,}; training on to {st['steps']:,}." if s.launch else
               f"Opened `{e.run.path}`: it already reached its {st['steps']:,} steps; "
               "set a larger 'train until' and open it again to continue.")
        return msg, self._status(key), st["lr_g"], st["lr_d"], st["n_critic"]

    def close(self, key: str) -> None:
        """demo.unload: the browser tab closed; stop its run and forget it."""
        try:
            self.sessions.close(key)
        except Exception:                                   # never let cleanup errors escape
            log.exception("closing session failed")

    # ---- polling ------------------------------------------------------------------
    def tick(self, key: str) -> tuple:
        """The timer: new curve rows, a new sample picture if its step changed, the status line."""
        skip = gr.skip()
        s = self.sessions.peek(key)
        if s is None or s.engine is None:
            return (skip,) * 6
        try:
            return self._tick(s)
        except Exception:                                   # a poll must never raise; the next one retries
            log.exception("tick failed")
            return (skip,) * 6

    def _tick(self, s: Session) -> tuple:
        e, skip = s.engine, gr.skip()
        rows, s.cursor = e.metrics_since(s.cursor)
        s.rows.extend(rows)
        info = e.status()
        curves = skip
        if rows or s.redraw:
            curves, s.redraw = curves_figure(s.rows, probability=info["probability"]), False
        text = status_markdown(info, _data_note(e.data_info()))
        status, s.status_text = (skip if text == s.status_text else text), text
        points = grid = skip
        step, x = e.latest_samples()
        if x is not None and step != s.shown_step:
            s.shown_step = step
            if e.data_info()["is_image"]:
                picture = samples_image(x, nrow=e.trainer.sample_nrow)
                grid, points = gr.update(value=picture, visible=True), gr.update(visible=False)
            else:
                if s.real is None:
                    s.real = e.real_points(REAL_POINTS)
                points, grid = gr.update(value=points_figure(x, s.real, step), visible=True), gr.update(visible=False)
        return (status, curves, points, grid) + self._quality(s, rows)

    @staticmethod
    def _quality(s: Session, rows: List[Dict]) -> tuple:
        """The health findings (when they change) and the class histogram (when a new one arrives)."""
        health = health_markdown(s.engine.health())
        out_health = gr.skip() if health == s.health_text else health
        s.health_text = health
        hists = [r for r in rows if "class_hist" in r]
        classes = gr.skip()
        if hists:
            latest = max(hists, key=lambda r: r["step"])
            classes = gr.update(value=classes_figure(latest["class_hist"], latest["step"]), visible=True)
        elif s.redraw_classes:
            classes = gr.update(visible=False)
        s.redraw_classes = False
        return out_health, classes


def _data_note(info: Dict[str, Any]) -> str:
    note = info["note"]
    if info["skipped"] and "skipped" not in note:
        note += f" · skipped {info['skipped']:,} unreadable file(s)"
    return f"{note} · {info['items']:,} items"


def form_values(values: List[Any]) -> Dict[str, Any]:
    return dict(zip(FORM_FIELDS, values))
