"""How close ganlab.budget's estimates come to the memory runs really use, on this machine.

    python bench/memory_estimate.py                 # the table below, a few minutes on 2 cores
    python bench/memory_estimate.py --eval          # also one FID/PRDC evaluation (Inception on the CPU, ~2 min)
    python bench/memory_estimate.py --only ring,dcgan-64px-w64

Each row estimates a run (and times the estimate), then runs it for real in a fresh child process
on one thread (ganlab.budget.measure_peak: VmHWM minus the RSS after imports) and prints the
estimate's parts, the measured peak and the ratio estimate / measured, for a bare Trainer (3 steps)
and with what the engine adds (the NaN guard's copies, a checkpoint, a 4th step). Evaluation is
left out of those columns (the presets score every 10,000 steps); --eval measures it on its own.
The tests hold the ratio within 2x on two sizes; here it should stay within about 0.7-1.4.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from ganlab.budget import estimate_run, fmt_bytes, measure_peak
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.presets import PRESETS, preset


def _dcgan64(width: int, **train) -> RunConfig:
    return RunConfig(DataConfig(name="shapes", resolution=64, n=2000), ModelConfig(name="dcgan", width=width),
                     TrainConfig(batch_size=128, **train))


def configs() -> dict:
    runs = {
        "ring": RunConfig(),
        "fashion-mnist-dcgan": RunConfig(DataConfig(name="fashion-mnist"), ModelConfig(name="dcgan")),
        "dcgan-64px-w32": _dcgan64(32),
        "dcgan-64px-w64": _dcgan64(64),
        "dcgan-64px-w64-gp-r1-aug": _dcgan64(64, loss="wgan-gp", r1=1.0, augment="translation,cutout,color",
                                             instance_noise=0.1, ema=0.999),
    }
    runs.update({name: preset(name) for name in PRESETS})
    return runs


def row(name: str, cfg: RunConfig) -> str:
    t0 = time.perf_counter()
    bare = estimate_run(cfg, engine=False)
    seconds = time.perf_counter() - t0
    full = estimate_run(cfg)
    got = measure_peak(cfg, steps=3, engine=True)
    est_bare, est_full = bare.total - bare.eval, full.total - full.eval     # evaluation is not run here
    parts = [fmt_bytes(v) for v in (bare.data, bare.params, bare.optimizer, bare.activations, bare.loading)]
    return (f"{name:26s} {seconds:5.2f} " + " ".join(f"{p:>8s}" for p in parts) +
            f" | {fmt_bytes(est_bare):>8s} {fmt_bytes(got['trainer']):>8s} {est_bare / got['trainer']:5.2f}"
            f" | {fmt_bytes(est_full):>8s} {fmt_bytes(got['engine']):>8s} {est_full / got['engine']:5.2f}"
            f" | {fmt_bytes(bare.eval) if bare.eval else '-':>7s}")


def eval_row() -> str:
    cfg = RunConfig(DataConfig(name="shapes", n=2000), ModelConfig(name="dcgan"),
                    TrainConfig(eval_every=1, eval_n=200))
    est = estimate_run(cfg)
    with tempfile.TemporaryDirectory() as cache:        # no cached reference features: the worst case
        os.environ["GANLAB_CACHE"] = cache
        got = measure_peak(cfg, steps=1, evaluate=True)["eval"]
    return (f"eval: shapes 32 px, eval_n 200 (Inception on 200 real + 200 generated): estimated "
            f"{fmt_bytes(est.eval)}, measured {fmt_bytes(got)}, ratio {est.eval / got:.2f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", help="comma-separated row names")
    p.add_argument("--eval", action="store_true", help="also measure one evaluation")
    a = p.parse_args()
    runs = configs()
    names = a.only.split(",") if a.only else list(runs)
    print(f"{'run':26s} {'est s':>5s} {'data':>8s} {'nets':>8s} {'optim':>8s} {'step':>8s} {'loading':>8s}"
          f" | {'trainer':>8s} {'measured':>8s} {'ratio':>5s} | {'engine':>8s} {'measured':>8s} {'ratio':>5s}"
          f" | {'eval':>7s}", flush=True)
    for name in names:
        print(row(name, runs[name]), flush=True)          # each row is its own progress line
    if a.eval:
        print(eval_row(), flush=True)


if __name__ == "__main__":
    main()
