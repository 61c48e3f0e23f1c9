"""The Explore tab's layout and wiring; what the controls do is in explore.py.

Opens on the first shipped model, so it works before anything is trained.
Every component has a stable ``elem_id`` (``explore-...``) for the browser test.
"""
from __future__ import annotations

import random
from typing import Dict, List

import gradio as gr

from ..errors import GanlabError
from .common import guarded, model_picker
from .explore import N_DIRECTIONS, ExploreHandlers, export_file
from .explore_project import MAX_STEPS, UI_STEPS, held_out_choices, open_latent, project_stream
from .explore_style import LAYER_RANGES, NOISE, SPACES, noise_layer_choices, preset_layers, style_layer_choices
from .sessions import Sessions

INTRO = ("Play with a trained generator: every image comes from a **seed** (copy it to get the same image "
         "again). Slide between two seeds, push the image along the generator's main directions of change "
         "(GANSpace), lower ψ for safer, less varied images, and check that an image is not a copy of the "
         "training set. Shipped models open at once; any run folder from the Train tab or the CLI opens too.")
VIEW_KEYS = ["seed_a", "seed_b", "mode", "t", "psi", "frames", "dim", "dim_amount", "class_a", "class_b",
             "blend"] + [f"pc{i}" for i in range(N_DIRECTIONS)] + [
             "space", "dir_layers", "noise", "noise_layers", "noise_seed", "own", "mix_rows", "mix_cols", "mix_layers"]
LIVE_KEYS = ["t", "psi", "blend", "dim_amount"] + [f"pc{i}" for i in range(N_DIRECTIONS)]   # sliders
# the page's side of rendering (static/explore.js, loaded by explore_client.HEAD); each works without it
RENDER_JS = ("(...v) => window.ganlabExplore ? window.ganlabExplore.render(v) "
             ": void document.querySelector('#explore-render-server').click()")
OPEN_JS = ("async (offer, ...v) => window.ganlabExplore ? await window.ganlabExplore.open(offer, ...v) "
           ": 'rendering on the server'")
CLOSE_JS = "(path) => { if (window.ganlabExplore) window.ganlabExplore.close(); return path; }"
STYLE_INTRO = ("**Style model**: every layer takes its own style w. Walk in **W** (the mapping network's "
               "space, smoother) or in Z; lower ψ pulls towards the average w. **Noise** adds per-pixel detail: "
               "fix it, switch it off, or draw it afresh on chosen layers to see which details it owns.")


def _view(values) -> Dict:
    v = dict(zip(VIEW_KEYS, values))
    v["directions"] = [v.pop(f"pc{i}") for i in range(N_DIRECTIONS)]
    return v


def build_explore_tab(sessions: Sessions, tab: gr.Tab) -> ExploreHandlers:
    h = ExploreHandlers(sessions)
    c: Dict[str, gr.components.Component] = model_picker(h, "explore", INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            with gr.Row():
                c["seed_a"] = gr.Number(1, label="seed A", precision=0, elem_id="explore-seed-a", min_width=90)
                c["rand_a"] = gr.Button("🎲", elem_id="explore-rand-a", min_width=40, scale=0)
                c["seed_b"] = gr.Number(2, label="seed B", precision=0, elem_id="explore-seed-b", min_width=90)
                c["rand_b"] = gr.Button("🎲", elem_id="explore-rand-b", min_width=40, scale=0)
            c["mode"] = gr.Radio(["slerp", "lerp"], value="slerp", label="path", elem_id="explore-mode")
            c["t"] = gr.Slider(0, 1, value=0, step=0.01, label="A → B", elem_id="explore-t")
            c["psi"] = gr.Slider(0, 1.5, value=1.0, step=0.05, label="truncation ψ (1 = as trained)",
                                 elem_id="explore-psi")
            c["frames"] = gr.Slider(2, 16, value=8, step=1, label="frames in the strip", elem_id="explore-frames")
            with gr.Accordion("Directions (GANSpace) and raw dimensions", open=False, elem_id="explore-dirs"):
                for i in range(N_DIRECTIONS):
                    c[f"pc{i}"] = gr.Slider(-3, 3, value=0, step=0.1, label=f"principal direction {i + 1} (σ)",
                                            elem_id=f"explore-pc{i}")
                with gr.Row():
                    c["dim"] = gr.Number(0, label="raw dimension of z", precision=0, elem_id="explore-dim")
                    c["dim_amount"] = gr.Slider(-3, 3, value=0, step=0.1, label="move it by",
                                                elem_id="explore-dim-amount")
                c["dir_layers"] = gr.Radio(list(LAYER_RANGES), value="all", visible=False,
                                           label="apply the directions to these layers (style models)",
                                           elem_id="explore-dir-layers")
                c["reset"] = gr.Button("Reset directions", size="sm", elem_id="explore-reset")
            with gr.Group(visible=False, elem_id="explore-style-box") as style_box:
                gr.Markdown(STYLE_INTRO)
                with gr.Row():
                    c["space"] = gr.Radio(list(SPACES), value="W", label="interpolate in", elem_id="explore-space")
                    c["own"] = gr.Checkbox(False, label="start from my image (seed A)", elem_id="explore-own")
                with gr.Row():
                    c["noise"] = gr.Radio(list(NOISE), value="fixed", label="noise", elem_id="explore-noise")
                    c["noise_seed"] = gr.Number(0, label="noise seed", precision=0, elem_id="explore-noise-seed",
                                                min_width=90)
                c["noise_layers"] = gr.CheckboxGroup([], label="on these noise layers (none ticked: all)",
                                                     elem_id="explore-noise-layers")
            with gr.Accordion("Edit your own image (GAN inversion)", open=False, visible=False,
                              elem_id="explore-project-box") as project_box:
                gr.Markdown("Upload a picture (or pick an emoji the model never saw): the latent that draws it "
                            "is searched for, step by step. Then the sliders, noise and mixing edit *your* image.")
                # RGBA: Gradio's default mode (RGB) would drop the alpha, and a transparent background turn black
                c["proj_upload"] = gr.Image(type="filepath", sources=["upload"], label="your picture", height=140,
                                            image_mode="RGBA", elem_id="explore-proj-upload")
                c["proj_pick"] = gr.Dropdown([], label="or a held-out emoji", elem_id="explore-proj-pick")
                with gr.Row():
                    c["proj_space"] = gr.Radio(["W", "W+"], value="W+", label="latent", elem_id="explore-proj-space")
                    c["proj_steps"] = gr.Slider(10, MAX_STEPS, value=UI_STEPS, step=10, label="steps",
                                                elem_id="explore-proj-steps")
                c["proj_btn"] = gr.Button("Project", variant="primary", elem_id="explore-proj-btn")
                c["proj_msg"] = gr.Markdown("", elem_id="explore-proj-msg")
                c["proj_image"] = gr.Image(label="input | reconstruction", type="pil", format="png",
                                           interactive=False, elem_id="explore-proj-image")
                c["proj_file"] = gr.File(label="the latent (.safetensors)", interactive=False, height=60,
                                         elem_id="explore-proj-file")
                c["proj_open"] = gr.File(label="reopen a saved latent", file_types=[".safetensors"], height=60,
                                         elem_id="explore-proj-open")
            with gr.Group(visible=False, elem_id="explore-class-box") as class_box:
                gr.Markdown("**Classes**: pick several for a grid (same seeds in every row), or blend two.")
                c["classes"] = gr.Dropdown([], multiselect=True, label="classes for the grid",
                                           elem_id="explore-classes")
                with gr.Row():
                    c["class_a"] = gr.Dropdown([], label="class", elem_id="explore-class-a")
                    c["class_b"] = gr.Dropdown([], label="blend towards", elem_id="explore-class-b")
                c["blend"] = gr.Slider(0, 1, value=0, step=0.05, label="blend", elem_id="explore-blend")
        with gr.Column(scale=2, min_width=480):
            c["image"] = gr.Image(label="image", type="pil", format="png", interactive=False, height=280,
                                  elem_id="explore-image", buttons=["download"])
            c["render_note"] = gr.Markdown("rendering on the server", elem_id="explore-render-note")
            c["caption"] = gr.Textbox(label="how to get this image again (copy it)", interactive=False,
                                      buttons=["copy"], elem_id="explore-caption", max_lines=2)
            # the page's way into the server render (static/explore.js clicks it for what it cannot draw),
            # and what it needs to draw the rest itself (BrowserRender.offer)
            c["render_server"] = gr.Button("render", visible="hidden", elem_id="explore-render-server")
            c["client"] = gr.JSON(None, visible="hidden", elem_id="explore-client")
            c["strip"] = gr.Image(label="A → B", type="pil", format="png", interactive=False,
                                  elem_id="explore-strip", buttons=["download"])
            c["grid"] = gr.Image(label="one row per class", type="pil", format="png", interactive=False,
                                 visible=False, elem_id="explore-grid", buttons=["download"])
            with gr.Row():
                c["gif"] = gr.Button("GIF of the walk", size="sm", elem_id="explore-gif")
                c["mp4"] = gr.Button("MP4", size="sm", elem_id="explore-mp4")
                c["png"] = gr.Button("PNG strip", size="sm", elem_id="explore-png")
                c["onnx"] = gr.Button("G as ONNX", size="sm", elem_id="explore-onnx")
                c["ts"] = gr.Button("G as TorchScript", size="sm", elem_id="explore-ts")
            c["download"] = gr.File(label="download", interactive=False, height=70, elem_id="explore-download")
            with gr.Accordion("Style mixing", open=True, visible=False, elem_id="explore-mix-box") as mix_box:
                gr.Markdown("Each cell takes the ticked layers' styles from its column (B) and the rest from "
                            "its row (A). Coarse layers carry shape and pose; fine ones colour and texture.")
                with gr.Row():
                    c["mix_rows"] = gr.Textbox("1,2,3", label="rows: seeds A", elem_id="explore-mix-rows")
                    c["mix_cols"] = gr.Textbox("10,11,12,13", label="columns: seeds B", elem_id="explore-mix-cols")
                c["mix_preset"] = gr.Radio(["coarse", "middle", "fine", "custom"], value="coarse",
                                           label="take from B", elem_id="explore-mix-preset")
                c["mix_layers"] = gr.CheckboxGroup([], label="styles from B (per layer)", elem_id="explore-mix-layers")
                c["mix"] = gr.Image(label="style mixing", type="pil", format="png", interactive=False,
                                    elem_id="explore-mix", buttons=["download"])
            c["near_btn"] = gr.Button("Nearest training images (is it a copy?)", size="sm", elem_id="explore-near")
            c["near"] = gr.Image(label="nearest training images", type="pil", format="png", interactive=False,
                                 visible=False, elem_id="explore-near-image")
            c["message"] = gr.Markdown("", elem_id="explore-message")
    _wire(h, c, class_box, tab, style_box, mix_box, project_box)
    return h


def _project_updates(ex) -> tuple:
    """The inversion panel: shown for unconditional models; W/W+ for style models, z for the others."""
    if ex.conditional:
        return gr.update(visible=False), gr.update(choices=[], value=None), gr.update()
    space = gr.update(choices=["W", "W+"], value="W+") if ex.style else gr.update(choices=["z"], value="z")
    return gr.update(visible=True), gr.update(choices=held_out_choices(ex), value=None), space


def _style_updates(ex) -> tuple:
    """Visibility and layer choices of the style controls for the model just opened."""
    if not ex.style:
        hidden = gr.update(visible=False)
        return hidden, hidden, hidden, gr.update(choices=[], value=[]), gr.update(choices=[], value=[])
    coarse = preset_layers(ex, "coarse")
    return (gr.update(visible=True), gr.update(visible=True), gr.update(visible=True),
            gr.update(choices=style_layer_choices(ex), value=coarse),
            gr.update(choices=noise_layer_choices(ex), value=[]))


def _wire(h: ExploreHandlers, c: Dict, class_box, tab: gr.Tab, style_box, mix_box, project_box) -> None:
    view_inputs: List = [c[k] for k in VIEW_KEYS]
    msg = c["message"]

    @guarded(2)
    def render(request: gr.Request, *values):
        return h.render(_view(values), h.sessions.bind(request).key)

    warned = set()                                        # pages whose message line shows a warning

    def render_out(request: gr.Request, *values):
        img, cap = render(request, *values)
        key = request.session_hash
        if isinstance(img, str):                          # guarded() turned an error into a message
            warned.add(key)
            return gr.skip(), gr.skip(), img
        if key in warned:                                 # clear it once; otherwise leave the line alone
            warned.discard(key)
            return img, cap, ""
        return img, cap, gr.skip()

    def strip(request: gr.Request, *values):
        try:
            return h.strip(_view(values), h.sessions.bind(request).key)
        except Exception:
            return gr.skip()

    @guarded(17)
    def open_model(path, request: gr.Request):
        ex = h.select(path, h.sessions.bind(request).key)
        names = ex.class_names if ex.conditional else []
        first = names[0] if names else None
        info = f"**{ex.describe()}** · `{h.where(ex)}`"
        return ("", info, gr.update(visible=ex.conditional), gr.update(choices=names, value=names[:4]),
                gr.update(choices=names, value=first), gr.update(choices=names, value=first),
                gr.update(choices=h.models(h.sessions.bind(request).key)), gr.update(visible=ex.conditional),
                gr.update(visible=False)) + _style_updates(ex) + _project_updates(ex)

    def projecting(upload, pick, steps, space, request: gr.Request):
        key = h.sessions.bind(request).key
        try:
            for text, picture, latent in project_stream(h, key, upload, pick, steps, space):
                yield text, picture, latent if latent else gr.skip(), True if latent else gr.skip()
        except GanlabError as e:
            gr.Warning(str(e))
            yield f"⚠️ {e}", gr.skip(), gr.skip(), gr.skip()

    @guarded(2)
    def reopen(path, request: gr.Request):
        return open_latent(h, h.sessions.bind(request).key, path), True

    @guarded(2)
    def mixing(request: gr.Request, *values):
        key = h.sessions.bind(request).key
        if not h.explorer(key).style:                 # another model was opened meanwhile: nothing to draw
            return gr.skip(), gr.skip()
        return "", h.mixing(_view(values), key)

    def preset(name, request: gr.Request):
        if name == "custom":
            return gr.skip()
        try:
            return gr.update(value=preset_layers(h.explorer(h.sessions.bind(request).key), name))
        except GanlabError:
            return gr.skip()

    @guarded(2)
    def class_grid(classes, request: gr.Request, *values):
        key = h.sessions.bind(request).key
        if not h.explorer(key).conditional:           # opening an unconditional model cleared the classes: no grid
            return "", gr.update(visible=False)
        return "", gr.update(value=h.class_grid(classes, _view(values), key), visible=True)

    @guarded(2)
    def nearest(request: gr.Request, *values):
        img, text = h.nearest(_view(values), h.sessions.bind(request).key)
        return text, gr.update(value=img, visible=True)

    def exporter(what):
        @guarded(2)
        def run(request: gr.Request, *values):
            path = export_file(h, what, _view(values), h.sessions.bind(request).key)
            return f"Ready: `{path.name}` below.", str(path)
        return run

    main = [c["image"], c["caption"], msg]
    opened = [msg, c["info"], class_box, c["classes"], c["class_a"], c["class_b"], c["model"], c["grid"], c["near"],
              style_box, mix_box, c["dir_layers"], c["mix_layers"], c["noise_layers"],
              project_box, c["proj_pick"], c["proj_space"]]
    # preprocess=False on every event that reads the view: its values are plain, and Gradio's checks of a
    # CheckboxGroup against its choices fail while a newly opened model's layer choices reach the page
    raw = dict(preprocess=False)
    mixed = dict(fn=mixing, inputs=view_inputs, outputs=[msg, c["mix"]], show_progress="hidden", **raw)

    def on_select(path, request: gr.Request):
        return open_model(path or h.default_model(), request=request)

    def offer(request: gr.Request):
        # keys: the order of the values the page's render gets; live: the sliders it renders straight from
        return {**h.offer(h.sessions.bind(request).key), "keys": VIEW_KEYS,
                "live": {c[k].elem_id: k for k in LIVE_KEYS}}

    chain = dict(fn=render_out, inputs=view_inputs, outputs=main, show_progress="hidden", preprocess=False)
    # one open at a time, in the order asked: the tab's own open (its default model) and an Open click
    # right after it must not finish in the other order
    one = dict(concurrency_id="explore-open", concurrency_limit=1)
    # the page stops drawing the old model before the new one opens, and takes the new one over once
    # the server has drawn its first picture (so opening is no slower than before)
    handover = [dict(fn=offer, inputs=None, outputs=c["client"], show_progress="hidden"),
                dict(fn=None, inputs=[c["client"]] + view_inputs, outputs=c["render_note"], js=OPEN_JS,
                     show_progress="hidden")]
    opens = [tab.select(on_select, c["model"], opened, show_progress="hidden", js=CLOSE_JS, **one).then(
        **chain).then(strip, view_inputs, c["strip"], show_progress="hidden", **raw).then(**mixed),
        c["open"].click(open_model, c["model"], opened, api_name="explore_open", js=CLOSE_JS, **one).then(
        **chain).then(strip, view_inputs, c["strip"], **raw).then(**mixed)]
    for e in opens:
        for step in handover:
            e = e.then(**step)
    # live controls: the newest slider position wins, older pending renders are dropped
    live = [c[k] for k in LIVE_KEYS]
    # interactive groups of their own: a slider never waits behind training controls or downloads
    # preprocess=False: the sliders, numbers and dropdowns send plain values that need no preprocessing, and
    # Gradio would hop to a worker thread once per input (16 of them: 185 ms of a render's 286 under load)
    fast = dict(show_progress="hidden", trigger_mode="always_last", concurrency_limit=8,
                concurrency_id="explore-render", preprocess=False)
    slow = dict(show_progress="hidden", trigger_mode="always_last", concurrency_limit=4,
                concurrency_id="explore-strip", preprocess=False)
    # every control asks the page first (static/explore.js): it draws the image itself and returns the
    # caption, or clicks the hidden button, whose event is the server render as it always was
    c["render_server"].click(render_out, view_inputs, main, api_name="explore_render", **fast)
    client = dict(fn=None, inputs=view_inputs, outputs=c["caption"], js=RENDER_JS, show_progress="hidden")
    for comp in live:
        comp.input(**client)
        comp.release(strip, view_inputs, c["strip"], **slow)
    for comp in (c["seed_a"], c["seed_b"], c["mode"], c["class_a"], c["class_b"], c["frames"], c["dim"],
                 c["space"], c["dir_layers"], c["noise"], c["noise_layers"], c["noise_seed"], c["own"]):
        comp.change(**client)
        comp.change(strip, view_inputs, c["strip"], **slow)
    c["mix_preset"].input(preset, c["mix_preset"], c["mix_layers"], show_progress="hidden")
    c["mix_layers"].input(lambda: "custom", None, c["mix_preset"], show_progress="hidden")
    for comp in (c["mix_layers"], c["mix_rows"], c["mix_cols"], c["noise"], c["noise_layers"], c["noise_seed"],
                 c["own"], c["psi"]):
        comp.change(**mixed, trigger_mode="always_last", concurrency_limit=4, concurrency_id="explore-strip")
    c["rand_a"].click(lambda: random.randrange(2 ** 31), None, c["seed_a"], show_progress="hidden")
    c["rand_b"].click(lambda: random.randrange(2 ** 31), None, c["seed_b"], show_progress="hidden")
    c["reset"].click(lambda: [0] * (N_DIRECTIONS + 1), None,
                     [c[f"pc{i}"] for i in range(N_DIRECTIONS)] + [c["dim_amount"]]).then(**chain)
    c["classes"].change(class_grid, [c["classes"]] + view_inputs, [msg, c["grid"]], show_progress="hidden",
                        trigger_mode="always_last", **raw)
    c["near_btn"].click(nearest, view_inputs, [msg, c["near"]], **raw)
    redraw = [chain, dict(fn=strip, inputs=view_inputs, outputs=c["strip"], show_progress="hidden", **raw), mixed]
    ev = c["proj_btn"].click(projecting, [c["proj_upload"], c["proj_pick"], c["proj_steps"], c["proj_space"]],
                             [c["proj_msg"], c["proj_image"], c["proj_file"], c["own"]], concurrency_limit=2,
                             concurrency_id="explore-project", api_name="explore_project")
    ev2 = c["proj_open"].upload(reopen, c["proj_open"], [c["proj_msg"], c["own"]])
    for e in (ev, ev2):
        for step in redraw:
            e = e.then(**step)
    for name, what in (("gif", "gif"), ("mp4", "mp4"), ("png", "png"), ("onnx", "onnx"), ("ts", "torchscript")):
        c[name].click(exporter(what), view_inputs, [msg, c["download"]], **raw)

