"""Sampling from a saved run without loading its dataset or discriminator.

    G, cfg, step = load_generator("runs/ring")     # latest checkpoint, EMA weights if any
    x = sample(G, n=16, seed=3)                     # [16, *sample_shape] CPU tensor
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .checkpoint import STATE_FILE, latest_checkpoint, read_config
from .config import RunConfig
from .errors import GanlabError
from .nets import MODELS
from .trainer import draw_noise


def find_checkpoint(path: Path) -> Path:
    """``path`` itself if it is a checkpoint, else the latest checkpoint of the run in it."""
    path = Path(path)
    if (path / STATE_FILE).is_file():
        return path
    ckpt = latest_checkpoint(path / "checkpoints")
    if ckpt is None:
        raise GanlabError(f"{path} has no checkpoint yet; train it first or save a checkpoint.")
    return ckpt


def load_generator(path: Path, use_ema: bool = True) -> Tuple[nn.Module, RunConfig, int]:
    ckpt = find_checkpoint(path)
    cfg = read_config(ckpt)
    try:
        state = json.loads((ckpt / "state.json").read_text())
        tensors = load_file(str(ckpt / STATE_FILE))
    except (OSError, SafetensorError, json.JSONDecodeError) as e:
        raise GanlabError(f"The checkpoint in {ckpt} is unreadable or incomplete ({e}).") from None
    G, _ = MODELS.get(cfg.model.name)(cfg.model, tuple(state["sample_shape"]))
    prefix = "G_ema." if use_ema and any(k.startswith("G_ema.") for k in tensors) else "G."
    try:
        G.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    except RuntimeError as e:
        raise GanlabError(f"The checkpoint in {ckpt} does not fit its model: "
                          f"{str(e).splitlines()[0][:300]}") from None
    G.z_dist = cfg.model.z_dist
    return G.eval(), cfg, int(state["step"])


@torch.no_grad()
def sample(G: nn.Module, n: int, seed: int = 0) -> torch.Tensor:
    if n < 1:
        raise GanlabError(f"The number of samples must be at least 1 (got {n}).")
    z = draw_noise(n, G.z_dim, getattr(G, "z_dist", "gaussian"), torch.Generator().manual_seed(seed))
    device = next(G.parameters()).device
    return G(z.to(device)).cpu()
