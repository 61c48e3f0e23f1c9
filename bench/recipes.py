"""Candidate training recipes for the quality clock and the screen, by name: each is a RunConfig maker.

    from bench.recipes import RECIPES, recipe_config
    cfg = recipe_config("reference", "fashion-mnist")

``reference`` is pytorch/examples' dcgan/main.py on ganlab's nets (BatchNorm in G
and D, nz 100, ngf = ndf = 64, BCE, Adam(2e-4, beta1 0.5), batch 64, fp32);
``previous`` is the Train tab's Fashion-MNIST default before issue 29
(dcgan at its family defaults, batch 128); ``best`` the ``fashion-mnist-best``
preset, ``fast`` the ``fashion-mnist-fast`` preset. The rest change one thing at a time from the
reference, so each row of the screen is an ablation; the winners become
presets in ``ganlab/presets.py``.
"""
from __future__ import annotations

import copy
from typing import Callable, Dict

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.presets import preset


def _reference(data: str) -> RunConfig:
    return RunConfig(DataConfig(name=data), ModelConfig(name="dcgan", width=64, z_dim=100, d_norm="batch"),
                     TrainConfig(loss="ns", batch_size=64, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                                 precision="fp32", channels_last=False, steps=10**9))


def _with(base: str, **changes) -> Callable[[str], RunConfig]:
    def make(data: str) -> RunConfig:
        cfg = copy.deepcopy(RECIPES[base](data))
        for key, value in changes.items():
            section = "model" if key in ("width", "z_dim", "d_norm", "spectral_norm", "name") else "train"
            setattr(getattr(cfg, section), key, value)
        return cfg
    return make


def _previous(data: str) -> RunConfig:
    """The Train tab's image default before issue 29: dcgan at its family defaults (width 32, z 64, no norm in
    D), the non-saturating loss, batch 128, Adam(2e-4, 0.5), no EMA."""
    return RunConfig(DataConfig(name=data), ModelConfig(name="dcgan", width=32, z_dim=64),
                     TrainConfig(loss="ns", batch_size=128, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999,
                                 steps=10**9))


def _best(data: str) -> RunConfig:
    cfg = preset("fashion-mnist-best")
    cfg.data.name, cfg.train.steps, cfg.train.precision = data, 10**9, "fp32"
    return cfg


def _preset(name: str) -> Callable[[str], RunConfig]:
    def make(data: str) -> RunConfig:
        cfg = preset(name)
        cfg.data.name, cfg.train.steps = data, 10**9
        return cfg
    return make


RECIPES: Dict[str, Callable[[str], RunConfig]] = {"reference": _reference, "previous": _previous, "best": _best,
                                                  "fast": _preset("fashion-mnist-fast")}
RECIPES.update({
    "ref-ema": _with("reference", ema=0.999),
    "ref-bf16": _with("reference", precision="bf16"),
    "ref-cl": _with("reference", channels_last=True),
    "w32-ema": _with("ref-ema", width=32),
    "w48-ema": _with("ref-ema", width=48),
    "w32-ema-lr4": _with("w32-ema", lr_g=4e-4, lr_d=4e-4),
    "w32-ema-b128": _with("w32-ema", batch_size=128),
    "w32-ema-b128-lr4": _with("w32-ema-b128", lr_g=4e-4, lr_d=4e-4),
    "w32-ema-b32": _with("w32-ema", batch_size=32),
    "w32-ema-ttur": _with("w32-ema", lr_d=4e-4),
    "w32-ema-hinge": _with("w32-ema", loss="hinge"),
    "fast-lr4": _with("fast", lr_g=4e-4, lr_d=4e-4),
    "fast-w16": _with("fast", width=16),
    "fast-b32": _with("fast", batch_size=32),
    "fast-ema": _with("fast", ema=0.999),
})


def recipe_config(name: str, data: str) -> RunConfig:
    if name not in RECIPES:
        raise SystemExit(f"Unknown recipe {name!r}; choose from: {', '.join(RECIPES)}")
    return RECIPES[name](data)
