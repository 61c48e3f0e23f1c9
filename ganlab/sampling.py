"""Sampling from a saved run without loading its dataset or discriminator.

    G, cfg, step = load_generator("runs/ring")     # latest checkpoint, EMA weights if any
    G, cfg, step = load_generator("models/fashion-mnist-cgan")   # a slim model folder (export_generator)
    x = sample(G, n=16, seed=3)                     # [16, *sample_shape] CPU tensor
    x = sample(G, n=16, seed=3, labels=torch.full((16,), 7))   # a conditional G: class 7
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Optional, Tuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .checkpoint import STATE_FILE, latest_checkpoint, read_config
from .config import RunConfig
from .errors import GanlabError
from .nets import MODELS
from .trainer import draw_noise

GENERATOR_FILE = "generator.safetensors"     # a model folder: G's (EMA) weights only, a few MB


def find_checkpoint(path: Path) -> Path:
    """``path`` itself if it is a checkpoint or model folder, else the latest checkpoint of the run in it."""
    path = Path(path)
    if not path.is_dir():
        raise GanlabError(f"There is no run, checkpoint or model folder at {path}.")
    if (path / STATE_FILE).is_file() or (path / GENERATOR_FILE).is_file():
        return path
    ckpt = latest_checkpoint(path / "checkpoints")
    if ckpt is None:
        raise GanlabError(f"{path} has no checkpoint yet; train it first or save a checkpoint.")
    return ckpt


def load_generator(path: Path, use_ema: bool = True) -> Tuple[nn.Module, RunConfig, int]:
    ckpt = find_checkpoint(path)
    cfg = read_config(ckpt)
    slim = (ckpt / GENERATOR_FILE).is_file()
    try:
        state = json.loads((ckpt / "state.json").read_text())
        tensors = load_file(str(ckpt / (GENERATOR_FILE if slim else STATE_FILE)))
    except (OSError, SafetensorError, json.JSONDecodeError) as e:
        raise GanlabError(f"The checkpoint in {ckpt} is unreadable or incomplete ({e}).") from None
    G, _ = MODELS.get(cfg.model.name)(cfg.model, tuple(state["sample_shape"]),
                                      num_classes=cfg.model.num_classes or 0)
    prefix = "G_ema." if use_ema and any(k.startswith("G_ema.") for k in tensors) else "G."
    try:
        G.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    except RuntimeError as e:
        raise GanlabError(f"The checkpoint in {ckpt} does not fit its model: "
                          f"{str(e).splitlines()[0][:300]}") from None
    G.z_dist = cfg.model.z_dist
    names = state.get("class_names") or []
    G.class_names = names or [str(i) for i in range(getattr(G, "num_classes", 0))]
    return G.eval(), cfg, int(state["step"])


def export_generator(run: Path, out: Path, card: str = "") -> Path:
    """Write a slim model folder from a run's latest checkpoint: config.json, state.json,
    generator.safetensors (the EMA of G when there is one, else G) and README.md (the model card)."""
    ckpt = find_checkpoint(run)
    if (ckpt / GENERATOR_FILE).is_file():
        raise GanlabError(f"{ckpt} is already a model folder.")
    tensors = load_file(str(ckpt / STATE_FILE))
    prefix = "G_ema." if any(k.startswith("G_ema.") for k in tensors) else "G."
    weights = {"G." + k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    state = json.loads((ckpt / "state.json").read_text())
    slim = {k: state[k] for k in ("step", "sample_shape", "class_names") if k in state}
    out = Path(out)
    tmp = out.parent / f".tmp-{out.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(weights, str(tmp / GENERATOR_FILE), metadata={"format": "ganlab-generator-1"})
    shutil.copyfile(ckpt / "config.json", tmp / "config.json")
    for extra in ckpt.glob("*.safetensors"):           # a family's own files (text-gan's prior.safetensors)
        if extra.name != STATE_FILE:
            shutil.copyfile(extra, tmp / extra.name)
    (tmp / "state.json").write_text(json.dumps(dict(slim, source=str(ckpt)), indent=2))
    if card:
        (tmp / "README.md").write_text(card)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def is_conditional(G: nn.Module) -> bool:
    return getattr(G, "num_classes", 0) > 0


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
    """G on noise ``z`` (and classes ``y``: indices [B] or weights [B, K]) on G's device; CPU result.

    A conditional G with no ``y`` draws the classes round-robin.
    """
    device = next(G.parameters()).device
    if is_conditional(G):
        if y is None:
            y = torch.arange(len(z)) % G.num_classes
        return G(z.to(device), y.to(device)).cpu()
    return G(z.to(device)).cpu()


def noise(G: nn.Module, n: int, seed: int = 0) -> torch.Tensor:
    """[n, z_dim] noise for G from ``seed``, in G's own distribution."""
    return draw_noise(n, G.z_dim, getattr(G, "z_dist", "gaussian"), torch.Generator().manual_seed(seed))


def class_index(G: nn.Module, name) -> int:
    """A class given by index or by name ("Sneaker", "7") -> its index; GanlabError when unknown."""
    names = getattr(G, "class_names", [])
    if isinstance(name, int) or str(name).lstrip("-").isdigit() and str(name) not in names:
        k = int(name)
    else:
        lowered = [c.lower() for c in names]
        if str(name).lower() not in lowered:
            raise GanlabError(f"Unknown class {name!r}; this model knows: {', '.join(names)}.")
        k = lowered.index(str(name).lower())
    if not 0 <= k < G.num_classes:
        raise GanlabError(f"Class {k} is out of range; this model has classes 0 to {G.num_classes - 1}.")
    return k


@torch.no_grad()
def sample(G: nn.Module, n: int, seed: int = 0, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    if n < 1:
        raise GanlabError(f"The number of samples must be at least 1 (got {n}).")
    return generate(G, noise(G, n, seed), labels)
