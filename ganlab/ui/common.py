"""Pieces every tab uses: errors as messages, the caller's session, and the run pickers' labels.

    @guarded(3)                    # GanlabError (or a bug) -> "⚠️ sentence" in the first output, skip the rest
    def handler(...): ...
    keyed(fn, sessions, n)         # a Gradio handler calling fn(*inputs, session_key), the session marked as seen
"""
from __future__ import annotations

import functools
import logging
import time
from typing import Callable

import gradio as gr

from ..errors import GanlabError

log = logging.getLogger(__name__)


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


def keyed(fn: Callable, sessions=None, n_inputs: int = 0) -> Callable:
    """Call ``fn(*inputs, session_hash)``; Gradio injects gr.Request only into named parameters.

    With ``sessions``, the caller's session is bound first (its user, and that it was seen now).
    """
    def bind(request: gr.Request) -> str:
        if sessions is not None:
            sessions.bind(request)
        return request.session_hash

    if n_inputs == 0:
        def handler(request: gr.Request):
            return fn(bind(request))
    elif n_inputs == 1:
        def handler(a, request: gr.Request):
            return fn(a, bind(request))
    elif n_inputs == 2:
        def handler(a, b, request: gr.Request):
            return fn(a, b, bind(request))
    elif n_inputs == 3:
        def handler(a, b, c, request: gr.Request):
            return fn(a, b, c, bind(request))
    else:
        def handler(a, b, c, d, request: gr.Request):
            return fn(a, b, c, d, bind(request))
    handler.__name__ = getattr(fn, "__name__", "handler")
    return handler


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def minutes(seconds) -> str:
    if seconds is None:
        return "when a run ahead finishes or pauses"
    if seconds < 60:
        return "less than a minute"
    return f"about {round(seconds / 60):.0f} min"


def age(t: float) -> str:
    """'3 min ago' for a time.time() stamp."""
    s = max(0, time.time() - t)
    return "just now" if s < 60 else f"{s / 60:.0f} min ago" if s < 3600 else f"{s / 3600:.1f} h ago"


def model_picker(h, prefix: str, intro: str) -> dict:
    """The head of a tab that opens models (Explore, Text -> Image, Image -> Image): its intro, a dropdown of
    ``h.models()`` set to ``h.default_model()`` with an Open button, and a line saying what is open.
    Returns the tab's component dict with "model", "open" and "info" in it (ids ``{prefix}-model`` ...)."""
    gr.Markdown(intro, elem_id=f"{prefix}-intro")
    c = {}
    with gr.Row():
        c["model"] = gr.Dropdown(h.models(), value=h.default_model(), label="model", scale=3,
                                 elem_id=f"{prefix}-model", allow_custom_value=True)
        c["open"] = gr.Button("Open", scale=1, min_width=80, elem_id=f"{prefix}-open")
    c["info"] = gr.Markdown("", elem_id=f"{prefix}-info")
    return c
