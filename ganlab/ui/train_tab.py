"""The Train tab: pick data, model, loss and knobs, press Start, watch the GAN learn.

    with gr.Tabs():
        with gr.Tab("Train"):
            build_train_tab(sessions, demo)

Layout only: what the buttons do lives in train_handlers.py. Every control has
a stable ``elem_id`` (``train-...``) for the browser test.
"""
from __future__ import annotations

from typing import Dict

import gradio as gr

from ..data import list_datasets
from ..data.shapes import ATTRIBUTES as SHAPE_ATTRIBUTES
from ..losses import LOSSES
from ..nets import MODELS
from .common import keyed
from .liveplot import live_plot, live_value
from .plots import curves_figure, empty_points_figure
from .sessions import Sessions
from .train_handlers import DEFAULT_FORM, FORM_FIELDS, TrainHandlers

POLL_SECONDS = 1.0


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
    f["custom"] = gr.Textbox(label="or type a dataset", placeholder="upload:NAME, torchvision:NAME or folder:NAME",
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
        f["remove_uploads"] = gr.Button("Delete my uploads", size="sm", elem_id="train-remove-uploads")
    gr.Markdown("### Model")
    with gr.Row():
        f["model"] = gr.Dropdown(MODELS.names(), value=d["model"], label="model", elem_id="train-model")
        f["loss"] = gr.Dropdown(list(LOSSES), value=d["loss"], label="loss", elem_id="train-loss")
    with gr.Row():
        f["steps"] = gr.Number(d["steps"], label="steps", precision=0, elem_id="train-steps")
        f["minutes"] = gr.Number(d["minutes"], label="train for (minutes; 0 = until the steps)", minimum=0,
                                 elem_id="train-minutes")
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
        f["resolution"] = gr.Number(d["resolution"] or 0, label="resolution for image sets (0 = the set's own)",
                                    precision=0, minimum=0, elem_id="train-resolution")
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
    with gr.Accordion("Your runs (continue, view, fork, share)", open=False, elem_id="train-runs-box"):
        p["runs"] = gr.Dropdown([], label="runs you may open", elem_id="train-runs", allow_custom_value=True,
                                info="yours, runs shared with the class, and the shipped models")
        with gr.Row():
            p["until"] = gr.Number(0, label="train until step (0 = as saved)", precision=0, minimum=0,
                                   elem_id="train-until")
            p["refresh"] = gr.Button("Refresh list", size="sm", elem_id="train-refresh")
        with gr.Row():
            p["open"] = gr.Button("Open", elem_id="train-open", min_width=70)
            p["fork"] = gr.Button("Fork with the settings above", elem_id="train-fork", min_width=90)
        with gr.Row():
            p["share"] = gr.Button("Share with everyone", size="sm", elem_id="train-share")
            p["unshare"] = gr.Button("Stop sharing", size="sm", elem_id="train-unshare")
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
    v["notice"] = gr.Markdown("", elem_id="train-notice")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            # live plots (ui.liveplot): redrawn in place from JSON text, no plotly figure built per poll
            v["points"] = live_plot(live_value(empty_points_figure(as_dict=True)), elem_id="train-points")
            v["grid"] = gr.Image(label="samples (fixed noise)", show_label=False, type="pil", format="png",
                                 visible=False, interactive=False, elem_id="train-grid", buttons=["download"])
        with gr.Column(scale=1, min_width=300):
            v["curves"] = live_plot(live_value(curves_figure([], as_dict=True)), elem_id="train-curves")
            v["classes"] = gr.Plot(label="classes in G's samples", show_label=False, visible=False,
                                   elem_id="train-classes")
    with gr.Group(visible=False, elem_id="train-broadcast") as v["bc_box"]:
        v["bc_status"] = gr.Markdown("", elem_id="train-bc-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                v["bc_points"] = live_plot(None, visible=False, elem_id="train-bc-points")
                v["bc_grid"] = gr.Image(label="the teacher's run", show_label=False, type="filepath", format="png",
                                        visible=False, interactive=False, elem_id="train-bc-grid")
            with gr.Column(scale=1, min_width=300):
                v["bc_curves"] = live_plot(None, elem_id="train-bc-curves")
        v["bc_fork"] = gr.Button("Fork the teacher's run with the settings on the left", size="sm",
                                 elem_id="train-bc-fork")
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
    sessions = h.sessions
    msg_status = [v["message"], v["status"]]
    form = [f[name] for name in FORM_FIELDS]              # in FORM_FIELDS order: the API's parameters too

    def start(request: gr.Request, *values):
        return h.start(dict(zip(FORM_FIELDS, values)), sessions.bind(request).key)

    def fork(request: gr.Request, ref, *values):
        return h.fork(ref, dict(zip(FORM_FIELDS, values)), sessions.bind(request).key)

    def fork_broadcast(request: gr.Request, *values):
        path = sessions.classroom.broadcast
        if path is None:
            return "⚠️ The teacher is not showing a run right now.", gr.skip()
        return fork(request, sessions.access.ref(path), *values)

    def choices(request: gr.Request):
        return gr.update(choices=h.run_choices(sessions.bind(request).key))

    v["start"].click(start, form, msg_status, concurrency_id="train-control", concurrency_limit=4,
                     api_name="train_start")
    for name, fn in (("resume", h.resume), ("step", h.step), ("pause", h.pause), ("stop", h.stop)):
        v[name].click(keyed(fn, sessions), None, msg_status, concurrency_id="train-control",
                      api_name=f"train_{name}")
    f["apply"].click(keyed(h.apply, sessions, 3), [f["lr_g"], f["lr_d"], f["n_critic"]], msg_status)
    p["save"].click(keyed(h.save_checkpoint, sessions), None, msg_status + [p["download"]])
    p["gif"].click(keyed(h.gif, sessions), None, msg_status + [p["download"]])
    p["open"].click(keyed(h.open_run, sessions, 2), [p["runs"], p["until"]],
                    msg_status + [f["lr_g"], f["lr_d"], f["n_critic"]], api_name="train_open")
    p["fork"].click(fork, [p["runs"], *form], msg_status, api_name="train_fork")
    v["bc_fork"].click(fork_broadcast, form, msg_status, api_name="train_fork_broadcast")
    p["share"].click(keyed(lambda ref, key: h.share(ref, True, key), sessions, 1), p["runs"], v["message"])
    p["unshare"].click(keyed(lambda ref, key: h.share(ref, False, key), sessions, 1), p["runs"], v["message"])
    p["refresh"].click(choices, None, p["runs"], show_progress="hidden", api_name="train_runs")
    p["runs"].focus(choices, None, p["runs"], show_progress="hidden")

    suggest = [f["model"], f["lr_g"], f["lr_d"], f["eval_every"]]
    family = [f["lr_g"], f["lr_d"], f["ema"], f["batch_size"], f["loss"]]
    # a set made for one family (sneaker<->boot: cyclegan) picks it, then that family's preset settings; a set
    # with a recipe of its own (fashion-mnist) picks the recipe's model, then its settings
    f["dataset"].input(h.dataset_defaults, f["dataset"], [f["custom"]] + suggest, show_progress="hidden").then(
        h.model_defaults, [f["model"], f["dataset"]], family, show_progress="hidden").then(
        keyed(h.placeholder, sessions, 2), [f["dataset"], f["model"]], [v["status"], v["points"]],
        show_progress="hidden")
    f["model"].input(h.model_defaults, [f["model"], f["dataset"]], family, show_progress="hidden")
    f["custom"].submit(h.custom_defaults, f["custom"], suggest, show_progress="hidden")
    f["custom"].blur(h.custom_defaults, f["custom"], suggest, show_progress="hidden")
    f["upload"].upload(keyed(h.upload, sessions, 1), f["upload"], [v["message"], f["custom"]] + suggest,
                       api_name="train_upload")
    f["remove_uploads"].click(keyed(h.remove_uploads, sessions), None, v["message"])

    timer = gr.Timer(POLL_SECONDS)                        # its period follows the run (TrainHandlers._pace)
    outputs = [v["status"], v["curves"], v["points"], v["grid"], v["health"], v["classes"],
               v["bc_box"], v["bc_status"], v["bc_curves"], v["bc_points"], v["bc_grid"], v["notice"], timer]
    timer.tick(keyed(h.tick, sessions), None, outputs, show_progress="hidden", concurrency_id="poll",
               concurrency_limit=8, queue=True, api_name="train_poll")
