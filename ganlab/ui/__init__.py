"""The Gradio app: one tab per way of playing with GANs, all thin clients of the engine.

    from ganlab.ui import build_app
    demo = build_app(runs_root="runs")      # gr.Blocks; runs go to runs/ui/...
    demo.queue(default_concurrency_limit=4).launch()

Adding a tab means writing ``build_<name>_tab(sessions)`` in its own module and
one ``with gr.Tab(...)`` block below. Per-browser state lives in ``Sessions``,
keyed by ``request.session_hash`` and dropped when the browser tab closes.
"""
from __future__ import annotations

import gradio as gr

from .compare_tab import build_compare_tab
from .explore_tab import build_explore_tab
from .playground_tab import build_playground_tab
from .sessions import Sessions
from .text_tab import build_text_tab
from .train_tab import build_train_tab

__all__ = ["build_app", "Sessions"]

TITLE = "ganlab"
SUBTITLE = "Train generative adversarial networks and watch them learn, step by step."


def build_app(runs_root=None, max_runs=None) -> gr.Blocks:
    """The whole UI; runs go under ``runs_root`` (default: $GANLAB_RUNS or ``runs``)."""
    sessions = Sessions(runs_root, max_runs=max_runs)
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\n{SUBTITLE}", elem_id="app-title")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                train = build_train_tab(sessions)
            with gr.Tab("2-D Playground", id="playground", elem_id="tab-playground") as play_tab:
                build_playground_tab(sessions, play_tab)
            with gr.Tab("Explore", id="explore", elem_id="tab-explore") as explore_tab:
                explore = build_explore_tab(sessions, explore_tab)
            with gr.Tab("Text → Image", id="text", elem_id="tab-text") as text_tab:
                text = build_text_tab(sessions, text_tab)
            with gr.Tab("Compare runs", id="compare", elem_id="tab-compare") as compare_tab:
                build_compare_tab(sessions, compare_tab)
        demo.unload(_closer(train.close, explore.forget, text.forget))
    demo.sessions = sessions                      # for tests and for shutting down cleanly
    return demo


def _closer(*closers):
    def on_unload(request: gr.Request):
        for close in closers:
            close(request.session_hash)
    return on_unload
