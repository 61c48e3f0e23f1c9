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


def test_a_skipped_output_is_not_rebuilt(monkeypatch):
    """gradio_fixes: outputs left as they are (gr.skip()) pass through untouched, and no component is rebuilt
    for them; the others are postprocessed by Gradio as before."""
    import asyncio

    from ganlab.ui import gradio_fixes
    gradio_fixes.install()
    with gr.Blocks() as demo:
        a, b, c = gr.Markdown("a"), gr.Markdown("b"), gr.Image(type="pil")
        btn = gr.Button()
        btn.click(lambda: None, None, [a, b, c])
    assert demo.config                                                 # built, as a launched app has it
    fn = next(f for f in demo.fns.values() if len(f.outputs) == 3)
    built = []
    real = gr.Markdown.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        real(self, *args, **kwargs)
    monkeypatch.setattr(gr.Markdown, "__init__", counting)
    out = asyncio.run(demo.postprocess_data(fn, [gr.skip(), "**new**", gr.skip()], None))
    assert out[0] == {"__type__": "update"} and out[2] == {"__type__": "update"}
    assert out[1] == "**new**" and built == []                        # nothing rebuilt for the skips
    out = asyncio.run(demo.postprocess_data(fn, [gr.update(visible=False), gr.skip(), gr.skip()], None))
    assert out[0]["visible"] is False and out[1] == {"__type__": "update"}   # real updates still go through Gradio
    assert len(built) == 1


def test_a_new_session_does_not_copy_the_whole_apps_config():
    """gradio_fixes: a browser's SessionState starts empty and records only what its events change."""
    from gradio.state_holder import SessionState

    from ganlab.ui import gradio_fixes
    gradio_fixes.install()
    with gr.Blocks() as demo:
        boxes = [gr.Markdown(f"box {i}") for i in range(20)]
    assert demo.config
    state = SessionState(demo)
    assert state.config_values == {}                                   # was one entry per block
    state._update_value_in_config(boxes[3]._id, "changed")
    assert list(state.config_values) == [boxes[3]._id]
    assert state.config_values[boxes[3]._id]["props"]["value"] == "changed"
    assert state[boxes[4]._id] is boxes[4]                             # reading a block still works
