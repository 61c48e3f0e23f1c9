"""What the Explore tab's controls do: thin handlers over ganlab.explore.Explorer.

    h = ExploreHandlers(sessions)
    h.models()                                  # (label, path) of shipped models and run folders
    msg, info, ... = h.open(path, key)          # load a generator for this browser
    offer = h.offer(key)                        # URLs for the page to render it itself (explore_client.py)
    img, caption = h.render(view, key)          # the main image for the sliders in ``view``
    strip = h.strip(view, key)                  # N frames from seed A to seed B
    grid = h.class_grid(classes, view, key)     # one row per chosen class, the same seeds in every row

``view`` is a plain dict of the controls (seeds, mode, t, psi, direction
amounts, raw dimension, classes); handlers keep no state but the loaded
Explorer per browser, so any control can be moved in any order.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from PIL import Image, ImageDraw

from ..errors import GanlabError
from ..explore import Explorer, interpolate
from ..trainer import GRID_CLASSES, grid_classes
from ..viz import grid_image
from .explore_client import BrowserRender
from .explore_style import mixing_picture, style_caption, view_noise, view_ws
from .sessions import MODELS_DIR, Sessions
from .shelf import Shelf, family, model_folders, tab_of

log = logging.getLogger(__name__)

N_DIRECTIONS = 5
LIVE_PX = 128                        # the main image as sent; the page shows it at 280 px
MAX_LOADED = 8                       # generators kept in memory, shared by every browser
PSI_RANGE = (0.0, 1.5)               # truncation: 0 draws the mean image, 1 as trained, above 1 more varied


def psi_of(view: Dict[str, Any]) -> float:
    """Truncation ψ from the view; 0 (the slider's minimum: the mean image) is a value, not "unset"."""
    v = view.get("psi")
    if v is None or v == "":
        return 1.0
    try:
        psi = float(v)
    except (TypeError, ValueError):
        raise GanlabError("Truncation ψ must be a number.") from None
    lo, hi = PSI_RANGE
    if not lo <= psi <= hi:
        raise GanlabError(f"Truncation ψ must be from {lo:g} to {hi:g} (got {psi:g}).")
    return psi


def shipped_models(root: Path = MODELS_DIR) -> List[Path]:
    """Image model folders under models/ (not the playground's 2-D nets, the classifiers or text models)."""
    return model_folders(root, text=False)


def _scale(side: int, target: int = 256) -> int:
    return max(1, target // side)


def to_picture(x: torch.Tensor, nrow: Optional[int] = None, target: int = 256) -> Image.Image:
    """Images in [-1, 1] as one picture, enlarged so one image is about ``target`` px wide."""
    return grid_image(x, nrow=nrow or len(x), scale=_scale(x.shape[-1], target))


# What Explore opens on, best-looking first (what a newcomer sees first): the class-conditioned Fashion-MNIST
# model draws clothes a classifier names (87.5% drawn as the class asked for, models/fashion-mnist-cgan), and
# its class grid is the tab's quickest delight; the shipped emoji models still draw colours without shapes
# (emoji-stylegan: FID 175.7 against the held-out emoji, recall 0.03), so they wait in the list.
SHOWCASE = ("fashion-mnist-cgan", "fashion-mnist-dcgan")


class ExploreHandlers:
    def __init__(self, sessions: Sessions):
        self.sessions, self.models_root = sessions, sessions.models_root    # one models folder for every rule
        self.shelf: Shelf[Explorer] = Shelf(Explorer.open, MAX_LOADED)
        self.projected: Dict[str, Tuple[str, torch.Tensor]] = {}     # key -> (model source, latent)
        self.browser = BrowserRender(N_DIRECTIONS, where=self.where)  # G as ONNX for pages that render it
        sessions.on_close.append(lambda s: self.browser.forget(s.key))   # also browsers closed as idle

    # ---- models -------------------------------------------------------------------------
    def models(self, key: Optional[str] = None) -> List[Tuple[str, str]]:
        """Shipped models first, then the image runs this browser may open (its own and shared ones)."""
        access = self.sessions.access
        out = [(f"shipped: {p.name}", access.ref(p)) for p in shipped_models(self.models_root)]
        if key is None:
            return out
        for e in access.visible_runs(self.sessions.who(key)):
            if tab_of(family(e.path)) == "explore":
                kind = "your run" if e.mine else f"{e.owner_label}'s run" if e.owner_label else "run"
                out.append((f"{kind}: {access.ref(e.path)}", access.ref(e.path)))
        return out

    def default_model(self) -> Optional[str]:
        """The shipped model the tab opens on, as the model list names it (``models/NAME``): the best-looking
        one shipped (SHOWCASE), else a style-based one (the most to play with), else the first."""
        shipped = shipped_models(self.models_root)
        by_name = {p.name: p for p in shipped}
        best = [by_name[n] for n in SHOWCASE if n in by_name]
        style = [p for p in shipped if family(p) == "stylegan"]
        return self.sessions.access.ref((best or style or shipped)[0]) if shipped else None

    def explorer(self, key: str) -> Explorer:
        default = self.default_model()
        return self.shelf.current(key, str(self.sessions.access.resolve(default).resolve()) if default else None,
                                  "No model is loaded; pick a shipped model or one of your runs and press Open.")

    def select(self, path: str, key: str) -> Explorer:
        if not (path or "").strip():
            raise GanlabError("Pick a model from the list first.")
        folder = self.sessions.access.run_path(path, self.sessions.who(key))     # yours, shared, or shipped
        return self.shelf.select(str(folder.resolve()), key, "Pick a model from the list first.")

    def where(self, ex: Explorer) -> str:
        """The loaded model's folder as the page names it (no server paths)."""
        return self.sessions.access.ref(ex.source)

    def forget(self, key: str) -> None:
        self.shelf.forget(key)
        self.projected.pop(key, None)
        self.browser.forget(key)

    def offer(self, key: str) -> Dict[str, Any]:
        """What this browser's page needs to render the open model itself (explore_client), or why not."""
        try:
            ex = self.explorer(key)
        except GanlabError as e:
            return {"server": str(e)}
        return self.browser.offer(key, ex, self.sessions.who(key).owner)

    # ---- the view ---------------------------------------------------------------------------
    @staticmethod
    def _seed(v: Any, label: str) -> int:
        try:
            s = int(v)
        except (TypeError, ValueError):
            raise GanlabError(f"{label} must be a whole number.") from None
        if not 0 <= s < 2 ** 31:
            raise GanlabError(f"{label} must be between 0 and 2,147,483,647 (got {s}).")
        return s

    def own(self, ex: Explorer, view: Dict[str, Any], key: Optional[str]) -> Optional[torch.Tensor]:
        """This browser's projected image (W+ styles, or z), when "start from my image" is ticked and it fits."""
        if not view.get("own") or key is None:
            return None
        got = self.projected.get(key)
        if got is None or got[0] != ex.source:
            raise GanlabError("Project an image into this model first (Edit your own image), then tick "
                              "\"start from my image\".")
        return got[1]

    def _dims(self, ex: Explorer, view: Dict[str, Any]) -> List[float]:
        dims = [0.0] * ex.z_dim
        dim = view.get("dim")
        if dim not in (None, "") and float(view.get("dim_amount") or 0):
            d = int(dim)
            if not 0 <= d < ex.z_dim:
                raise GanlabError(f"Pick a dimension between 0 and {ex.z_dim - 1}.")
            dims[d] = float(view["dim_amount"])
        return dims

    def _t(self, view: Dict[str, Any], t: Optional[float]) -> float:
        return float(view.get("t", 0.0) if t is None else t)

    def z(self, ex: Explorer, view: Dict[str, Any], t: Optional[float] = None,
          own: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The noise the sliders describe: seed A (or the projected z) to seed B at t, moved along the
        chosen directions."""
        a = own[0] if own is not None else ex.z(self._seed(view.get("seed_a"), "Seed A"))
        b = ex.z(self._seed(view.get("seed_b"), "Seed B"))
        z = interpolate(a, b, self._t(view, t), view.get("mode") or "slerp")
        amounts = [float(v or 0) for v in view.get("directions", [])]
        return ex.move(z, amounts, self._dims(ex, view), k=N_DIRECTIONS)

    def draw(self, ex: Explorer, view: Dict[str, Any], key: Optional[str] = None,
             t: Optional[float] = None) -> torch.Tensor:
        """The image [1, C, H, W] the controls describe (at ``t`` instead of the slider's, for strips)."""
        own = self.own(ex, view, key)
        if not ex.style:
            return ex.render(self.z(ex, view, t, own), psi_of(view), self.condition(ex, view))
        dims = torch.tensor(self._dims(ex, view))
        za = ex.z(self._seed(view.get("seed_a"), "Seed A")) + dims
        zb = ex.z(self._seed(view.get("seed_b"), "Seed B")) + dims
        ws = view_ws(ex, view, za, zb, self._t(view, t), psi_of(view), own)
        return ex.render_ws(ws, view_noise(ex, view))

    def condition(self, ex: Explorer, view: Dict[str, Any]) -> Optional[torch.Tensor]:
        """Class weights from the blend controls (class A, class B, blend), or None if unconditional."""
        if not ex.conditional:
            return None
        a = view.get("class_a") or ex.class_names[0]
        b = view.get("class_b") or a
        return ex.blend(a, b, float(view.get("blend") or 0.0))

    def caption(self, ex: Explorer, view: Dict[str, Any]) -> str:
        a, b = self._seed(view.get("seed_a"), "Seed A"), self._seed(view.get("seed_b"), "Seed B")
        parts = [f"seed A {a} → seed B {b}",
                 f"t {float(view.get('t') or 0):.2f} ({view.get('mode') or 'slerp'})",
                 f"ψ {psi_of(view):.2f}"]
        moved = [f"PC{i + 1} {float(v):+.1f}σ" for i, v in enumerate(view.get("directions", [])) if v]
        if moved:
            parts.append(", ".join(moved))
        if view.get("dim") not in (None, "") and float(view.get("dim_amount") or 0):
            parts.append(f"z[{int(view['dim'])}] {float(view['dim_amount']):+.1f}")
        if ex.conditional:
            a, b = view.get("class_a") or ex.class_names[0], view.get("class_b") or view.get("class_a")
            blend = float(view.get("blend") or 0)
            parts.append(a if blend == 0 or a == b else f"{1 - blend:.0%} {a} + {blend:.0%} {b}")
        if ex.style:
            parts += style_caption(ex, view, bool(view.get("own")))
        elif view.get("own"):
            parts.append("from your projected image")
        return " · ".join(parts)

    def render(self, view: Dict[str, Any], key: str) -> Tuple[Image.Image, str]:
        ex = self.explorer(key)
        x = self.draw(ex, view, key)
        # half the pixels the page shows; it scales the picture up without smoothing (CSS in ui/__init__),
        # so a slider move costs a 128 px PNG to encode and send, not a 256 px one
        return to_picture(x, target=LIVE_PX), self.caption(ex, view)

    def strip(self, view: Dict[str, Any], key: str) -> Image.Image:
        ex = self.explorer(key)
        n = int(view.get("frames") or 8)
        x = self.frames(ex, view, n, key)
        return to_picture(x, nrow=n, target=96)

    def frames(self, ex: Explorer, view: Dict[str, Any], n: int, key: Optional[str] = None) -> torch.Tensor:
        if not 2 <= n <= 240:
            raise GanlabError(f"Use 2 to 240 frames (got {n}).")
        if ex.style:
            return torch.cat([self.draw(ex, view, key, t=i / (n - 1)) for i in range(n)])
        own = self.own(ex, view, key)
        zs = torch.stack([self.z(ex, view, i / (n - 1), own) for i in range(n)])
        return ex.render(zs, psi_of(view), self.condition(ex, view))

    def mixing(self, view: Dict[str, Any], key: str) -> Image.Image:
        """The style-mixing grid (rows: seeds A, and the projected image when "start from my image" is on)."""
        ex = self.explorer(key)
        return mixing_picture(ex, view, psi_of(view), self.own(ex, view, key) if ex.style else None)

    def remember_projection(self, key: str, ex: Explorer, latent: torch.Tensor) -> None:
        """Keep this browser's projected latent for the model it was made with (one per browser)."""
        self.projected[key] = (ex.source, latent.detach().cpu())

    def class_grid(self, classes: Sequence[str], view: Dict[str, Any], key: str, per_class: int = 8) -> Image.Image:
        """One row per class, the same ``per_class`` seeds (from seed A on) in every row."""
        ex = self.explorer(key)
        if not ex.conditional:
            raise GanlabError("This model is not class-conditioned; open a cgan, projection, acgan or reacgan model.")
        if not classes:                                   # none picked: every class, or GRID_CLASSES spread over them
            classes = [ex.class_names[i] for i in grid_classes(len(ex.class_names)).tolist()]
        if len(classes) > GRID_CLASSES:
            raise GanlabError(f"Pick at most {GRID_CLASSES} classes for one grid (you picked {len(classes)}).")
        classes = list(classes)
        ids = ex.classes(classes)
        base = self._seed(view.get("seed_a"), "Seed A")
        z = torch.stack([ex.z(base + i) for i in range(per_class)])           # [S, z_dim]
        zz = z.repeat(len(ids), 1)                                            # [C * S, z_dim]
        yy = ids.repeat_interleave(per_class)
        x = ex.render(zz, psi_of(view), yy)
        return label_rows(to_picture(x, nrow=per_class, target=64), classes)

    def nearest(self, view: Dict[str, Any], key: str, k: int = 5) -> Tuple[Image.Image, str]:
        """The current image beside its k nearest training images (pixel distance)."""
        from ..config import DataConfig
        from ..explore import nearest
        ex = self.explorer(key)
        if not self.sessions.access.may_use_dataset(ex.cfg.data.name, self.sessions.who(key)):
            raise GanlabError("This model was trained on someone else's uploaded images, so its nearest "
                              "training images are not shown.")
        x = self.draw(ex, view, key)
        data_cfg = DataConfig(**{**ex.cfg.data.__dict__})
        data = self.sessions.data.get(data_cfg, seed=ex.cfg.train.seed).x
        idx, dist = nearest(x, data, k=k)
        pics = torch.cat([x, data[idx[0]]])
        text = (f"Left: this image. Then its {k} nearest of {len(data):,} training images by pixel distance: "
                + ", ".join(f"{d:.2f}" for d in dist[0].tolist())
                + ". A copy would be at about 0; typical generated images are as far as unseen real ones.")
        return to_picture(pics, nrow=k + 1, target=112), text


def label_rows(img: Image.Image, labels: Sequence[str], width: int = 110) -> Image.Image:
    """The grid with each row's label written to its left."""
    out = Image.new("RGB", (img.width + width, img.height), "white")
    out.paste(img.convert("RGB"), (width, 0))
    draw = ImageDraw.Draw(out)
    h = img.height / max(1, len(labels))
    for i, name in enumerate(labels):
        draw.text((6, int(i * h + h / 2 - 6)), str(name)[:16], fill=(30, 30, 30))
    return out


def export_file(h: ExploreHandlers, what: str, view: Dict[str, Any], key: str) -> Path:
    """One download for the Explore tab: the walk (gif/mp4), the grid (png), or G (onnx/torchscript)."""
    from ..export import export_onnx, export_torchscript, save_animation, save_grid
    ex = h.explorer(key)
    folder = h.sessions.scratch_dir(key)
    stem = Path(ex.source).name or "generator"
    a, b = h._seed(view.get("seed_a"), "Seed A"), h._seed(view.get("seed_b"), "Seed B")
    if what in ("gif", "mp4"):
        n = int(view.get("frames") or 8)
        frames = h.frames(ex, view, max(n, 16), key)
        return save_animation(frames, folder / f"{stem}-walk-{a}-{b}.{what}", fps=12)
    if what == "png":
        n = int(view.get("frames") or 8)
        return save_grid(h.frames(ex, view, n, key), folder / f"{stem}-strip-{a}-{b}.png", nrow=n)
    if what == "onnx":
        return export_onnx(ex.G, folder / f"{stem}.onnx")
    if what == "torchscript":
        return export_torchscript(ex.G, folder / f"{stem}.torchscript.pt")
    raise GanlabError(f"Unknown export {what!r}.")
