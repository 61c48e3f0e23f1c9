"""The Train tab's "Your runs" panel: which runs a browser may open, and forks of them.

    run_choices(sessions, who)            # [(label, ref)]: your runs, shared runs, the shipped models
    plan = prepare_fork(sessions, who, ref, form_values, scratch_folder)
    plan.cfg, plan.init, plan.message; path = plan.create_run_dir()

A fork is a new run of its own: the original's model and data, its latest
state (taken from its engine while it trains, else its latest checkpoint;
a shipped model gives G, and D starts afresh), and the form's training
settings. The original's folder is only read.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..access import Identity
from ..checkpoint import checkpoint_step, latest_checkpoint, read_config
from ..config import RunConfig
from ..errors import GanlabError
from ..sampling import GENERATOR_FILE

KIND = {"yours": "yours", "cli": "CLI run", "shipped": "shipped", "watched": "watching"}
# form fields a fork takes over (the rest of its config is the original's)
FORK_FIELDS = ("loss", "lr_g", "lr_d", "n_critic", "batch_size", "label_smoothing", "instance_noise",
               "eval_every", "eval_n")


def _summary(path: Path, sessions) -> str:
    try:
        cfg = read_config(path)
    except GanlabError:
        return ""
    return f"{sessions.access.display_dataset(cfg.data.name)} · {cfg.model.name} · {cfg.train.loss}"


def shipped_models(models_root: Path) -> List[Path]:
    if not Path(models_root).is_dir():
        return []
    return sorted(p for p in Path(models_root).iterdir() if p.is_dir() and (p / GENERATOR_FILE).is_file())


def run_choices(sessions, who: Identity) -> List[Tuple[str, str]]:
    out = []
    for e in sessions.access.visible_runs(who):
        kind = KIND.get(e.kind) or (f"shared by {e.owner_label}" if e.shared else f"{e.owner_label}'s")
        out.append((f"{kind} · {sessions.access.ref(e.path)} · {_summary(e.path, sessions)}",
                    sessions.access.ref(e.path)))
    for p in shipped_models(sessions.models_root):
        out.append((f"shipped · {p.name} · {_summary(p, sessions)}", sessions.access.ref(p)))
    return out


@dataclass
class ForkPlan:
    cfg: RunConfig
    init: Optional[Path]
    generator_only: bool
    message: str
    create_run_dir: Callable[[], Path]
    source: str = ""                       # the forked run's ref


def _form_train(cfg: RunConfig, values: Dict[str, Any], step: int) -> None:
    """The form's training settings on a copy of the original's config."""
    from .train_handlers import config_from_form
    form = config_from_form(dict(values, dataset=cfg.data.name, custom="")).train
    for name in FORK_FIELDS:
        setattr(cfg.train, name, getattr(form, name))
    cfg.train.steps = form.steps if form.steps > step else step + form.steps


def prepare_fork(sessions, who: Identity, ref: str, values: Dict[str, Any], scratch: Path) -> ForkPlan:
    access = sessions.access
    path = access.run_path(ref, who)
    shipped = access.is_shipped(path)
    if shipped:
        if not (path / GENERATOR_FILE).is_file():
            raise GanlabError(f"`{ref}` is not a trainable model folder.")
        cfg, init, step, generator_only = read_config(path), path, 0, True
    else:
        cfg, init, step = _latest_state(sessions, path, scratch)
        generator_only = False
    try:
        cfg.data.name = access.dataset(cfg.data.name, who)
    except GanlabError:
        raise GanlabError("That run trained on images you may not use (someone's upload), so it cannot be "
                          "forked; fork a run on a built-in set.") from None
    _form_train(cfg, values, step)
    cfg.validate()
    source = access.ref(path)

    def create() -> Path:
        new = access.new_run_dir(who, cfg.data.name, forked_from=source)
        if not shipped:
            _copy_history(path, new, step)
        return new
    start = f"G from the shipped model {path.name} and a fresh D" if shipped else \
        f"its state at step {step:,}"
    msg = (f"Forked `{source}` into a run of your own: {start}, training on to {cfg.train.steps:,} steps with "
           f"lr G {cfg.train.lr_g:g}, lr D {cfg.train.lr_d:g}, {cfg.train.loss} loss.")
    return ForkPlan(cfg, init, generator_only, msg, create, source)


def _latest_state(sessions, path: Path, scratch: Path) -> Tuple[RunConfig, Path, int]:
    """(config, checkpoint folder, step) of a run: from its engine now if it trains, else its latest checkpoint."""
    from .train_handlers import live_engine
    live = live_engine(sessions, path)
    if live is not None:
        step = live.status()["step"]
        folder = Path(scratch) / f"fork-{secrets.token_hex(4)}" / f"step_{step:06d}"
        try:
            ckpt = Path(live.export_checkpoint(folder))
            return read_config(ckpt), ckpt, int(json.loads((ckpt / "state.json").read_text())["step"])
        except GanlabError:
            pass                                              # it ended meanwhile: its folder has the checkpoint
    ckpt = latest_checkpoint(path / "checkpoints")
    if ckpt is None:
        raise GanlabError("That run has no checkpoint yet; let it train a little, then fork it.")
    return read_config(ckpt), ckpt, checkpoint_step(ckpt)


def _copy_history(src: Path, dst: Path, step: int) -> None:
    """The original's metrics up to the fork, so the fork's curves begin where it left off."""
    lines = []
    try:
        for line in (src / "metrics.jsonl").read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    lines.append(line)
            except ValueError:
                continue
    except OSError:
        return
    (dst / "metrics.jsonl").write_text("".join(f"{line}\n" for line in lines))
