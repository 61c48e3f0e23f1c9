"""Prompts to images with a trained text-gan: the API behind the Text -> Image tab and ``sample --prompt``.

    tg = TextGenerator.open("models/text-captioned")       # any text-gan run, checkpoint or model folder
    x = tg.generate("a sneaker for jogging", n=16, seed=0)  # [16, 3, 32, 32] in [-1, 1]
    tg.scores(x, "a sneaker for jogging")                   # CLIP score of each image with the prompt
    tg.between("a red circle", "a blue square", t=0.5)      # images half way between two prompts
    tg.domain("a red sports car")                           # Domain(ok=False, score=0.21, nearest="a red circle")
    tg.generate("blue denim", prior="none")                 # the raw prompt embedding, without the prior

The prompt reaches G through a retrieval prior (:mod:`ganlab.text.prior`):
by default each image is conditioned on one of the training images nearest
the prompt's closest training caption, which is what G was trained on.

The domain check compares the prompt with what the model was trained on: for
the offline embedder, MiniLM's own sentence similarity to every caption of
the training sets; with real CLIP, the prompt's similarity to the training
images' embeddings. A prompt below the threshold is reported as outside the
model's domains instead of being answered with confident noise.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..errors import GanlabError
from ..explore import slerp, truncate
from ..sampling import find_checkpoint, load_generator, noise
from .embedders import Embedder, MiniLMEmbedder, load_embedder
from .prior import Prior, load_bank

# The offline check asks: is the prompt closer (MiniLM sentence similarity) to some training caption
# than to every one of these everyday concepts, and at least MINILM_FLOOR similar to a caption?
# bench/text_to_image.py measures how often it accepts held-out in-domain prompts and rejects others.
BACKGROUND = ["a car", "a truck", "a bicycle", "an airplane", "a boat", "a train", "a cat", "a dog", "a bird",
              "a horse", "a fish", "an insect", "a person", "a face", "a woman", "a man", "a child", "a portrait",
              "a crowd of people", "a building", "a house", "a bridge", "a city street", "a landscape",
              "a mountain", "the sea", "a forest", "a flower", "a tree", "food", "a fruit", "a drink",
              "a meal on a plate", "a computer", "a phone", "a television", "a musical instrument",
              "a piece of furniture", "a chair", "a table", "a book", "a toy", "a ball", "a painting", "the sky",
              "the night", "a sports game", "a kitchen", "a bedroom", "a tool", "a weapon", "jewellery", "a clock",
              "a lamp"]
MINILM_FLOOR = 0.4
ALSO_MARGIN = 0.1          # readings(): other concepts this close to the prompt's nearest caption are shown
CLIP_MARGIN = 0.8          # real CLIP: at least this share of the training captions' own typical score


@dataclass
class Domain:
    ok: bool
    score: float
    nearest: str
    threshold: float
    domains: List[str]

    def sentence(self) -> str:
        where = ", ".join(self.domains) or "its training images"
        if not self.nearest:
            return (f"This model was trained on images without captions ({where}), so there is nothing to compare "
                    "a prompt with: the tab cannot tell whether it is in the model's domain.")
        if self.ok:
            return f"In domain (similarity {self.score:.2f} to the nearest training caption)."
        return (f"This prompt is outside what the model learned ({where}): its closest training caption is "
                f"“{self.nearest}” at similarity {self.score:.2f}, no closer than everyday things unrelated to "
                f"the training data ({self.threshold:.2f}). The images below are its best guess, not an answer.")


def changed_words(prompt: str, read: str) -> str:
    """What reading ``prompt`` as the caption ``read`` changed, said exactly: "“blue” became “cyan”", or ""."""
    from ..data.shapes import COLOURS, SHAPES
    said = set(re.findall(r"[a-z]+", prompt.lower()))
    kept = set(re.findall(r"[a-z]+", read.lower()))
    parts = []
    for kind in (SHAPES, COLOURS):
        lost = [w for w in kind if w in said and w not in kept]
        got = [w for w in kind if w in kept and w not in said]
        if lost and got:
            parts.append(f"“{'/'.join(lost)}” became “{'/'.join(got)}”")
        elif lost:
            parts.append(f"“{'/'.join(lost)}” was left out")
    return "; ".join(parts)


def concept_weights() -> Dict[str, float]:
    """How much each word matters when a prompt is read as a caption: shape words most, then colours."""
    from ..data.shapes import COLOURS, SHAPES
    return {**{c: 1.0 for c in COLOURS}, **{s: 3.0 for s in SHAPES}}


class TextGenerator:
    def __init__(self, G, cfg, step: int, embedder: Embedder, source: str = "", bank: Optional[torch.Tensor] = None):
        if not getattr(G, "cond_dim", 0):
            raise GanlabError(f"{source or 'This model'} is not text-conditioned; train one with --model text-gan.")
        self.G, self.cfg, self.step, self.embedder, self.source = G.eval(), cfg, step, embedder, source
        self.bank = bank
        self._pool: Optional[List[str]] = None
        self._concepts: Optional[torch.Tensor] = None      # [T, 3] what each pool caption names (see readings)
        self._pool_vecs: Optional[torch.Tensor] = None
        self._prior: Optional[Prior] = None
        self._building = threading.RLock()

    @classmethod
    def open(cls, path) -> "TextGenerator":
        G, cfg, step = load_generator(Path(path))
        if not getattr(G, "cond_dim", 0):
            raise GanlabError(f"{path} is a {cfg.model.name} model, not text-conditioned; open it in Explore.")
        return cls.around(G, cfg, step, path)

    @classmethod
    def around(cls, G, cfg, step: int, path) -> "TextGenerator":
        """A G already loaded from ``path``, with its embedder and the image bank saved beside it."""
        embedder = load_embedder(cfg.model.clip or "minilm")
        return cls(G, cfg, step, embedder, str(path), load_bank(find_checkpoint(Path(path)), embedder.name))

    # ---- facts -------------------------------------------------------------------------------
    def domains(self) -> List[str]:
        name = self.cfg.data.name
        if name.startswith("captioned"):
            from .data import DOMAINS, _domains
            return _domains(name.partition(":")[2] or None) if ":" in name else list(DOMAINS)
        return [name]

    def describe(self) -> str:
        return (f"text-gan on {', '.join(self.domains())} with the {self.embedder.name} embedder, step {self.step:,}; "
                f"{self.cfg.train.condition} conditioning; prompts read through the {self.prior.default()} prior")

    @property
    def prior(self) -> Prior:
        """The retrieval prior over this model's training captions and image bank (built on first use)."""
        with self._building:                 # once, even when many pages send their first prompt together
            if self._prior is None:
                pool = self._reference()
                vecs = torch.cat([self.encode(pool[i:i + 512]) for i in range(0, len(pool), 512)]) if pool else None
                self._prior = Prior(pool, vecs, self.bank, weights=concept_weights())
        return self._prior

    # ---- images --------------------------------------------------------------------------------
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        prompts = [p.strip() for p in prompts]
        if not all(prompts):
            raise GanlabError("Type a prompt first, e.g. “a sneaker for jogging”.")
        with torch.no_grad():
            return self.embedder.encode_text(prompts).cpu()

    @staticmethod
    def _count(n: int) -> int:
        if not 1 <= n <= 256:
            raise GanlabError(f"Ask for 1 to 256 images (got {n}).")
        return n

    @torch.no_grad()
    def from_condition(self, c: torch.Tensor, n: int, seed: int = 0, psi: float = 1.0) -> torch.Tensor:
        """n images from conditions ``c``: one [1, E] for all, or one row per image [n, E]."""
        self._count(n)
        z = truncate(noise(self.G, n, seed), psi)
        device = next(self.G.parameters()).device
        return self.G(z.to(device), c.expand(n, -1).to(device)).cpu()

    def conditions(self, prompt: str, n: int, seed: int = 0, prior: Optional[str] = None) -> torch.Tensor:
        """The n conditions [n, E] a prompt becomes under ``prior`` (None: the strongest this model has)."""
        return self.prior.conditions(self.encode([prompt])[0], self._count(n), seed, prior, text=prompt)

    def read_as(self, prompt: str, prior: Optional[str] = None) -> Optional[str]:
        """The training caption the prior reads ``prompt`` as, or None when the prompt goes in as it is."""
        if self.prior.check(prior) == "none":
            return None
        found = self.prior.read_as(self.encode([prompt])[0], text=prompt)
        return found[0] if found else None

    def generate(self, prompt: str, n: int = 16, seed: int = 0, psi: float = 1.0,
                 prior: Optional[str] = None) -> torch.Tensor:
        return self.from_condition(self.conditions(prompt, n, seed, prior), n, seed, psi)

    def between(self, a: str, b: str, t: float, n: int = 8, seed: int = 0, psi: float = 1.0,
                prior: Optional[str] = None) -> torch.Tensor:
        """Images for the point a fraction t along the arc between two prompts' conditions (image by image)."""
        ca, cb = self.conditions(a, n, seed, prior), self.conditions(b, n, seed, prior)   # [n, E] each
        c = ca if t <= 0 else cb if t >= 1 else F.normalize(slerp(ca, cb, float(t)), dim=-1)
        return self.from_condition(c, n, seed, psi)

    @torch.no_grad()
    def scores(self, images: torch.Tensor, prompt: str) -> torch.Tensor:
        """CLIP score: cosine similarity of each image's embedding with the prompt's, [n]."""
        img = self.embedder.encode_image(images.to(self.embedder.device)).cpu()
        return img @ self.encode([prompt])[0]

    # ---- what the model knows ------------------------------------------------------------------
    def _reference(self):
        if self._pool is None:
            from .data import caption_pool
            if self.cfg.data.name.startswith("captioned"):
                pool = caption_pool(self.domains())
                self._pool, self._concepts = pool.texts, pool.values[:, :3]     # domain, class or shape, colour
            else:
                self._pool = []
        return self._pool

    def readings(self, prompt: str, margin: float = ALSO_MARGIN, k: int = 2) -> List[Tuple[str, float]]:
        """Other things the prompt may mean: for up to k other concepts (another class, or another shape or
        colour), the training caption nearest the prompt, when it is within ``margin`` (cosine) of the
        nearest caption of all. "a tote" is read as a t-shirt, but "a bag" comes close behind."""
        if self.prior.caption_vecs is None or self._concepts is None:       # (prior fills the pool and concepts)
            return []
        sims = self._similarities(prompt)                                    # [T], as domain() measures them
        order = sims.argsort(descending=True).tolist()
        best = order[0]
        seen = {tuple(self._concepts[best].tolist())}
        out = []
        for i in order[1:]:
            if float(sims[i]) < float(sims[best]) - margin or len(out) == k:
                break
            concept = tuple(self._concepts[i].tolist())
            if concept not in seen:
                seen.add(concept)
                out.append((self._pool[i], float(sims[i])))
        return out

    def also_close(self, prompt: str) -> str:
        """readings() as a sentence for the tab and the CLI, or "" when nothing else comes close."""
        others = self.readings(prompt)
        if not others:
            return ""
        return ("Also close: " + ", ".join(f"“{c}” ({s:.2f})" for c, s in others)
                + ". If you meant one of these, name it more plainly.")

    def _similarities(self, prompt: str) -> torch.Tensor:
        """[T] the prompt's similarity to every training caption, in the one space the tab quotes: MiniLM's
        own sentence space offline (the domain check's), else the model's text tower."""
        pool = self._reference()
        if isinstance(self.embedder, MiniLMEmbedder) and pool:
            if self._pool_vecs is None:          # several pages may ask at once: set both, the pool last
                background = F.normalize(self.embedder.sentence_vectors(BACKGROUND), dim=-1)
                self._background = background
                self._pool_vecs = F.normalize(self.embedder.sentence_vectors(pool), dim=-1)
            return self._pool_vecs @ F.normalize(self.embedder.sentence_vectors([prompt.strip()]), dim=-1)[0]
        return self.prior.caption_vecs @ self.encode([prompt])[0]

    def domain(self, prompt: str) -> Domain:
        pool = self._reference()
        if isinstance(self.embedder, MiniLMEmbedder) and pool:
            sims = self._similarities(prompt)
            v = F.normalize(self.embedder.sentence_vectors([prompt.strip()]), dim=-1)[0]
            best = int(sims.argmax())
            score = float(sims[best])
            threshold = max(MINILM_FLOOR, float((self._background @ v).max()))   # closer to us than to the world
            return Domain(score > threshold, score, pool[best], threshold, self.domains())
        if pool:
            vecs = self.prior.caption_vecs                           # the pool's embeddings, encoded once
            sims = vecs @ self.encode([prompt])[0]
            others = vecs @ vecs.T - 2 * torch.eye(len(pool))       # each caption's closest *other* caption
            typical = float(others.max(1).values.median()) if len(pool) > 1 else 1.0
            best = int(sims.argmax())
            thr = CLIP_MARGIN * typical
            return Domain(float(sims[best]) >= thr, float(sims[best]), pool[best], thr, self.domains())
        return Domain(True, float("nan"), "", float("nan"), self.domains())   # no captions: cannot judge
