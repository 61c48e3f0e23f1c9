"""Command line: ``python -m ganlab train | sample | list``.

    python -m ganlab train --data ring --model mlp --loss ns --steps 2000 --out runs/ring
    python -m ganlab train --resume runs/ring --steps 4000
    python -m ganlab sample --run runs/ring --n 64 --seed 0 --out grid.png
    python -m ganlab list

User mistakes print one sentence on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from tqdm import tqdm

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .data import list_datasets
from .engine import Engine
from .errors import GanlabError
from .losses import describe_losses
from .nets import MODELS
from .sampling import load_generator, sample
from .trainer import configure_threads
from .viz import samples_image


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GAN into a run folder")
    d, m, t = DataConfig(), ModelConfig(), TrainConfig()
    p.add_argument("--data", help="dataset name (see `list`); default ring")
    p.add_argument("--model", help="model name (see `list`); default mlp")
    p.add_argument("--loss", help="loss name (see `list`); default ns")
    p.add_argument("--steps", type=int, help=f"generator steps (default {t.steps})")
    p.add_argument("--out", type=Path, help="new run folder")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run from its last checkpoint")
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr-g", type=float, default=t.lr_g)
    p.add_argument("--lr-d", type=float, default=t.lr_d)
    p.add_argument("--beta1", type=float, default=t.beta1)
    p.add_argument("--beta2", type=float, default=t.beta2)
    p.add_argument("--n-critic", type=int, default=t.n_critic, help="D steps per G step")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--device", default=t.device, help="auto | cpu | cuda | mps")
    p.add_argument("--spectral-norm", action="store_true", help="spectral norm on D's layers")
    p.add_argument("--label-smoothing", type=float, default=t.label_smoothing, help="one-sided, e.g. 0.1")
    p.add_argument("--instance-noise", type=float, default=t.instance_noise, help="std, annealed to 0")
    p.add_argument("--ema", type=float, default=t.ema, help="EMA decay of G for samples, e.g. 0.999")
    p.add_argument("--clip", type=float, default=t.clip, help="weight clip for wgan")
    p.add_argument("--gp-weight", type=float, default=t.gp_weight, help="penalty weight for wgan-gp")
    p.add_argument("--z-dim", type=int, default=m.z_dim)
    p.add_argument("--width", type=int, default=m.width)
    p.add_argument("--depth", type=int, default=m.depth)
    p.add_argument("--resolution", type=int, default=d.resolution, help="image side in px")
    p.add_argument("--channels", type=int, default=d.channels, choices=[1, 3])
    p.add_argument("--data-root", default=d.root, help="folder for downloaded data")
    p.add_argument("--n", type=int, default=d.n, help="items in generated sets (toys, shapes)")
    p.add_argument("--offline", action="store_true", help="never try to download data")
    p.add_argument("--log-every", type=int, default=t.log_every)
    p.add_argument("--sample-every", type=int, default=t.sample_every)
    p.add_argument("--checkpoint-every", type=int, default=t.checkpoint_every)


def _config_from_args(a) -> RunConfig:
    return RunConfig(
        data=DataConfig(name=a.data or "ring", root=a.data_root, resolution=a.resolution,
                        channels=a.channels, n=a.n, download=not a.offline),
        model=ModelConfig(name=a.model or "mlp", z_dim=a.z_dim, width=a.width, depth=a.depth,
                          spectral_norm=a.spectral_norm),
        train=TrainConfig(loss=a.loss or "ns", steps=2000 if a.steps is None else a.steps,
                          batch_size=a.batch_size, lr_g=a.lr_g, lr_d=a.lr_d, beta1=a.beta1,
                          beta2=a.beta2, n_critic=a.n_critic, label_smoothing=a.label_smoothing,
                          instance_noise=a.instance_noise, clip=a.clip, gp_weight=a.gp_weight,
                          ema=a.ema, seed=a.seed, device=a.device, log_every=a.log_every,
                          sample_every=a.sample_every, checkpoint_every=a.checkpoint_every),
    )


def cmd_train(a) -> int:
    if a.resume:
        if any(v is not None for v in (a.data, a.model, a.loss)):
            raise GanlabError("--resume continues a run with its own config; drop --data/--model/--loss.")
        if a.steps is not None and a.steps < 0:
            raise GanlabError(f"The number of steps cannot be negative (got {a.steps}).")
        engine = Engine.open(a.resume, steps=a.steps)
    else:
        if a.out is None:
            raise GanlabError("Say where the run goes with --out RUN_DIR (or continue one with --resume).")
        engine = Engine.new(_config_from_args(a), a.out)
    st = engine.status()
    print(f"run {st['run_dir']} on {st['device']}: {len(engine.trainer.data)} items "
          f"({engine.trainer.data.note or engine.trainer.cfg.data.name})", file=sys.stderr)
    bar = tqdm(total=st["steps"], initial=st["step"], unit="step", dynamic_ncols=True)
    engine.start()
    try:
        cursor = len(engine.metrics_since(0)[0])
        while engine.state == "running":
            engine.wait_for_metrics(cursor, timeout=0.5)
            rows, cursor = engine.metrics_since(cursor)
            st = engine.status()
            bar.update(st["step"] - bar.n)
            if rows:
                r = rows[-1]
                bar.set_postfix(loss_d=f"{r['loss_d']:.3f}", loss_g=f"{r['loss_g']:.3f}",
                                img_s=f"{st['images_per_s']:.0f}")
    except KeyboardInterrupt:
        print("\ninterrupted; saving a checkpoint", file=sys.stderr)
    finally:
        engine.stop()
        bar.update(engine.status()["step"] - bar.n)
        bar.close()
    st = engine.status()
    if st["error"]:
        raise GanlabError(st["error"])
    print(f"step {st['step']}: checkpoint {st['checkpoint']}", file=sys.stderr)
    print(f"continue with: python -m ganlab train --resume {st['run_dir']} --steps N", file=sys.stderr)
    return 0


def cmd_sample(a) -> int:
    G, cfg, step = load_generator(a.run)
    x = sample(G, a.n, a.seed)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    samples_image(x).save(a.out)
    print(f"{a.n} samples from {cfg.model.name} on {cfg.data.name} at step {step} -> {a.out}")
    return 0


def cmd_list(a) -> int:
    for title, rows in (("datasets", list_datasets()), ("models", MODELS.describe()),
                        ("losses", describe_losses())):
        print(f"{title}:")
        for name, help in rows:
            name = name + "PATH" if name == "folder:" else name + "NAME" if name.endswith(":") else name
            print(f"  {name:18s} {help}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlab", description="Train and sample GANs.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    s = sub.add_parser("sample", help="draw a sample grid from a run or checkpoint")
    s.add_argument("--run", type=Path, required=True, help="run folder or checkpoint folder")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, default=Path("grid.png"))
    sub.add_parser("list", help="datasets, models and losses")
    a = parser.parse_args(argv)
    try:
        configure_threads()
        return {"train": cmd_train, "sample": cmd_sample, "list": cmd_list}[a.command](a)
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
