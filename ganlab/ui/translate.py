"""What the Image → Image tab's controls do: thin handlers over ganlab.translate.model.Translator.

    h = TranslateHandlers(sessions)
    h.models(key)                                   # (label, ref): shipped image-to-image models, then runs
    tr = h.select("models/edges2emoji-pix2pix", key)               # load it for this browser
    r = h.from_sketch(sketchpad_value, key)         # edges2* models: the drawing is the edge map
    r = h.from_upload("photo.png", key)             # any model but inpaint (it paints on the editor)
    r = h.from_pick(3, key, direction="BA")         # held-out input #3 (cyclegan B -> A: of domain B)
    value, note = h.editor_value(key, pick=3)       # inpaint: the picture to paint a hole on (and its hole)
    r = h.from_editor(value, key)                   # inpaint: the painted layers are the hole
    r.input, r.output, r.target                     # pictures enlarged (nearest) to about SHOWN_PX (and r.bicubic
                                                    # for SR, r.trip for CycleGAN's round trip)
    r.file                                          # G's output at its true size, as a PNG to download

Handlers keep no state but the loaded Translator per browser (a Shelf shared by
every browser): each call names its whole input, so the controls can be used in
any order. Uploads are read here, never by Gradio's image decoder, with the
same limits as every other upload: a broken or huge file is one sentence.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Set, Tuple

import numpy as np
import torch
from PIL import Image

from ..data.folder import MAX_FILE_BYTES
from ..errors import GanlabError
from ..translate.model import MAX_UPLOAD_PIXELS, HeldOut, Translator
from ..viz import grid_image
from .sessions import Sessions
from .shelf import Shelf, family, model_folders, tab_of

MAX_LOADED = 4                       # translators kept in memory, shared by every browser
SHOWN_PX = 256                       # every picture on the page is enlarged (nearest) to about this
CANVAS_PX = 256                      # the sketchpad's and the mask painter's canvas
GALLERY_N, GALLERY_PX = 24, 64       # held-out inputs offered as pictures (any of them by number)
FORMATS = ["PNG", "JPEG", "WEBP", "GIF", "BMP"]     # what an upload may be; PIL's other plugins are not reached
HOLE_RGBA = (255, 45, 149, 200)      # the painted hole, as the mask painter's brush paints it
SOURCES = {"draw": "Draw", "upload": "Upload", "pick": "Pick a held-out input"}


class NothingYet(GanlabError):
    """The input is not there yet (an empty canvas, nothing painted): live events wait, a button press says so."""


def translation_models(root: Path) -> List[Path]:
    """Shipped model folders under ``root`` that hold an image-to-image model."""
    return model_folders(root, tab="translate")


def can_draw(tr: Translator) -> bool:
    """Edge-map models take a drawing: black strokes on white are what their inputs look like."""
    return tr.task == "paired" and tr.cfg.data.name.startswith("edges2")


def sources(tr: Translator) -> List[Tuple[str, str]]:
    """(label, value) of the ways in that fit the model; the first is the tab's default."""
    keys = ["draw", "upload", "pick"] if can_draw(tr) else ["pick", "upload"]
    return [(SOURCES[k], k) for k in keys]


def directions(tr: Translator) -> Optional[List[Tuple[str, str]]]:
    """CycleGAN's two ways, named by its domains; None for a model that goes one way."""
    if tr.task != "unpaired":
        return None
    a, b = tr.domains
    return [(f"{a} → {b}", "AB"), (f"{b} → {a}", "BA")]


def enlarged(x: torch.Tensor, px: int = SHOWN_PX) -> Image.Image:
    """One image [1, C, H, W] in [-1, 1], enlarged a whole number of times (nearest) to about ``px``."""
    return grid_image(x[:1], nrow=1, scale=max(1, px // x.shape[-1]))


def read_upload(upload: Any) -> Image.Image:
    """An uploaded file (a path, or Gradio's file dict) as a decoded PIL image, or one GanlabError sentence."""
    path = upload.get("path") if isinstance(upload, dict) else upload
    if not path:
        raise NothingYet("Upload an image first (PNG or JPEG).")
    p = Path(path)
    if not p.is_file():
        raise GanlabError("That upload is gone from the server; upload the image again.")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise GanlabError(f"That file is over {MAX_FILE_BYTES // 2**20} MB; upload a smaller image.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(p, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise GanlabError("That image is far too large; images up to 4096x4096 are accepted.") from None
    except Exception:                     # hostile files make PIL raise many types; all mean "not an image"
        raise GanlabError("That file is not a readable PNG, JPEG, WebP, GIF or BMP image.") from None
    if img.width * img.height > MAX_UPLOAD_PIXELS:
        raise GanlabError(f"That image is {img.width}x{img.height}; images up to 4096x4096 are accepted.")
    try:
        img.load()                        # decoded now (the first frame of an animation), not later
    except Exception:
        raise GanlabError("That image could not be decoded (truncated or damaged); save it again as PNG.") from None
    return img


def _array(v: Any) -> Optional[np.ndarray]:
    return None if v is None else np.asarray(v)


def canvas_image(value: Any, what: str) -> Image.Image:
    """The flattened picture of a Sketchpad/ImageEditor value (composite, else background), on white."""
    if not isinstance(value, dict):
        raise NothingYet(f"{what} is empty.")
    a = _array(value.get("composite"))
    if a is None:
        a = _array(value.get("background"))
    if a is None or a.ndim < 2 or min(a.shape[:2]) == 0:
        raise NothingYet(f"{what} is empty.")
    img = Image.fromarray(a.astype(np.uint8))
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img)
    return img.convert("RGB")


def shrunk(img: Image.Image, side: int) -> Tuple[Image.Image, str]:
    """A canvas picture at the model's side: a whole-factor enlargement (ours) is undone exactly (box)."""
    if img.size == (side, side):
        return img, ""
    note = f"Your {img.width}x{img.height} canvas, shrunk to {side}x{side}, the size this model takes."
    if img.width == img.height and img.width % side == 0:
        return img.resize((side, side), Image.Resampling.BOX), note
    return img, ""                                       # Translator.prepare pads, resizes and says so


@dataclass
class Result:
    """One translation as the page shows it."""
    input: Image.Image                 # what G was given (inpaint: the picture with its hole), enlarged
    output: Image.Image                # G's output, enlarged
    before: Image.Image                # the comparison slider's left side: the input at the output's size
    file: Path                         # G's output at its true size (PNG)
    size: Tuple[int, int]              # the output's true width and height
    text: str                          # what was done, and any resize
    bicubic: Optional[Image.Image] = None          # SR: the plain bicubic up-sample, at the output's size
    trip: Optional[Image.Image] = None             # CycleGAN: the output translated back
    trip_label: str = ""
    target: Optional[Image.Image] = None           # the truth, where there is one
    target_label: str = ""


# What Image -> Image opens on, best-looking first: the sneaker <-> boot CycleGAN does what it says (97.6% of
# held-out sneakers judged boots, 92.8% of boots sneakers: models/sneaker2boot-cyclegan), where the shipped
# edges -> emoji pix2pix still turns a doodle into a blurry disc.
SHOWCASE = ("sneaker2boot-cyclegan",)


def painted_layer(size: Tuple[int, int], mask: Optional[torch.Tensor] = None) -> Image.Image:
    """The painter's one layer: empty, or ``mask`` [1, 1, h, w] painted in the hole colour (so the painter's first
    stroke is sent together with it)."""
    layer = Image.new("RGBA", size, HOLE_RGBA)
    hole = np.zeros(size[::-1], np.uint8)
    if mask is not None:
        m = Image.fromarray((mask[0, 0].numpy() * 255).astype(np.uint8)).resize(size, Image.Resampling.NEAREST)
        hole = np.where(np.asarray(m) > 0, HOLE_RGBA[3], 0).astype(np.uint8)
    layer.putalpha(Image.fromarray(hole))
    return layer


class TranslateHandlers:
    def __init__(self, sessions: Sessions):
        self.sessions, self.models_root = sessions, sessions.models_root    # one models folder for every rule
        self.shelf: Shelf[Translator] = Shelf(Translator.open, MAX_LOADED)
        self.opened: Set[str] = set()              # browsers that have opened a model (the tab opens one once)

    # ---- models -------------------------------------------------------------------------
    def models(self, key: Optional[str] = None) -> List[Tuple[str, str]]:
        """Shipped image-to-image models first, then the image-to-image runs this browser may open."""
        access = self.sessions.access
        out = [(f"shipped: {p.name}", access.ref(p)) for p in translation_models(self.models_root)]
        if key is not None:
            for e in access.visible_runs(self.sessions.who(key)):
                if tab_of(family(e.path)) == "translate":
                    kind = "your run" if e.mine else f"{e.owner_label}'s run" if e.owner_label else "run"
                    out.append((f"{kind}: {access.ref(e.path)}", access.ref(e.path)))
        return out

    def default_model(self, key: Optional[str] = None) -> Optional[str]:
        """The best-looking shipped model (SHOWCASE), else the first shipped pix2pix model, else the first model
        listed (None when there is none)."""
        found = self.models(key)
        shipped = [ref for label, ref in found if label.startswith("shipped:")]
        best = [f"models/{n}" for n in SHOWCASE if f"models/{n}" in shipped]
        pix = [ref for ref in shipped if family(self.sessions.access.resolve(ref)) == "pix2pix"]
        return (best or pix or [ref for _, ref in found] or [None])[0]

    def select(self, path: str, key: str) -> Translator:
        if not (path or "").strip():
            raise GanlabError("No image-to-image model yet: train one (pix2pix, cyclegan, srgan or inpaint) "
                              "in the Train tab, then pick it from the list.")
        folder = self.sessions.access.run_path(path, self.sessions.who(key))     # yours, shared, or shipped
        tr = self.shelf.select(str(folder.resolve()), key, "Pick a model from the list first.")
        self.opened.add(key)
        return tr

    def translator(self, key: str) -> Translator:
        default = self.default_model()            # shipped only: listing runs reads every run's config
        return self.shelf.current(key, str(self.sessions.access.resolve(default).resolve()) if default else None,
                                  "No image-to-image model is loaded; pick one from the list and press Open.")

    def forget(self, key: str) -> None:
        self.shelf.forget(key)
        self.opened.discard(key)

    def describe(self, tr: Translator) -> str:
        how = {"paired": "Draw, upload or pick an input; G turns it into the other side of the pair.",
               "unpaired": "Pick a direction, then upload or pick an image of that side.",
               "sr": f"Upload or pick a small image: G makes it {tr.scale}x larger (beside a plain bicubic "
                     "enlargement).",
               "inpaint": "Upload or pick a picture, then paint over the part to fill."}[tr.task]
        if tr.task == "paired" and not can_draw(tr):
            how = "Upload or pick an input; G turns it into the other side of the pair."
        return f"**{tr.describe()}** · `{self.sessions.access.ref(tr.path)}`\n\n{how}"

    # ---- held-out inputs ----------------------------------------------------------------------
    def held(self, key: str) -> HeldOut:
        """The model's held-out part, if this browser may see the set it comes from."""
        tr = self.translator(key)
        if not self.sessions.access.may_use_dataset(tr.cfg.data.name, self.sessions.who(key)):
            raise GanlabError("This model was trained on someone else's uploaded images, so its held-out inputs "
                              "are not shown; upload or draw your own.")
        return tr.held_out()

    def gallery(self, key: str, direction: str = "AB") -> Tuple[List, int, str]:
        """(pictures of the first held-out inputs, how many there are, a note); no pictures if there are none."""
        try:
            held = self.held(key)
        except GanlabError as e:
            return [], 0, f"No held-out inputs: {e}"
        pool = held.others if direction == "BA" and held.others is not None else held.inputs
        items = [(enlarged(pool[i:i + 1], GALLERY_PX), f"#{i}") for i in range(min(GALLERY_N, len(pool)))]
        return items, len(pool), held.note

    def _pick(self, pick: Any, key: str, direction: str) -> Tuple[torch.Tensor, Optional[torch.Tensor],
                                                                  Optional[torch.Tensor], int]:
        """Held-out item ``pick``: (input, target or None, mask or None, its index)."""
        held = self.held(key)
        pool = held.others if direction == "BA" and held.others is not None else held.inputs
        try:
            i = float(pick)
        except (TypeError, ValueError):
            raise GanlabError("Pick a held-out input first: click one, or type its number.") from None
        if i != int(i) or not 0 <= i < len(pool):
            raise GanlabError(f"Held-out inputs are numbered 0 to {len(pool) - 1:,} (got {pick}).")
        i = int(i)
        def cut(t):
            return None if t is None else t[i:i + 1]
        return pool[i:i + 1], cut(held.targets), cut(held.masks), i

    # ---- translating --------------------------------------------------------------------------
    @staticmethod
    def _direction(tr: Translator, direction: Any) -> str:
        d = direction or "AB"
        if d not in ("AB", "BA"):
            raise GanlabError(f"The direction is AB or BA (got {direction!r}).")
        return d if tr.task == "unpaired" else "AB"

    def from_upload(self, upload: Any, key: str, direction: Any = "AB") -> Result:
        tr = self.translator(key)
        if tr.task == "inpaint":
            raise GanlabError("For inpainting, paint the hole on the picture in the mask painter.")
        d = self._direction(tr, direction)
        x, note = tr.prepare(read_upload(upload), direction=d)
        return self._result(tr, x, key, d, what="Your image", note=note)

    def from_pick(self, pick: Any, key: str, direction: Any = "AB") -> Result:
        tr = self.translator(key)
        if tr.task == "inpaint":
            raise GanlabError("For inpainting, pick an image for the mask painter, then paint the hole.")
        d = self._direction(tr, direction)
        x, target, _, i = self._pick(pick, key, d)
        return self._result(tr, x, key, d, target=target, what=f"Held-out input #{i}")

    def from_sketch(self, sketch: Any, key: str) -> Result:
        tr = self.translator(key)
        if not can_draw(tr):
            raise GanlabError("This model was not trained on edge maps, so a drawing means nothing to it; "
                              "upload or pick an input instead.")
        drawn = canvas_image(sketch, "The canvas")
        if np.asarray(drawn.convert("L")).min() > 127:
            raise NothingYet("The canvas is empty: draw something with the black brush first.")
        img, note = shrunk(drawn, tr.input_side())
        x, resized = tr.prepare(img)
        if bool((x > 0).all()):
            raise GanlabError(f"Your strokes vanish at {tr.input_side()} px, the size this model takes: "
                              "draw with a thicker brush.")
        return self._result(tr, x, key, "AB", what="Your drawing", note=note or resized)

    def editor_value(self, key: str, upload: Any = None, pick: Any = None) -> Tuple[dict, str]:
        """Inpaint: the mask painter's value for an upload or held-out pick (its seeded hole painted), a note."""
        tr = self._inpainter(key)
        mask = None
        if upload:
            x, note = tr.prepare(read_upload(upload))
            note = " ".join(s for s in (note, "Now paint over the part to fill.") if s)
        else:
            _, x, _, i = self._pick(pick, key, "AB")          # the clean image; nothing painted on it for you
            note = f"Held-out image #{i}: paint over the part to fill, and the fill follows."
        bg = enlarged(x, CANVAS_PX)
        return {"background": bg, "layers": [painted_layer(bg.size, mask)], "composite": None}, note

    def from_editor(self, editor: Any, key: str) -> Result:
        """Inpaint: fill what is painted on the mask painter's picture."""
        tr = self._inpainter(key)
        what = "The mask painter"
        if not isinstance(editor, dict) or _array(editor.get("background")) is None:
            raise NothingYet("Upload a picture or pick a held-out one first, then paint over the part to fill.")
        bg = canvas_image({"composite": editor.get("background")}, what)
        img, _ = shrunk(bg, tr.resolution)                    # our own enlargement: undone without a word
        x, resized = tr.prepare(img)
        mask = torch.zeros(1, 1, tr.resolution, tr.resolution)
        for layer in editor.get("layers") or []:
            if _array(layer) is not None and _array(layer).ndim >= 2:
                mask = torch.maximum(mask, tr.mask_from(_array(layer)))
        if mask.sum() == 0:
            raise NothingYet("Nothing is painted yet: paint over the part of the picture to fill.")
        return self._result(tr, x, key, "AB", mask=mask, target=x, what="The picture with its painted hole",
                            note=resized)

    def _inpainter(self, key: str) -> Translator:
        tr = self.translator(key)
        if tr.task != "inpaint":
            raise GanlabError("The mask painter is for inpainting models; this one translates the whole image.")
        return tr

    def _result(self, tr: Translator, x: torch.Tensor, key: str, direction: str, mask=None, target=None,
                what: str = "", note: str = "") -> Result:
        y = tr.translate(x, direction, mask=mask)                        # [1, C, H, W] in [-1, 1]
        shown = x * (1 - mask) if mask is not None else x                 # inpaint: the hole shows grey
        before = tr.upsample(x) if tr.task == "sr" else shown
        trip, trip_label = None, ""
        if tr.task == "unpaired":
            back = "BA" if direction == "AB" else "AB"
            a, b = tr.domains if direction == "AB" else tr.domains[::-1]
            trip = enlarged(tr.translate(y, back))              # translate() matches the channels
            trip_label = f"round trip {a} → {b} → {a} (what the cycle keeps)"
            what = f"{what} ({a})"
        h, w = y.shape[-2:]
        file = self.sessions.scratch_dir(key) / f"{Path(tr.path).name}-{tr.task}-{w}x{h}.png"
        grid_image(y, nrow=1, scale=1).save(file)
        target_label = {"inpaint": "original"}.get(tr.task, "target (held-out truth)")
        text = f"{what}, {x.shape[-1]}x{x.shape[-2]} → G's output, {w}x{h}."
        before_pic = enlarged(before)
        return Result(enlarged(shown), enlarged(y), before_pic, file, (w, h), " ".join(s for s in (text, note) if s),
                      before_pic if tr.task == "sr" else None, trip, trip_label,
                      enlarged(target) if target is not None else None, target_label)


__all__ = ["TranslateHandlers", "Result", "NothingYet", "read_upload", "sources", "directions", "can_draw",
           "translation_models", "SOURCES", "SHOWN_PX", "CANVAS_PX"]
