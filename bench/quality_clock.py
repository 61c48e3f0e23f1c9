"""The quality clock: FID and KID of several recipes against minutes of CPU training, one table and one plot.

    python bench/quality_clock.py                                   # Fashion-MNIST: reference, previous, fast
    python bench/quality_clock.py --marks 1,2,5,15 --n 2000 --recipes reference,fast --plot docs/quality-clock.png
    python bench/quality_clock.py --data mnist --recipes reference,fast --marks 1,2,5
    make bench ARGS="--only quality"

Every recipe trains on the same data, in turns: each side trains until the
next mark (1, 2, 5 ... minutes of its own training time), then the next side
does, and the order of the sides alternates every round, so slow or fast
moments of the machine fall on all of them. A snapshot (a checkpoint) is
taken at every mark. Only when all training is done is every snapshot
scored, with the code of ``python -m ganlab eval --metrics fid,kid`` (the
TF-Inception protocol, against the first N test images), so scoring never
eats training time.

The sides (``bench/recipes.py``):

* ``reference``: pytorch/examples' dcgan/main.py loop itself (its own
  ``nn.Sequential`` nets, BCE, Adam(2e-4, 0.5), batch 64, a shuffling
  DataLoader), run by ``bench/train_throughput.py``'s reference loop;
* ``previous``: the Train tab's Fashion-MNIST default before issue 29;
* every other name: a ganlab recipe, trained by the headless Engine as
  ``python -m ganlab train`` trains it.

Prints the table (FID, KID x 1000 and steps at each mark), the ratio of each
recipe's FID to the reference's, and writes ``--json`` and the ``--plot`` PNG
(FID against minutes, one line per recipe, log-scaled minutes).
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
from ganlab.trainer import Trainer, configure_threads

HERE = Path(__file__).resolve().parent


def _module(name: str):
    """A sibling script of bench/ (bench/ is run as scripts, not always as a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class EngineSide:
    """A ganlab recipe, trained by the headless Engine on its own thread; paused between turns."""

    def __init__(self, cfg, folder: Path):
        from ganlab.engine import Engine
        cfg.train.steps, cfg.train.eval_every, cfg.train.checkpoint_every, cfg.train.minutes = 10**9, 0, 0, 0
        self.engine = Engine.new(cfg, folder)
        self.engine.start()
        self.engine.pause()
        self.trained = 0.0

    def train_until(self, seconds: float) -> int:
        """Train until this side's own training time reaches ``seconds``; returns the step."""
        self.engine.resume()
        while True:
            left = seconds - self.engine.status()["trained_s"]
            if left <= 0:
                break
            time.sleep(min(left, 0.05) if left < 1 else min(left - 0.5, 5))
        self.engine.pause()
        st = self.engine.status()
        self.trained = st["trained_s"]
        return st["step"]

    def snapshot(self) -> Path:
        return self.engine.save_checkpoint()

    def close(self) -> None:
        self.engine.stop()


class ReferenceSide:
    """pytorch/examples' loop on its own nets; snapshots are saved as ganlab checkpoints of the same nets."""

    def __init__(self, cfg, folder: Path):
        bench = _module("train_throughput")
        self.holder = Trainer(cfg)                      # ganlab's nets of the same shapes, to save snapshots
        self.loop = bench.reference_for(self.holder)
        self.copy, self.folder, self.steps, self.trained = bench.copy_weights, folder, 0, 0.0
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(cfg.to_json())

    def train_until(self, seconds: float) -> int:
        while self.trained < seconds:
            t0 = time.perf_counter()
            self.loop.step()
            self.trained += time.perf_counter() - t0
            self.steps += 1
        return self.steps

    def snapshot(self) -> Path:
        self.copy(self.holder.G, self.loop.netG)
        self.copy(self.holder.D, self.loop.netD)
        self.holder.step_count = self.steps
        return save_checkpoint(self.holder, self.folder / "checkpoints" / f"step_{self.steps:07d}")

    def close(self) -> None:
        pass


def train(sides: Dict[str, object], marks: List[float]) -> List[Dict]:
    """Each side trains to each mark in turn (the order alternating by round); a snapshot at every mark."""
    out, names = [], list(sides)
    bar = tqdm(total=len(marks) * len(names), desc="training turns", unit="turn")
    for r, mark in enumerate(marks):
        for k in (names if r % 2 == 0 else names[::-1]):
            step = sides[k].train_until(mark * 60)
            out.append({"side": k, "minutes": mark, "step": step, "checkpoint": str(sides[k].snapshot())})
            bar.set_postfix(side=k, minutes=mark, step=step)
            bar.update()
    bar.close()
    return out


def score(marks: List[Dict], n: int) -> None:
    from ganlab.metrics.evaluate import evaluate_run
    for m in tqdm(marks, desc=f"FID/KID@{n}", unit="snapshot"):
        r = evaluate_run(Path(m["checkpoint"]), metrics=("fid", "kid"), n=n, progress=False)
        m["fid"], m["kid_x1000"] = r["fid"], r["kid"] * 1000


def table(marks: List[Dict], n: int) -> str:
    sides = list(dict.fromkeys(m["side"] for m in marks))
    minutes = sorted({m["minutes"] for m in marks})
    head = "| minutes | " + " | ".join(f"{s} FID@{n} (KID×1000, steps)" for s in sides) + " |"
    lines = [head, "|" + "---|" * (len(sides) + 1)]
    for t in minutes:
        row = {m["side"]: m for m in marks if m["minutes"] == t}
        cells = [f"**{row[s]['fid']:.1f}** ({row[s]['kid_x1000']:.1f}, {row[s]['step']:,})" for s in sides]
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    if "reference" in sides:
        lines.append("")
        for s in sides:
            if s != "reference":
                ratios = [row_fid(marks, s, t) / row_fid(marks, "reference", t) for t in minutes]
                lines.append(f"{s}: {', '.join(f'{r:.2f}' for r in ratios)} × the reference's FID at "
                             f"{', '.join(f'{t:g}' for t in minutes)} min")
    return "\n".join(lines)


def row_fid(marks: List[Dict], side: str, t: float) -> float:
    return next(m["fid"] for m in marks if m["side"] == side and m["minutes"] == t)


def plot(marks: List[Dict], path: Path, title: str) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for side in dict.fromkeys(m["side"] for m in marks):
        pts = sorted((m["minutes"], m["fid"]) for m in marks if m["side"] == side)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=side)
    ax.set_xscale("log")
    ticks = sorted({m["minutes"] for m in marks})
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("minutes of CPU training")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> Dict:
    recipes = _module("recipes")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--recipes", default="reference,previous,fast", help=f"of: {', '.join(recipes.RECIPES)}")
    p.add_argument("--marks", default="1,2,5", help="minutes of training at which to snapshot (cumulative)")
    p.add_argument("--n", type=int, default=2000, help="generated (and real test) images per FID and KID")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", type=Path, default=Path("runs/quality-clock"), help="snapshots go here")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--plot", type=Path, help="write the FID-against-minutes plot here (PNG)")
    a = p.parse_args(argv)
    configure_threads(a.threads)
    marks = sorted(float(m) for m in a.marks.split(","))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    sides: Dict[str, object] = {}
    for name in [r.strip() for r in a.recipes.split(",") if r.strip()]:
        cfg = recipes.recipe_config(name, a.data)
        cfg.train.seed, cfg.train.device = a.seed, "cpu"
        folder = a.out / f"{stamp}-{a.data}-{name}"
        sides[name] = ReferenceSide(cfg, folder) if name == "reference" else EngineSide(cfg, folder)
    try:
        snaps = train(sides, marks)
    finally:
        for side in sides.values():
            side.close()
    score(snaps, a.n)
    text = table(snaps, a.n)
    print(f"\n{a.data}, FID@{a.n} and KID against minutes of training ({torch.get_num_threads()} threads)\n{text}")
    summary = {"data": a.data, "n": a.n, "marks": marks, "snapshots": snaps, "threads": torch.get_num_threads(),
               "table": text, "cpu": _cpu()}
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=2))
    if a.plot:
        plot(snaps, a.plot, f"{a.data}: FID@{a.n} against CPU minutes ({_cpu()}, {torch.get_num_threads()} threads)")
        print(f"plot: {a.plot}")
    return summary


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
