"""The engine: the only package that owns threads and processes.

    from ganlab.engine import Engine, Evaluator, RemoteEngine
    engine = Engine.new(cfg, "runs/ring")        # one run, trained by its own thread (see run.py)
    remote = RemoteEngine.new(cfg, "runs/toy")   # the same, in a child process (see remote.py)
    evaluator = Evaluator()                      # one thread scoring snapshots of G for many engines
    scheduler = Scheduler(slots=8)               # training slots for a server: the rest wait in line
    in_background(fn, "warm-up")                 # one-off work off the caller's thread
    streamed(job)                                # a long job's progress, for a generator handler (background.py)

Everything else (trainer, nets, metrics, UI, CLI) is single-threaded code that
these call into or that calls them.
"""
import logging
import threading
from typing import Callable

from .evaluator import Evaluator
from .remote import RemoteEngine
from .run import Engine
from .scheduler import Job, Scheduler, Ticket

__all__ = ["Engine", "Evaluator", "RemoteEngine", "Scheduler", "Job", "Ticket", "in_background", "later"]

log = logging.getLogger(__name__)


def _logged(fn: Callable[[], object], name: str) -> Callable[[], None]:
    """``fn`` for a background thread: its errors are logged, never raised into the thread."""
    def run():
        try:
            fn()
        except Exception:
            log.exception("%s failed", name)
    return run


def later(seconds: float, fn: Callable[[], object], name: str) -> threading.Timer:
    """Run ``fn()`` once after ``seconds`` on a daemon timer thread (``.cancel()`` before then calls it off);
    its errors are logged."""
    t = threading.Timer(seconds, _logged(fn, name))
    t.name, t.daemon = f"ganlab-{name}", True
    t.start()
    return t


def in_background(fn: Callable[[], object], name: str) -> threading.Thread:
    """Run ``fn()`` on a daemon thread (warming caches, closing a browser's runs); its errors are logged."""
    t = threading.Thread(target=_logged(fn, name), name=f"ganlab-{name}", daemon=True)
    t.start()
    return t
