"""Checkpoints: safetensors + config.json, written atomically, never unpickled.

A checkpoint is a folder

    step_000500/
      config.json          the RunConfig the nets were built from
      state.json           step, n_critic, sample shape, optimiser hyperparameters
      state.safetensors    G., D., G_ema., opt_g., opt_d. tensors and rng.gen

written into a hidden temporary folder and renamed into place, so a crash
mid-write never leaves a half checkpoint under the real name.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import RunConfig
from .errors import GanlabError

STATE_FILE = "state.safetensors"


def _unflatten_optimizer(prefix: str, tensors: Dict[str, torch.Tensor], groups: list) -> dict:
    state: Dict[int, Dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            idx, key = name[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": groups}


def capture_state(trainer, on_cpu: bool = True) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Copies of everything a checkpoint holds: (tensors, state) for save_file/json or restore_state.

    ``on_cpu`` moves the copies to the CPU (for files); the engine keeps its
    in-memory "last good state" where each tensor already lives, which is much cheaper.
    """
    tensors: Dict[str, torch.Tensor] = {}

    def put(name: str, v: torch.Tensor) -> None:
        v = v.detach()
        tensors[name] = (v.cpu() if on_cpu else v).clone().contiguous()

    nets = {"G": trainer.G, "D": trainer.D, "G_ema": trainer.G_ema}
    for prefix, net in nets.items():
        if net is not None:
            for k, v in net.state_dict().items():
                put(f"{prefix}.{k}", v)
    opt_groups = {}
    for prefix, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
        sd = opt.state_dict()
        for idx, st in sd["state"].items():
            for key, value in st.items():
                put(f"{prefix}.{idx}.{key}", torch.as_tensor(value))
        opt_groups[prefix] = copy.deepcopy(sd["param_groups"])
    state = {
        "step": trainer.step_count,
        "n_critic": trainer.n_critic,
        "sample_shape": list(trainer.data.sample_shape),
        "class_names": list(trainer.data.class_names or []) if getattr(trainer, "num_classes", 0) else [],
        **opt_groups,
    }
    tensors["rng.gen"] = trainer.gen.get_state()
    return tensors, state


def restore_state(trainer, tensors: Dict[str, torch.Tensor], state: Dict, where: str = "the checkpoint") -> None:
    """Put captured (or loaded) tensors and state back into ``trainer``; GanlabError if they do not fit."""
    nets = {"G": trainer.G, "D": trainer.D, "G_ema": trainer.G_ema}
    try:
        for prefix, net in nets.items():
            if net is None:
                continue
            sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            if not sub and prefix == "G_ema":          # saved without EMA: start the EMA from G
                net.load_state_dict(trainer.G.state_dict())
                continue
            net.load_state_dict(sub, strict=True)
        trainer.opt_g.load_state_dict(_unflatten_optimizer("opt_g", tensors, state["opt_g"]))
        trainer.opt_d.load_state_dict(_unflatten_optimizer("opt_d", tensors, state["opt_d"]))
    except (RuntimeError, KeyError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:300]
        raise GanlabError(f"{where} does not fit the model: {first}") from None
    trainer.gen.set_state(tensors["rng.gen"].cpu())
    trainer.step_count = int(state["step"])
    trainer.n_critic = int(state["n_critic"])


def save_checkpoint(trainer, folder: Path) -> Path:
    """Write ``trainer``'s full state to ``folder`` atomically; returns ``folder``."""
    folder = Path(folder)
    tensors, state = capture_state(trainer)
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        save_file(tensors, str(tmp / STATE_FILE), metadata={"format": "ganlab-checkpoint-1"})
        _write_text(tmp / "config.json", trainer.cfg.to_json())
        _write_text(tmp / "state.json", json.dumps(state, indent=2))
        if hasattr(trainer, "write_extras"):           # files a family keeps beside its state (text-gan's prior)
            trainer.write_extras(tmp)
        if folder.exists():                            # replacing: move the old one aside first
            old = folder.parent / f".old-{folder.name}-{uuid.uuid4().hex[:8]}"
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _write_text(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def read_config(folder: Path) -> RunConfig:
    """The RunConfig stored in a checkpoint or run folder."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise GanlabError(f"{folder} has no config.json; is it a ganlab run or checkpoint folder?")
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise GanlabError(f"{path} is not a valid ganlab config ({e}).") from None


def load_checkpoint(trainer, folder: Path) -> None:
    """Restore nets, optimisers, step and RNG into ``trainer`` (built from a compatible config)."""
    folder = Path(folder)
    ckpt_cfg = read_config(folder)
    if ckpt_cfg.model != trainer.cfg.model:
        raise GanlabError(
            f"The checkpoint in {folder} was trained with model {ckpt_cfg.model.name} "
            f"({_short(ckpt_cfg.model)}), which does not fit this run's {_short(trainer.cfg.model)}.")
    try:
        tensors = load_file(str(folder / STATE_FILE))
        state = json.loads((folder / "state.json").read_text())
    except (OSError, SafetensorError, json.JSONDecodeError) as e:
        raise GanlabError(f"The checkpoint in {folder} is unreadable or incomplete ({e}).") from None
    restore_state(trainer, tensors, state, where=f"The checkpoint in {folder}")


def _short(m) -> str:
    return f"z_dim={m.z_dim}, width={m.width}, depth={m.depth}, spectral_norm={m.spectral_norm}"


def checkpoint_step(folder) -> int:
    """The step a checkpoint folder (``.../step_000123``) holds, from its name."""
    return int(Path(folder).name.rpartition("_")[2])


def latest_checkpoint(checkpoints: Path) -> Optional[Path]:
    """The highest-step complete checkpoint folder, or None."""
    found = sorted(p for p in Path(checkpoints).glob("step_*") if (p / STATE_FILE).is_file())
    return found[-1] if found else None
