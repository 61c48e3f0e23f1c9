"""An Engine in its own process: the app's runs train beside the server, not inside it.

    e = RemoteEngine.new(cfg, "runs/ui/ring", init=shipped, threads=1, nice=10)
    e = RemoteEngine.open("runs/ui/ring", steps=5000)           # continue a run folder
    e.listen(lambda state, error: ...)                          # state changes, pushed by the child
    e.start(); e.pause(); e.step_d_once(); e.set_lr(lr_g=1e-4)   # the Engine's controls, unchanged
    snap = e.snapshot(cursor, shown_step)                       # one round trip per page poll
    view = e.inspect(partial(view_between_steps, stats=True))   # fn must pickle: a module-level function
    e.stop()                                                    # final checkpoint, then the process exits

Why: a small GAN's step is mostly Python, so a run trained on a thread of the
server shares one interpreter lock with everything the server does to draw
pages (figures, JSON, Gradio's queue). With the Playground open, that left
training about two thirds of its headless step rate on a 2-core machine, and
with many runs on threads every slider waits its turn for the lock. In a
child process the run has a lock of its own, a classroom server uses all its
cores, and the child runs at a lower priority (``nice``), so the pages stay
quick while the cores train.

Children are forked from a fork server that has already imported torch and
ganlab, so a new run starts in a fraction of a second and shares those pages
with its siblings. A dataset the parent loaded is passed in shared memory,
so thirty runs on Fashion-MNIST hold one copy. Each call is one message on a
pipe, answered in order; calls from several threads take turns. The child
pushes every change of state on a second pipe. If the child dies, the run
reads as "error" and every later call raises GanlabError; the server goes on.

    e = RemoteEngine.new(cfg, run_dir, worker=place)   # the same, in a GPU worker's child (engine/worker.py)

On a worker the two pipes are two sockets to the worker's child; what differs
(who can be killed, what a death is called) is the run's host: _Child here,
worker.OnWorker there.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
from functools import lru_cache, partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..errors import GanlabError

log = logging.getLogger(__name__)

START_SECONDS = 120.0          # a new run (nets, data, optional pretrained start) must be ready by then
CALL_SECONDS = 60.0            # one call (a step, a view, a checkpoint) must be answered by then

# what the parent may ask for: Engine methods, plus "state" (a property)
CALLS = frozenset({"start", "pause", "resume", "step_once", "step_d_once", "step_g_once", "inspect",
                   "set_delay", "set_loss", "set_optimizer", "set_lr", "set_n_critic", "set_threads",
                   "save_checkpoint", "export_checkpoint", "stop", "metrics_since", "latest_samples", "snapshot",
                   "status", "data_info", "real_points", "health", "state"})


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


def warm_up() -> None:
    """Start the fork server now (it imports torch and ganlab: seconds), so the first run starts at once."""
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver
        forkserver.ensure_running()


def _describe(exc: BaseException) -> tuple:
    if isinstance(exc, GanlabError):
        return ("ganlab", str(exc))
    return ("bug", f"{type(exc).__name__}: {exc}")


def _build_new(cfg, run_dir: str, **kwargs):
    from .run import Engine
    return Engine.new(cfg, run_dir, **kwargs)


def _build_open(run_dir: str, **kwargs):
    from .run import Engine
    return Engine.open(run_dir, **kwargs)


# glibc's malloc serves blocks above its mmap threshold (128 KB at start) with fresh mmaps, and raises
# the threshold only once such a block is freed. A process that loads its own data frees big buffers
# early and so reuses its heap for activations; a training child handed its data in shared memory never
# does, and mapped, faulted and unmapped every activation: 9,174 page faults a step against 107, and
# steps 20% slower (fashion-mnist dcgan, batch 128, one thread). The values below are the ones glibc's own
# adjustment reaches (its 32 MB cap, trim at twice that), set from the start.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def steady_malloc() -> bool:
    """Reuse freed heap for a training process's activations from the first step (glibc only; True if set)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3             # <malloc.h>
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
            bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):                           # another libc: its own policy stands
        return False


def _serve(conn, events, build: Callable[[], Any], nice: int, cpus: Sequence[int] = ()) -> None:
    """The child: build the Engine, then answer calls until "stop" or until the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl-C is for the server; its exit closes our pipe
    steady_malloc()
    if nice:
        try:
            os.nice(nice)                             # before any torch thread exists: they inherit it
        except OSError:
            pass
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)             # likewise: torch's threads inherit the CPU set
        except (OSError, ValueError) as e:
            conn.send(("error", ("ganlab", f"Cannot run training on CPUs {list(cpus)} ({e}); check the server's "
                                           "--train-cpus.")))
            return
    try:
        engine = build()
    except Exception as exc:                                   # noqa: BLE001 (reported to the parent)
        conn.send(("error", _describe(exc)))
        return
    send_lock = threading.Lock()

    def push(state: str, error: str) -> None:
        with send_lock:
            try:
                events.send((state, error))
            except (OSError, ValueError):                     # the parent went away
                pass
    engine.listen(push)
    conn.send(("ok", engine.status()))
    while True:
        try:
            name, args, kwargs = conn.recv()
        except (EOFError, OSError):                             # the server exited or dropped the run
            engine.stop()
            return
        try:
            result = engine.state if name == "state" else getattr(engine, name)(*args, **kwargs)
            reply = ("ok", result)
        except Exception as exc:                               # noqa: BLE001
            if not isinstance(exc, GanlabError):
                log.exception("run in a process: %s failed", name)
            reply = ("error", _describe(exc))
        try:
            conn.send(reply)
        except (OSError, ValueError):                          # the server went away meanwhile
            engine.stop()
            return
        if name == "stop":
            return


class _Child:
    """The host of a run in a child process of this server."""

    def __init__(self, process):
        self.process = process

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid

    def died(self) -> bool:
        """Its events pipe closed: did the process exit without being asked to?"""
        self.process.join(5)
        return self.process.exitcode not in (0, None)

    def lost(self, hung: bool) -> str:
        """It stopped answering (killed now) or it died: how the run's error says it."""
        if hung:
            self.process.kill()
        self.process.join(5)
        return "stopped answering" if hung else f"ended unexpectedly (exit code {self.process.exitcode})"

    def reap(self) -> None:
        """After a clean stop: let it exit, or end it."""
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def _resume_point(run_dir: Path) -> str:
    """What Resume will do after a lost process, read from the folder itself: the step of its last checkpoint,
    or that there is none."""
    from ..checkpoint import checkpoint_step, latest_checkpoint
    last = latest_checkpoint(Path(run_dir) / "checkpoints")
    if last is None:
        return "it had saved no checkpoint yet, so Resume starts it again from step 0."
    return f"Resume continues from its last checkpoint, at step {checkpoint_step(last):,}."


class RemoteEngine:
    """The controls and views of :class:`~ganlab.engine.run.Engine`, for an Engine in a child process."""

    def __init__(self, host, conn, events, run_dir: Path, status: Dict[str, Any]):
        self._host, self._conn = host, conn
        self.run = SimpleNamespace(path=Path(run_dir))          # what Sessions.owner_of reads
        self._lock = threading.RLock()                          # one call on the pipe at a time
        self._last: Dict[str, Any] = dict(status)
        self._ended: Optional[str] = None                      # "stopped" or "error" once the child is gone
        self._listeners: List[Callable[[str, str], None]] = []
        self._watcher = threading.Thread(target=self._watch, args=(events,), daemon=True,
                                         name=f"ganlab-events-{Path(run_dir).name}")
        self._watcher.start()

    @classmethod
    def new(cls, cfg, run_dir, init=None, threads: Optional[int] = None, data=None, nice: int = 0,
            checkpoint_seconds: float = 0.0, init_generator_only: bool = False, worker=None,
            cpus: Sequence[int] = ()) -> "RemoteEngine":
        """Engine.new(cfg, run_dir, ...) in a fresh child; its errors are raised here. ``data`` (a loaded
        DataSource) travels in shared memory instead of being loaded again in the child; ``cpus``: the CPUs it
        may run on (all when empty).

        With ``worker`` (a worker.WorkerPlace) the child is the worker's: it loads its own data, picks its
        threads and niceness, and trains on the worker's device; PlaceUnavailable when it cannot take the run."""
        if worker is not None:
            # absolute paths: the worker's working folder is not the server's
            kwargs = dict(init=str(Path(init).absolute()) if init else None, checkpoint_seconds=checkpoint_seconds,
                          init_generator_only=init_generator_only)
            return cls._on_worker(worker, "new", (cfg, str(Path(run_dir).absolute())), kwargs, Path(run_dir))
        build = partial(_build_new, cfg, str(run_dir), init=str(init) if init else None, threads=threads,
                        data=data, checkpoint_seconds=checkpoint_seconds, init_generator_only=init_generator_only)
        return cls._spawn(build, Path(run_dir), nice, cpus)

    @classmethod
    def open(cls, run_dir, steps: Optional[int] = None, threads: Optional[int] = None, data=None, nice: int = 0,
             checkpoint_seconds: float = 0.0, worker=None, cpus: Sequence[int] = ()) -> "RemoteEngine":
        """Engine.open(run_dir, steps) in a fresh child (a worker's, with ``worker``)."""
        if worker is not None:
            kwargs = dict(steps=steps, checkpoint_seconds=checkpoint_seconds)
            return cls._on_worker(worker, "open", (str(Path(run_dir).absolute()),), kwargs, Path(run_dir))
        build = partial(_build_open, str(run_dir), steps=steps, threads=threads, data=data,
                        checkpoint_seconds=checkpoint_seconds)
        return cls._spawn(build, Path(run_dir), nice, cpus)

    @classmethod
    def _spawn(cls, build, run_dir: Path, nice: int, cpus: Sequence[int] = ()) -> "RemoteEngine":
        ctx = _context()
        here, there = ctx.Pipe()
        events_here, events_there = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_serve, args=(there, events_there, build, nice, tuple(cpus)),
                           name=f"ganlab-{run_dir.name}", daemon=True)
        proc.start()
        there.close()
        events_there.close()
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
            events_here.close()
            proc.join(10)
            _raise(value)
        return cls(_Child(proc), here, events_here, run_dir, value)

    @classmethod
    def _on_worker(cls, worker, kind: str, args: tuple, kwargs: dict, run_dir: Path) -> "RemoteEngine":
        from .worker import OnWorker, start_run
        conn, events, status = start_run(worker, kind, args, kwargs)
        return cls(OnWorker(worker), conn, events, run_dir, status)

    # ---- the pipes ---------------------------------------------------------------------
    def listen(self, fn: Callable[[str, str], None]) -> None:
        """Call ``fn(state, error)`` on every change of state (on a thread of this process)."""
        self._listeners.append(fn)

    def _watch(self, events) -> None:
        """Relay the child's state changes; when its pipe closes without a goodbye, the run has died."""
        while True:
            try:
                state, error = events.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                self._last = dict(self._last, state=state, error=error)
            self._tell(state, error)
        died = self._host.died()
        with self._lock:
            if self._ended is None and died:
                self._mark_dead(self._host.lost(hung=False))
            dead = self._ended == "error"
        if dead:               # told here even when a call noticed the death first, so the slot comes back
            self._tell("error", self._last["error"])

    def _tell(self, state: str, error: str) -> None:
        for fn in list(self._listeners):
            try:
                fn(state, error)
            except Exception:                                   # a listener's bug must not stop the relay
                log.exception("engine listener failed")

    def _call(self, name: str, *args, **kwargs) -> Any:
        with self._lock:
            if self._ended == "stopped":
                raise GanlabError("This run has ended; start a new run or open its folder.")
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
            if kind == "ok" and name in ("status", "snapshot"):
                self._last = dict(value if name == "status" else value["status"])
        if kind != "ok":
            _raise(value)
        return value

    def _lost(self, exc: BaseException) -> None:
        """The child died or hung: the run reads as failed from now on (the caller holds the lock)."""
        self._mark_dead(self._host.lost(hung=isinstance(exc, TimeoutError)))

    def _mark_dead(self, why: str) -> None:
        log.error("run %s: its training process %s", self.run.path, why)
        self._ended = "error"
        self._last = dict(self._last, state="error", error=f"This run's training process {why}; {_resume_point(self.run.path)}")
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

    def cached_status(self) -> Dict[str, Any]:
        """The last status the child sent (with every snapshot): no round trip."""
        return dict(self._last)

    @property
    def ended(self) -> bool:
        return self._ended is not None

    @property
    def pid(self) -> Optional[int]:
        return self._host.pid

    def make_gif(self) -> Path:
        from ..runs import RunDir
        return RunDir(self.run.path, None).make_gif()

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
            state = "error" if self._last.get("state") == "error" else "stopped"
            self._ended, self._last = "stopped", dict(self._last, state=state)
            self._conn.close()
        self._host.reap()
        self._tell(self._last["state"], self._last.get("error", ""))


def _raise(value) -> None:
    kind, message = value
    if kind == "ganlab":
        raise GanlabError(message)
    raise RuntimeError(f"in the run's training process: {message}")


__all__ = ["RemoteEngine", "CALLS"]
