"""The training engine: the only place that owns a thread.

One Engine drives one run. Several engines live in one process at once (one
per browser session), and nothing here is module-global.

    engine = Engine.new(cfg, "runs/ring")          # or Engine.open("runs/ring") to continue
    engine.start()                                  # background thread trains
    engine.pause(); engine.step_once(); engine.resume()
    engine.set_lr(lr_g=1e-4); engine.set_n_critic(5)   # applied before the next step
    rows, cursor = engine.metrics_since(0)          # the metrics stream, in order
    step, samples = engine.latest_samples()         # fixed-noise samples, CPU tensor
    engine.save_checkpoint(); engine.stop()
    engine.health()                                 # plain-language findings (ganlab.metrics.health)

Every control is a message on a queue that the worker thread handles between
two training steps, so the trainer is only ever touched by that one thread
(or by the caller before the thread starts and after it ends).

A NaN or inf in a loss does not end the run: the engine rolls back to its last
good state (an in-memory checkpoint taken at every metrics row), halves both
learning rates, records what happened in ``health()`` and goes on. With
``eval_every`` set, a copy of G is scored (FID, KID, precision/recall, class
histogram) by an :class:`~ganlab.engine.evaluator.Evaluator` thread, and the
result arrives in the metrics stream as a row with ``fid``.
"""
from __future__ import annotations

import copy
import math
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

import torch

from ..checkpoint import load_checkpoint, read_config, save_checkpoint
from ..config import RunConfig
from ..data import DataSource
from ..errors import GanlabError
from ..losses import LOSSES
from ..metrics.health import Finding, HealthMonitor, diversity
from ..runs import RunDir
from ..trainer import Trainer, make_trainer
from ..viz import samples_image
from .evaluator import EvalJob, Evaluator
from .guard import NanGuard

SAMPLE_SECONDS = 2.0        # refresh the live sample grid at least this often
FLUSH_SECONDS = 1.0         # write buffered metrics rows to disk this often
RATE_SECONDS = 3.0          # the step rate is measured over this window


class Engine:
    def __init__(self, trainer: Trainer, run: RunDir, evaluator: Optional[Evaluator] = None,
                 threads: Optional[int] = None):
        self.trainer, self.run = trainer, run
        self.threads = threads                        # torch threads of the worker (None: the process's)
        self._evaluator = evaluator                   # made on first use when eval_every is set
        self._commands: "queue.Queue[Tuple[Callable[[], Any], Future]]" = queue.Queue()
        self._lock = threading.Lock()                 # guards the fields read by other threads
        self._new_rows = threading.Condition(self._lock)
        self._file_lock = threading.Lock()            # one writer of metrics.jsonl at a time
        # one user of the trainer at a time: the worker's steps and commands, or, with no worker
        # thread, the callers of _call (two Step clicks, or a step and a live view, would race)
        self._using = threading.RLock()
        self._rows: List[Dict] = run.read_metrics()
        self._pending: List[Dict] = []                # rows not yet written to metrics.jsonl
        self._window: List[Dict] = []                 # per-step metrics since the last row
        self._samples: Tuple[int, Optional[torch.Tensor]] = (trainer.step_count, None)
        self._state, self._error = "idle", ""
        self._running = False
        self._thread: Optional[threading.Thread] = None
        self._rate = 0.0                              # steps per second, smoothed
        self._delay = 0.0                             # seconds between steps (slow motion)
        self._stamps: Deque[float] = deque()          # recent step end times, for the rate
        self._last_ckpt: Optional[Path] = run.latest_checkpoint()
        spec = LOSSES.get(trainer.cfg.train.loss)
        self._health = HealthMonitor(probability=bool(spec and spec.probability))
        for row in self._rows:
            self._health.observe(row)
        self._guard = NanGuard()                      # rolls back to the last finite state on a NaN
        self._real_diversity = self._measure_real_diversity()
        self._diversity: Optional[float] = None       # latest fake/real diversity ratio, for the next row
        self._refresh_samples(save=not run.sample_steps())

    # ---- construction ----------------------------------------------------------
    @classmethod
    def new(cls, cfg: RunConfig, run_dir, data: Optional[DataSource] = None, init=None,
            evaluator: Optional[Evaluator] = None, threads: Optional[int] = None) -> "Engine":
        """A fresh run; ``init`` (a checkpoint folder of the same model) gives a pretrained start.

        ``threads`` sets torch's CPU threads for this run's worker only (torch's count is
        per thread): the 2-D Playground's small nets train fastest on one.

        A pretrained start takes the checkpoint's nets, optimizer state and step
        count, and keeps ``cfg``'s learning rates, n_critic and loss.
        """
        trainer = make_trainer(cfg, data)                   # raises GanlabError before any folder is made
        if init is not None:                           # load_checkpoint refuses a different model
            t = trainer.cfg.train
            lr_g, lr_d, n_critic, loss = t.lr_g, t.lr_d, t.n_critic, t.loss
            load_checkpoint(trainer, Path(init))
            trainer.set_lr(lr_g, lr_d)
            trainer.set_n_critic(n_critic)
            trainer.set_loss(loss)
        run = RunDir.create(Path(run_dir), trainer.cfg)
        return cls(trainer, run, evaluator, threads)

    @classmethod
    def open(cls, run_dir, steps: Optional[int] = None, data: Optional[DataSource] = None,
             evaluator: Optional[Evaluator] = None) -> "Engine":
        """Continue a run folder from its latest checkpoint (or from scratch if it has none)."""
        run = RunDir.open(Path(run_dir))
        ckpt = run.latest_checkpoint()
        if ckpt is not None:                           # live changes (loss, optimizer) are in the checkpoint
            run.cfg.train = read_config(ckpt).train
        if steps is not None:
            run.cfg.train.steps = steps
        trainer = make_trainer(run.cfg, data)
        if ckpt is not None:
            load_checkpoint(trainer, ckpt)
        run.truncate_metrics(trainer.step_count)
        run.write_config()
        return cls(trainer, run, evaluator)

    # ---- controls (any thread) -----------------------------------------------------
    def start(self) -> None:
        """Start training in the background (or resume if paused).

        A run that already reached its step count is marked finished at once.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                alive = True
            else:
                alive = False
                if self._state in ("stopped", "error"):
                    raise GanlabError("This run has ended; start a new run or resume its folder.")
                if self.trainer.step_count >= self.trainer.cfg.train.steps:
                    self._running, self._state = False, "finished"
                    return
                self._running, self._state = True, "running"
                self._thread = threading.Thread(target=self._loop, name=f"ganlab-{self.run.path.name}",
                                                daemon=True)
                self._thread.start()
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

    def save_checkpoint(self) -> Path:
        return self._call(self._checkpoint)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop training, write a final checkpoint and sample grid, end the thread."""
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._state in ("stopped", "error"):
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
        with self._lock:
            return self._rows[cursor:], len(self._rows)

    def wait_for_metrics(self, cursor: int, timeout: float) -> bool:
        """Block until a row beyond ``cursor`` exists (True) or ``timeout`` passes."""
        with self._new_rows:
            return self._new_rows.wait_for(lambda: len(self._rows) > cursor, timeout)

    def latest_samples(self) -> Tuple[int, Optional[torch.Tensor]]:
        with self._lock:
            return self._samples

    def status(self) -> Dict[str, Any]:
        with self._lock:
            t = self.trainer
            left = max(0, t.cfg.train.steps - t.step_count)
            spec = LOSSES.get(t.cfg.train.loss)
            return {
                "state": self._state, "error": self._error, "step": t.step_count,
                "steps": t.cfg.train.steps, "device": str(t.device),
                "steps_per_s": self._rate,
                "images_per_s": self._rate * t.cfg.train.batch_size * t.n_critic,   # real images seen
                "eta_s": left / self._rate if self._rate > 0 and self._state == "running" else None,
                "lr_g": t.lr_g, "lr_d": t.lr_d, "n_critic": t.n_critic,
                "loss": t.cfg.train.loss, "optimizer": t.cfg.train.optimizer,
                "probability": bool(spec and spec.probability),   # D outputs in [0, 1]
                "run_dir": str(self.run.path), "rollbacks": self._guard.rollbacks,
                "checkpoint": str(self._last_ckpt) if self._last_ckpt else None,
            }

    def data_info(self) -> Dict[str, Any]:
        """What the run trains on, in words and numbers (fixed for the run's life)."""
        d = self.trainer.data
        return {"name": d.name, "note": d.note or d.name, "items": len(d), "is_image": d.is_image,
                "shape": d.sample_shape, "skipped": d.skipped, "classes": d.class_names or []}

    def real_points(self, n: int = 500) -> Optional[torch.Tensor]:
        """Up to ``n`` real items of a 2-D set (None for images), for scatter plots."""
        d = self.trainer.data
        return None if d.is_image else d.x[:n]

    def health(self) -> List[Finding]:
        """What the health monitor sees now: NaN recoveries, mode collapse, D winning, no progress."""
        with self._lock:
            return self._health.findings()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

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
                    if done:
                        break
                    continue
                with self._using:
                    self._train_one()
                now = time.monotonic()
                self._measure_rate(now)
                if now - last_sample >= SAMPLE_SECONDS:
                    with self._using:
                        self._refresh_samples(save=False)
                    last_sample = now
                if now - last_flush >= FLUSH_SECONDS:
                    self._flush()
                    last_flush = now
                if self.trainer.step_count >= self.trainer.cfg.train.steps:
                    self._reached_end()
        except Exception as e:                          # a bug or a numerical blow-up: keep the server up
            msg = str(e) if isinstance(e, GanlabError) else f"Training failed: {type(e).__name__}: {e}"
            with self._lock:
                self._state, self._error, self._running = "error", msg, False
            self._flush()
            self._drain(GanlabError(msg))
            return
        self._finish()
        self._drain(GanlabError("This run has stopped."))

    def _drain(self, err: Exception) -> None:
        """Answer commands that arrived after the loop ended, so no caller waits forever."""
        while True:
            try:
                _, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            fut.set_exception(err)

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
            if self._state in ("stopped", "error"):
                raise GanlabError("This run has ended; start a new run or resume its folder.")
        with self._using:
            return fn()

    def _set_running(self, running: bool) -> None:
        with self._lock:
            self._running = running
            if self._state in ("running", "paused"):
                self._state = "running" if running else "paused"
        if not running:
            self._refresh_samples(save=False)
            self._flush()

    def _train_one(self) -> Dict:
        if self._guard.good is None:
            self._guard.keep(self.trainer)
        m = self.trainer.step()
        bad = [key for key in ("loss_d", "loss_g") if not math.isfinite(m[key])]
        if bad:
            return self._roll_back(bad[0], m)
        self._window.append(m)
        t = self.trainer.cfg.train
        if m["step"] % t.log_every == 0:
            self._log_window()
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
        self._window = []                             # the steps since the last row are undone
        with self._lock:
            self._health.event(finding.kind, finding.title, finding.detail, finding.fix, finding.step)
        return {"step": self.trainer.step_count, "rolled_back": True}

    # ---- evaluation ----------------------------------------------------------------------
    def _submit_eval(self) -> None:
        """Hand a frozen copy of G (its EMA if there is one) to the evaluator; training goes on at once."""
        t = self.trainer
        if not t.data.is_image or getattr(t.G, "cond_dim", 0):     # text-gan needs prompts: no FID here
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
        row = dict(row, time=time.time())
        with self._new_rows:
            self._rows.append(row)
            self._pending.append(row)
            self._health.observe(row)
            self._new_rows.notify_all()
            ended = self._thread is None or not self._thread.is_alive()
        if ended:                                     # no training thread left to flush it
            self._flush()

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
        if self._window:
            self._log_window()
        self._refresh_samples(save=False)
        self._flush()
        return m

    def _log_window(self) -> None:
        """Average the steps since the last row into one row of the metrics stream."""
        w, self._window = self._window, []
        keys = {k for r in w for k in r} - {"step", "images", "seconds"}   # a loss swap adds or drops keys
        row = {}
        for k in sorted(keys):
            vals = [r[k] for r in w if k in r]
            row[k] = sum(vals) / len(vals)
        row.update(step=w[-1]["step"], images=sum(r["images"] for r in w),
                   seconds=sum(r["seconds"] for r in w), time=time.time())
        if self._diversity is not None:               # measured at the last sample refresh
            row["diversity"], self._diversity = self._diversity, None
        with self._new_rows:
            self._rows.append(row)
            self._pending.append(row)
            self._health.observe(row)
            self._new_rows.notify_all()

    def _flush(self) -> None:
        with self._file_lock:                         # the evaluator's thread may flush a late row too
            with self._lock:
                rows, self._pending = self._pending, []
            if rows:
                self.run.append_metrics(rows)

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
            self._diversity = diversity(x) / self._real_diversity
        with self._lock:
            self._samples = (step, x)
        if save:
            real = self.real_points(500)
            self.run.save_samples(step, samples_image(x, real, nrow=self.trainer.sample_nrow))

    def _checkpoint(self) -> Path:
        path = save_checkpoint(self.trainer, self.run.checkpoint_path(self.trainer.step_count))
        with self._lock:
            self._last_ckpt = path
        return path

    def _reached_end(self) -> None:
        if self._window:
            self._log_window()
        self._refresh_samples(save=True)
        self._checkpoint()
        self._flush()
        with self._lock:
            self._running, self._state = False, "finished"

    def _finish(self) -> None:
        """Final log, grid and checkpoint; the run can be resumed from its folder."""
        if self._window:
            self._log_window()
        self._flush()
        step = self.trainer.step_count
        if step not in self.run.sample_steps():
            self._refresh_samples(save=True)
        trained = step > 0             # a run stopped before its first step needs no checkpoint to resume
        if trained and (self._last_ckpt is None or self._last_ckpt.name != f"step_{step:06d}"):
            self._checkpoint()
        with self._lock:
            self._running, self._state = False, "stopped"
