"""Do the conditional models draw the class they are asked for? Judged by independent classifiers.

    python bench/class_agreement.py                        # every shipped class-conditioned model
    python bench/class_agreement.py --run runs/fmnist-cgan --n 500

For each class, ``--n`` images (seeds 0..n-1) are generated for that class and
a classifier the project trained separately (models/classifiers/, never shown
a generated image) labels them. Shapes conditioned on shape and colour count
an image as right only when both the shape and the colour classifier agree.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ganlab.metrics.classifier import load_classifier
from ganlab.sampling import is_conditional, load_generator, sample
from ganlab.trainer import configure_threads
from ganlab.ui.explore import shipped_models


def judges(cfg):
    """(name, classifier, how to read a class name into that classifier's label) for a model's data."""
    if cfg.data.name == "shapes":
        parts = (cfg.data.label or "shape").split("+")
        if len(parts) == 1:
            return [(parts[0], load_classifier(f"shapes-{parts[0]}"), None)]
        return [(p, load_classifier(f"shapes-{p}"), i) for i, p in enumerate(parts)]
    return [("class", load_classifier(cfg.data.name), None)]


@torch.no_grad()
def agreement(path: Path, n: int) -> None:
    G, cfg, step = load_generator(path)
    if not is_conditional(G):
        return
    names = G.class_names
    checks = judges(cfg)
    print(f"\n{path} ({cfg.model.name} on {cfg.data.name}, label {cfg.data.label or 'class'}, step {step:,}); "
          f"{n} images per class")
    worst, total = 1.0, []
    for k, name in enumerate(names):
        x = sample(G, n, seed=1000 + k, labels=torch.full((n,), k))
        ok = torch.ones(n, dtype=torch.bool)
        for part, clf, i in checks:
            want = name if i is None else _part(name, part)
            target = clf.cfg.class_names.index(want)
            ok &= clf.predict(x) == target
        rate = float(ok.float().mean())
        worst, total = min(worst, rate), total + [rate]
        print(f"  {name:18s} {100 * rate:5.1f}%")
    print(f"  mean {100 * sum(total) / len(total):5.1f}%, worst class {100 * worst:5.1f}%")


def _part(name: str, part: str) -> str:
    """'red circle' -> 'circle' for the shape judge, 'red' for the colour judge."""
    colour, _, shape = name.partition(" ")
    return shape if part == "shape" else colour


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, nargs="*", help="runs or model folders (default: every shipped model)")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--threads", type=int)
    a = p.parse_args()
    configure_threads(a.threads)
    for path in a.run or shipped_models():
        agreement(path, a.n)


if __name__ == "__main__":
    main()
