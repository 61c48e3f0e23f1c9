"""Screen candidate recipes at equal steps with a cheap judge, before the quality clock spends FID time on them.

    python bench/recipe_screen.py --recipes reference,fast --marks 500,1000,2000,4000
    python bench/recipe_screen.py --recipes fast,fast-w48 --json screen.json --threads 1

Each recipe trains in turn (in this process, on the CPU) and at each mark of
generator steps its samples are scored with the *classifier distance*: the
Fréchet distance between 2,000 samples and 2,000 real test images in the
penultimate layer of the shipped Fashion-MNIST classifier
(``models/classifiers/fashion-mnist``). It costs well under a second, where
Inception FID costs minutes, so a dozen candidates can be compared at
several marks; the winners then go to ``bench/quality_clock.py``, which
measures Inception FID against minutes of training.

Steps, not minutes, are the axis here, so the result does not depend on
what else the machine is doing; the seconds per step are printed too, but
for speed comparisons use the quality clock or ``bench/train_throughput.py``
with the machine to themselves.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from ganlab.config import DataConfig
from ganlab.data.images import load_split
from ganlab.metrics.classifier import load_classifier
from ganlab.metrics.scores import fid
from bench.recipes import RECIPES, recipe_config
from ganlab.trainer import configure_threads, make_trainer


@torch.no_grad()
def features(clf, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """The classifier's penultimate activations (128-d) for images in [-1, 1]."""
    clf.eval()
    head = clf.net[:-1]                                  # everything but the last Linear
    return torch.cat([head(_fit(clf, images[i:i + batch])) for i in range(0, len(images), batch)]).double()


def _fit(clf, x: torch.Tensor) -> torch.Tensor:
    from ganlab.metrics.classifier import _fit as fit
    c = clf.cfg
    return x if x.shape[1:] == (c.channels, c.side, c.side) else fit(x, c.channels, c.side)


def screen(name: str, data: str, marks: List[int], n: int, seed: int, real_f: torch.Tensor, clf) -> List[Dict]:
    cfg = recipe_config(name, data)
    cfg.train.seed, cfg.train.device = seed, "cpu"
    tr = make_trainer(cfg)
    z = torch.randn(n, tr.G.z_dim, generator=torch.Generator().manual_seed(1234))
    rows, spent = [], 0.0
    for mark in marks:
        t0 = time.perf_counter()
        while tr.step_count < mark:
            tr.step()
        spent += time.perf_counter() - t0
        fake = torch.cat([tr.sample(z[i:i + 500]) for i in range(0, n, 500)])
        d = fid(real_f, features(clf, fake).float())
        rows.append({"recipe": name, "step": mark, "train_s": round(spent, 1), "clf_fd": round(d, 3)})
        print(f"{name:18s} step {mark:6d}  {spent:7.1f} s  classifier distance {d:8.3f}", flush=True)
    return rows


def main(argv: Optional[List[str]] = None) -> List[Dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", default="reference,fast", help=f"comma-separated, of: {', '.join(RECIPES)}")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--marks", default="500,1000,2000,4000", help="generator steps at which to score")
    p.add_argument("--n", type=int, default=2000, help="samples and real test images per score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path, help="append the rows here")
    a = p.parse_args(argv)
    configure_threads(a.threads)
    clf = load_classifier(a.data)
    real = load_split(a.data, "test", DataConfig(name=a.data)).x[:a.n]
    real_f = features(clf, real).float()
    marks = sorted(int(m) for m in a.marks.split(","))
    rows: List[Dict] = []
    for name in a.recipes.split(","):
        rows += screen(name.strip(), a.data, marks, a.n, a.seed, real_f, clf)
        if a.json:
            old = json.loads(a.json.read_text()) if a.json.exists() else []
            a.json.write_text(json.dumps(old + rows[-len(marks):], indent=1))
    return rows


if __name__ == "__main__":
    main()
