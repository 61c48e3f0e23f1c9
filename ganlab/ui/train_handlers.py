"""What the Train tab's buttons do: thin calls into the engine and the scheduler, one per browser session.

    h = TrainHandlers(Sessions())
    h.start(form_values, key)        # check the form, the dataset rule and the memory estimate; join the line
    h.pause(key); h.step(key); h.resume(key); h.stop(key)
    h.open_run(ref, until, key)      # your run: continue it; anyone else's (or a shipped model): read-only
    h.fork(ref, form_values, key)    # a copy of it as a new run of your own, with the form's settings
    status, curves, points, grid, health, classes, *broadcast = h.tick(key)   # the gr.Timer poll

Every handler takes the caller's ``request.session_hash`` as ``key`` and returns
plain values for the outputs; a user's mistake (GanlabError) or a bug becomes a
message, never an exception, so one browser's error cannot take the server down.
Runs train in child processes (``Sessions.processes``) or on threads, and start
when the scheduler gives them a slot; a page shows its place in line until then.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import gradio as gr

from ..checkpoint import checkpoint_step
from ..config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ..data import DATASETS
from ..data.pairs import FAMILY as PAIR_FAMILY
from ..engine import Engine, Job, later
from ..engine.remote import RemoteEngine
from ..engine.scheduler import stop_engines  # a finished run's process exits; its checkpoint is saved
from ..errors import GanlabError
from ..translate.trainer import TASKS
from .common import guarded, keyed, minutes, ordinal  # noqa: F401  (guarded and keyed: re-exported for tabs)
from .plots import status_markdown
from .runview import DiskRun, LiveRun
from .sessions import Session, Sessions, TrainView
from .train_view import render

log = logging.getLogger(__name__)

# The form, in the order the tab passes it; POINT_DEFAULTS give a live demo in seconds.
FORM_FIELDS = ["dataset", "custom", "label", "factorised", "model", "loss", "steps", "batch_size", "lr_g", "lr_d",
               "n_critic", "spectral_norm", "label_smoothing", "instance_noise", "ema", "seed", "resolution", "device",
               "eval_every", "eval_n", "minutes"]
# Image sets get a background FID estimate: 500 images cost about a minute of one CPU core
# (Inception at 299 px), nothing much on a GPU.
POINT_DEFAULTS = dict(model="mlp", lr_g=1e-3, lr_d=1e-3, eval_every=0)
IMAGE_DEFAULTS = dict(model="dcgan", lr_g=2e-4, lr_d=2e-4, eval_every=2000)
DEFAULT_FORM = dict(dataset="ring", custom="", label="", factorised=False, model="mlp", loss="ns", steps=5000,
                    batch_size=128, lr_g=1e-3, lr_d=1e-3, n_critic=1, spectral_norm=False, label_smoothing=0.0,
                    instance_noise=0.0, ema=0.0, seed=0, resolution=None, device="auto", eval_every=0, eval_n=500,
                    minutes=0)
# Families whose good settings differ from the form's defaults: picking one in the form fills in its preset's
# rates, EMA and batch, and a run started from the form takes the preset's settings the form has no field for.
FAMILY_PRESETS = {"stylegan": "emoji-stylegan", "progan": "emoji-progan", "pix2pix": "edges2emoji-pix2pix",
                  "cyclegan": "sneaker2boot-cyclegan", "srgan": "sr-emoji", "inpaint": "inpaint-emoji"}
HIDDEN_TRAIN = ("beta1", "beta2", "r1", "r1_every", "augment", "style_mixing", "recon", "adversarial", "identity",
                "mask")
HIDDEN_MODEL = ("width", "z_dim", "mapping_depth", "grow_every", "sr_scale", "d_norm")
POINT_SAMPLES, IMAGE_SAMPLES = 512, 64      # fixed-noise samples: a dense scatter, or an 8x8 grid
START_WAIT = 30.0                           # a start waits this long for its run (data loaded, nets built)
POLL_FAST, POLL_SLOW = 1.0, 3.0             # the Train tab's poll: while a run trains, and while none does
UNSHARED = "Its owner stopped sharing that run, so it is closed here; pick another under Your runs."
RELOAD_SECONDS = 30.0     # a new page of the same browser this recent is the reload of a page closing now
NO_RUN = "There is no run yet; press Start (or open one of your runs) first."


def is_point_set(name: str) -> bool:
    """True for the 2-D toys (registered in ganlab.data.toys); image sets get DCGAN defaults."""
    key = name.strip().partition(":")[0] + (":" if ":" in name else "")
    return key in DATASETS and DATASETS.get(key).__module__.endswith(".toys")


def dataset_name(values: Dict[str, Any]) -> str:
    """The typed name wins over the dropdown, so ``upload:NAME`` needs no dropdown entry."""
    return (values.get("custom") or "").strip() or (values.get("dataset") or "")


def _need(values: Dict[str, Any], key: str, label: str, kind=float):
    v = values.get(key)
    if v is None or v == "":
        raise GanlabError(f"Fill in {label} before pressing Start.")
    return kind(v)


def family_preset(model: str, dataset: str = "") -> Optional[RunConfig]:
    """The recipe behind the form's hidden settings: the dataset's own (fashion-mnist: the recipe that wins at
    1 to 5 CPU-minutes) when it is for this model, else the family's preset (stylegan, pix2pix ...)."""
    from ..presets import dataset_recipe, preset
    recipe = dataset_recipe(dataset, model) if dataset else None
    if recipe is not None:
        return recipe
    return preset(FAMILY_PRESETS[model]) if model in FAMILY_PRESETS else None


def config_from_form(values: Dict[str, Any]) -> RunConfig:
    """The form's values as a RunConfig (with a family preset's hidden settings); validated in the engine."""
    cfg = _form_config(values)
    base = family_preset(cfg.model.name, cfg.data.name)
    if base is not None:
        for k in HIDDEN_TRAIN:
            setattr(cfg.train, k, getattr(base.train, k))
        for k in HIDDEN_MODEL:
            setattr(cfg.model, k, getattr(base.model, k))
    if cfg.model.name in TASKS:                  # image-to-image runs are scored by bench/image_to_image.py
        cfg.train.eval_every = 0
    return cfg


def _form_config(values: Dict[str, Any]) -> RunConfig:
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
            minutes=float(values.get("minutes") or 0),
            n_samples=POINT_SAMPLES if is_point_set(name) else IMAGE_SAMPLES))


class TrainHandlers:
    def __init__(self, sessions: Sessions):
        self.sessions = sessions
        sessions.on_close.append(self._closed)
        sessions.on_open.append(self._welcome_back)

    # ---- helpers -------------------------------------------------------------------------------------
    def _view(self, key: str) -> TrainView:
        s = self.sessions.peek(key)
        if s is None or s.train is None:
            raise GanlabError(NO_RUN)
        if self._revoked(s):
            s.train = None
            raise GanlabError(UNSHARED)
        return s.train

    def _revoked(self, s: Session) -> bool:
        """Someone else's run this page watches, whose owner has since stopped sharing it."""
        v = s.train
        if v is None or v.mine or v.path is None:
            return False
        try:
            return not self.sessions.access.can_read(v.path, s.who)
        except OSError:
            return True

    def _own(self, key: str) -> TrainView:
        v = self._view(key)
        if not v.mine:
            raise GanlabError("This run is not yours, so it is read-only here; press Fork to train a copy of "
                              "your own.")
        return v

    def _live(self, key: str):
        """This browser's engine, if its run trains (or is paused) right now."""
        e = self._own(key).engine
        return e if e is not None and not _ended(e) else None

    def _status(self, key: str) -> Any:
        s = self.sessions.peek(key)
        if s is None or s.train is None:
            return gr.skip()
        from .train_view import status_text
        s.train.status_text = status_text(self.sessions, s.train)
        return s.train.status_text

    # ---- the form ---------------------------------------------------------------------------------------
    @staticmethod
    def dataset_defaults(name: str) -> tuple:
        """Picking a dataset: clear the typed name, suggest a model and learning rates."""
        if name in PAIR_FAMILY:                  # an image-to-image set: the family made for it, with its rates
            t = family_preset(PAIR_FAMILY[name]).train
            return "", PAIR_FAMILY[name], t.lr_g, t.lr_d, 0
        from ..presets import dataset_recipe
        recipe = dataset_recipe(name)
        if recipe is not None:                   # a set with a recipe of its own: that recipe's model and rates
            return "", recipe.model.name, recipe.train.lr_g, recipe.train.lr_d, IMAGE_DEFAULTS["eval_every"]
        d = POINT_DEFAULTS if is_point_set(name) else IMAGE_DEFAULTS
        return "", d["model"], d["lr_g"], d["lr_d"], d["eval_every"]

    @staticmethod
    def model_defaults(model: str, dataset: str = "") -> tuple:
        """Picking a family with a preset (or the dataset's recipe): its learning rates, EMA, batch size and loss
        (else nothing changes)."""
        base = family_preset(model, dataset or "")
        if base is None:
            return (gr.skip(),) * 5
        t = base.train
        return t.lr_g, t.lr_d, t.ema, t.batch_size, t.loss

    def placeholder(self, dataset: str, model: str, key: str) -> tuple:
        """Before any run: the status line says what Start will train, and the 2-D plot shows only for 2-D sets."""
        s = self.sessions.peek(key)
        if s is not None and s.train is not None:
            return gr.skip(), gr.skip()
        shown = self.sessions.access.display_dataset(dataset or "")
        return (f"Press **Start** to train {model or 'the GAN'} on {shown}.",
                gr.update(visible=is_point_set(dataset or "ring")))

    @staticmethod
    def custom_defaults(name: str) -> tuple:
        """Typing a name: suggest a model and learning rates, or change nothing if blank."""
        if not (name or "").strip():
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        d = POINT_DEFAULTS if is_point_set(name) else IMAGE_DEFAULTS
        return d["model"], d["lr_g"], d["lr_d"], d["eval_every"]

    @guarded(6)
    def upload(self, files: Optional[Sequence[str]], key: str) -> tuple:
        """Keep uploaded images (or one .zip) as an upload of this user, within the quotas; name it ``upload:NAME``."""
        from .uploads import save_upload
        name, count = save_upload(self.sessions, self.sessions.who(key), files)
        if name is None:
            return "", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        d = IMAGE_DEFAULTS
        msg = f"Saved {count} file(s) as `upload:{name}`; press Start to train on them (unreadable files are skipped)."
        return msg, f"upload:{name}", d["model"], d["lr_g"], d["lr_d"], d["eval_every"]

    @guarded(1)
    def remove_uploads(self, key: str) -> str:
        who = self.sessions.who(key)
        mine = self.sessions.access.uploads(who)
        if not mine:
            return "You have no uploads."
        freed = sum(self.sessions.access.remove_upload(u["name"], who) for u in mine)
        return f"Deleted your {len(mine)} upload(s) ({freed / 2**20:.1f} MB)."

    # ---- run control ------------------------------------------------------------------------------------
    @guarded(2)
    def start(self, values: Dict[str, Any], key: str) -> tuple:
        """A new run from the form: checked (values, dataset rule, memory), then in line for a training slot."""
        who = self.sessions.who(key)
        cfg = config_from_form(values)
        cfg.data.name = self.sessions.access.dataset(cfg.data.name, who)    # before anything is read
        cfg.validate()
        self._check_share(key, cfg)
        est = self._fits(cfg)
        if cfg.train.batch_size > est.items and not cfg.data.name.startswith("folder:"):   # a folder's count is
            # only an upper bound (unreadable files count); loading it says what is wrong with its images
            raise GanlabError(f"The batch size {cfg.train.batch_size} is larger than the dataset ({est.items:,} "
                              f"items); use at most {est.items:,}.")
        self._replace(key)
        view = TrainView(mine=True, label=self._label(who, cfg))

        def make(place) -> list:
            # a worker that could not take it sends it back to the line: its next place reuses the folder
            path = view.path or self.sessions.access.new_run_dir(who, cfg.data.name)
            view.path = path
            return [self._make_engine(cfg, path, est, place=place)]
        self._queue(key, view, make, est, cfg)
        return self._started(key, view, "Training started: the curves and samples update every second."), \
            self._status(key)

    def _check_share(self, key: str, cfg: Optional[RunConfig]) -> None:
        """A shared server's fairness rules: a run's length, and one student's slots (per identity and per
        client address, so fresh sessions from one browser count as the same student)."""
        opts = self.sessions.options
        if cfg is not None and cfg.train.steps > opts.max_steps:
            raise GanlabError(f"{cfg.train.steps:,} steps is longer than this server trains one run "
                              f"({opts.max_steps:,}); ask for fewer steps.")
        if opts.personal:
            return
        used = self.sessions.access.run_bytes(self.sessions.who(key))
        if opts.run_quota and used >= opts.run_quota:
            raise GanlabError(f"Your runs take {used / 2**20:,.0f} MB, this server's quota per student "
                              f"({opts.run_quota / 2**20:,.0f} MB), so no new run can start; ask the teacher or the server's "
                              "owner to clear old ones.")
        cap = opts.max_runs_per_student
        if not cap:
            return
        mine = self.sessions.get(key)
        # without accounts a fresh session is a fresh identity, so the client address counts too (behind a
        # proxy every page has one address: give such a class accounts with --auth, or lift the cap with 0)
        by_address = mine.who.owner.startswith("browser:") and mine.address
        held = [s for s in self.sessions.everyone()
                if s.key != key and s.train is not None and s.train.mine and s.train.ticket is not None
                and s.train.ticket.live
                and (s.who.owner == mine.who.owner or (by_address and s.address == mine.address))]
        if len(held) >= cap:
            raise GanlabError(f"You already have {len(held)} run(s) training or in line, this server's limit per "
                              f"student ({cap}); stop one (in its own tab) before starting another.")

    def _started(self, key: str, view: TrainView, said: str) -> str:
        """Wait a moment for the run to start (a free slot: a second or two), so a mistake that only loading
        the data or building the nets finds is said here; a run that waits in line says where it is."""
        t = view.ticket
        if t.state != "waiting":                          # it has a slot: its start takes a moment
            t.ready.wait(START_WAIT)
        if t.state == "failed":
            s = self.sessions.get(key)
            if s.train is view:
                s.train = None
            raise GanlabError(self.sessions.access.scrub(t.error))
        if t.state == "waiting":
            return self._queued_message(view)
        return said if t.state == "active" else "Starting: the curves and samples appear in a moment."

    def _fits(self, cfg: RunConfig):
        """The memory estimate: GanlabError (naming a batch or resolution that fits) when it cannot fit alone."""
        from ..budget import check_fits
        return check_fits(cfg, self.sessions.budget)

    def _label(self, who, cfg: RunConfig) -> str:
        data = self.sessions.access.display_dataset(cfg.data.name)
        return f"{who.label} · {data} · {cfg.model.name}"

    def _make_engine(self, cfg: RunConfig, path: Path, est, init=None, init_generator_only: bool = False,
                     place=None):
        """Build and start the run's engine (on the scheduler's thread, when its turn comes), on ``place``:
        a GPU worker (which loads its own data), or this machine."""
        s = self.sessions
        secs = s.options.checkpoint_minutes * 60
        if place is not None and place.remote:
            e = RemoteEngine.new(cfg, path, init=init, init_generator_only=init_generator_only,
                                 checkpoint_seconds=secs, worker=place)
            e.start()
            return e
        data = s.data.get(cfg.data, seed=cfg.train.seed)
        if s.processes:
            data.share_memory_()                           # the child maps the same pages: one copy for all
            e = RemoteEngine.new(cfg, path, data=data, init=init, init_generator_only=init_generator_only,
                                 threads=self._threads(cfg), nice=s.options.train_nice, checkpoint_seconds=secs,
                                 cpus=s.options.train_cpus)
        else:
            e = Engine.new(cfg, path, data=data, init=init, init_generator_only=init_generator_only,
                           evaluator=s.evaluator, checkpoint_seconds=secs)
        e.start()
        return e

    def _open_engine(self, path: Path, steps: Optional[int], start: bool = True, place=None):
        s = self.sessions
        secs = s.options.checkpoint_minutes * 60
        if place is not None and place.remote:
            e = RemoteEngine.open(path, steps=steps, checkpoint_seconds=secs, worker=place)
        elif s.processes:
            from ..checkpoint import read_config
            cfg = read_config(path)
            data = s.data.get(cfg.data, seed=cfg.train.seed)       # shared with the other runs on this set
            data.share_memory_()
            e = RemoteEngine.open(path, steps=steps, threads=self._threads(cfg), data=data,
                                  nice=s.options.train_nice, checkpoint_seconds=secs, cpus=s.options.train_cpus)
        else:
            e = Engine.open(path, steps=steps, evaluator=s.evaluator, checkpoint_seconds=secs)
        if start:
            e.start()
        return e

    def _threads(self, cfg: RunConfig) -> int:
        """torch threads for a new run's process: one for 2-D sets (a second thread only adds overhead to
        tiny nets: 291 against 134 steps/s on the ring), else the cores (--train-cpus, or all) shared by the
        runs training now."""
        import os
        if is_point_set(cfg.data.name):
            return 1
        cores = len(self.sessions.options.train_cpus) or os.cpu_count() or 1
        return max(1, cores // max(1, self.sessions.scheduler.busy()))

    def _queue(self, key: str, view: TrainView, make, est, cfg: Optional[RunConfig]) -> None:
        from ..data.cache import DataCache
        s = self.sessions.get(key)
        data_key = DataCache.key(cfg.data, cfg.train.seed) if cfg is not None else None
        job = Job(owner=key, label=view.label, start_on=make, memory=est.total - est.data if est else 0,
                  data_key=data_key, data_bytes=est.data if est else 0,
                  on_idle=_release_idle, on_end=self._ended, eta=lambda: _eta(view))
        view.ticket = self.sessions.scheduler.request(job)
        s.train = view

    def _ended(self, ticket) -> None:
        """A run's job ended: stop its engines, and let go of loaded sets no other run trains on."""
        stop_engines(ticket)
        self.sessions.data.keep_only({t.job.data_key for t in self.sessions.scheduler.tickets()
                                      if t.job.data_key is not None})

    def _queued_message(self, view: TrainView) -> str:
        place, eta = self.sessions.scheduler.position(view.ticket)
        if place is None:
            return "Starting: the curves and samples appear in a moment."
        return (f"All {self.sessions.max_runs} training slots are busy: your run is {ordinal(place)} in line "
                f"({minutes(eta)}) and starts by itself.")

    def _replace(self, key: str) -> None:
        """Stop this browser's current run (its folder stays) before it gets a new one."""
        s = self.sessions.get(key)
        old, s.train = s.train, None
        if old is not None and old.mine:
            _end_view(self.sessions, old)

    @guarded(2)
    def pause(self, key: str) -> tuple:
        e = self._live(key)
        if e is None or e.state != "running":
            state = e.state if e is not None else _view_state(self._own(key))
            return f"Nothing to pause: the run is {state}.", self._status(key)
        e.pause()
        return (f"Paused at step {e.status()['step']:,}. After {self.sessions.options.release_minutes:g} min "
                "paused it saves a checkpoint and gives its training slot back; Resume continues it."), \
            self._status(key)

    @guarded(2)
    def resume(self, key: str) -> tuple:
        v = self._own(key)
        if v.ticket is not None and v.ticket.state == "waiting":
            return self._queued_message(v), self._status(key)
        e = self._live(key)
        if e is not None:
            if e.state == "running":
                return "The run is already training.", self._status(key)
            if e.state == "finished":
                st = e.status()
                if st["step"] < st["steps"]:          # its time budget was spent: another budget from here
                    _end_view(self.sessions, v)
                    return self._reopen(key, v, None, start=True)
                raise GanlabError(f"This run reached its {st['steps']:,} steps; to train longer, open it "
                                  "from Your runs with a larger 'train until' step.")
            e.resume()
            v.notice = ""
            self.sessions.scheduler.touch(v.ticket)
            return f"Training from step {e.status()['step']:,}.", self._status(key)
        return self._reopen(key, v, None, start=True)

    def _reopen(self, key: str, v: TrainView, until: Optional[int], start: bool) -> tuple:
        """This browser's own run, not loaded (stopped, failed, paused too long, or after a restart): back in line."""
        if v.path is None:
            raise GanlabError(NO_RUN)
        src = DiskRun(v.path)
        step, steps = src.step(), until or src.cfg.train.steps
        if start and step >= steps:
            raise GanlabError(f"This run reached its {steps:,} steps; set a larger 'train until' step and open it "
                              "again from Your runs.")
        est = self._fits(src.cfg)
        path = v.path
        view = TrainView(path=path, mine=True, label=v.label or self._label(self.sessions.who(key), src.cfg))
        self.sessions.get(key).train = None
        self._queue(key, view, lambda place: [self._open_engine(path, until, start, place)], est, src.cfg)
        what = f"Training from step {step:,}." if start else f"Loaded at step {step:,}."
        return self._started(key, view, what), self._status(key)

    @guarded(2)
    def step(self, key: str) -> tuple:
        """Exactly one training step (pausing first if the run is training), and its metrics."""
        v = self._own(key)
        e = self._live(key)
        if e is None:
            if v.ticket is not None and v.ticket.state in ("waiting", "starting"):
                return f"{self._queued_message(v)} Press Step again once it is loaded.", self._status(key)
            msg, status = self._reopen(key, v, None, start=False)
            v = self.sessions.get(key).train
            if not v.ticket.ready.wait(30) or v.engine is None:
                return f"{msg} Press Step again once it is loaded.", status
            e = v.engine
        if e.state == "running":
            e.pause()
        self.sessions.scheduler.touch(v.ticket)
        m = e.step_once()
        if m.get("rolled_back"):
            return (f"Step {m['at']:,}: {m['bad']} became {m['value']}, so the run went back to step {m['step']:,} "
                    f"and halved both learning rates (lr G {m['lr_g']:.2g}, lr D {m['lr_d']:.2g}). Nothing was "
                    "lost; press Step again."), self._status(key)
        return (f"Step {m['step']:,}: D loss {m['loss_d']:.4f} · G loss {m['loss_g']:.4f} · "
                f"D(x) {m['d_real']:.3f} · D(G(z)) {m['d_fake']:.3f} · "
                f"|∇D| {m['grad_norm_d']:.3g} · |∇G| {m['grad_norm_g']:.3g}"), self._status(key)

    @guarded(2)
    def stop(self, key: str) -> tuple:
        v = self._own(key)
        if v.ticket is not None and v.ticket.state == "waiting":
            self.sessions.scheduler.cancel(v.ticket)
            self.sessions.get(key).train = None
            return "Your run left the line; nothing was trained.", gr.skip()
        e = self._live(key)
        if e is None:
            return f"Nothing to stop: the run is {_view_state(v)}.", self._status(key)
        e.stop()
        st = e.status()
        return (f"Stopped at step {st['step']:,}; its checkpoint is saved. Resume continues from it."), \
            self._status(key)

    @guarded(2)
    def apply(self, lr_g: Optional[float], lr_d: Optional[float], n_critic: Optional[int], key: str) -> tuple:
        """Change the live knobs; the engine applies them before its next step."""
        e = self._live(key)
        if e is None:
            raise GanlabError("The run is not training now; Resume it first, then apply new rates.")
        e.set_lr(lr_g=lr_g, lr_d=lr_d)
        if n_critic is not None:
            e.set_n_critic(int(n_critic))
        st = e.status()
        return (f"Applied at step {st['step']:,}: lr G {st['lr_g']:.2g}, lr D {st['lr_d']:.2g}, "
                f"n_critic {st['n_critic']}."), self._status(key)

    @guarded(3)
    def save_checkpoint(self, key: str) -> tuple:
        """Save (own live run) or take the latest checkpoint, and zip it for download."""
        v = self._view(key)
        if not v.mine and v.path is not None:
            self._may_take_home(key, v.path)
        e = self._live(key) if v.mine else None
        ckpt = e.save_checkpoint() if e is not None else None
        if ckpt is None and v.path is not None:
            from ..checkpoint import latest_checkpoint
            ckpt = latest_checkpoint(v.path / "checkpoints")
        if ckpt is None:
            raise GanlabError("This run has no checkpoint yet; let it train a little first.")
        ckpt = Path(ckpt)
        base = self.sessions.scratch_dir(key) / f"{ckpt.parent.parent.name}-{ckpt.name}"
        archive = shutil.make_archive(str(base), "zip", root_dir=ckpt.parent, base_dir=ckpt.name)
        return f"Checkpoint of step {checkpoint_step(ckpt):,} is ready below.", self._status(key), archive

    def _may_take_home(self, key: str, path: Path) -> None:
        """A checkpoint holds G, D and the config (with where its data lay): of a run trained on someone's upload,
        only its owner may download it, as only its owner may fork it."""
        from ..checkpoint import read_config
        try:
            name = read_config(path).data.name
            self.sessions.access.dataset(name, self.sessions.who(key))
        except GanlabError:
            raise GanlabError("That run trained on images you may not use (someone's upload), so its checkpoint "
                              "stays with its owner; you can still watch it here.") from None

    @guarded(3)
    def gif(self, key: str) -> tuple:
        from ..runs import RunDir
        v = self._view(key)
        if v.path is None:
            raise GanlabError("The run has not started yet.")
        out = self.sessions.scratch_dir(key) / f"{v.path.name}.gif"
        RunDir(v.path, None).make_gif(out=out)                  # into scratch: never into someone else's folder
        return "The GIF of the sample grids over training is ready below.", self._status(key), str(out)

    # ---- runs on disk -----------------------------------------------------------------------------------
    def run_choices(self, key: str) -> List[tuple]:
        from .train_runs import run_choices
        return run_choices(self.sessions, self.sessions.who(key))

    @guarded(5)
    def open_run(self, ref: str, until: Optional[int], key: str) -> tuple:
        """Your own run: continue it (from its last checkpoint). Anyone else's, or a shipped model: a read-only view."""
        who = self.sessions.who(key)
        if until is not None and until < 0:
            raise GanlabError(f"The number of steps cannot be negative (got {until}).")
        path = self.sessions.access.run_path(ref, who)
        skip = (gr.skip(),) * 3
        if self.sessions.access.is_shipped(path):
            return self._watch(key, path, "shipped model: read-only; press Fork to train a copy of it") + skip
        if self.sessions.access.is_watched(path):
            return self._watch(key, path, "watching: a run the server publishes read-only (a cluster job's); it "
                                          "updates as the job writes") + skip
        if not self.sessions.access.can_write(path, who):
            return self._watch(key, path, "read-only: this run is not yours; press Fork to train a copy") + skip
        taken = self._take_over(key, path)
        if taken is not None:
            return taken + skip
        self._replace(key)
        view = TrainView(path=path, mine=True)
        src = DiskRun(path)
        view.label = self._label(who, src.cfg)
        self.sessions.get(key).train = view
        steps = int(until) if until else None
        t = src.cfg.train
        if src.step() >= (steps or t.steps):
            return (f"Opened `{self.sessions.access.ref(path)}`: it reached its {steps or t.steps:,} steps; set a "
                    "larger 'train until' and open it again to continue.", self._status(key)) + skip
        msg, status = self._reopen(key, view, steps, start=True)
        return (msg, status, t.lr_g, t.lr_d, t.n_critic)

    def _keep_original(self, key: str, source: str) -> None:
        """Forking the run this page trains: the original goes on training (a broadcast stays live for the
        class), unattended, and Open takes it back later."""
        s = self.sessions.get(key)
        v = s.train
        if v is None or not v.mine or v.path is None or v.ticket is None or not v.ticket.live:
            return
        if self.sessions.access.ref(v.path) != source:
            return
        self.sessions.unattended[f"forked:{v.path}"] = Session(f"forked:{v.path}", s.who, train=v)
        s.train = None

    def _take_over(self, key: str, path: Path) -> Optional[tuple]:
        """The same user has this run live in another browser (or training unattended): move it here instead
        of opening it twice."""
        me = self.sessions.get(key)
        for s in self.sessions.everyone():
            v = s.train
            if s is me or v is None or not v.mine or v.path is None or v.path.resolve() != path.resolve():
                continue
            if v.ticket is not None and v.ticket.live:
                if s.who.owner != me.who.owner:
                    raise GanlabError("That run is open in another browser right now.")
                self._replace(key)
                s.train, me.train = None, v.shown_afresh()
                if s.key in self.sessions.unattended:
                    self.sessions.unattended.pop(s.key)
                    if s.away_timer is not None:
                        s.away_timer.cancel()
                return f"Moved `{self.sessions.access.ref(path)}` here.", self._status(key)
        return None

    def _watch(self, key: str, path: Path, note: str) -> tuple:
        """Show someone else's run (or a shipped model) without being able to change it."""
        self._replace(key)
        live = live_engine(self.sessions, path)
        entry = self.sessions.access.entry(path, self.sessions.who(key))
        owner = entry.owner_label if entry is not None else ""
        src = LiveRun(live) if live is not None else DiskRun(path, self.sessions.access.ref(path), state="stopped")
        view = TrainView(path=path, mine=False, source=src, label=f"{owner}'s run" if owner else "")
        self.sessions.get(key).train = view
        return f"Opened `{self.sessions.access.ref(path)}` ({owner or 'ganlab'}): {note}.", self._status(key)

    @guarded(2)
    def fork(self, ref: str, values: Dict[str, Any], key: str) -> tuple:
        """A new run of your own from a run you may see (its latest state) or a shipped model, with the form's
        training settings (rates, loss, batch, steps); its model and data stay those of the original."""
        from .train_runs import prepare_fork
        who = self.sessions.who(key)
        plan = prepare_fork(self.sessions, who, ref, values, self.sessions.scratch_dir(key))
        self._check_share(key, plan.cfg)
        est = self._fits(plan.cfg)
        self._keep_original(key, plan.source)
        self._replace(key)
        view = TrainView(mine=True, label=self._label(who, plan.cfg))

        def make(place) -> list:
            path = view.path or plan.create_run_dir()
            view.path = path
            return [self._make_engine(plan.cfg, path, est, init=plan.init, init_generator_only=plan.generator_only,
                                      place=place)]
        self._queue(key, view, make, est, plan.cfg)
        return self._started(key, view, plan.message), self._status(key)

    @guarded(1)
    def share(self, ref: str, shared: bool, key: str) -> str:
        who = self.sessions.who(key)
        path = self.sessions.access.run_path(ref, who)
        self.sessions.access.share(path, shared, who)
        return (f"`{self.sessions.access.ref(path)}` is shared: everyone can open it read-only and fork it." if shared
                else f"`{self.sessions.access.ref(path)}` is yours alone again.")

    def _closed(self, s: Session) -> None:
        """The page closed or reloaded. A run of its own that trains or waits goes on: a reloaded page of the
        same browser takes it back (``_welcome_back``); after ``--idle-minutes`` without one it saves a
        checkpoint and pauses, and a paused run gives its slot back as any paused run does."""
        v = s.train
        if v is None or not v.mine:
            return
        live = v.ticket is not None and v.ticket.live
        grace = self.sessions.options.idle_minutes * 60
        if not live or grace <= 0 or self.sessions.closing or s.key.startswith(("away:", "forked:")):
            _end_view(self.sessions, v)
            return
        owner = s.who.owner
        # a reload's new page can be quicker than the old page's goodbye: hand the run straight over
        newer = [o for o in self.sessions.sessions() if o.key != s.key and o.who.owner == owner and o.train is None
                 and time.monotonic() - o.opened < RELOAD_SECONDS]
        if newer:
            newer[-1].train = v.shown_afresh()
            return
        self._forget_away(owner)
        stand_in = Session(f"away:{owner}", s.who, train=v, away_since=time.time() - s.silent_for)
        self.sessions.unattended[stand_in.key] = stand_in
        left = grace - s.silent_for                     # a page that fell silent has used its grace already
        if left <= 0:
            self._away_too_long(stand_in)
        else:
            stand_in.away_timer = later(left, lambda: self._away_too_long(stand_in), "away")

    def _away_too_long(self, u: Session) -> None:
        """Nobody came back within the grace period: checkpoint and pause (or leave the line); said on return."""
        v, left = u.train, time.time() - u.away_since
        t = v.ticket
        if t is not None and t.state == "waiting":
            self.sessions.scheduler.cancel(t)
            self.sessions.unattended.pop(u.key, None)
            return
        e = v.engine
        if e is None or _ended(e):
            return
        if e.state == "running":
            e.pause()
        ckpt = e.save_checkpoint()
        step = checkpoint_step(ckpt) if ckpt else e.status()["step"]
        v.notice = (f"You left the page {left / 60:.0f} min ago. The run trained on until step {step:,}, then "
                    "saved a checkpoint and paused; press Resume to go on.")

    def _forget_away(self, owner: str) -> Optional[TrainView]:
        u = self.sessions.unattended.pop(f"away:{owner}", None)
        if u is None:
            return None
        if u.away_timer is not None:
            u.away_timer.cancel()
        return u.train

    def _welcome_back(self, s: Session) -> None:
        """A page of a browser that left a run behind (a reload, or back within the grace period): show it
        exactly as before. A page that already shows a run of its own keeps it."""
        if s.train is not None:
            return
        v = self._forget_away(s.who.owner)
        if v is not None:
            s.train = v.shown_afresh()

    def close(self, key: str) -> None:
        """demo.unload: the browser tab closed; forget it (its run waits out the grace period, ``_closed``)."""
        try:
            self.sessions.close(key)
        except Exception:                                   # never let cleanup errors escape
            log.exception("closing session failed")

    # ---- polling ------------------------------------------------------------------------------------------
    def tick(self, key: str) -> tuple:
        """The timer: new curve rows, a new sample picture if its step changed, the status line; and the
        teacher's broadcast run beside it."""
        from .broadcast import broadcast_outputs
        skip = gr.skip()
        s = self.sessions.peek(key)
        own = (skip,) * 6
        try:
            if s is not None and s.train is not None and self._revoked(s):
                s.train = None                              # unshared since this page opened it: gone on this poll
                own = (f"**NO LONGER SHARED** · {UNSHARED}",) + (skip,) * 5
            elif s is not None and s.train is not None:
                own = render(self.sessions, s.train)
        except Exception:                                   # a poll must never raise; the next one retries
            log.exception("tick failed")
        return own + broadcast_outputs(self.sessions, s) + (self._pace(s),)

    def _pace(self, s: Optional[Session]) -> Any:
        """The poll's own period: every second while something on the page trains, every few seconds while
        nothing does (a run in line, paused or ended), so waiting pages cost the server a third as much."""
        if s is None:
            return gr.skip()
        v = s.train
        live = v is not None and (v.ticket is not None and v.ticket.state == "starting" or
                                  (v.engine is not None and v.engine.state == "running") or
                                  (not v.mine and isinstance(v.source, LiveRun)))
        every = POLL_FAST if live or self.sessions.classroom.broadcast is not None else POLL_SLOW
        if every == s.poll_every:
            return gr.skip()
        s.poll_every = every
        return gr.Timer(value=every)


def live_engine(sessions: Sessions, path: Path):
    """The engine training ``path`` right now in some browser's session, or None."""
    target = Path(path).resolve()
    for s in sessions.everyone():
        v = s.train
        e = v.engine if v is not None and v.mine else None
        if e is not None and not _ended(e) and v.path is not None and v.path.resolve() == target:
            return e
    return None


def _ended(e) -> bool:
    return getattr(e, "ended", False) or e.state in ("stopped", "error")


def _view_state(v: TrainView) -> str:
    t = v.ticket
    if t is not None and t.state in ("waiting", "starting"):
        return "waiting for a slot" if t.state == "waiting" else "starting"
    e = v.engine
    return e.state if e is not None else "not loaded"


def _end_view(sessions: Sessions, v: TrainView) -> None:
    """Stop a view's run and leave the line; its folder stays."""
    t = v.ticket
    if t is None:
        return
    if t.state == "waiting":
        sessions.scheduler.cancel(t)
        return
    t.ready.wait(60)                                     # a run that is starting: let it start, then stop it
    for e in t.engines:
        try:
            e.stop()
        except GanlabError:
            pass
    sessions.scheduler.cancel(t)


def _release_idle(ticket) -> None:
    """Paused too long: the engine saves a checkpoint and exits, so its slot and memory go to the next in line."""
    ticket.note = ("Paused for long, it saved a checkpoint and gave its training slot to the next in line; press "
                   "Resume to continue it.")
    stop_engines(ticket)


def _eta(view: TrainView) -> Optional[float]:
    e = view.engine
    if e is None:
        return None
    st = e.cached_status() if hasattr(e, "cached_status") else e.status()
    return st.get("eta_s")


def form_values(values: List[Any]) -> Dict[str, Any]:
    return dict(zip(FORM_FIELDS, values))


__all__ = ["TrainHandlers", "config_from_form", "is_point_set", "DEFAULT_FORM", "FORM_FIELDS", "guarded", "keyed",
           "status_markdown", "live_engine"]
