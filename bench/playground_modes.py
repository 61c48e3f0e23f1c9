"""Mode coverage on the ring (8 Gaussians) and the grid (25) within a CPU time budget.

    python bench/playground_modes.py                          # best preset and vanilla GAN, 60 s each
    python bench/playground_modes.py --data grid --seconds 60 --seeds 0 1 2
    python bench/playground_modes.py --data grid --seeds 1 2 3 4 5 --only best

For each run: modes covered and the share of high-quality samples (within 3
std of a mode centre; a mode counts when it holds at least 20% of its fair
share), measured on 2,500 samples every 15 s of training, as in VEEGAN and
PacGAN. Both G and the EMA copy of G (what the playground's best preset
samples with) are reported.
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from ganlab.lessons import LESSONS, THREADS, best_preset
from ganlab.metrics import mode_coverage
from ganlab.trainer import Trainer, configure_threads, draw_noise

N_EVAL = 2500


def presets(data: str):
    vanilla = copy.deepcopy(LESSONS["collapse"].runs[0][1])
    vanilla.data.name = data
    return [("best preset", best_preset(data)), ("vanilla GAN (lesson 1)", vanilla)]


def evaluate(t: Trainer, ema: bool) -> dict:
    gen = torch.Generator().manual_seed(1234)
    z = draw_noise(N_EVAL, t.G.z_dim, t.cfg.model.z_dist, gen)
    return mode_coverage(t.sample(z, use_ema=ema), t.data.modes, t.data.mode_std)


def run(cfg, seconds: float, every: float = 15.0):
    t = Trainer(cfg)
    out, t0, spent, nxt = [], time.perf_counter(), 0.0, every
    while True:
        t.step()
        spent = time.perf_counter() - t0
        if spent >= nxt:
            g = evaluate(t, ema=False)
            e = evaluate(t, ema=True) if t.G_ema is not None else None
            out.append((nxt, t.step_count, g, e))
            nxt += every
            t0 += time.perf_counter() - t0 - spent        # evaluation time is not training time
            if nxt > seconds + 1e-9:
                return out


def fmt(c) -> str:
    return f"{c['modes']:2d}/{c['of']} modes, {100 * c['high_quality']:5.1f}% HQ" if c else "-"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", nargs="+", default=["ring", "grid"])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=THREADS, help="torch threads (default: the Playground's)")
    p.add_argument("--only", choices=["best", "vanilla"], help="one of the two presets")
    a = p.parse_args()
    threads = configure_threads(a.threads)
    print(f"CPU training budget {a.seconds:g} s per run, torch threads {threads}; {N_EVAL} samples per evaluation")
    for data in a.data:
        for name, cfg in presets(data):
            if a.only and not name.startswith(a.only):
                continue
            for seed in a.seeds:
                cfg = copy.deepcopy(cfg)
                cfg.train.seed = seed
                rows = run(cfg, a.seconds)
                print(f"\n{data} · {name} · seed {seed} ({cfg.train.loss}, batch {cfg.train.batch_size}, "
                      f"lr {cfg.train.lr_g:g}/{cfg.train.lr_d:g}, EMA {cfg.train.ema:g})")
                for sec, step, g, e in rows:
                    print(f"  {sec:4.0f} s  step {step:6,d}  G: {fmt(g)}   EMA G: {fmt(e)}", flush=True)


if __name__ == "__main__":
    main()
