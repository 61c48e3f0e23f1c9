"""Every event handler that asks for the gr.Request really gets it from Gradio.

Gradio only injects a request parameter it can place among the positional
arguments: ``def f(*values, request: gr.Request)`` is silently left without it
(a TypeError on every call), ``def f(request: gr.Request, *values)`` works.
"""
import inspect

import gradio as gr
from gradio.helpers import special_args

from ganlab.ui import build_app


def test_every_handler_that_wants_the_request_gets_it(tmp_path):
    demo = build_app(runs_root=tmp_path)
    checked = 0
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if fn is None:
            continue
        params = inspect.signature(fn).parameters
        if not any(p.annotation in (gr.Request, "gr.Request") for p in params.values()):
            continue
        n_inputs = len(block_fn.inputs)
        args, *_ = special_args(fn, [None] * n_inputs, request=gr.Request())
        assert any(isinstance(a, gr.Request) for a in args), f"{fn.__qualname__} never receives the request"
        checked += 1
    assert checked > 20                                    # the tabs' handlers were all looked at
