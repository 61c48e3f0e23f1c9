"""Two fixes to Gradio's server for a class of pages: a skipped output, and a new browser, cost nothing.

    install()          # once, before the app serves (build_app does it)

1. Skipped outputs.
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

2. New sessions. Every browser session gets a SessionState, and Gradio fills it
at once with the config of every component of the app (config_for_block for
each of ~300 blocks, schemas included): 84 ms of the server's time and 0.4 MB
per browser, kept for an hour after it closes. Its only reader is the
"deep link" feature, which this app does not use; updates fill in the entries
they change (``_update_value_in_config`` already does so for a missing one).
Here a session starts with no entries and gets them as its components change.
"""
from __future__ import annotations

import copy

from gradio.blocks import Blocks
from gradio.state_holder import SessionState

SKIP = {"__type__": "update"}


def _is_skip(value) -> bool:
    return isinstance(value, dict) and value == SKIP


def install() -> None:
    _skips_cost_nothing()
    _sessions_start_empty()


class _NoBlocks:
    """What SessionState.__init__ reads of the app, with no blocks to fill its config with."""

    def __init__(self, blocks):
        self.default_config, self.blocks = blocks.default_config, {}


def _sessions_start_empty() -> None:
    original = SessionState.__init__
    if getattr(original, "_ganlab_lazy", False):
        return

    def __init__(self, blocks):
        try:
            original(self, _NoBlocks(blocks))
        except AttributeError:                       # another Gradio reads more of the app: keep its way
            original(self, blocks)

    __init__._ganlab_lazy = True
    SessionState.__init__ = __init__


def _skips_cost_nothing() -> None:
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
