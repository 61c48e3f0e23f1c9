"""The Text → Image tab's layout and wiring; what the controls do is in text.py.

Opens the shipped text-gan model (or the newest text-gan run) when the tab is
selected. Every component has a stable ``elem_id`` (``text-...``) for the
browser test.
"""
from __future__ import annotations

import random
from typing import Dict

import gradio as gr

from .common import guarded, model_picker
from .sessions import Sessions
from .text import MAX_N, PRIORS, TextHandlers

INTRO = ("Type what you want to see and press **Go**. A text-conditioned GAN draws it: each image comes from "
         "the prompt and a **seed**, so the same prompt and seed give the same images again. Under each image is "
         "its **CLIP score**, how well the embedder thinks it fits the prompt (higher is better). The prompt "
         "reaches G through a **prior**: by default it is read as the nearest caption the model was trained on, "
         "and each image starts from a training image like it; pick “the prompt as it is” to see the raw "
         "text embedding at work (it can draw combinations no training image shows). Click an image "
         "to see its nearest training images (is it a copy?). Lower ψ for safer, less varied images. The model "
         "only knows the sets it was trained on; the box above the images says which, and warns when a prompt "
         "is outside them.")
# (prompt, the prior rule the example sets; None: the model's default)
EXAMPLES = [("running footwear for jogging", None), ("blue denim", None), ("a tote", None),
            ("the numeral 4 in pen", None), ("a small green triangle at the top", "none"), ("a red sports car", None)]


def build_text_tab(sessions: Sessions, tab: gr.Tab) -> TextHandlers:
    h = TextHandlers(sessions)
    c: Dict[str, gr.components.Component] = model_picker(h, "text", INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            c["prompt"] = gr.Textbox("", label="prompt (Enter to draw)", placeholder="e.g. the digit seven",
                                     max_lines=1, elem_id="text-prompt")
            c["go"] = gr.Button("Go", variant="primary", elem_id="text-go")
            c["n"] = gr.Slider(1, min(32, MAX_N), value=8, step=1, label="images", elem_id="text-n")
            c["psi"] = gr.Slider(0, 1.5, value=0.7, step=0.05, label="truncation ψ (1 = as trained, lower = "
                                 "surer but less varied)", elem_id="text-psi")
            c["prior"] = gr.Radio(list(PRIORS.values()), value=PRIORS["image"], label="G is given",
                                  elem_id="text-prior")
            with gr.Row():
                c["seed"] = gr.Number(0, label="seed", precision=0, elem_id="text-seed", min_width=90)
                c["rand"] = gr.Button("🎲", elem_id="text-rand", min_width=40, scale=0)
            gr.Markdown("**Try** (no training image is a green triangle: that one is drawn from the prompt as it "
                        "is; the last one is outside what the model knows):")
            c["examples"] = [gr.Button(p, size="sm", elem_id=f"text-example-{i}") for i, (p, _) in enumerate(EXAMPLES)]
            with gr.Accordion("Between two prompts", open=True, elem_id="text-between-box"):
                c["prompt_b"] = gr.Textbox("", label="second prompt", placeholder="e.g. a large blue square",
                                           max_lines=1, elem_id="text-prompt-b")
                c["t"] = gr.Slider(0, 1, value=0, step=0.05, label="prompt → second prompt", elem_id="text-between")
        with gr.Column(scale=2, min_width=480):
            c["domain"] = gr.Markdown("", elem_id="text-domain")
            c["gallery"] = gr.Gallery(label="images", columns=4, height=None, object_fit="contain",
                                      format="png", allow_preview=False, elem_id="text-gallery")
            c["near"] = gr.Image(label="nearest training images", type="pil", format="png", interactive=False,
                                 visible=False, elem_id="text-near")
            c["strip"] = gr.Image(label="between the two prompts", type="pil", format="png", interactive=False,
                                  elem_id="text-strip", buttons=["download"])
            c["message"] = gr.Markdown("", elem_id="text-message")
    _wire(h, c, tab)
    return h


def _wire(h: TextHandlers, c: Dict, tab: gr.Tab) -> None:
    msg = c["message"]
    controls = [c["prompt"], c["n"], c["psi"], c["seed"], c["prior"]]
    shown = [msg, c["gallery"], c["domain"], c["near"]]

    def show(prompt, n, psi, seed, prior, key):
        items, domain, summary = h.generate(prompt, n, psi, seed, key, prior)
        return "", gr.update(value=items, label=summary, selected_index=None), domain, gr.update(visible=False)

    @guarded(4)
    def go(prompt, n, psi, seed, prior, request: gr.Request):
        return show(prompt, n, psi, seed, prior, h.sessions.bind(request).key)

    @guarded(7)
    def open_model(path, prompt, n, psi, seed, prior, request: gr.Request):
        key = h.sessions.bind(request).key
        info = h.open(path or h.default_model(), key)
        rules = h.generator(key).prior.rules()                # what this model supports, best first
        prior = prior if prior in [PRIORS[r] for r in rules] else PRIORS[rules[0]]
        drawn = show(prompt, n, psi, seed, prior, key) if (prompt or "").strip() else ("",) + (gr.skip(),) * 3
        radio = gr.update(choices=[PRIORS[r] for r in rules], value=prior)
        return (*drawn[:1], info, gr.update(choices=h.models(key)), radio, *drawn[1:])

    @guarded(2)
    def nearest(prompt, n, psi, seed, prior, evt: gr.SelectData, request: gr.Request):
        img, text = h.nearest(prompt, evt.index, n, psi, seed, h.sessions.bind(request).key, prior)
        return text, gr.update(value=img, visible=True)

    def strip(prompt, prompt_b, t, n, psi, seed, prior, request: gr.Request):
        if not (prompt or "").strip() or not (prompt_b or "").strip():
            return gr.skip()                      # nothing to interpolate yet: not an error
        try:
            return h.between(prompt, prompt_b, t, n, psi, seed, h.sessions.bind(request).key, prior)
        except Exception:                         # go() already says what is wrong with the controls
            return gr.skip()

    opened = [msg, c["info"], c["model"], c["prior"], c["gallery"], c["domain"], c["near"]]
    strip_in = [c["prompt"], c["prompt_b"], c["t"], c["n"], c["psi"], c["seed"], c["prior"]]
    quiet = dict(show_progress="hidden", trigger_mode="always_last")
    # prompts and the walk have groups of their own: they never wait behind training controls
    prompts = dict(concurrency_id="text-prompt", concurrency_limit=4)
    walks = dict(concurrency_id="text-strip", concurrency_limit=8)
    tab.select(open_model, [c["model"]] + controls, opened, show_progress="hidden", **prompts).then(
        strip, strip_in, c["strip"], show_progress="hidden", **walks)
    c["open"].click(open_model, [c["model"]] + controls, opened, **prompts).then(strip, strip_in, c["strip"], **walks)
    for i, event in enumerate((c["prompt"].submit, c["go"].click)):
        event(go, controls, shown, api_name="text_go" if i else None, **prompts).then(
            strip, strip_in, c["strip"], show_progress="hidden", **walks)
    for slider in (c["n"], c["psi"]):
        slider.release(go, controls, shown, **quiet, **prompts).then(strip, strip_in, c["strip"], **quiet, **walks)
    def redo(prompt, n, psi, seed, prior, request: gr.Request):
        """A setting changed: draw again if there is a prompt to draw (none typed yet: nothing to say)."""
        if not (prompt or "").strip():
            return (gr.skip(),) * 4
        return go(prompt, n, psi, seed, prior, request)

    for changed in (c["seed"].change, c["prior"].input):
        changed(redo, controls, shown, **quiet, **prompts).then(strip, strip_in, c["strip"], **quiet, **walks)
    c["rand"].click(lambda: random.randrange(2 ** 31), None, c["seed"], show_progress="hidden")
    c["t"].input(strip, strip_in, c["strip"], **quiet, **walks)
    c["prompt_b"].submit(strip, strip_in, c["strip"], **walks)
    c["gallery"].select(nearest, controls, [msg, c["near"]], **prompts)

    def example(prompt, rule):
        def pick(request: gr.Request):
            """The example's prompt, and its prior rule (or the loaded model's default one)."""
            try:
                return prompt, PRIORS[rule or h.generator(h.sessions.bind(request).key).prior.default()]
            except Exception:                     # no model open, or it cannot open: go() says why
                return prompt, gr.skip()
        return pick

    for button, (prompt, rule) in zip(c["examples"], EXAMPLES):
        button.click(example(prompt, rule), None, [c["prompt"], c["prior"]], show_progress="hidden").then(
            go, controls, shown).then(strip, strip_in, c["strip"], show_progress="hidden")
