"""An Engine in its own process: the 2-D Playground's runs train beside the server, not inside it.

    e = RemoteEngine.new(cfg, "runs/ui/ring", init=shipped, threads=1)
    e.start(); e.pause(); e.step_d_once(); e.set_lr(lr_g=1e-4)   # the Engine's controls, unchanged
    view = e.inspect(partial(view_between_steps, stats=True))   # fn must pickle: a module-level function
    e.stop()                                                    # final checkpoint, then the process exits

Why: a toy GAN's step is mostly Python, so a run trained on a thread of the
server shares one interpreter lock with everything the server does to draw
its frames (figures, JSON, Gradio's queue). With the Playground open, that
left training about two thirds of its headless step rate on a 2-core machine.
In a child process the run has a lock of its own, and a classroom server uses
all its cores instead of one.

Children are forked from a fork server that has already imported torch and
ganlab, so a new run starts in a fraction of a second and shares those pages
with its siblings. Each call is one message on a pipe, answered in order;
calls from several threads take turns. If the child dies, the run reads as
"error" and every later call raises GanlabError; the server goes on.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import sys
import threading
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Optional

from ..errors import GanlabError

log = logging.getLogger(__name__)

START_SECONDS = 120.0          # a new run (nets, data, optional pretrained start) must be ready by then
CALL_SECONDS = 30.0            # one call (a step, a view, a checkpoint) must be answered by then

# what the parent may ask for: Engine methods, plus "state" (a property)
CALLS = frozenset({"start", "pause", "resume", "step_once", "step_d_once", "step_g_once", "inspect",
                   "set_delay", "set_loss", "set_optimizer", "set_lr", "set_n_critic", "save_checkpoint",
                   "stop", "metrics_since", "latest_samples", "status", "data_info", "real_points",
                   "health", "state"})


@lru_cache(maxsize=None)
def _context():
    """A fork server where the platform has one (Linux, macOS), else plain spawn (Windows)."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    # the child imports the parent's main script again (as __mp_main__); when that is app.py, it
    # imports ganlab.ui, so preloading it makes that import free
    ctx.set_forkserver_preload(["ganlab.engine.remote", "ganlab.engine.run"]
                               + [m for m in ("ganlab.ui",) if m in sys.modules])
    return ctx


def _describe(exc: BaseException) -> tuple:
    if isinstance(exc, GanlabError):
        return ("ganlab", str(exc))
    return ("bug", f"{type(exc).__name__}: {exc}")


def _serve(conn, cfg, run_dir: str, init: Optional[str], threads: Optional[int]) -> None:
    """The child: build the Engine, then answer calls until "stop" or until the parent goes away."""
    from .run import Engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the server; its exit closes our pipe
    try:
        engine = Engine.new(cfg, run_dir, init=init, threads=threads)
    except Exception as exc:                                   # noqa: BLE001 (reported to the parent)
        conn.send(("error", _describe(exc)))
        return
    conn.send(("ok", None))
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):                             # the server exited or dropped the run
            engine.stop()
            return
        try:
            result = engine.state if name == "state" else getattr(engine, name)(*args, **kwargs)
            conn.send(("ok", result))
        except Exception as exc:                               # noqa: BLE001
            if not isinstance(exc, GanlabError):
                log.exception("playground run: %s failed", name)
            conn.send(("error", _describe(exc)))
        if name == "stop":
            return


class RemoteEngine:
    """The controls and views of :class:`~ganlab.engine.run.Engine`, for an Engine in a child process."""

    def __init__(self, process, conn, run_dir: Path):
        self._process, self._conn = process, conn
        self.run = SimpleNamespace(path=Path(run_dir))          # what Sessions.owner_of reads
        self._lock = threading.RLock()                          # one call on the pipe at a time
        self._last: Dict[str, Any] = {"state": "idle", "error": "", "step": 0}
        self._ended: Optional[str] = None                      # "stopped" or "error" once the child is gone

    @classmethod
    def new(cls, cfg, run_dir, init=None, threads: Optional[int] = None) -> "RemoteEngine":
        """Engine.new(cfg, run_dir, init=init, threads=threads) in a fresh child; its errors are raised here."""
        ctx = _context()
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(there, cfg, str(run_dir), str(init) if init else None, threads),
                           name=f"ganlab-{Path(run_dir).name}", daemon=True)
        proc.start()
        there.close()
        try:
            if not here.poll(START_SECONDS):
                raise GanlabError("The run's training process did not start in time; try again.")
            kind, value = here.recv()
        except (EOFError, OSError):
            proc.join(5)
            kind, value = "error", ("ganlab", f"The run's training process exited while starting "
                                              f"(exit code {proc.exitcode}); try again.")
        except GanlabError:
            here.close()
            proc.kill()
            raise
        if kind != "ok":
            here.close()
            proc.join(10)
            _raise(value)
        return cls(proc, here, Path(run_dir))

    # ---- the pipe ---------------------------------------------------------------------
    def _call(self, name: str, *args, **kwargs) -> Any:
        with self._lock:
            if self._ended == "stopped":
                raise GanlabError("This run has ended; start a new run.")
            if self._ended == "error":
                raise GanlabError(self._last.get("error") or "This run's training process has ended.")
            try:
                self._conn.send((name, args, kwargs))
                if not self._conn.poll(CALL_SECONDS):
                    raise TimeoutError
                kind, value = self._conn.recv()
            except (EOFError, OSError, TimeoutError) as exc:
                self._lost(exc)
                raise GanlabError(self._last["error"]) from None
            if name == "status" and kind == "ok":
                self._last = value                              # under the lock: _lost may not be undone
        if kind != "ok":
            _raise(value)
        return value

    def _lost(self, exc: BaseException) -> None:
        """The child died or hung: the run reads as failed from now on (the caller holds the lock)."""
        if isinstance(exc, TimeoutError):
            self._process.kill()
        self._process.join(5)
        why = ("stopped answering" if isinstance(exc, TimeoutError)
               else f"ended unexpectedly (exit code {self._process.exitcode})")
        log.error("playground run %s: its training process %s", self.run.path, why)
        self._ended = "error"
        self._last = dict(self._last, state="error",
                          error=f"This run's training process {why}; press 'New run' to start another.")
        self._conn.close()

    def __getattr__(self, name: str):
        if name in CALLS and name != "state":
            return lambda *args, **kwargs: self._call(name, *args, **kwargs)
        raise AttributeError(name)

    # ---- calls with a local answer once the child is gone --------------------------------
    def status(self) -> Dict[str, Any]:
        if not self._ended:
            try:
                self._call("status")
            except GanlabError:
                if not self._ended:
                    raise
        return dict(self._last)

    def metrics_since(self, cursor: int = 0):
        """New metrics rows; none once the run's process is gone (its rows are in metrics.jsonl)."""
        if self._ended:
            return [], cursor
        try:
            return self._call("metrics_since", cursor)
        except GanlabError:
            if self._ended:
                return [], cursor
            raise

    @property
    def state(self) -> str:
        if self._ended:
            return self._last["state"]
        try:
            return self._call("state")
        except GanlabError:
            return self._last["state"]

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid

    def stop(self, timeout: float = 60.0) -> None:
        """Stop training and write the final checkpoint (in the child), then let the child exit."""
        with self._lock:                                       # no other call between "stop" and the end
            if self._ended:
                return
            try:
                self._call("status")
                self._call("stop", timeout)
            except GanlabError:
                if self._ended:                                # it had died already
                    return
                raise
            self._ended, self._last = "stopped", dict(self._last, state="stopped")
            self._conn.close()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def _raise(value) -> None:
    kind, message = value
    if kind == "ganlab":
        raise GanlabError(message)
    raise RuntimeError(f"in the run's training process: {message}")


__all__ = ["RemoteEngine", "CALLS"]
