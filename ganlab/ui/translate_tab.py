"""The Image → Image tab's layout and wiring; what the controls do is in translate.py.

Opens the chosen image-to-image model (the first shipped pix2pix one by default)
the first time the tab is selected, and shows only the inputs that fit it: a
sketchpad for edge-map models, the mask painter for inpainting, a direction for
CycleGAN. Opening a model translates its first held-out input at once (in the
same event, so a later Open never finds an earlier model's picture arriving).
Events that read an upload skip Gradio's preprocessing (translate.read_upload
decodes it, with the upload limits); events that read a canvas need it, since
the canvases reach the server as blobs only Gradio's preprocessing can read.
Every component has a stable ``elem_id`` (``translate-...``) for the browser test.
"""
from __future__ import annotations

import functools
from typing import Dict

import gradio as gr
from PIL import Image

from ..errors import GanlabError
from .common import guarded, model_picker
from .sessions import Sessions
from .translate import CANVAS_PX, SOURCES, NothingYet, Result, TranslateHandlers, can_draw, directions, sources

INTRO = ("Give a trained image-to-image GAN an input and see what it makes of it. **pix2pix** learned pairs "
         "(an edge map and its picture): draw with the black brush and watch your doodle become a picture. "
         "**CycleGAN** learned two sides without pairs: it goes both ways, and the round trip shows what the cycle "
         "keeps. **Super-resolution** makes a small image larger, beside a plain bicubic enlargement. "
         "**Inpainting** fills the part you paint over. Small images are shown enlarged with sharp pixels; the "
         "file under the pictures is G's output at its true size.")
HOLE_BRUSH = ("#ff2d95", 0.8)


def _white() -> dict:
    """A white sketchpad with one empty layer: the editor counts loading a layer as its first change, which it
    never sends, so the first stroke is sent like every other."""
    return {"background": Image.new("RGB", (CANVAS_PX, CANVAS_PX), "white"),
            "layers": [Image.new("RGBA", (CANVAS_PX, CANVAS_PX), (0, 0, 0, 0))], "composite": None}


def build_translate_tab(sessions: Sessions, tab: gr.Tab) -> TranslateHandlers:
    h = TranslateHandlers(sessions)
    c: Dict[str, gr.components.Component] = model_picker(h, "translate", INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=340):
            c["source"] = gr.Radio([(v, k) for k, v in SOURCES.items()], value="draw", label="input",
                                   elem_id="translate-source")
            # the radio's value for the canvas events: Gradio checks a radio against its choices, which change
            # with the model, and a stroke sent while they change would fail that check
            c["mode"] = gr.State("draw")
            c["direction"] = gr.Radio([("A → B", "AB"), ("B → A", "BA")], value="AB", label="direction",
                                      visible=False, elem_id="translate-direction")
            with gr.Group(visible=True, elem_id="translate-draw-box") as c["draw_box"]:
                c["sketch"] = gr.Sketchpad(_white(), type="numpy", image_mode="RGBA", format="png",
                                           canvas_size=(CANVAS_PX, CANVAS_PX), fixed_canvas=True, layers=False,
                                           transforms=(), label="draw (black strokes on white, like an edge map)",
                                           brush=gr.Brush(default_size=6, colors=["#000000"], color_mode="fixed"),
                                           elem_id="translate-sketch")
            with gr.Group(visible=False, elem_id="translate-upload-box") as c["upload_box"]:
                # image_mode None and a path: Gradio does not decode it; translate.read_upload does, with limits
                c["upload"] = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                       label="your image (PNG or JPEG)", height=220, elem_id="translate-upload")
            with gr.Group(visible=False, elem_id="translate-pick-box") as c["pick_box"]:
                c["gallery"] = gr.Gallery(label="held-out inputs (never trained on): click one", columns=4,
                                          height=300, allow_preview=False, format="png", object_fit="contain",
                                          elem_id="translate-gallery")
                c["pick"] = gr.Number(0, precision=0, minimum=0, label="or its number (Enter)",
                                      elem_id="translate-pick")
            c["mask"] = gr.ImageEditor(None, type="numpy", image_mode="RGBA", format="png", sources=(),
                                       transforms=(), layers=False, canvas_size=(CANVAS_PX, CANVAS_PX),
                                       fixed_canvas=True, visible=False, elem_id="translate-mask",
                                       label="paint over the part to fill",
                                       brush=gr.Brush(default_size=16, colors=[HOLE_BRUSH], color_mode="fixed"))
            c["go"] = gr.Button("Translate", variant="primary", elem_id="translate-go")
        with gr.Column(scale=3, min_width=520):
            c["message"] = gr.Markdown("", elem_id="translate-message")
            with gr.Row(equal_height=True):
                shown = dict(type="pil", format="png", interactive=False, buttons=["fullscreen"], min_width=120)
                c["in"] = gr.Image(label="input", elem_id="translate-in", **shown)
                c["bicubic"] = gr.Image(label="bicubic up-sample", visible=False, elem_id="translate-bicubic",
                                        **shown)
                c["out"] = gr.Image(label="output", elem_id="translate-out", **shown)
                c["trip"] = gr.Image(label="round trip", visible=False, elem_id="translate-trip", **shown)
                c["target"] = gr.Image(label="target", visible=False, elem_id="translate-target", **shown)
            c["slider"] = gr.ImageSlider(label="before | after (drag to compare)", type="pil", format="png",
                                         interactive=False, max_height=320, visible=False,
                                         elem_id="translate-slider")
            c["file"] = gr.File(label="download: G's output at its true size (PNG)", interactive=False,
                                height=70, visible=False, elem_id="translate-file")
    _wire(h, c, tab)
    return h


def show(r: Result) -> tuple:
    """A Result as updates of message, input, bicubic, output, round trip, target, slider and file."""
    w, hgt = r.size
    return (r.text, r.input, gr.update(value=r.bicubic, visible=r.bicubic is not None), r.output,
            gr.update(value=r.trip, label=r.trip_label, visible=r.trip is not None),
            gr.update(value=r.target, label=r.target_label, visible=r.target is not None),
            gr.update(value=(r.before, r.output), visible=True),
            gr.update(value=str(r.file), label=f"download: G's output at its true size ({w}x{hgt} PNG)", visible=True))


N_SHOWN = 8


def _numbered(n: int, pick) -> dict:
    """The held-out number box for ``n`` items (the number kept when it is still one of them)."""
    try:
        keep = int(pick) if 0 <= int(pick) < n else 0
    except (TypeError, ValueError):
        keep = 0
    return gr.update(value=keep, maximum=max(0, n - 1), label=f"or its number, 0 to {max(0, n - 1):,} (Enter)")


def _quietly(fn, n: int):
    """A live event (a stroke, a new hole): wait quietly for an input that is not there yet; say other errors."""
    @functools.wraps(fn)                       # Gradio finds the gr.Request parameter through __wrapped__
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NothingYet:
            return (gr.skip(),) * n
        except GanlabError as e:
            return (f"⚠️ {e}",) + (gr.skip(),) * (n - 1)
    return run


def _wire(h: TranslateHandlers, c: Dict, tab: gr.Tab) -> None:
    shown = [c["message"], c["in"], c["bicubic"], c["out"], c["trip"], c["target"], c["slider"], c["file"]]
    skips = (gr.skip(),) * N_SHOWN
    hide = gr.update(value=None, visible=False)
    cleared = (None, hide, None, hide, hide, hide, hide)          # shown, less the message, emptied

    def boxes(tr, source):
        """Visibility of the draw, upload and pick boxes and of the mask painter for ``source``."""
        return (gr.update(visible=source == "draw"), gr.update(visible=source == "upload"),
                gr.update(visible=source == "pick"), gr.update(visible=tr.task == "inpaint"))

    def use_input(source, upload, pick, direction, key):
        """shown + the mask painter for an upload or a pick: translated, or for inpainting put on the painter."""
        tr = h.translator(key)
        if tr.task == "inpaint":
            if source not in ("upload", "pick"):
                return skips + (gr.skip(),)
            value, note = h.editor_value(key, upload=upload if source == "upload" else None, pick=pick)
            return (note,) + skips[1:] + (gr.update(value=value, visible=True),)
        if source == "upload":
            return show(h.from_upload(upload, key, direction)) + (gr.skip(),)
        if source == "pick":
            return show(h.from_pick(pick, key, direction)) + (gr.skip(),)
        return skips + (gr.skip(),)

    def first_input(source, upload, pick, direction, key):
        """What a newly chosen source or direction shows at once: the held-out pick, else nothing (the upload or
        the canvas waits for the user); a held-out set that cannot be read leaves the rest working."""
        if source != "pick" and not (source == "upload" and upload):
            return ("",) + cleared + (gr.skip(),)
        try:
            return use_input(source, upload, pick, direction, key)
        except GanlabError as e:
            return (f"⚠️ {e}",) + cleared + (gr.skip(),)

    @guarded(20)
    def open_model(path, request: gr.Request):
        """Load the model for this browser; the inputs that fit it; its first held-out input translated."""
        key = h.sessions.bind(request).key
        tr = h.select(path or h.default_model(key), key)
        ways, two = sources(tr), directions(tr)
        source = ways[0][1]
        items, n, note = h.gallery(key, "AB")
        said, *pictures, mask = first_input(source, None, 0, "AB", key)
        draw, up, pick_box, _ = boxes(tr, source)
        if mask == gr.skip():                                    # the painter gets no picture: empty it
            mask = gr.update(value=None, visible=tr.task == "inpaint")
        return (said, h.describe(tr) + (f" · {note}" if note else ""),
                gr.update(choices=h.models(key), value=h.sessions.access.ref(tr.path)),
                gr.update(choices=ways, value=source),
                gr.update(visible=two is not None, choices=two or [("A → B", "AB")], value="AB"),
                gr.update(value=items, selected_index=None), _numbered(n, 0), draw, up, pick_box, mask,
                gr.update(value=_white(), visible=can_draw(tr)), source, *pictures)

    def open_once(path, request: gr.Request):
        """Selecting the tab opens a model the first time only: coming back keeps the drawing and the outputs."""
        if h.sessions.bind(request).key in h.opened:
            return (gr.skip(),) * 20
        return open_model(path, request)

    @guarded(N_SHOWN + 5)
    def pick_source(source, upload, pick, direction, request: gr.Request):
        key = h.sessions.bind(request).key
        said, *pictures, mask = first_input(source, upload, pick, direction, key)
        draw, up, pick_box, painter = boxes(h.translator(key), source)
        return (said, draw, up, pick_box, mask if mask != gr.skip() else painter, source, *pictures)

    @guarded(N_SHOWN + 2)
    def turn(direction, source, upload, pick, request: gr.Request):
        key = h.sessions.bind(request).key
        items, n, _ = h.gallery(key, direction or "AB")
        kept = _numbered(n, pick)
        said, *pictures, _ = first_input(source, upload, kept["value"], direction, key)
        return (said, gr.update(value=items, selected_index=None), kept, *pictures)

    def uploaded(source, upload, pick, direction, request: gr.Request):
        """A new upload; one that cannot be used is taken off the page with the pictures made from the last."""
        key = h.sessions.bind(request).key
        said = guarded(N_SHOWN + 1)(use_input)(source, upload, pick, direction, key)
        if not str(said[0]).startswith("⚠️"):
            return said + (gr.skip(),)
        return (said[0],) + cleared + (gr.skip(), None)

    @guarded(N_SHOWN + 2)
    def picked(source, upload, direction, evt: gr.SelectData, request: gr.Request):
        return (*use_input(source, upload, evt.index, direction, h.sessions.bind(request).key), evt.index)

    @guarded(N_SHOWN + 1)
    def numbered(source, upload, pick, direction, request: gr.Request):
        return use_input(source, upload, pick, direction, h.sessions.bind(request).key)

    @guarded(N_SHOWN)
    def go_input(source, upload, pick, direction, request: gr.Request):
        """The Translate button, for an upload or a pick (a canvas is use_canvas's)."""
        key = h.sessions.bind(request).key
        if h.translator(key).task == "inpaint" or source == "draw":
            return skips
        return use_input(source, upload, pick, direction, key)[:N_SHOWN]

    def use_canvas(mode, sketch, editor, request: gr.Request):
        """The sketchpad (edge models) or the mask painter (inpainting)."""
        key = h.sessions.bind(request).key
        tr = h.translator(key)
        if tr.task == "inpaint":
            return show(h.from_editor(editor, key))
        if mode == "draw" and can_draw(tr):
            return show(h.from_sketch(sketch, key))
        return skips

    raw = dict(preprocess=False, concurrency_id="translate", concurrency_limit=4)
    # one open at a time, in the order asked: the tab's own (its default model) and an Open click right after
    one = dict(preprocess=False, concurrency_id="translate-open", concurrency_limit=1)
    canvas = dict(concurrency_id="translate", concurrency_limit=4)
    ins = [c["source"], c["upload"], c["pick"], c["direction"]]
    pictures = shown[1:]
    opened = [c["message"], c["info"], c["model"], c["source"], c["direction"], c["gallery"], c["pick"],
              c["draw_box"], c["upload_box"], c["pick_box"], c["mask"], c["sketch"], c["mode"], *pictures]
    tab.select(open_once, [c["model"]], opened, show_progress="hidden", **one)
    c["open"].click(open_model, [c["model"]], opened, **one)
    c["source"].input(pick_source, ins, [c["message"], c["draw_box"], c["upload_box"], c["pick_box"], c["mask"],
                                         c["mode"], *pictures], **raw)
    c["direction"].input(turn, [c["direction"], c["source"], c["upload"], c["pick"]],
                         [c["message"], c["gallery"], c["pick"], *pictures], **raw)
    c["upload"].upload(uploaded, ins, shown + [c["mask"], c["upload"]], **raw)
    c["gallery"].select(picked, [c["source"], c["upload"], c["direction"]], shown + [c["mask"], c["pick"]], **raw)
    c["pick"].submit(numbered, ins, shown + [c["mask"]], **raw)
    c["go"].click(go_input, ins, shown, api_name="translate_go", **raw).then(
        guarded(N_SHOWN)(use_canvas), [c["mode"], c["sketch"], c["mask"]], shown, **canvas)
    for editor in (c["sketch"], c["mask"]):
        editor.change(_quietly(use_canvas, N_SHOWN), [c["mode"], c["sketch"], c["mask"]], shown,
                      trigger_mode="always_last", show_progress="hidden", **canvas)
