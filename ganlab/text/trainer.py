"""Training the text-conditioned GAN the LAFITE way: no captions needed.

    t = make_trainer(RunConfig(DataConfig(name="captioned"), ModelConfig(name="text-gan", clip="minilm"), ...))
    t.step()                      # D then G, as for any GAN

The trick (Zhou et al. 2022): a joint embedder puts an image and its caption
near each other, so G can be trained on the embeddings of the *images*,
perturbed with noise (``h + xi * eps * |h| / |eps|``, renormalised) to cover
the region where caption embeddings land, and then driven by the embedding
of a prompt. D sees the condition by projection; two contrastive terms tie
it down: D's own embedding of an image should point at the image's
condition, and the embedder's view of a generated image should point at the
condition it was made from (each against the other conditions in the batch).
With ``diversity`` > 0, G's batch is pairs (two noises, one condition) and
MSGAN's mode-seeking term keeps G from ignoring its noise, which a condition
as rich as an embedding otherwise invites: one image per prompt.

``condition="caption"`` trains on the captions' text embeddings instead (for
captioned sets), ``"mixed"`` on either, half and half. Each checkpoint also
keeps a balanced sample of the training images' embeddings
(``prior.safetensors``), which generation's retrieval prior draws conditions
from (:mod:`ganlab.text.prior`).
"""
from __future__ import annotations

import hashlib
import json
import time
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..augment import augment
from ..errors import GanlabError
from ..metrics.inception import _cache_dir
from ..trainer import TRAINERS, Trainer, draw_noise
from .embedders import load_embedder
from .prior import Prior, image_bank, save_bank

DISPLAY_ROWS = 8          # sample-grid rows when the set has no captions: one training image's condition each
TAU = 0.5                 # temperature of the contrastive terms
DISPLAY = ["a photo of a sneaker", "a photo of a dress", "a photo of a bag", "a photo of a trouser",
           "the digit seven", "the digit three", "a red circle", "a large blue triangle"]


def perturb(h: torch.Tensor, xi: float, gen: torch.Generator) -> torch.Tensor:
    """LAFITE's fixed perturbation of unit embeddings [B, E], renormalised to unit length."""
    if xi <= 0:
        return h
    eps = torch.randn(h.shape, generator=gen).to(h.device)
    h = h + xi * eps * h.norm(dim=1, keepdim=True) / eps.norm(dim=1, keepdim=True)
    return F.normalize(h, dim=1)


def contrastive(a: torch.Tensor, b: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """Symmetric InfoNCE between matching rows of unit vectors a, b [B, E]."""
    logits = a @ b.T / tau
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def image_embeddings(embedder, data, cfg, desc: Optional[str] = None) -> torch.Tensor:
    """Every training image's embedding [N, E] on the CPU, cached on disk per dataset and embedder
    (the trainer's conditions, and the bank that ``python -m ganlab.text.prior`` writes)."""
    d = cfg.data
    key = hashlib.sha1(json.dumps([d.name, d.n, d.resolution, d.channels, d.label, cfg.train.seed,
                                   embedder.name, len(data)]).encode()).hexdigest()[:16]
    path = _cache_dir() / "embeddings" / f"{key}.safetensors"
    if path.is_file():
        try:
            return load_file(str(path))["emb"]
        except Exception:                          # a damaged cache entry: compute again
            pass
    emb = embedder.encode_images(data.x, batch=500, desc=desc).cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{time.time_ns()}")
    save_file({"emb": emb.contiguous()}, str(tmp))
    tmp.replace(path)
    return emb


@TRAINERS.register("text-gan", "LAFITE-style training on (perturbed) image embeddings")
class TextGANTrainer(Trainer):
    CHANNELS_LAST = False        # not measured for these nets; they keep NCHW

    def __init__(self, cfg, data=None):
        self.embedder = load_embedder(cfg.model.clip or "minilm")
        cfg.model.clip = cfg.model.clip or "minilm"
        cfg.model.cond_dim = self.embedder.dim
        super().__init__(cfg, data)
        t = cfg.train
        if not self.data.is_image:
            raise GanlabError("text-gan makes images; pick an image set (captioned, fashion-mnist, folder:...).")
        if t.condition in ("caption", "mixed") and not self.data.captions:
            raise GanlabError(f"{self.data.name} has no captions; use --condition image (LAFITE needs none).")
        self.embedder.to(self.device).eval().requires_grad_(False)
        self.img_emb = image_embeddings(self.embedder, self.data, cfg).to(self.device)   # [N, E]
        self.cap_texts, self.cap_emb, self.cap_index = self._caption_embeddings()
        self.weights = self._balance()
        self.bank = image_bank(self.img_emb, self.data.attributes.get("domain"), seed=t.seed)   # for the prior
        self.display = self._display_prompts()
        rows = len(self.display) or DISPLAY_ROWS
        per_row = max(4, t.n_samples // rows)
        self.sample_nrow = per_row
        z = draw_noise(per_row, self.G.z_dim, cfg.model.z_dist, torch.Generator().manual_seed(t.seed + 2))
        self.fixed_z = z.repeat(rows, 1)
        self.fixed_c = self.display_conditions(per_row)
        self.fixed_y = self.fixed_c                      # Trainer.sample() hands these to _G

    # ---- conditions ----------------------------------------------------------------------------
    def _caption_embeddings(self):
        """(the distinct captions, their embeddings [T, E], each item's caption index [N]), or Nones."""
        caps = self.data.captions
        if not caps:
            return None, None, None
        texts = sorted(set(caps))
        with torch.no_grad():
            emb = torch.cat([self.embedder.encode_text(texts[i:i + 512]) for i in range(0, len(texts), 512)])
        pos = {c: i for i, c in enumerate(texts)}
        return texts, emb.to(self.device), torch.tensor([pos[c] for c in caps], device=self.device)

    def _balance(self) -> Optional[torch.Tensor]:
        """Equal shares of every batch for each part of a mixed set (MNIST has 5,000 items, not 60,000)."""
        dom = self.data.attributes.get("domain")
        if dom is None:
            return None
        w = torch.zeros(len(dom))
        for d in dom.unique():
            mask = dom == d
            w[mask] = 1.0 / int(mask.sum())
        return w

    def _display_prompts(self) -> List[str]:
        if self.data.name == "captioned":
            return list(DISPLAY)
        caps = sorted(set(self.data.captions or []))
        return caps[:8] if caps else []

    @torch.no_grad()
    def display_conditions(self, per_row: int) -> torch.Tensor:
        """The sample grid's conditions [rows * per_row, E]. Each display prompt is read through the prior
        as the Text tab reads it (training images near its nearest caption; with caption-only training,
        that caption), so a row shows what the prompt will give. Without captions, each row is one
        training image's embedding, LAFITE's training condition."""
        if not self.display:
            pick = torch.linspace(0, len(self.img_emb) - 1, DISPLAY_ROWS).long()
            return self.img_emb[pick].repeat_interleave(per_row, 0)
        rule = "caption" if self.cfg.train.condition == "caption" else "image"
        prior = Prior(self.cap_texts, self.cap_emb.cpu(), self.bank.cpu())
        v = self.embedder.encode_text(self.display).cpu()
        c = [prior.conditions(v[i], per_row, seed=self.cfg.train.seed + i, rule=rule) for i in range(len(v))]
        return torch.cat(c).to(self.device)

    def _indices(self, n: int) -> torch.Tensor:
        if self.weights is not None:
            return torch.multinomial(self.weights, n, replacement=True, generator=self.gen).to(self.device)
        return torch.randint(len(self.x), (n,), generator=self.gen).to(self.device)

    def condition(self, idx: torch.Tensor) -> torch.Tensor:
        t = self.cfg.train
        img = perturb(self.img_emb[idx], t.clip_noise, self.gen)
        if t.condition == "image":
            return img
        cap = self.cap_emb[self.cap_index[idx]]
        if t.condition == "caption":
            return cap
        pick = (torch.rand(len(idx), generator=self.gen) < 0.5).to(self.device)[:, None]
        return torch.where(pick, img, cap)

    def write_extras(self, folder) -> None:
        """Checkpoints carry the image bank that generation's prior draws conditions from."""
        save_bank(self.bank, folder, self.embedder.name)

    # ---- the steps ---------------------------------------------------------------------------------
    def _D(self, x, c):
        return self.D(augment(x, self.cfg.train.augment, self.gen), c)

    def step_d(self) -> Dict[str, float]:
        t, spec = self.cfg.train, self.loss
        idx = self._indices(t.batch_size)
        real, c = self.x[idx], self.condition(idx)
        with torch.no_grad():
            fake = self.G(self._z(len(real)), c)
        real, fake = self._noisy(real), self._noisy(fake)
        if self._r1_now():
            real.requires_grad_(True)
        d_real, f_real = self._D(real, c)
        d_fake, _ = self._D(fake, c)
        con = contrastive(f_real, c)                   # D's view of a real image points at its condition
        loss = spec.d(d_real, d_fake, t.label_smoothing) + t.contrastive * con
        out = {"contrastive_d": con.item()}
        loss = self._penalise_d(loss, out, d_real, real, fake, lambda x: self._D(x, c)[0])
        return self._update_d(loss, out, d_real, d_fake)

    def step_g(self) -> Dict[str, float]:
        t = self.cfg.train
        idx = self._indices(t.batch_size)
        c = self.condition(idx)
        if t.diversity > 0:                             # pairs: the first half's conditions, twice
            half = len(c) // 2
            c = torch.cat([c[:half], c[:half]])
        self.D.requires_grad_(False)
        out: Dict[str, float] = {}
        try:
            z = self._z(len(c))
            fake = self.G(z, c)
            d_fake, f_fake = self._D(self._noisy(fake), c)
            seen = self.embedder.encode_image(fake)     # the embedder's view of G's image ...
            # ... should point at its condition (with pairs, each half on its own: no condition twice)
            parts = [slice(0, half), slice(half, None)] if t.diversity > 0 else [slice(None)]
            con = sum(contrastive(f_fake[p], c[p]) + contrastive(seen[p], c[p]) for p in parts) / len(parts)
            loss = self._seek_modes(self.loss.g(d_fake) + t.contrastive * con, out, fake, z)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        out.update(contrastive_g=con.item(), clip_score=(seen.detach() * c).sum(1).mean().item())
        return self._update_g(loss, out)

    def _G(self, z, y, G=None):
        """G on conditions ``y`` [B, E]; without them, the display prompts round-robin (used by sample())."""
        G = G or self.G
        if y is None:
            y = self.fixed_c[torch.arange(len(z)) % len(self.fixed_c)]
        return G(z, y.to(z.device))
