"""The training engine: the only place that owns a thread.

One Engine drives one run. Several engines live in one process at once (one
per browser session), and nothing here is module-global.

    engine = Engine.new(cfg, "runs/ring")          # or Engine.open("runs/ring") to continue
    engine.listen(lambda state, error: ...)         # called on every change of state (any thread)
    engine.start()                                  # background thread trains
    engine.pause(); engine.step_once(); engine.resume()
    engine.set_lr(lr_g=1e-4); engine.set_n_critic(5)   # applied before the next step
    rows, cursor = engine.metrics_since(0)          # the metrics stream, in order
    step, samples = engine.latest_samples()         # fixed-noise samples, CPU tensor
    snap = engine.snapshot(cursor, shown_step)      # everything a page needs, in one call
    engine.save_checkpoint(); engine.export_checkpoint(folder); engine.stop()
    engine.health()                                 # plain-language findings (ganlab.metrics.health)

Every control is a message on a queue that the worker thread handles between
two training steps, so the trainer is only ever touched by that one thread
(or by the caller before the thread starts and after it ends).

Nothing is lost when things fail. A NaN or inf in a loss does not end the
run: the engine rolls back to its last good state (an in-memory checkpoint
taken at every metrics row), halves both learning rates, records what happened
in ``health()`` and goes on. With ``checkpoint_seconds`` set, the run also
checkpoints that often; and when a step raises (a bug, a sixth NaN, running
out of memory) the engine writes a checkpoint of the last good state before it
reports the error, so the run can be resumed from its folder and the error
says from which step. Out of memory frees what the run held and names a batch
that would fit. With ``eval_every`` set, a copy of G is scored (FID, KID,
precision/recall, class histogram) by an
:class:`~ganlab.engine.evaluator.Evaluator` thread, and the result arrives in
the metrics stream as a row with ``fid``.
"""
from __future__ import annotations

import copy
import gc
import logging
import math
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import torch

from ..checkpoint import checkpoint_step, load_checkpoint, read_config, save_checkpoint
from ..config import RunConfig
from ..data import DataSource
from ..errors import GanlabError
from ..losses import LOSSES
from ..metrics.health import Finding, HealthMonitor, diversity
from ..runs import RunDir, SilentRun
from ..trainer import Trainer, make_trainer
from ..viz import samples_image
from .evaluator import EvalJob, Evaluator
from .guard import NanGuard
from .stream import MetricsStream

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 2.0        # refresh the live sample grid at least this often while someone looks at it
WATCHED_SECONDS = 10.0      # "someone looks": the samples were read this recently (a page polls every second)
FLUSH_SECONDS = 1.0         # write buffered metrics rows to disk this often
RATE_SECONDS = 3.0          # the step rate is measured over this window
FIRST_CHECKPOINT_SECONDS = 60.0   # a new run's first checkpoint comes this soon, then every checkpoint_seconds
ENDED = ("stopped", "error")


class Engine:
    def __init__(self, trainer: Trainer, run: RunDir, evaluator: Optional[Evaluator] = None,
                 threads: Optional[int] = None, checkpoint_seconds: float = 0.0):
        self.trainer, self.run = trainer, run
        # on a GPU a float per metric per step would wait for the step's kernels; the stream reads them per row
        trainer.defer_metrics = trainer.device.type == "cuda"
        self.threads = threads                        # torch threads of the worker (None: the process's)
        self.checkpoint_seconds = checkpoint_seconds  # also checkpoint this often while training (0: off)
        self._evaluator = evaluator                   # made on first use when eval_every is set
        self._commands: "queue.Queue[Tuple[Callable[[], Any], Future]]" = queue.Queue()
        self._lock = threading.Lock()                 # guards the fields read by other threads
        # one user of the trainer at a time: the worker's steps and commands, or, with no worker
        # thread, the callers of _call (two Step clicks, or a step and a live view, would race)
        self._using = threading.RLock()
        spec = LOSSES.get(trainer.cfg.train.loss)
        self._health = HealthMonitor(probability=bool(spec and spec.probability))
        self._health_lock = threading.Lock()
        self._stream = MetricsStream(run.read_metrics(), on_row=self._observe)
        for row in self._stream.since(0)[0]:
            self._health.observe(row)
        self._samples: Tuple[int, Optional[torch.Tensor]] = (trainer.step_count, None)
        self._looked = -WATCHED_SECONDS                # when the live samples were last read (monotonic)
        self._state, self._error, self._changed = "idle", "", False
        self._listeners: List[Callable[[str, str], None]] = []
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self._rate = 0.0                              # steps per second, smoothed
        self._delay = 0.0                             # seconds between steps (slow motion)
        self._stamps: Deque[float] = deque()          # recent step end times, for the rate
        self._trained_s = 0.0                         # seconds spent training since this engine was made
        self._last_ckpt: Optional[Path] = run.latest_checkpoint()
        self._ckpt_time = time.monotonic()
        self._guard = NanGuard()                      # rolls back to the last finite state on a NaN
        self._real_diversity = self._measure_real_diversity()
        self._refresh_samples(save=not run.sample_steps())

    # ---- construction ----------------------------------------------------------
    @classmethod
    def new(cls, cfg: RunConfig, run_dir, data: Optional[DataSource] = None, init=None,
            evaluator: Optional[Evaluator] = None, threads: Optional[int] = None,
            checkpoint_seconds: float = 0.0, init_generator_only: bool = False, silent: bool = False) -> "Engine":
        """A fresh run; ``init`` (a checkpoint folder of the same model) gives a pretrained start.

        ``silent``: train without writing anything (ranks 1.. of a data-parallel run; see runs.SilentRun).

        ``threads`` sets torch's CPU threads for this run's worker only (torch's count is
        per thread): the 2-D Playground's small nets train fastest on one.

        A pretrained start takes the checkpoint's nets, optimizer state and step
        count, and keeps ``cfg``'s learning rates, n_critic and loss. With
        ``init_generator_only`` (a shipped model folder, which holds G alone), G and
        its EMA start from it and D from scratch, at step 0.
        """
        trainer = make_trainer(cfg, data)                   # raises GanlabError before any folder is made
        if init is not None and init_generator_only:
            _load_generator_into(trainer, Path(init))
        elif init is not None:                         # load_checkpoint refuses a different model
            t = trainer.cfg.train
            lr_g, lr_d, n_critic, loss = t.lr_g, t.lr_d, t.n_critic, t.loss
            load_checkpoint(trainer, Path(init))
            trainer.set_lr(lr_g, lr_d)
            trainer.set_n_critic(n_critic)
            trainer.set_loss(loss)
        run = (SilentRun if silent else RunDir).create(Path(run_dir), trainer.cfg)
        return cls(trainer, run, evaluator, threads, checkpoint_seconds)

    @classmethod
    def open(cls, run_dir, steps: Optional[int] = None, data: Optional[DataSource] = None,
             evaluator: Optional[Evaluator] = None, threads: Optional[int] = None,
             checkpoint_seconds: float = 0.0, changes: Optional[Callable[[RunConfig], None]] = None,
             silent: bool = False) -> "Engine":
        """Continue a run folder from its latest checkpoint (or from scratch if it has none).

        ``changes(cfg)`` may edit the config before the nets are built (the CLI's
        --device, --lr-g, ... on --resume) and returns the train fields it set; the
        checkpoint's weights still load, and rates it set win over the checkpoint's.
        """
        run = (SilentRun if silent else RunDir).open(Path(run_dir))
        ckpt = run.latest_checkpoint()
        if ckpt is not None:                           # live changes (loss, optimizer) are in the checkpoint
            run.cfg.train = read_config(ckpt).train
        if steps is not None:
            run.cfg.train.steps = steps
        touched = set(changes(run.cfg) or ()) if changes is not None else set()
        trainer = make_trainer(run.cfg, data)
        if ckpt is not None:
            load_checkpoint(trainer, ckpt)             # its optimisers carry the live rates (NaN halvings too)
            t = trainer.cfg.train
            if touched & {"lr_g", "lr_d"}:             # rates given on resume win, even the configured ones
                trainer.set_lr(t.lr_g if "lr_g" in touched else None, t.lr_d if "lr_d" in touched else None)
            if "n_critic" in touched:
                trainer.set_n_critic(t.n_critic)
        run.truncate_metrics(trainer.step_count)
        run.write_config()
        return cls(trainer, run, evaluator, threads, checkpoint_seconds)

    # ---- controls (any thread) -----------------------------------------------------
    def listen(self, fn: Callable[[str, str], None]) -> None:
        """Call ``fn(state, error)`` after every change of state, on the thread that changed it."""
        self._listeners.append(fn)

    def start(self) -> None:
        """Start training in the background (or resume if paused).

        A run that already reached its step count is marked finished at once.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                alive = True
            else:
                alive = False
                if self._state in ENDED:
                    raise GanlabError("This run has ended; start a new run or resume its folder.")
                if self.trainer.step_count >= self.trainer.cfg.train.steps:
                    self._running = False
                    self._set_state("finished")
                else:
                    self._running = True
                    self._set_state("running")
                    self._thread = threading.Thread(target=self._loop, name=f"ganlab-{self.run.path.name}",
                                                    daemon=True)
                    self._thread.start()
        self._announce()
        if alive:
            self.resume()

    def pause(self) -> None:
        self._call(lambda: self._set_running(False))

    def resume(self) -> None:
        self._call(lambda: self._set_running(True))

    def step_once(self) -> Dict:
        """Exactly one training step (D steps then a G step), for teaching; returns its metrics."""
        return self._call(self._step_and_log)

    def step_d_once(self) -> Dict:
        """One discriminator update only (G untouched), for teaching."""
        return self._call(lambda: self._partial_step(self.trainer.step_d))

    def step_g_once(self) -> Dict:
        """One generator update only (D untouched), for teaching."""
        return self._call(lambda: self._partial_step(self.trainer.step_g))

    def inspect(self, fn: Callable[[Trainer], Any]) -> Any:
        """Run ``fn(trainer)`` between two steps and return its result (for live views).

        ``fn`` must only read: it sees the nets mid-run, on the worker thread.
        """
        return self._call(lambda: fn(self.trainer))

    def set_delay(self, seconds: float) -> None:
        """Slow motion: wait this long between steps (0 = full speed)."""
        if not 0 <= seconds <= 10:
            raise GanlabError(f"The delay between steps must be 0 to 10 seconds (got {seconds}).")
        self._call(lambda: setattr(self, "_delay", float(seconds)))

    def set_loss(self, name: str) -> None:
        self._call(lambda: self.trainer.set_loss(name))

    def set_optimizer(self, name: str) -> None:
        self._call(lambda: self.trainer.set_optimizer(name))

    def set_lr(self, lr_g: Optional[float] = None, lr_d: Optional[float] = None) -> None:
        self._call(lambda: self.trainer.set_lr(lr_g, lr_d))

    def set_n_critic(self, n: int) -> None:
        self._call(lambda: self.trainer.set_n_critic(n))

    def set_threads(self, n: int) -> None:
        """torch's CPU threads for this run's worker from now on (a scheduler sharing cores)."""
        if int(n) < 1:
            raise GanlabError(f"The thread count must be at least 1 (got {n}).")
        self.threads = int(n)
        self._call(lambda: torch.set_num_threads(int(n)))

    def save_checkpoint(self) -> Path:
        return self._call(self._checkpoint)

    def export_checkpoint(self, folder) -> Path:
        """Write the run's state now into ``folder`` (another run's, for a fork); this run's folder is untouched."""
        return self._call(lambda: save_checkpoint(self.trainer, Path(folder)))

    def stop(self, timeout: float = 60.0) -> None:
        """Stop training, write a final checkpoint and sample grid, end the thread."""
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._state in ENDED:
                    return
            self._finish()
            return
        self._commands.put((lambda: "stop", Future()))
        self._thread.join(timeout)

    def make_gif(self) -> Path:
        return self.run.make_gif()

    # ---- observation (any thread) ------------------------------------------------
    def metrics_since(self, cursor: int = 0) -> Tuple[List[Dict], int]:
        """Rows logged after position ``cursor`` and the new cursor."""
        return self._stream.since(cursor)

    def wait_for_metrics(self, cursor: int, timeout: float) -> bool:
        """Block until a row beyond ``cursor`` exists (True) or ``timeout`` passes."""
        return self._stream.wait(cursor, timeout)

    def latest_samples(self) -> Tuple[int, Optional[torch.Tensor]]:
        with self._lock:
            self._looked = time.monotonic()            # the worker draws live grids only while they are read
            return self._samples

    def snapshot(self, cursor: int = 0, shown_step: int = -1) -> Dict[str, Any]:
        """What a page polls for, in one call: new rows, status, health, and the samples if newer than
        ``shown_step`` (None otherwise), so an engine in another process costs one round trip per poll."""
        rows, cursor = self._stream.since(cursor)
        step, x = self.latest_samples()
        return {"rows": rows, "cursor": cursor, "status": self.status(), "health": self.health(),
                "samples": (step, x) if x is not None and step != shown_step else None}

    def status(self) -> Dict[str, Any]:
        with self._lock:
            t = self.trainer
            left = max(0, t.cfg.train.steps - t.step_count)
            spec = LOSSES.get(t.cfg.train.loss)
            budget = t.cfg.train.minutes * 60
            eta = left / self._rate if self._rate > 0 and self._state == "running" else None
            if budget > 0 and eta is not None:
                eta = min(eta, max(0.0, budget - self._trained_s))
            return {
                "state": self._state, "error": self._error, "step": t.step_count,
                "steps": t.cfg.train.steps, "device": str(t.device),
                "steps_per_s": self._rate,
                "images_per_s": self._rate * t.cfg.train.batch_size * t.n_critic,   # real images seen
                "eta_s": eta, "trained_s": self._trained_s, "budget_s": budget or None,
                "lr_g": t.lr_g, "lr_d": t.lr_d, "n_critic": t.n_critic,
                "loss": t.cfg.train.loss, "optimizer": t.cfg.train.optimizer,
                "probability": bool(spec and spec.probability),   # D outputs in [0, 1]
                "run_dir": str(self.run.path), "rollbacks": self._guard.rollbacks,
                "checkpoint": str(self._last_ckpt) if self._last_ckpt else None,
                "batch_size": t.cfg.train.batch_size,
                "family_note": t.status_note(),          # e.g. progan: the resolution and fade-in alpha
            }

    def data_info(self) -> Dict[str, Any]:
        """What the run trains on, in words and numbers (fixed for the run's life)."""
        d = self.trainer.data
        return {"name": d.name, "note": d.note or d.name, "items": len(d), "is_image": d.is_image,
                "shape": d.sample_shape, "skipped": d.skipped, "classes": d.class_names or [],
                "sample_nrow": self.trainer.sample_nrow}

    def real_points(self, n: int = 500) -> Optional[torch.Tensor]:
        """Up to ``n`` real items of a 2-D set (None for images), for scatter plots."""
        d = self.trainer.data
        return None if d.is_image else d.x[:n]

    def health(self) -> List[Finding]:
        """What the health monitor sees now: NaN recoveries, mode collapse, D winning, no progress."""
        with self._health_lock:
            return self._health.findings()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    # ---- state changes ---------------------------------------------------------------
    def _set_state(self, state: str, error: str = "") -> None:
        """(caller holds self._lock) record a new state; _announce() tells the listeners once the lock is free."""
        if state != self._state or error != self._error:
            self._state, self._error = state, error
            self._changed = True

    def _announce(self) -> None:
        with self._lock:
            if not self._changed:
                return
            self._changed = False
            state, error = self._state, self._error
        for fn in list(self._listeners):
            try:
                fn(state, error)
            except Exception:                           # a listener's bug must not stop training
                log.exception("engine listener failed")

    def _observe(self, row: Dict) -> None:
        with self._health_lock:
            self._health.observe(row)

    # ---- the worker thread -----------------------------------------------------------
    def _loop(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        last_flush = last_sample = time.monotonic()
        try:
            while True:
                busy = self._running and self.trainer.step_count < self.trainer.cfg.train.steps
                try:
                    if not busy:
                        fn, fut = self._commands.get()
                    elif self._delay:                 # slow motion, still answering commands at once
                        fn, fut = self._commands.get(timeout=self._delay)
                    else:
                        fn, fut = self._commands.get_nowait()
                except queue.Empty:
                    fn = None
                if fn is not None:
                    with self._using:
                        done = self._run_command(fn, fut) == "stop"
                    self._announce()
                    if done:
                        break
                    continue
                began = time.monotonic()
                with self._using:
                    self._train_one()
                now = time.monotonic()
                self._trained_s += now - began
                self._measure_rate(now)
                # the live grid is drawn for the page at the rate it reads it: nobody looking, no G pass
                if now - last_sample >= SAMPLE_SECONDS and now - self._looked < WATCHED_SECONDS:
                    with self._using:
                        self._refresh_samples(save=False)
                    last_sample = now
                if now - last_flush >= FLUSH_SECONDS:
                    self._stream.flush(self.run)
                    last_flush = now
                if self.checkpoint_seconds and now - self._ckpt_time >= self._checkpoint_due():
                    with self._using:
                        self._checkpoint()
                if self.trainer.step_count >= self.trainer.cfg.train.steps or self._over_budget():
                    self._reached_end()
                    self._announce()
        except Exception as e:                          # a bug, a numerical blow-up, no memory: keep the server up
            if not isinstance(e, (GanlabError, torch.OutOfMemoryError)):
                log.exception("run %s failed", self.run.path)
            failure = (isinstance(e, torch.OutOfMemoryError), isinstance(e, GanlabError), f"{type(e).__name__}: {e}")
        else:
            failure = None
        # outside the except block: the traceback, and the tensors its frames hold, are gone now
        if failure is not None:
            self._failed(*failure)
            return
        self._finish()
        self._drain(GanlabError("This run has stopped."))

    def _failed(self, oom: bool, user_error: bool, what: str) -> None:
        """A step raised: free what it held, save the last good state, report one sentence, end the thread."""
        if oom:
            msg = self._out_of_memory()
        elif user_error:
            msg = what.split(": ", 1)[1]
        else:
            msg = f"Training failed at step {self.trainer.step_count:,}: {what}"
        saved = self._save_last_good()
        if saved is not None:
            msg = f"{msg.rstrip('.')}. The last good checkpoint is step {saved:,}: press Resume to continue " \
                  "from it, or download it."
        with self._lock:
            self._running = False
            self._set_state("error", msg)
        self._stream.flush(self.run)
        self._announce()
        self._drain(GanlabError(msg))

    def _out_of_memory(self) -> str:
        """Give back the memory of the failed step; the sentence names a batch that fits better."""
        gc.collect()
        if self.trainer.device.type == "cuda":
            torch.cuda.empty_cache()
        batch = self.trainer.cfg.train.batch_size
        where = "GPU" if self.trainer.device.type == "cuda" else "memory"
        return (f"The run ran out of {where} at step {self.trainer.step_count:,} with batches of {batch}; it "
                f"stopped and gave its memory back. Start it again with a batch size of {max(1, batch // 2)} "
                "or a lower resolution")

    def _save_last_good(self) -> Optional[int]:
        """Checkpoint the last finite state (the NaN guard's copy, else the trainer as it is); its step or None."""
        try:
            with self._using:
                if self._guard.good is not None:
                    self._guard.restore(self.trainer)
                if self.trainer.step_count == 0 and self._last_ckpt is None:
                    return None
                if self._last_ckpt is None or self._last_ckpt.name != f"step_{self.trainer.step_count:06d}":
                    self._checkpoint()
                return self.trainer.step_count
        except Exception:                               # nothing more can be saved; the older checkpoint stays
            log.exception("could not save the last good state of %s", self.run.path)
            ckpt = self.run.latest_checkpoint()
            return checkpoint_step(ckpt) if ckpt is not None else None

    def _drain(self, err: Exception) -> None:
        """Answer commands that arrived after the loop ended, so no caller waits forever."""
        while True:
            try:
                _, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            fut.set_exception(err)

    def _over_budget(self) -> bool:
        """The run's time budget (``train.minutes``) is spent: training time only, pauses and commands excluded."""
        budget = self.trainer.cfg.train.minutes * 60
        return budget > 0 and self._trained_s >= budget

    def _measure_rate(self, now: float) -> None:
        """Steps per second over the last few seconds of wall time, pauses excluded."""
        stamps = self._stamps
        if stamps and now - stamps[-1] > RATE_SECONDS:   # resumed after a pause: start afresh
            stamps.clear()
        stamps.append(now)
        while now - stamps[0] > RATE_SECONDS:
            stamps.popleft()
        if len(stamps) > 1:
            self._rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])

    def _run_command(self, fn: Callable[[], Any], fut: Future) -> Any:
        try:
            result = fn()
        except Exception as e:                          # report to the caller, keep training
            fut.set_exception(e)
            return None
        fut.set_result(result)
        return result

    def _call(self, fn: Callable[[], Any], timeout: float = 120.0) -> Any:
        """Run ``fn`` on the worker thread between steps (or here, if there is no thread)."""
        if self._thread is not None and self._thread.is_alive():
            fut: Future = Future()
            self._commands.put((fn, fut))
            return fut.result(timeout)
        with self._lock:
            if self._state in ENDED:
                raise GanlabError("This run has ended; start a new run or resume its folder.")
        with self._using:
            try:
                return fn()
            finally:
                self._announce()

    def _set_running(self, running: bool) -> None:
        with self._lock:
            self._running = running
            if self._state in ("running", "paused"):
                self._set_state("running" if running else "paused")
        if not running:
            self._refresh_samples(save=False)
            self._stream.flush(self.run)

    def _train_one(self) -> Dict:
        if self._guard.good is None:
            self._guard.keep(self.trainer)
        # data-parallel: the world's mean metrics, so every rank rolls back, logs and stops at the same steps
        m = self.trainer.world.average(self.trainer.step(), as_tensors=getattr(self.trainer, "defer_metrics", False))
        t = self.trainer.cfg.train
        if self.trainer.defer_metrics:                # tensors: looked at once per row, so one sync per row
            self._stream.add_step(m)
            if m["step"] % t.log_every == 0:
                bad = self._stream.settle()
                if bad:
                    return self._roll_back(bad[0], {bad[0]: bad[1], "step": bad[2]})
                self._stream.log_window()
                self._guard.keep(self.trainer)
        else:
            bad = [key for key in ("loss_d", "loss_g") if not math.isfinite(m[key])]
            if bad:
                return self._roll_back(bad[0], m)
            self._stream.add_step(m)
            if m["step"] % t.log_every == 0:
                self._stream.log_window()
                self._guard.keep(self.trainer)
        if m["step"] % t.sample_every == 0:
            self._refresh_samples(save=True)
        if t.checkpoint_every and m["step"] % t.checkpoint_every == 0:
            self._checkpoint()
        if t.eval_every and m["step"] % t.eval_every == 0:
            self._submit_eval()
        return m

    def _roll_back(self, key: str, m: Dict) -> Dict:
        """A loss became NaN or inf: the guard restores the last good state; the health panel says so."""
        finding = self._guard.recover(self.trainer, key, m[key], m["step"])
        self._stream.drop_window()                    # the steps since the last row are undone
        with self._health_lock:
            self._health.event(finding.kind, finding.title, finding.detail, finding.fix, finding.step)
        return {"step": self.trainer.step_count, "rolled_back": True, "bad": key, "value": m[key],
                "at": m["step"], "lr_g": self.trainer.lr_g, "lr_d": self.trainer.lr_d}

    # ---- evaluation ----------------------------------------------------------------------
    def _submit_eval(self) -> None:
        """Hand a frozen copy of G (its EMA if there is one) to the evaluator; training goes on at once."""
        t = self.trainer
        if not t.data.is_image or getattr(t.G, "cond_dim", 0):     # text-gan needs prompts: no FID here
            return
        if not self.run.writes:                        # a data-parallel run's rank 0 scores G for all
            return
        G = copy.deepcopy(t.G_ema if t.G_ema is not None else t.G).eval().requires_grad_(False)
        G.z_dist = t.cfg.model.z_dist
        if self._evaluator is None:
            self._evaluator = Evaluator()
        cfg = t.cfg
        self._evaluator.submit(EvalJob(owner=id(self), step=t.step_count, G=G, data=cfg.data,
                                       n=cfg.train.eval_n, on_result=self._eval_done, seed=cfg.train.seed))

    def _eval_done(self, row: Dict) -> None:
        """Called on the evaluator's thread: add the scores to the metrics stream."""
        self._stream.append(dict(row, time=time.time()))
        if self._thread is None or not self._thread.is_alive():     # no training thread left to flush it
            self._stream.flush(self.run)

    def wait_for_evaluation(self, timeout: float = 3600.0) -> bool:
        """Block until the evaluator has scored every snapshot this run sent (True) or ``timeout`` passes."""
        end = time.monotonic() + timeout
        while self.evaluation_pending():
            if time.monotonic() > end:
                return False
            time.sleep(0.2)
        return True

    def evaluation_pending(self) -> bool:
        ev = self._evaluator
        return ev is not None and ev.pending(id(self))

    def _partial_step(self, fn: Callable[[], Dict]) -> Dict:
        m = fn()
        self._refresh_samples(save=False)
        return m

    def _step_and_log(self) -> Dict:
        m = self._train_one()
        if self._stream.has_window:
            bad = self._stream.settle()
            if bad:
                return self._roll_back(bad[0], {bad[0]: bad[1], "step": bad[2]})
            m = self._stream.last_step() or m
            self._stream.log_window()
        self._refresh_samples(save=False)
        self._stream.flush(self.run)
        return m

    def _measure_real_diversity(self) -> float:
        """Diversity of a seeded real batch the size of the fixed-noise batch: what 1.0 means."""
        x = self.trainer.data.x
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(x), generator=g)[:min(len(x), self.trainer.cfg.train.n_samples, 256)]
        return diversity(x[idx])

    def _refresh_samples(self, save: bool) -> None:
        x = self.trainer.sample()
        step = self.trainer.step_count
        if self._real_diversity > 0:
            self._stream.diversity = diversity(x) / self._real_diversity
        with self._lock:
            self._samples = (step, x)
        if save:
            real = self.real_points(500)
            self.run.save_samples(step, samples_image(x, real, nrow=self.trainer.sample_nrow))

    def _checkpoint_due(self) -> float:
        """Seconds between checkpoints: the first within FIRST_CHECKPOINT_SECONDS of training, so a process
        killed early (the OOM killer) loses a minute at most, then every ``checkpoint_seconds``."""
        if self._last_ckpt is None:
            return min(self.checkpoint_seconds, FIRST_CHECKPOINT_SECONDS)
        return self.checkpoint_seconds

    def _checkpoint(self) -> Path:
        path = self.run.save_checkpoint(self.trainer)
        self._ckpt_time = time.monotonic()
        with self._lock:
            self._last_ckpt = path
        return path

    def _reached_end(self) -> None:
        self._stream.log_window()
        self._refresh_samples(save=True)
        self._checkpoint()
        self._stream.flush(self.run)
        with self._lock:
            self._running = False
            self._set_state("finished")

    def _finish(self) -> None:
        """Final log, grid and checkpoint; the run can be resumed from its folder."""
        self._stream.log_window()
        self._stream.flush(self.run)
        step = self.trainer.step_count
        if step not in self.run.sample_steps():
            self._refresh_samples(save=True)
        trained = step > 0             # a run stopped before its first step needs no checkpoint to resume
        if trained and (self._last_ckpt is None or self._last_ckpt.name != f"step_{step:06d}"):
            self._checkpoint()
        with self._lock:
            self._running = False
            self._set_state("stopped")
        self._announce()


def _load_generator_into(trainer: Trainer, folder: Path) -> None:
    """G (and its EMA) from a slim model folder (generator.safetensors); D keeps its fresh weights."""
    from ..sampling import load_generator
    G, cfg, _ = load_generator(folder)
    if cfg.model.name != trainer.cfg.model.name:
        raise GanlabError(f"{folder} holds a {cfg.model.name} generator, not a {trainer.cfg.model.name}.")
    try:
        trainer.G.load_state_dict(G.state_dict())
    except RuntimeError as e:
        raise GanlabError(f"The generator in {folder} does not fit this run: {str(e).splitlines()[0][:200]}") from None
    if trainer.G_ema is not None:
        trainer.G_ema.load_state_dict(G.state_dict())
