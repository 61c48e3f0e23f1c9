"""What the Text → Image tab's controls do: thin handlers over ganlab.text.generate.TextGenerator.

    h = TextHandlers(sessions)
    h.models()                                         # (label, path) of text-gan models and runs
    info = h.open(path, key)                           # load a model for this browser; its description
    items, domain, label = h.generate("the digit seven", 8, 1.0, 0, key)   # gallery items, captioned
    strip = h.between("a red circle", "a blue square", 0.5, 8, 1.0, 0, key)
    picture, text = h.nearest("the digit seven", 3, 8, 1.0, 0, key)       # image #3 and its neighbours
    h.generate("blue denim", 8, 1.0, 0, key, prior="none")                # any of them: the prompt as it is

Handlers keep no state but the loaded TextGenerator per browser: image number
``i`` of a gallery is made again from (prompt, n, psi, seed, prior), so any
control can be moved in any order. Loaded generators are shared by every browser.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Optional, Tuple

import torch
from PIL import Image

from ..data.shapes import COLOURS, SHAPES
from ..errors import GanlabError
from ..text.generate import TextGenerator, changed_words
from .explore import MODELS_DIR, to_picture
from .sessions import Sessions
from .shelf import Shelf, family, model_folders

MAX_LOADED = 4                       # text generators kept in memory (each holds an embedder)
MAX_N = 64
NEAR_K = 5
GALLERY_PX = 128                     # one gallery image is enlarged to about this many pixels
STRIP_PX, STRIP_ROW = 96, 8          # the two-prompt strip: image size, images per row
# what each training set means to someone typing a prompt
PRIORS = {"image": "training images like the nearest caption (best for new wording)",
          "caption": "the nearest training caption",
          "none": "the prompt as it is (LAFITE; best for new combinations)"}
PLAIN = {"fashion-mnist": "clothes, shoes and bags (fashion-mnist)", "mnist": "handwritten digits 0–9 (mnist)",
         "shapes": "coloured circles, squares and triangles (shapes)"}


def text_models(root: Path = MODELS_DIR) -> List[Path]:
    """Model folders under models/ (generator.safetensors + config.json) that hold a text-gan."""
    return model_folders(root, text=True)


def dropped_shape_words(prompt: str, read: str) -> List[str]:
    """The shape and colour words of ``prompt`` that its reading ``read`` lost ("a green triangle" read as
    "a green circle": ["triangle"]): the prompt names a combination the model may never have seen."""
    said = set(re.findall(r"[a-z]+", prompt.lower()))
    kept = set(re.findall(r"[a-z]+", read.lower()))
    return [w for w in (*SHAPES, *COLOURS) if w in said and w not in kept]


def known_domains(tg: TextGenerator) -> str:
    """The sentence that says plainly what the loaded model can draw."""
    names = [PLAIN.get(d, d) for d in tg.domains()]
    return f"This model understands prompts about: {'; '.join(names)}. Anything else is outside what it learned."


class TextHandlers:
    def __init__(self, sessions: Sessions):
        self.sessions, self.models_root = sessions, sessions.models_root    # one models folder for every rule
        self.shelf: Shelf[TextGenerator] = Shelf(TextGenerator.open, MAX_LOADED)

    # ---- models ---------------------------------------------------------------------------
    def models(self, key: Optional[str] = None) -> List[Tuple[str, str]]:
        """Shipped text-gan models first, then the text-gan runs this browser may open (newest first)."""
        access = self.sessions.access
        out = [(f"shipped: {p.name}", access.ref(p)) for p in text_models(self.models_root)]
        if key is not None:
            for e in access.visible_runs(self.sessions.who(key)):
                if family(e.path) == "text-gan":
                    kind = "your run" if e.mine else f"{e.owner_label}'s run" if e.owner_label else "run"
                    out.append((f"{kind}: {access.ref(e.path)}", access.ref(e.path)))
        return out

    def default_model(self) -> Optional[str]:
        """The shipped model if there is one, else None."""
        found = self.models()
        return found[0][1] if found else None

    def select(self, path: str, key: str) -> TextGenerator:
        if not (path or "").strip():
            raise GanlabError("No text-gan model yet: train one with --model text-gan, then pick it from the list.")
        folder = self.sessions.access.run_path(path, self.sessions.who(key))
        return self.shelf.select(str(folder.resolve()), key, "Pick a model from the list first.")

    def forget(self, key: str) -> None:
        self.shelf.forget(key)

    def generator(self, key: str) -> TextGenerator:
        default = self.default_model()
        return self.shelf.current(key, str(self.sessions.access.resolve(default).resolve()) if default else None,
                                  "No text-gan model is loaded; pick one from the list and press Open.")

    def open(self, path: str, key: str) -> str:
        """Load ``path`` for this browser; the markdown describing it and the domains it knows."""
        tg = self.select(path, key)
        return f"**{tg.describe()}** · `{self.sessions.access.ref(tg.source)}`\n\n{known_domains(tg)}"

    # ---- checks -----------------------------------------------------------------------------
    @staticmethod
    def _prompt(prompt: Any, label: str = "prompt") -> str:
        text = str(prompt or "").strip()
        if not text:
            raise GanlabError(f"Type a {label} first, e.g. “the digit seven”.")
        return text

    @staticmethod
    def _whole(v: Any, label: str, lo: int, hi: int) -> int:
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise GanlabError(f"The {label} must be a whole number.") from None
        if x != int(x) or not lo <= x <= hi:
            raise GanlabError(f"The {label} must be a whole number from {lo:,} to {hi:,} (got {v}).")
        return int(x)

    @staticmethod
    def _prior(tg: TextGenerator, prior: Any) -> Optional[str]:
        """A prior rule from the radio (its key or its label), or None for the model's default."""
        if not prior:
            return None
        named = {label: rule for rule, label in PRIORS.items()}
        return tg.prior.check(named.get(prior, prior))

    def _args(self, prompt, n, psi, seed) -> Tuple[str, int, float, int]:
        n = self._whole(n, "number of images", 1, MAX_N)
        seed = self._whole(seed, "seed", 0, 2 ** 31 - 1)
        try:
            psi = float(psi if psi is not None else 1.0)
        except (TypeError, ValueError):
            raise GanlabError("Truncation ψ must be a number from 0 to 1.5.") from None
        return self._prompt(prompt), n, psi, seed

    # ---- images -------------------------------------------------------------------------------
    def generate(self, prompt: str, n: int, psi: float, seed: int, key: str,
                 prior: Optional[str] = None) -> Tuple[List, str, str]:
        """Gallery items (picture, "#i · seed s+i · CLIP c"), the domain markdown, and a one-line summary."""
        prompt, n, psi, seed = self._args(prompt, n, psi, seed)
        tg = self.generator(key)
        prior = self._prior(tg, prior)
        x = tg.generate(prompt, n=n, seed=seed, psi=psi, prior=prior)      # [n, C, H, W] in [-1, 1]
        scores = tg.scores(x, prompt).tolist()
        items = [(to_picture(x[i:i + 1], target=GALLERY_PX), f"#{i} · seed {seed}+{i} · CLIP {s:.2f}")
                 for i, s in enumerate(scores)]
        dom = tg.domain(prompt)
        head = dom.sentence() if dom.ok else f"⚠️ {dom.sentence()}"
        read = tg.read_as(prompt, prior)
        if read:
            given = "training images like it" if tg.prior.check(prior) == "image" else "that caption's embedding"
            head += f" Read as the training caption “{read}”; G was given {given}."
            changed = changed_words(prompt, read)
            if dom.ok and changed:
                head += (f" Changed: {changed}, because no training caption has what you typed together. To give "
                         f"G your own words instead (a combination it never saw), pick “{PRIORS['none']}”.")
        also = tg.also_close(prompt)
        if also:
            head += f" {also}"
        domain = head if dom.ok else f"{head}\n\n{known_domains(tg)}"     # the header says it once already
        summary = (f"{n} images for “{prompt}” · seed {seed} · ψ {psi:.2f} · mean CLIP {sum(scores) / n:.2f} "
                   "(click one for its nearest training images)")
        return items, domain, summary

    def between(self, prompt_a: str, prompt_b: str, t: float, n: int, psi: float, seed: int,
                key: str, prior: Optional[str] = None) -> Image.Image:
        """The n images (same seed) for the point t of the way from prompt A's conditions to prompt B's."""
        prompt_a, n, psi, seed = self._args(prompt_a, n, psi, seed)
        prompt_b = self._prompt(prompt_b, "second prompt")
        tg = self.generator(key)
        x = tg.between(prompt_a, prompt_b, float(t or 0.0), n=n, seed=seed, psi=psi, prior=self._prior(tg, prior))
        return strip_picture(x)

    def nearest(self, prompt: str, index: int, n: int, psi: float, seed: int, key: str,
                prior: Optional[str] = None, k: int = NEAR_K) -> Tuple[Image.Image, str]:
        """Generated image number ``index`` beside its k nearest training images (pixel distance)."""
        from ..explore import nearest
        prompt, n, psi, seed = self._args(prompt, n, psi, seed)
        if index is None or not 0 <= int(index) < n:
            raise GanlabError("Click one of the generated images first.")
        i = int(index)
        tg = self.generator(key)
        if not self.sessions.access.may_use_dataset(tg.cfg.data.name, self.sessions.who(key)):
            raise GanlabError("This model was trained on someone else's uploaded images, so its nearest "
                              "training images are not shown.")
        x = tg.generate(prompt, n=n, seed=seed, psi=psi, prior=self._prior(tg, prior))[i:i + 1]   # same batch
        data = self.sessions.data.get(tg.cfg.data, seed=tg.cfg.train.seed).x
        if data.shape[1:] != x.shape[1:]:
            raise GanlabError(f"The training images are {list(data.shape[1:])}, the model makes "
                              f"{list(x.shape[1:])}; nearest neighbours need the same shape.")
        idx, dist = nearest(x, data, k=k)
        pics = torch.cat([x, data[idx[0]].float()])
        text = (f"Left: image #{i} (seed {seed}+{i}). Then its {k} nearest of {len(data):,} training images by "
                "pixel distance: " + ", ".join(f"{d:.2f}" for d in dist[0].tolist())
                + ". A copy would be at about 0; a new image is about as far as unseen real ones.")
        return to_picture(pics, nrow=k + 1, target=112), text


def strip_picture(x: torch.Tensor) -> Image.Image:
    """A batch in [-1, 1] as rows of at most STRIP_ROW images, each about STRIP_PX pixels."""
    return to_picture(x, nrow=min(len(x), STRIP_ROW), target=STRIP_PX)
