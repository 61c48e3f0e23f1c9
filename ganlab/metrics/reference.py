"""Inception features of real and generated sets, with the real ones cached on disk.

    net = InceptionFeatures.load()
    real = reference_features(DataConfig(name="fashion-mnist"), "test", 10_000, net)   # cached
    fake = generated_features(G, 10_000, net, seed=0)

Reference features are cached per dataset, split, shape, count and network
under ``$GANLAB_CACHE/fid`` (default ``~/.cache/ganlab/fid``) as safetensors,
so each set is pushed through Inception once. The reference of a split is
its first ``n`` images, as in Lucic et al. 2018. Sets without a test split
(shapes, folders, torchvision sets) use their training images; the emoji
sets' test split is their held-out 10% of code points.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, replace
from typing import Optional, Tuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..config import DataConfig
from ..data import load_dataset
from ..data.images import SPLIT_SETS, load_split
from ..errors import GanlabError
from ..trainer import draw_noise
from .inception import InceptionFeatures, _cache_dir

CACHE_VERSION = 1


def real_images(cfg: DataConfig, split: str, n: int) -> Tuple[torch.Tensor, str]:
    """The first ``n`` images of ``split`` (or of the training set where there is no split) and a note."""
    if cfg.name in SPLIT_SETS:
        ds = load_split(cfg.name, split, cfg)
    else:
        ds = load_dataset(cfg)
        if split == "test":
            ds.note = (ds.note or cfg.name) + "; it has no test split, so its training images are the reference"
    if not ds.is_image:
        raise GanlabError(f"{cfg.name} holds 2-D points; FID and its relatives are for images "
                          "(the 2-D Playground reports mode coverage and JS divergence instead).")
    return ds.x[:n], ds.note or cfg.name


def _key(cfg: DataConfig, split: str, n: int) -> str:
    spec = dict(asdict(replace(cfg, download=True, root=None)), split=split, n=n, v=CACHE_VERSION)
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def reference_features(cfg: DataConfig, split: str, n: int, net: InceptionFeatures,
                       progress: bool = True) -> Tuple[torch.Tensor, str]:
    """Features of the first ``n`` real images of ``split``, from the cache when it has them."""
    slug = cfg.name.replace(":", "-").replace("/", "_")[:40]
    path = _cache_dir() / "fid" / f"{slug}-{split}-{n}-{_key(cfg, split, n)}.safetensors"
    if path.is_file():
        try:
            f = load_file(str(path))
            meta = json.loads((path.with_suffix(".json")).read_text())
            return f["features"], meta["note"]
        except (OSError, SafetensorError, KeyError, json.JSONDecodeError):
            pass                                         # a damaged cache entry: compute it again
    x, note = real_images(cfg, split, n)
    if len(x) < n:
        note += f"; only {len(x):,} images exist, so the reference has {len(x):,}"
    feats = net.features(x, desc=f"Inception features of {cfg.name} {split}" if progress else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    save_file({"features": feats.contiguous()}, str(tmp))
    path.with_suffix(".json").write_text(json.dumps({"note": note, "n": len(x), "split": split}))
    os.replace(tmp, path)
    return feats, note


@torch.no_grad()
def generated_images(G: nn.Module, n: int, seed: int = 0, batch_size: int = 250,
                     labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` samples of G on the CPU, from noise seeded by ``seed`` (and class ``labels`` if conditional)."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    out = []
    for i in range(0, n, batch_size):
        m = min(batch_size, n - i)
        z = draw_noise(m, G.z_dim, getattr(G, "z_dist", "gaussian"), gen).to(device)
        if getattr(G, "num_classes", 0):
            y = labels[i:i + m] if labels is not None else torch.randint(G.num_classes, (m,), generator=gen)
            out.append(G(z, y.to(device)).cpu())
        else:
            out.append(G(z).cpu())
    return torch.cat(out)


def generated_features(G: nn.Module, n: int, net: InceptionFeatures, seed: int = 0, batch_size: int = 50,
                       progress: bool = True) -> torch.Tensor:
    """Features of ``n`` generated images; only one batch of images is ever held at a time."""
    was = G.training
    G.eval()
    try:
        feats = []
        from tqdm import tqdm
        gen_seed = seed
        for i in tqdm(range(0, n, batch_size), desc="Inception features of G's samples", unit="batch",
                      disable=not progress, leave=False):
            m = min(batch_size, n - i)
            x = generated_images(G, m, seed=gen_seed * 100_003 + i, batch_size=m)
            feats.append(net(x).cpu())
    finally:
        G.train(was)
    return torch.cat(feats)
