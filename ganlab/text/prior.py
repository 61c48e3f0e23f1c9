"""Where a prompt lands before G sees it: a retrieval prior over what the model was trained on.

    prior = Prior(captions, caption_vecs, bank)          # bank: training-image embeddings [M, E]
    c = prior.conditions(text_vec, n=16, seed=0)         # [16, E]: one condition per image
    prior.read_as(text_vec)                              # ("a trainer shoe", 0.71): how the prompt was read

Why: G is trained on two kinds of condition, the (perturbed) embeddings of
training images and the embeddings of training captions. A prompt worded in
a way no caption used ("running footwear for jogging") lands *near* the right
captions in the joint space, but off the points G was trained on, and G
answers an off-manifold condition with a worse image. DALL-E 2 bridges the
same text-to-image gap with a learned prior; this is its non-parametric
cousin, in three strengths (``RULES``):

- ``"none"``: the prompt's own embedding, LAFITE's inference rule;
- ``"caption"``: the nearest training caption's embedding instead;
- ``"image"``: then, for each of the n images, one of the ``K`` training
  images nearest that caption (by embedding), the condition G trained on,
  so the n images vary as the real images of the concept do.

The cost: a prompt is read as the nearest thing the model has seen, so a
combination held out of training ("a green triangle") is read as a seen one.
bench/text_to_image.py reports every rule, held-out pairs included.

The bank is a balanced subsample of the training images' embeddings, written
by the text-gan trainer into each checkpoint as ``prior.safetensors`` and
carried into exported model folders. For a model made before banks existed:

    python -m ganlab.text.prior models/text-captioned     # embeds its training set, writes the bank
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import GanlabError

RULES = ("image", "caption", "none")
PRIOR_FILE = "prior.safetensors"
BANK_SIZE = 6000          # embeddings kept in a checkpoint: 3 MB at half precision
K = 20                    # each image's condition is one of this many nearest training images
STOP_WORDS = frozenset("a an the at of in on with for and to is some one its it this that".split())


def words(text: str) -> List[str]:
    return re.findall(r"[a-z]+", (text or "").lower())


def image_bank(emb: torch.Tensor, groups: Optional[torch.Tensor] = None, size: int = BANK_SIZE,
               seed: int = 0) -> torch.Tensor:
    """A subsample of ``emb`` [N, E], equal numbers from each group (e.g. domain) when given."""
    gen = torch.Generator().manual_seed(seed)
    if groups is None:
        return emb[torch.randperm(len(emb), generator=gen)[:size]]
    groups = groups.cpu()
    names = groups.unique()
    per = max(1, size // len(names))
    idx = []
    for g in names:
        members = (groups == g).nonzero()[:, 0]
        idx.append(members[torch.randperm(len(members), generator=gen)[:per]])
    return emb[torch.cat(idx).to(emb.device)]


def save_bank(bank: torch.Tensor, folder: Path, embedder: str) -> Path:
    path = Path(folder) / PRIOR_FILE
    save_file({"bank": bank.detach().cpu().half().contiguous()}, str(path), metadata={"embedder": embedder})
    return path


def load_bank(folder: Path, embedder: str) -> Optional[torch.Tensor]:
    """The bank saved in ``folder``, or None when there is none. A bank made with another embedder lives in
    another space and would mislead, so it is refused."""
    path = Path(folder) / PRIOR_FILE
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        bank = load_file(str(path))["bank"].float()
    except (OSError, KeyError, SafetensorError) as e:
        raise GanlabError(f"{path} is unreadable ({e}); delete it to generate without the image prior.") from None
    if meta.get("embedder") != embedder:
        raise GanlabError(f"{path} was made with the {meta.get('embedder')!r} embedder, not {embedder!r}.")
    return F.normalize(bank, dim=1)


class Prior:
    """``weights``: how much keeping each word of a prompt matters when it is read as a caption (a shape word
    more than a colour); a word not listed counts 1 if some caption uses it."""

    def __init__(self, captions: List[str], caption_vecs: Optional[torch.Tensor],
                 bank: Optional[torch.Tensor], k: int = K, weights: Optional[Dict[str, float]] = None):
        self.captions, self.caption_vecs, self.bank, self.k = captions, caption_vecs, bank, k
        self.weights = dict(weights or {})
        self._caption_words = [set(words(c)) for c in captions]
        self._vocab = set().union(*self._caption_words) if captions else set()

    def keeping(self, text: Optional[str]) -> Optional[torch.Tensor]:
        """[T] bool: the captions that keep the most of what ``text`` names (its words that captions use,
        weighted), naming nothing weighted it did not; None when ``text`` names nothing captions use.
        "a blue square at the top", where no caption pairs blue with square, keeps "a square at the top"
        (the shape word outweighs the colour) rather than "a blue circle at the top"."""
        said = {w for w in words(text) if w in self._vocab and w not in STOP_WORDS}
        if not said:
            return None
        score = torch.tensor([sum(self.weights.get(w, 1.0) for w in said & cw)
                              - 0.5 * sum(self.weights[w] for w in cw - said if w in self.weights)
                              for cw in self._caption_words])
        best = float(score.max())
        return (score == best) if best > 0 else None

    def rules(self) -> List[str]:
        """The rules this model supports, strongest first."""
        have = {"image": self.bank is not None, "caption": self.caption_vecs is not None, "none": True}
        return [r for r in RULES if have[r]]

    def default(self) -> str:
        return self.rules()[0]

    def check(self, rule: Optional[str]) -> str:
        rule = rule or self.default()
        if rule not in RULES:
            raise GanlabError(f"The prior is one of {', '.join(RULES)}, not {rule!r}.")
        if rule not in self.rules():
            raise GanlabError(f"This model has no {'image bank' if rule == 'image' else 'training captions'} "
                              f"for the {rule!r} prior; it supports {', '.join(self.rules())}.")
        return rule

    def _nearest(self, v: torch.Tensor, text: Optional[str] = None) -> int:
        """The nearest caption to ``v``, among those that keep the words of the prompt ``text`` when given."""
        sims = self.caption_vecs @ v
        keep = self.keeping(text)
        if keep is not None:
            sims = sims.masked_fill(~keep, float("-inf"))
        return int(sims.argmax())

    def read_as(self, v: torch.Tensor, text: Optional[str] = None) -> Optional[Tuple[str, float]]:
        """The training caption the prompt (embedding ``v`` [E], words ``text``) is read as, and its cosine
        similarity."""
        if self.caption_vecs is None:
            return None
        best = self._nearest(v, text)
        return self.captions[best], float(self.caption_vecs[best] @ v)

    def conditions(self, v: torch.Tensor, n: int, seed: int = 0, rule: Optional[str] = None,
                   text: Optional[str] = None) -> torch.Tensor:
        """The n conditions [n, E] that the prompt (embedding ``v`` [E], words ``text``) becomes under ``rule``."""
        rule = self.check(rule)
        if rule == "none":
            return v.expand(n, -1)
        q = v if self.caption_vecs is None else self.caption_vecs[self._nearest(v, text)]
        if rule == "caption":
            return q.expand(n, -1)
        near = (self.bank @ q).topk(min(self.k, len(self.bank))).indices               # [k]
        gen = torch.Generator().manual_seed(int(seed))
        return self.bank[near[torch.randint(len(near), (n,), generator=gen)]]           # [n, E]


@torch.no_grad()
def build_bank(path: Path) -> Path:
    """Embed the training set of the text-gan model or run at ``path`` and write its bank there."""
    from ..checkpoint import read_config
    from ..data import load_dataset
    from ..sampling import find_checkpoint
    from .embedders import load_embedder
    from .trainer import image_embeddings
    folder = find_checkpoint(Path(path))
    cfg = read_config(folder)
    if not cfg.model.clip:
        raise GanlabError(f"{path} is a {cfg.model.name} model; only text-gan models use a prior.")
    embedder = load_embedder(cfg.model.clip)
    data = load_dataset(cfg.data, seed=cfg.train.seed)
    emb = image_embeddings(embedder, data, cfg, desc="embedding the training images")   # the trainer's cache
    return save_bank(image_bank(emb, data.attributes.get("domain"), seed=cfg.train.seed), folder, embedder.name)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganlab.text.prior", description=build_bank.__doc__)
    p.add_argument("model", type=Path, help="a text-gan model folder, checkpoint or run")
    a = p.parse_args(argv)
    try:
        print(f"wrote {build_bank(a.model)}")
    except GanlabError as e:
        print(f"error: {e}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
