"""Small pretrained 2-D GANs that the Playground starts from, so it looks alive at once.

    python -m ganlab.pretrained                      # retrain all six into models/playground/
    python -m ganlab.pretrained --data ring --steps 4000

Each model is the Playground's best preset (ganlab.lessons.best_preset) trained
for a fixed number of steps on the CPU (deterministic under the seed), saved as
a checkpoint folder (config.json + safetensors) under
models/playground/<dataset>/, with its mode coverage printed for the mixtures.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Optional

import torch
from tqdm import tqdm

from .checkpoint import save_checkpoint
from .metrics import mode_coverage

MODELS_DIR = Path(__file__).resolve().parents[1] / "models" / "playground"
TOYS = ("ring", "grid", "spiral", "moons", "line", "disjoint")


def pretrained_path(data: str, root: Path = MODELS_DIR) -> Optional[Path]:
    """The shipped checkpoint folder for a 2-D set, or None if there is none."""
    path = root / data
    return path if (path / "config.json").is_file() else None


DEFAULT_STEPS = 8000      # the grid needs about 5,000 steps of the best preset for all 25 modes


def train_one(data: str, steps: int = DEFAULT_STEPS, out_root: Path = MODELS_DIR, seed: int = 0) -> Path:
    from .lessons import best_preset
    from .trainer import Trainer
    cfg = best_preset(data)
    cfg.train.seed = seed
    t = Trainer(cfg)
    t0 = time.perf_counter()
    for _ in tqdm(range(steps), desc=data, unit="step", leave=False):
        t.step()
    seconds = time.perf_counter() - t0
    out = out_root / data
    tmp = out_root / f".{data}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(t, tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    line = f"{data}: {t.step_count:,} steps in {seconds:.0f} s"
    if t.data.modes is not None:
        gen = torch.Generator().manual_seed(1)
        from .trainer import draw_noise
        fake = t.sample(draw_noise(2500, t.G.z_dim, cfg.model.z_dist, gen), use_ema=True)
        cov = mode_coverage(fake, t.data.modes, t.data.mode_std)
        line += f", modes {cov['modes']}/{cov['of']}, high quality {100 * cov['high_quality']:.1f}%"
    print(line, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganlab.pretrained", description=__doc__.split("\n")[0])
    p.add_argument("--data", nargs="+", default=list(TOYS), choices=TOYS)
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    p.add_argument("--out", type=Path, default=MODELS_DIR)
    a = p.parse_args(argv)
    from .lessons import THREADS
    from .trainer import configure_threads
    configure_threads(THREADS)                       # as the Playground trains them
    a.out.mkdir(parents=True, exist_ok=True)
    for name in a.data:
        train_one(name, a.steps, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
