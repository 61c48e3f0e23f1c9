"""One fix to Gradio's server for pages that poll: a skipped output costs nothing.

    install()          # once, before the app serves (build_app does it)

Gradio 6 treats ``gr.skip()`` (``{"__type__": "update"}``, "leave this output
as it is") like any property update: for every skipped output of every event
it builds a new instance of the component and regenerates its config,
pydantic JSON schemas included, only to change nothing. The Train tab's poll
has a dozen outputs and most of them are skipped on most polls, so with 30
pages polling once a second that work was a fifth of the server's time
(py-spy, 30 simulated users: SessionState._update_config and
Component.__init__ under postprocess_data). Here a pure skip is passed to the
page as it is, which is exactly what Gradio's own code ends up sending for it,
and the other outputs go through Gradio's postprocessing unchanged.
"""
from __future__ import annotations

import copy

from gradio.blocks import Blocks

SKIP = {"__type__": "update"}


def _is_skip(value) -> bool:
    return isinstance(value, dict) and value == SKIP


def install() -> None:
    original = Blocks.postprocess_data
    if getattr(original, "_ganlab_skips", False):
        return

    async def postprocess_data(self, block_fn, predictions, state):
        n = len(block_fn.outputs)
        if block_fn.batch or n < 2 or not isinstance(predictions, (list, tuple)) or len(predictions) != n:
            return await original(self, block_fn, predictions, state)
        keep = [i for i, p in enumerate(predictions) if not _is_skip(p)]
        if len(keep) == n:
            return await original(self, block_fn, predictions, state)
        out = [dict(SKIP) for _ in range(n)]
        if keep:
            some = copy.copy(block_fn)                   # the same event, with only the outputs that change
            some.outputs = [block_fn.outputs[i] for i in keep]
            values = [predictions[i] for i in keep]
            done = await original(self, some, values if len(keep) > 1 else values[0], state)
            for i, value in zip(keep, done):
                out[i] = value
        return out

    postprocess_data._ganlab_skips = True
    Blocks.postprocess_data = postprocess_data
