"""Pieces every tab uses: errors as messages, the caller's session, and the run pickers' labels.

    @guarded(3)                    # GanlabError (or a bug) -> "⚠️ sentence" in the first output, skip the rest
    def handler(...): ...
    keyed(fn, sessions, n)         # a Gradio handler calling fn(*inputs, session_key), the session marked as seen
"""
from __future__ import annotations

import functools
import logging
import re
import secrets
import time
from typing import Callable

import gradio as gr

from ..errors import GanlabError

log = logging.getLogger(__name__)

MAX_TEXT = 2000                 # characters of any one text value a handler takes (a prompt, a run's name ...)
MAX_MESSAGE = 1000              # characters of a message shown on a page
# an absolute path of two parts or more (/srv/ganlab/runs/x): shown as its last part
_ABS_PATH = re.compile(r"(?<![\w./])/(?:[^\s/'\"`]+/)+([^\s/'\"`]*)")


def check_inputs(values) -> None:
    """GanlabError for a text value longer than any form sends (checked before anything logs or echoes it)."""
    for v in values:
        if isinstance(v, str) and len(v) > MAX_TEXT:
            raise GanlabError(f"A text value of {len(v):,} characters is longer than this page takes "
                              f"({MAX_TEXT:,}); it was not read.")
        if isinstance(v, dict):
            check_inputs(v.values())
        elif isinstance(v, (list, tuple)):
            check_inputs(v)


def for_the_page(sentence: str) -> str:
    """A message as a page may show it: no server paths, and short."""
    text = _ABS_PATH.sub(lambda m: m.group(1) or "…", str(sentence))
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def failure(fn_name: str, e: BaseException) -> str:
    """A bug's sentence for the page: a reference the teacher can find in the server log, nothing internal."""
    ref = secrets.token_hex(3)
    log.error("UI handler %s failed [ref %s]", fn_name, ref, exc_info=(type(e), e, e.__traceback__))
    return (f"Something went wrong on the server (reference {ref}); nothing was changed. If it happens again, "
            "give your teacher or the server's owner that reference.")


def guarded(n_outputs: int) -> Callable:
    """Turn GanlabError (and any bug) into a message in the first output plus a toast."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                check_inputs(args)
                check_inputs(kwargs.values())
                return fn(*args, **kwargs)
            except GanlabError as e:
                sentence = for_the_page(str(e))
            except Exception as e:                          # a bug: keep the server up, log it, give a reference
                sentence = failure(fn.__name__, e)
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
            return sessions.bind(request).key
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
    if seconds > 6 * 3600:                  # an estimate this far out says the runs ahead are very long, no more
        return "not soon: the runs ahead of it are long, so it starts when one of them is stopped or paused"
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
