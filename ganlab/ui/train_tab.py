"""The Train tab: pick data, model, loss and knobs, press Start, watch the GAN learn.

    with gr.Tabs():
        with gr.Tab("Train"):
            build_train_tab(sessions, demo)

Layout only: what the buttons do lives in train_handlers.py. Every control has
a stable ``elem_id`` (``train-...``) for the browser test.
"""
from __future__ import annotations

from typing import Callable, Dict

import gradio as gr

from ..data import list_datasets
from ..data.shapes import ATTRIBUTES as SHAPE_ATTRIBUTES
from ..losses import LOSSES
from ..nets import MODELS
from .plots import curves_figure, empty_points_figure
from .sessions import Sessions
from .train_handlers import DEFAULT_FORM, FORM_FIELDS, TrainHandlers

POLL_SECONDS = 1.0


def keyed(fn: Callable, n_inputs: int = 0) -> Callable:
    """Call ``fn(*inputs, session_hash)``; Gradio injects gr.Request only into named parameters."""
    if n_inputs == 0:
        def handler(request: gr.Request):
            return fn(request.session_hash)
    elif n_inputs == 1:
        def handler(a, request: gr.Request):
            return fn(a, request.session_hash)
    elif n_inputs == 2:
        def handler(a, b, request: gr.Request):
            return fn(a, b, request.session_hash)
    else:
        def handler(a, b, c, request: gr.Request):
            return fn(a, b, c, request.session_hash)
    return handler


# Labels a set can be conditioned on besides its own classes: the shapes set's attributes.
LABEL_CHOICES = ["", *SHAPE_ATTRIBUTES, "shape+colour"]


def _dataset_choices():
    """Registered names, without the ``folder:`` / ``torchvision:`` forms (typed in the box instead)."""
    return [name for name, _ in list_datasets() if not name.endswith(":")]


def _form(d: Dict) -> Dict[str, gr.components.Component]:
    """The left column: the run's configuration."""
    f: Dict[str, gr.components.Component] = {}
    gr.Markdown("### Data")
    f["dataset"] = gr.Dropdown(_dataset_choices(), value=d["dataset"], label="dataset", elem_id="train-dataset")
    f["custom"] = gr.Textbox(label="or type a dataset", placeholder="folder:PATH or torchvision:NAME",
                             info="used instead of the list when filled in", elem_id="train-dataset-custom",
                             max_lines=1)
    with gr.Row():
        f["label"] = gr.Dropdown(LABEL_CHOICES, value=d["label"], allow_custom_value=True,
                                 label="condition on (class-conditioned models)", elem_id="train-label",
                                 info="blank = the set's classes; shapes: shape, colour or shape+colour")
        f["factorised"] = gr.Checkbox(d["factorised"], label="factorised label", elem_id="train-factorised",
                                      info="shape+colour: one embedding per part, summed")
    with gr.Accordion("Upload your own images (.zip or several files)", open=False):
        f["upload"] = gr.File(file_count="multiple", file_types=[".zip", "image"], type="filepath",
                              label="images", elem_id="train-upload", height=120)
    gr.Markdown("### Model")
    with gr.Row():
        f["model"] = gr.Dropdown(MODELS.names(), value=d["model"], label="model", elem_id="train-model")
        f["loss"] = gr.Dropdown(list(LOSSES), value=d["loss"], label="loss", elem_id="train-loss")
    with gr.Row():
        f["steps"] = gr.Number(d["steps"], label="steps", precision=0, elem_id="train-steps")
        f["batch_size"] = gr.Number(d["batch_size"], label="batch size", precision=0, elem_id="train-batch")
    with gr.Row():
        f["lr_g"] = gr.Number(d["lr_g"], label="lr G", elem_id="train-lr-g")
        f["lr_d"] = gr.Number(d["lr_d"], label="lr D", elem_id="train-lr-d")
        f["n_critic"] = gr.Number(d["n_critic"], label="n_critic (D:G)", precision=0, elem_id="train-n-critic")
    f["apply"] = gr.Button("Apply lr / n_critic to the running run", size="sm", elem_id="train-apply")
    with gr.Accordion("More options", open=False):
        with gr.Row():
            f["spectral_norm"] = gr.Checkbox(d["spectral_norm"], label="spectral norm on D", elem_id="train-sn")
            f["device"] = gr.Dropdown(["auto", "cpu", "cuda", "mps"], value=d["device"], label="device",
                                      elem_id="train-device")
        with gr.Row():
            f["label_smoothing"] = gr.Number(d["label_smoothing"], label="label smoothing", elem_id="train-smooth")
            f["instance_noise"] = gr.Number(d["instance_noise"], label="instance noise", elem_id="train-noise")
        with gr.Row():
            f["ema"] = gr.Number(d["ema"], label="EMA decay (0 = off)", elem_id="train-ema")
            f["seed"] = gr.Number(d["seed"], label="seed", precision=0, elem_id="train-seed")
        f["resolution"] = gr.Number(d["resolution"], label="resolution for image sets (blank = native)",
                                    precision=0, elem_id="train-resolution")
        with gr.Row():
            f["eval_every"] = gr.Number(d["eval_every"], label="FID estimate every N steps (0 = off)", precision=0,
                                        elem_id="train-eval-every")
            f["eval_n"] = gr.Number(d["eval_n"], label="images per FID estimate", precision=0,
                                    elem_id="train-eval-n")
    return f


def _files_panel() -> Dict[str, gr.components.Component]:
    """Downloads and opening an existing run folder, under the form."""
    p: Dict[str, gr.components.Component] = {}
    with gr.Accordion("Checkpoint and GIF", open=False):
        with gr.Row():
            p["save"] = gr.Button("Save checkpoint (.zip)", size="sm", elem_id="train-save")
            p["gif"] = gr.Button("GIF of training", size="sm", elem_id="train-gif")
        p["download"] = gr.File(label="download", interactive=False, elem_id="train-download", height=80)
    with gr.Accordion("Open a run folder", open=False):
        p["run_path"] = gr.Textbox(label="run folder", placeholder="runs/ring (holds config.json)",
                                   elem_id="train-run-path", max_lines=1)
        with gr.Row():
            p["until"] = gr.Number(None, label="train until step (blank = as saved)", precision=0,
                                   elem_id="train-until")
            p["open"] = gr.Button("Open and continue", elem_id="train-open")
    return p


def _view() -> Dict[str, gr.components.Component]:
    """The right column: run buttons, status, samples and curves."""
    v: Dict[str, gr.components.Component] = {}
    with gr.Row():
        v["start"] = gr.Button("Start", variant="primary", elem_id="train-start", scale=2, min_width=90)
        v["pause"] = gr.Button("Pause", elem_id="train-pause", min_width=70)
        v["resume"] = gr.Button("Resume", elem_id="train-resume", min_width=70)
        v["step"] = gr.Button("Step", elem_id="train-step", min_width=70)
        v["stop"] = gr.Button("Stop", variant="stop", elem_id="train-stop", min_width=70)
    v["status"] = gr.Markdown("Press **Start** to train the default GAN on the ring of 8 Gaussians.",
                              elem_id="train-status")
    v["message"] = gr.Markdown("", elem_id="train-message")
    v["health"] = gr.Markdown("", elem_id="train-health")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            v["points"] = gr.Plot(empty_points_figure(), label="samples", show_label=False,
                                  elem_id="train-points")
            v["grid"] = gr.Image(label="samples (fixed noise)", show_label=False, type="pil", format="png",
                                 visible=False, interactive=False, elem_id="train-grid", buttons=["download"])
        with gr.Column(scale=1, min_width=300):
            v["curves"] = gr.Plot(curves_figure([]), label="training curves", show_label=False,
                                  elem_id="train-curves")
            v["classes"] = gr.Plot(label="classes in G's samples", show_label=False, visible=False,
                                   elem_id="train-classes")
    return v


def build_train_tab(sessions: Sessions) -> TrainHandlers:
    """Lay out the tab inside the current gr.Tab and wire it to ``sessions``; returns the handlers."""
    h = TrainHandlers(sessions)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=340):
            f = _form(DEFAULT_FORM)
            p = _files_panel()
        with gr.Column(scale=2, min_width=600):
            v = _view()
    _wire(h, f, p, v)
    return h


def _wire(h: TrainHandlers, f: Dict, p: Dict, v: Dict) -> None:
    msg_status = [v["message"], v["status"]]
    form = {f[name] for name in FORM_FIELDS}             # a set: Gradio passes one {component: value} dict

    def build(data: dict, request: gr.Request):
        return h.build({name: data[f[name]] for name in FORM_FIELDS}, request.session_hash)

    started = v["start"].click(build, form, msg_status, concurrency_id="build", concurrency_limit=4)
    # launch() checks the cap on running engines and starts; one at a time keeps the cap exact
    launch = dict(fn=keyed(h.launch), outputs=msg_status, concurrency_id="launch", concurrency_limit=1)
    started.then(**launch)
    v["resume"].click(keyed(h.resume), None, msg_status, concurrency_id="launch", concurrency_limit=1)
    v["step"].click(keyed(h.step), None, msg_status, concurrency_id="launch", concurrency_limit=1)
    v["pause"].click(keyed(h.pause), None, msg_status)
    v["stop"].click(keyed(h.stop), None, msg_status)
    f["apply"].click(keyed(h.apply, 3), [f["lr_g"], f["lr_d"], f["n_critic"]], msg_status)
    p["save"].click(keyed(h.save_checkpoint), None, msg_status + [p["download"]])
    p["gif"].click(keyed(h.gif), None, msg_status + [p["download"]])
    p["open"].click(keyed(h.open_run, 2), [p["run_path"], p["until"]],
                    msg_status + [f["lr_g"], f["lr_d"], f["n_critic"]]).then(**launch)

    suggest = [f["model"], f["lr_g"], f["lr_d"], f["eval_every"]]
    f["dataset"].input(h.dataset_defaults, f["dataset"], [f["custom"]] + suggest, show_progress="hidden")
    f["custom"].submit(h.custom_defaults, f["custom"], suggest, show_progress="hidden")
    f["custom"].blur(h.custom_defaults, f["custom"], suggest, show_progress="hidden")
    f["upload"].upload(keyed(h.upload, 1), f["upload"], [v["message"], f["custom"]] + suggest)

    timer = gr.Timer(POLL_SECONDS)
    timer.tick(keyed(h.tick), None, [v["status"], v["curves"], v["points"], v["grid"], v["health"], v["classes"]],
               show_progress="hidden", concurrency_id="poll", concurrency_limit=8, queue=True)

