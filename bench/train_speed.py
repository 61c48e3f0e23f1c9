"""Training throughput on this machine: images/s for a model on a dataset.

    python bench/train_speed.py                       # DCGAN-28 on Fashion-MNIST, 60 s
    python bench/train_speed.py --data ring --model mlp --seconds 20
    python bench/train_speed.py --out runs/bench-fmnist --seconds 600   # keep the run to look at

Prints warm-up-excluded steps/s and images/s, counted as real training
images shown to D per second (batch * n_critic per step, as StyleGAN's kimg
counts them), with the device and thread count.
"""
from __future__ import annotations

import argparse
import time

import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.engine import Engine
from ganlab.trainer import Trainer, configure_threads


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--model", default="dcgan")
    p.add_argument("--loss", default="ns")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: $GANLAB_TORCH_THREADS or one per core)")
    p.add_argument("--out", help="train through the engine into this run folder (samples every 100 steps)")
    p.add_argument("--preset", help="measure a named recipe (ganlab.presets) instead; --width overrides its width")
    p.add_argument("--width", type=int, help="base channels of the model")
    a = p.parse_args()
    configure_threads(a.threads)
    if a.preset:
        from ganlab.presets import preset
        cfg = preset(a.preset)
        cfg.train.steps, cfg.train.device, cfg.train.eval_every = 10**9, a.device, 0
        a.model, a.data, a.loss, a.batch_size = cfg.model.name, cfg.data.name, cfg.train.loss, cfg.train.batch_size
    else:
        cfg = RunConfig(DataConfig(name=a.data), ModelConfig(name=a.model),
                        TrainConfig(loss=a.loss, batch_size=a.batch_size, steps=10**9, device=a.device,
                                    sample_every=100, log_every=10))
    if a.width:
        cfg.model.width = a.width
    if a.out:
        return run_engine(cfg, a)
    t = Trainer(cfg)
    for _ in range(5):                                  # warm-up: allocator, kernels
        t.step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        t.step()
        n += 1
    dt = time.perf_counter() - t0
    per_step = cfg.train.batch_size * cfg.train.n_critic
    print(f"{a.preset or ''} {a.model} width {cfg.model.width} on {a.data} ({len(t.data)} items, "
          f"{tuple(t.data.sample_shape)}), loss {a.loss}, "
          f"batch {a.batch_size}, device {t.device}, torch threads {torch.get_num_threads()}")
    print(f"{n} steps in {dt:.1f} s: {n / dt:.2f} steps/s, {n * per_step / dt:.0f} images/s")


def run_engine(cfg: RunConfig, a) -> None:
    e = Engine.new(cfg, a.out)
    e.start()
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < a.seconds:
            time.sleep(10)
            st = e.status()
            print(f"{time.perf_counter() - t0:6.0f} s  step {st['step']:6d}  {st['images_per_s']:.0f} img/s",
                  flush=True)
    finally:
        e.stop()
    print(f"samples in {a.out}/samples, GIF: {e.make_gif()}")


if __name__ == "__main__":
    main()
