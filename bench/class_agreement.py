"""Do the conditional models draw the class they are asked for? Judged by independent classifiers.

    python bench/class_agreement.py                        # every shipped class-conditioned model
    python bench/class_agreement.py --run runs/fmnist-cgan --n 500

For each class, ``--n`` images (seeds 0..n-1) are generated for that class and
a classifier the project trained separately (models/classifiers/, never shown
a generated image) labels them. Shapes conditioned on shape and colour count
an image as right only when both the shape and the colour classifier agree.

Beside each figure it prints the same classifier's accuracy on *real* images of
that class: the ceiling a perfect generator could reach with this judge (the
Fashion-MNIST classifier itself calls only about three real shirts in four
"Shirt"), and how varied one class's images are relative to real images of
that class (1 = as varied; near 0 = one image per class, ACGAN's known
failure). ``--psi 1 0.7`` also reports truncated noise (the Explore slider).
For shapes it also counts the shapes drawn in each image (blobs of 4 or more
touching pixels brighter than 0.2; every real image has exactly one): a GAN
that has not learned the small shapes draws nothing where one belongs, or
two where there should be one. A shapes model conditioned on more parts
(shape+colour+size+position) is judged per shape-colour pair, its other
parts drawn at random.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ganlab.explore import truncate
from ganlab.metrics.classifier import _labelled, load_classifier
from ganlab.metrics.health import relative_diversity
from ganlab.sampling import generate, is_conditional, load_generator, noise
from ganlab.trainer import configure_threads
from ganlab.ui.explore import shipped_models

BRIGHT, MIN_PIXELS = 0.2, 4     # a drawn shape: 4+ touching pixels brighter than 0.2 in [-1, 1]
# Rates are means in float64: in float32, 90 right out of 100 is 0.8999999762 and would not count as 90%.


def shape_counts(x: torch.Tensor):
    """Shares of shapes images with no shape drawn, one, and two or more (connected bright blobs)."""
    from scipy import ndimage  # installed with scikit-learn and mlxtend
    counts = []
    for mask in (x.amax(1) > BRIGHT).numpy():
        blobs, k = ndimage.label(mask)
        sizes = ndimage.sum(mask, blobs, range(1, k + 1)) if k else []
        counts.append(sum(int(size >= MIN_PIXELS) for size in sizes))
    c = torch.tensor(counts)
    return [float((c == 0).double().mean()), float((c == 1).double().mean()), float((c >= 2).double().mean())]


def judges(cfg):
    """(name, classifier, how to read a class name into that classifier's label) for a model's data."""
    if cfg.data.name == "shapes":
        parts = (cfg.data.label or "shape").split("+")
        if len(parts) == 1:
            return [(parts[0], load_classifier(f"shapes-{parts[0]}"), None)]
        return [(p, load_classifier(f"shapes-{p}"), i) for i, p in enumerate(parts)]
    return [("class", load_classifier(cfg.data.name), None)]


def _judge(checks, name: str, x: torch.Tensor) -> torch.Tensor:
    ok = torch.ones(len(x), dtype=torch.bool)
    for part, clf, i in checks:
        want = name if i is None else _part(name, part)
        ok &= clf.predict(x) == clf.cfg.class_names.index(want)
    return ok


def real_by_class(cfg):
    """Real held-out images of each class the model knows (shapes: a freshly drawn set, seed 1)."""
    ds, labels, names = _labelled(cfg.data.name, "class", "test") if cfg.data.name != "shapes" else (None,) * 3
    if cfg.data.name == "shapes":
        from ganlab.config import DataConfig
        from ganlab.data import load_dataset
        ds = load_dataset(DataConfig(name="shapes", label=cfg.data.label, n=4_000), seed=1)
        labels, names = ds.labels, ds.class_names
    return {name: ds.x[labels == k] for k, name in enumerate(names)}, ds.note


@torch.no_grad()
def agreement(path: Path, n: int, psis) -> None:
    G, cfg, step = load_generator(path)
    if not is_conditional(G):
        return
    if cfg.data.name == "shapes" and not set((cfg.data.label or "shape").split("+")) <= {"shape", "colour"}:
        return shapes_with_more_parts(path, G, cfg, step, n, psis[0])
    names = G.class_names
    checks = judges(cfg)
    real, note = real_by_class(cfg)
    print(f"\n{path} ({cfg.model.name} on {cfg.data.name}, label {cfg.data.label or 'class'}, step {step:,}); "
          f"{n} images per class; real: {note}")
    print(f"  {'class':18s} " + " ".join(f"{'psi ' + format(p, 'g'):>9s}" for p in psis) + f" {'real':>7s}"
          f" {'diversity':>10s}")
    rates, spreads, drawn = {p: [] for p in psis}, [], []
    for k, name in enumerate(names):
        cells, first = [], None
        for p in psis:
            x = generate(G, truncate(noise(G, n, seed=1000 + k), p), torch.full((n,), k))
            first = x if first is None else first
            rate = float(_judge(checks, name, x).double().mean())
            rates[p].append(rate)
            cells.append(f"{100 * rate:8.1f}%")
        if cfg.data.name == "shapes":
            drawn.append(shape_counts(first))
        r = real.get(name)
        ceiling = spread = "    n/a"
        if r is not None and len(r):
            ceiling = f"{100 * float(_judge(checks, name, r).double().mean()):6.1f}%"
            ratio = relative_diversity(first, r)
            spreads.append(ratio)
            spread = f"{ratio:9.2f}x"
        print(f"  {name:18s} " + " ".join(cells) + f" {ceiling} {spread}")
    for p in psis:
        v = rates[p]
        print(f"  psi {p:g}: mean {100 * sum(v) / len(v):5.1f}%, worst class {100 * min(v):5.1f}%, "
              f"classes at >= 90%: {sum(x >= 0.9 for x in v)}/{len(v)}")
    if drawn:
        share = torch.tensor(drawn).mean(0).tolist()
        print(f"  shapes drawn per image, psi {psis[0]:g}: none {100 * share[0]:.1f}%, one {100 * share[1]:.1f}%, "
              f"two or more {100 * share[2]:.1f}% (real: always one)")
    if spreads:
        print(f"  diversity within a class (mean pairwise distance, psi {psis[0]:g}) relative to real images of it: "
              f"mean {sum(spreads) / len(spreads):.2f}x, lowest {min(spreads):.2f}x")


@torch.no_grad()
def shapes_with_more_parts(path: Path, G, cfg, step: int, n: int, psi: float) -> None:
    """A shapes model conditioned on more than shape and colour (e.g. shape+colour+size+position): for each
    shape-colour pair, n images whose other parts are drawn at random, judged on shape and colour only
    (the parts with a judge); it must have both shape and colour in its label."""
    from ganlab.data.shapes import ATTRIBUTES, COLOURS, SHAPES
    parts = cfg.data.label.split("+")
    if not {"shape", "colour"} <= set(parts):
        print(f"\n{path}: label {cfg.data.label}; the shapes judges need both shape and colour in it")
        return
    shape_clf, colour_clf = load_classifier("shapes-shape"), load_classifier("shapes-colour")
    sizes = [len(ATTRIBUTES[p]) for p in parts]
    gen = torch.Generator().manual_seed(0)
    rates, drawn = [], []
    for s in range(len(SHAPES)):
        for c in range(len(COLOURS)):
            fixed = {"shape": s, "colour": c}
            values = [np.full(n, fixed[p]) if p in fixed else torch.randint(k, (n,), generator=gen).numpy()
                      for p, k in zip(parts, sizes)]
            y = torch.from_numpy(np.ravel_multi_index(values, sizes))   # the label's mixed radix, as relabel makes it
            x = generate(G, truncate(noise(G, n, seed=1000 + len(COLOURS) * s + c), psi), y)
            rates.append(float(((shape_clf.predict(x) == s) & (colour_clf.predict(x) == c)).double().mean()))
            drawn.append(shape_counts(x))
    share, mean = torch.tensor(drawn).mean(0).tolist(), sum(rates) / len(rates)
    print(f"\n{path} ({cfg.model.name} on shapes, label {cfg.data.label}, step {step:,}); {n} images per shape-colour "
          f"pair, other parts at random, psi {psi:g}: shape and colour both right in {100 * mean:.1f}%, "
          f"worst pair {100 * min(rates):.1f}%, pairs at >= 90%: {sum(r >= 0.9 for r in rates)}/{len(rates)}; "
          f"shapes drawn none {100 * share[0]:.1f}%, one {100 * share[1]:.1f}%, two or more {100 * share[2]:.1f}%")


def _part(name: str, part: str) -> str:
    """'red circle' -> 'circle' for the shape judge, 'red' for the colour judge."""
    colour, _, shape = name.partition(" ")
    return shape if part == "shape" else colour


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, nargs="*", help="runs or model folders (default: every shipped model)")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--psi", type=float, nargs="+", default=[1.0, 0.7], help="truncation values to report")
    p.add_argument("--threads", type=int)
    a = p.parse_args()
    configure_threads(a.threads)
    for path in a.run or shipped_models():
        agreement(path, a.n, a.psi)


if __name__ == "__main__":
    main()
