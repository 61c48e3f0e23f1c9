"""How soon samples look like clothes: FID of Fashion-MNIST DCGANs against wall-clock training time.

    python bench/time_to_quality.py                            # 20 min each, a snapshot every 4, FID@2k
    python bench/time_to_quality.py --minutes 8 --every 2 --n 1000 --out runs/ttq
    python bench/time_to_quality.py --json ttq.json

Two sides on the same budget of training time:

* **ganlab**: its default Fashion-MNIST recipe (``--preset fashion-mnist-best``: dcgan width
  64, spectral norm, hinge loss, EMA), trained by the headless Engine as ``python -m
  ganlab train`` does;
* **reference**: pytorch/examples' dcgan/main.py loop and hyperparameters (BatchNorm in G
  and D, nz 100, ngf = ndf = 64, BCE, Adam(2e-4, beta1 0.5), batch 64) on the same data.

They train in alternating turns of ``--every`` minutes (so drift in the machine falls on
both), and each turn ends in a snapshot. Only then is every snapshot scored, with the
same code as ``python -m ganlab eval --metrics fid --n N`` (the reference's G is saved as
a ganlab checkpoint of the same network first), so scoring never eats training time.
The table gives FID against minutes of training, and the minutes each side needed to
reach ``--target`` (40 by default).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
from tqdm import tqdm

from ganlab.checkpoint import save_checkpoint
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.presets import preset
from ganlab.trainer import Trainer, configure_threads

HERE = Path(__file__).resolve().parent


def _throughput():
    """bench/train_throughput.py, for the reference loop and its nets (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("train_throughput", HERE / "train_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def reference_config(data: str, seed: int) -> RunConfig:
    # pytorch/examples' defaults on ganlab's dcgan shapes: nz 100, ngf = ndf = 64, BatchNorm in D
    return RunConfig(DataConfig(name=data), ModelConfig(name="dcgan", width=64, z_dim=100, d_norm="batch"),
                     TrainConfig(loss="ns", batch_size=64, lr_g=2e-4, lr_d=2e-4, beta1=0.5, seed=seed,
                                 device="cpu", precision="fp32", channels_last=False))


class GanlabSide:
    def __init__(self, cfg: RunConfig, folder: Path):
        from ganlab.engine import Engine
        cfg.train.steps, cfg.train.eval_every, cfg.train.checkpoint_every = 10**9, 0, 0
        self.engine = Engine.new(cfg, folder)
        self.engine.start()
        self.engine.pause()

    def train_for(self, seconds: float) -> int:
        self.engine.resume()
        time.sleep(seconds)
        self.engine.pause()
        return self.engine.status()["step"]

    def snapshot(self) -> Path:
        return self.engine.save_checkpoint()

    def close(self) -> None:
        self.engine.stop()


class ReferenceSide:
    def __init__(self, cfg: RunConfig, folder: Path):
        bench = _throughput()
        self.holder = Trainer(cfg)                      # ganlab's nets of the same shapes, to save snapshots
        self.loop = bench.reference_for(self.holder)
        self.copy, self.folder, self.steps = bench.copy_weights, folder, 0
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(cfg.to_json())

    def train_for(self, seconds: float) -> int:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.loop.step()
            self.steps += 1
        return self.steps

    def snapshot(self) -> Path:
        self.copy(self.holder.G, self.loop.netG)
        self.copy(self.holder.D, self.loop.netD)
        self.holder.step_count = self.steps
        return save_checkpoint(self.holder, self.folder / "checkpoints" / f"step_{self.steps:06d}")

    def close(self) -> None:
        pass


def train(sides: Dict[str, object], minutes: float, every: float) -> List[Dict]:
    """Alternating turns of ``every`` minutes until each side has trained ``minutes``; a snapshot per turn."""
    marks, turns = [], max(1, round(minutes / every))
    names = list(sides)
    for r in range(turns):
        for k in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            step = sides[k].train_for(every * 60)
            spent = time.perf_counter() - t0
            marks.append({"side": k, "minutes": (r + 1) * every, "step": step, "turn_s": spent,
                          "checkpoint": str(sides[k].snapshot())})
            print(f"{k:9s} {(r + 1) * every:5.1f} min  step {step:6d}", flush=True)
    return marks


def score(marks: List[Dict], n: int) -> None:
    from ganlab.metrics.evaluate import evaluate_run
    for m in tqdm(marks, desc=f"FID@{n}", unit="snapshot"):
        m["fid"] = evaluate_run(Path(m["checkpoint"]), metrics=("fid",), n=n, progress=False)["fid"]


def reached(marks: List[Dict], side: str, target: float) -> Optional[float]:
    hit = [m["minutes"] for m in marks if m["side"] == side and m["fid"] <= target]
    return min(hit) if hit else None


def report(marks: List[Dict], target: float, n: int) -> Dict:
    sides = sorted({m["side"] for m in marks}, key=lambda s: s != "ganlab")
    minutes = sorted({m["minutes"] for m in marks})
    print(f"\nFID@{n} (lower is better) against minutes of training")
    print(f"{'minutes':>8s} " + " ".join(f"{s + ' step':>15s} {s + ' FID':>14s}" for s in sides))
    for t in minutes:
        row = {m["side"]: m for m in marks if m["minutes"] == t}
        print(f"{t:8.1f} " + " ".join(f"{row[s]['step']:15d} {row[s]['fid']:14.2f}" for s in sides))
    hit = {s: reached(marks, s, target) for s in sides}
    for s in sides:
        print(f"{s}: FID <= {target:g} " + (f"after {hit[s]:g} min" if hit[s] else "not reached in the budget"))
    summary = {"target": target, "n": n, "marks": marks, "minutes_to_target": hit}
    if hit.get("ganlab") and hit.get("reference"):
        summary["time_ratio"] = hit["ganlab"] / hit["reference"]
        print(f"ganlab needed {summary['time_ratio']:.2f}x the reference's time")
    return summary


def main(argv: Optional[List[str]] = None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20.0, help="training time per side")
    p.add_argument("--every", type=float, default=4.0, help="minutes per turn; one snapshot per turn")
    p.add_argument("--n", type=int, default=2000, help="generated (and real test) images per FID")
    p.add_argument("--target", type=float, default=40.0, help="the FID whose time to reach is reported")
    p.add_argument("--preset", default="fashion-mnist-best", help="ganlab's recipe")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", type=Path, default=Path("runs/time-to-quality"), help="snapshots go here")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    configure_threads(a.threads)
    cfg = preset(a.preset)
    cfg.data.name, cfg.train.seed, cfg.train.device = a.data, a.seed, "cpu"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    sides = {"ganlab": GanlabSide(cfg, a.out / f"{stamp}-ganlab"),
             "reference": ReferenceSide(reference_config(a.data, a.seed), a.out / f"{stamp}-reference")}
    try:
        marks = train(sides, a.minutes, a.every)
    finally:
        for side in sides.values():
            side.close()
    score(marks, a.n)
    summary = report(marks, a.target, a.n)
    summary.update(preset=a.preset, data=a.data, threads=torch.get_num_threads(), minutes=a.minutes, every=a.every)
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
