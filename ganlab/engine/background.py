"""Stream a long single-threaded job's progress to a caller that yields (a Gradio generator handler).

    for kind, item in streamed(lambda report: project(G, x, progress=report), every=0.5):
        if kind == "progress":
            yield draw(item)             # the newest item reported, at most one every 0.5 s
        else:
            result = item                # ("done", the job's return value)

The job runs on its own daemon thread and calls ``report(item)`` as often as it likes; only the
newest item is kept. When the caller stops iterating (the browser went away), the next ``report``
raises :class:`Cancelled`, so the job ends at its next step instead of running on unseen. The job's
own exception is raised in the caller.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, Tuple


class Cancelled(Exception):
    """Raised inside a streamed job whose caller stopped listening."""


def streamed(job: Callable[[Callable[[Any], None]], Any], every: float = 0.5,
             name: str = "streamed-job") -> Iterator[Tuple[str, Any]]:
    state = {"latest": None, "fresh": False, "done": False, "result": None, "error": None}
    cond, stop = threading.Condition(), threading.Event()

    def report(item: Any) -> None:
        if stop.is_set():
            raise Cancelled()
        with cond:
            state["latest"], state["fresh"] = item, True
            cond.notify_all()

    def run() -> None:
        try:
            result = job(report)
            with cond:
                state["result"] = result
        except BaseException as e:               # handed to the caller, who raises it
            with cond:
                state["error"] = e
        finally:
            with cond:
                state["done"] = True
                cond.notify_all()

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        while True:
            with cond:
                cond.wait_for(lambda: state["done"] or state["fresh"])
                if state["done"]:
                    break
                item, state["fresh"] = state["latest"], False
            yield "progress", item
            with cond:                           # pace: at most one item per ``every``, unless the job ends
                cond.wait_for(lambda: state["done"], timeout=every)
        if state["error"] is not None:
            raise state["error"]
        yield "done", state["result"]
    finally:
        stop.set()                               # the caller stopped early, or we are done: end the job
