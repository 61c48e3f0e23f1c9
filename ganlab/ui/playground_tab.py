"""The 2-D Playground tab's layout and wiring; what the controls do is in playground.py.

Every component has a stable ``elem_id`` (``play-...``) for the browser test.
"""
from __future__ import annotations

from typing import Dict

import anyio
import gradio as gr

from ..config import OPTIMIZERS
from ..lessons import LESSONS
from ..losses import LOSSES
from .liveplot import live_plot, live_value
from .plane_plot import ALL_LAYERS, playground_charts
from .playground import DEFAULT_SETTINGS, DRAWING, LIVE_DEFAULTS, MAX_PANELS, TOY_SETS, PlaygroundHandlers
from .sessions import Sessions

LAYER_LABELS = {"heat": "D heatmap", "real": "real data", "fake": "G's points", "arrows": "G's gradients",
                "manifold": "G's manifold"}
INTRO = ("Green points are real data, purple ones are G's samples. The background is D's verdict "
         "(green: real, purple: fake), the black arrows are where G's next update pushes each point, "
         "and the purple mesh is the noise grid as G maps it onto the plane. Pick a **lesson** for a guided "
         "experiment, or change anything below while it trains.")


def _white_canvas():
    import numpy as np
    return np.full((320, 320, 4), 255, np.uint8)


def build_playground_tab(sessions: Sessions, tab: gr.Tab) -> PlaygroundHandlers:
    h = PlaygroundHandlers(sessions)
    c: Dict[str, gr.components.Component] = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            c["lesson_text"] = gr.Markdown(INTRO, elem_id="play-lesson-text")
            with gr.Row():
                c["lesson"] = gr.Dropdown([(v.title, k) for k, v in LESSONS.items()], value=None,
                                          label="lesson", elem_id="play-lesson", scale=3)
                c["load"] = gr.Button("Load lesson", elem_id="play-load", scale=1, min_width=80)
            with gr.Group():
                c["dataset"] = gr.Dropdown(TOY_SETS + [DRAWING], value=DEFAULT_SETTINGS["dataset"],
                                           label="distribution", elem_id="play-dataset")
                with gr.Row():
                    c["z_dim"] = gr.Radio([1, 2], value=DEFAULT_SETTINGS["z_dim"], label="noise dimension",
                                          elem_id="play-zdim")
                    c["z_dist"] = gr.Radio(["gaussian", "uniform"], value=DEFAULT_SETTINGS["z_dist"],
                                           label="noise distribution", elem_id="play-zdist")
                c["pretrained"] = gr.Checkbox(DEFAULT_SETTINGS["pretrained"], label="start from the shipped "
                                              "pretrained model (2-D gaussian noise only)", elem_id="play-pretrained")
                c["new"] = gr.Button("New run", elem_id="play-new", size="sm")
            gr.Markdown("**Live** (applied at once, to every panel)")
            with gr.Group():
                with gr.Row():
                    c["loss"] = gr.Dropdown(list(LOSSES), value=LIVE_DEFAULTS["loss"], label="loss",
                                            elem_id="play-loss")
                    c["optimizer"] = gr.Dropdown(list(OPTIMIZERS), value=LIVE_DEFAULTS["optimizer"],
                                                 label="optimizer", elem_id="play-optimizer")
                with gr.Row():
                    c["lr_g"] = gr.Number(LIVE_DEFAULTS["lr_g"], label="lr G", elem_id="play-lr-g")
                    c["lr_d"] = gr.Number(LIVE_DEFAULTS["lr_d"], label="lr D", elem_id="play-lr-d")
                c["n_critic"] = gr.Slider(1, 10, value=LIVE_DEFAULTS["n_critic"], step=1,
                                          label="D steps per G step", elem_id="play-ncritic")
                c["delay"] = gr.Slider(0, 0.5, value=LIVE_DEFAULTS["delay"], step=0.01,
                                       label="slow motion: seconds between steps", elem_id="play-delay")
            with gr.Accordion("Draw your own distribution", open=False, elem_id="play-draw-box"):
                gr.Markdown("Draw strokes or click points: the canvas is the plane.")
                # a white background and no crop tool: the brush is the active tool from the first stroke
                c["sketch"] = gr.Sketchpad(_white_canvas(), label="your distribution", show_label=False,
                                           type="numpy", image_mode="RGBA", format="png", canvas_size=(320, 320),
                                           fixed_canvas=True, layers=False, transforms=(), elem_id="play-sketch",
                                           brush=gr.Brush(colors=["#000000"], default_size=6,
                                                          color_mode="fixed"))
                c["draw"] = gr.Button("Train on my drawing", elem_id="play-draw")
        with gr.Column(scale=3, min_width=640):
            with gr.Row():
                c["play"] = gr.Button("▶ Play", variant="primary", elem_id="play-play", min_width=80)
                c["pause"] = gr.Button("Pause", elem_id="play-pause", min_width=80)
                c["step_d"] = gr.Button("Step D only", elem_id="play-step-d", min_width=80)
                c["step_g"] = gr.Button("Step G only", elem_id="play-step-g", min_width=80)
                c["step"] = gr.Button("Step both", elem_id="play-step", min_width=80)
            c["message"] = gr.Markdown("", elem_id="play-message")
            c["layers"] = gr.CheckboxGroup([(v, k) for k, v in LAYER_LABELS.items()], value=list(ALL_LAYERS),
                                           label="show", elem_id="play-layers")
            with gr.Row(equal_height=False):
                plots = [live_plot(elem_id=f"play-plane-{i}", visible=i == 0) for i in range(MAX_PANELS)]
            c["stats"] = gr.Markdown("", elem_id="play-stats")
            c["charts"] = live_plot(live_value(playground_charts({}, {})), elem_id="play-charts")
    _wire(h, c, plots, tab)
    return h


def _wire(h: PlaygroundHandlers, c: Dict, plots, tab: gr.Tab) -> None:
    sessions = h.sessions
    settings = [c["dataset"], c["z_dim"], c["z_dist"], c["pretrained"]]
    live = [c["loss"], c["optimizer"], c["lr_g"], c["lr_d"], c["n_critic"], c["delay"]]
    msg = c["message"]

    def s_dict(v):
        return dict(zip(("dataset", "z_dim", "z_dist", "pretrained"), v))

    def l_dict(v):
        return dict(zip(("loss", "optimizer", "lr_g", "lr_d", "n_critic", "delay"), v))

    async def on_open(layers, request: gr.Request):
        """Opening the tab: the pretrained ring, then the views streamed for as long as the page lives."""
        skip = gr.skip()
        key = sessions.bind(request).key
        try:                                         # a thread: starting a run's process waits for it
            await anyio.to_thread.run_sync(h.open, key)
        except Exception as e:                       # the tab still works: a lesson or new run can follow
            yield (f"⚠️ {e}",) + (skip,) * (len(plots) + 3)
        async for out in h.stream(layers, key):
            yield out

    def on_new(request: gr.Request, *values):
        return h.new(s_dict(values[:4]), l_dict(values[4:]), sessions.bind(request).key)

    def on_live(request: gr.Request, *values):
        return h.live(l_dict(values), sessions.bind(request).key)

    def on_draw(sketch, request: gr.Request, *values):
        return h.draw(sketch, s_dict(values[:4]), l_dict(values[4:]), sessions.bind(request).key)

    def keyed(fn, *bound):
        def handler(request: gr.Request):
            return fn(*bound, sessions.bind(request).key)
        return handler

    def on_lesson(lesson, request: gr.Request):
        return h.load_lesson(lesson, sessions.bind(request).key)

    def on_layers(layers, request: gr.Request):
        h.set_layers(layers, sessions.bind(request).key)

    # trigger_mode="once": coming back to the tab must not start a second stream beside the first
    tab.select(on_open, c["layers"], [msg] + plots + [c["stats"], c["charts"], c["lesson_text"]],
               show_progress="hidden", trigger_mode="once", concurrency_limit=None, api_name="play_stream")
    c["layers"].change(on_layers, c["layers"], None, show_progress="hidden")
    c["new"].click(on_new, settings + live, msg, concurrency_id="play-build", concurrency_limit=4)
    for comp in (c["dataset"], c["z_dim"], c["z_dist"]):
        comp.input(on_new, settings + live, msg, concurrency_id="play-build", concurrency_limit=4)
    c["load"].click(on_lesson, c["lesson"], [msg, c["lesson_text"]] + live[:5], concurrency_id="play-build",
                    show_progress_on=msg)        # the live controls stay usable while the panels start
    control = dict(concurrency_id="play-control", concurrency_limit=4)     # never behind training controls
    for comp in (c["loss"], c["optimizer"]):
        comp.input(on_live, live, msg, **control)
    for comp in (c["lr_g"], c["lr_d"]):
        comp.submit(on_live, live, msg, **control)
        comp.blur(on_live, live, msg, **control)
    for comp in (c["n_critic"], c["delay"]):
        comp.release(on_live, live, msg, **control)
    c["draw"].click(on_draw, [c["sketch"]] + settings + live, [msg, c["dataset"]], concurrency_id="play-build")
    c["play"].click(keyed(h.play), None, msg, api_name="play_play", **control)
    c["pause"].click(keyed(h.pause), None, msg, api_name="play_pause", **control)
    c["step_d"].click(keyed(h.step, "d"), None, msg, **control)
    c["step_g"].click(keyed(h.step, "g"), None, msg, **control)
    c["step"].click(keyed(h.step, "both"), None, msg, **control)
