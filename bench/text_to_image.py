"""What the text-to-image model gets right, measured with classifiers it never saw.

    python bench/text_to_image.py                                # models/text-captioned
    python bench/text_to_image.py --run runs/text-captioned --n 200
    python bench/text_to_image.py --priors none                  # only the raw prompt (LAFITE's rule)

1. Held-out wording (ganlab.text.captions.HELD_OUT: words no training caption
   uses, e.g. "running footwear for jogging", "the numeral 4 in pen"): per class,
   the share of ``--n`` images the Fashion-MNIST / MNIST classifier puts in the
   prompt's class (the judge trained at the generator's 32x32 when one is
   shipped, ``fashion-mnist-32px``: a 28x28 judge resizing 32x32 images
   misreads real coats and shirts, see ganlab.metrics.classifier), and the
   diversity of those images relative to real images of the class (mean
   pairwise distance; 1 = as varied as the real class). Beside it, "G alone":
   the same judge on images G makes from the embeddings of real test images
   of the class, with no text involved; the gap between the two is what the
   text side (embedder and prior) costs, and "G alone" is what G can give.
2. Shapes: "a {colour} {shape}" for all 24 pairs; an image is right when the
   shape and the colour classifiers both agree. Seen pairs and the pairs held
   out of training are reported apart, with their diversity relative to real
   images of the same pair (sizes and places vary in the real set).
3. The domain check: how many held-out in-domain prompts it accepts, and how
   many unrelated prompts it flags.

1 and 2 are measured under each prior rule (ganlab.text.prior: the prompt
as it is, its nearest training caption, or training images nearest that
caption), and a table at the end puts the rules side by side.
"""
from __future__ import annotations

import argparse
import functools
from pathlib import Path

import torch

from ganlab.config import DataConfig
from ganlab.data.images import load_split
from ganlab.data.shapes import COLOURS, SHAPES, make_shapes
from ganlab.metrics.classifier import Classifier, classifier_for, load_classifier
from ganlab.metrics.health import relative_diversity
from ganlab.text.captions import HELD_OUT, HELD_OUT_PAIRS
from ganlab.text.data import SIDE
from ganlab.text.embedders import to_rgb
from ganlab.text.generate import TextGenerator
from ganlab.trainer import configure_threads

UNRELATED = ["a red sports car", "a cat sitting on a sofa", "the eiffel tower at night", "a bowl of ramen",
             "a snowy mountain landscape", "a dog playing fetch", "an airplane in the sky", "a glass of red wine",
             "a laptop computer", "a banana", "a guitar", "a bicycle", "a sunset over the ocean",
             "a plate of spaghetti", "a tiger in the jungle", "a wooden table"]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def judge(domain: str) -> Classifier:
    """The classifier trained at the text model's image size if there is one, else the 28x28 one."""
    clf = classifier_for(domain, side=SIDE)
    if clf is None:
        print(f"  (no {domain}-{SIDE}px judge: using the 28x28 {domain} classifier on resized images)")
        clf = load_classifier(domain)
    return clf


@torch.no_grad()
def held_out_wording(tg: TextGenerator, n: int, rule: str, psi: float = 1.0) -> dict:
    print(f"\n1. Held-out wording, prior “{rule}”: {n} images per prompt, judged by the shipped classifiers")
    summary = {}
    for domain in ("fashion-mnist", "mnist"):
        if domain not in tg.domains():
            continue
        clf = judge(domain)
        real = load_split(domain, "test", DataConfig(name=domain))
        rates, alone = [], []
        for k, prompt in enumerate(HELD_OUT[domain]):
            x = tg.generate(prompt, n=n, seed=k, psi=psi, prior=rule)
            rate = float((clf.predict(x) == k).double().mean())
            cls = to_rgb(real.x[real.labels == k][:n], SIDE)
            div = relative_diversity(x, cls)
            rates.append(rate)
            c = tg.embedder.encode_image(cls.to(tg.embedder.device)).cpu()                  # [n, E]: no text
            alone.append(float((clf.predict(tg.from_condition(c, len(c), seed=k, psi=psi)) == k).double().mean()))
            name = FASHION[k] if domain == "fashion-mnist" else str(k)
            read = tg.read_as(prompt, rule)
            print(f"  {domain:13s} {name:11s} “{prompt}”{f' (read as “{read}”)' if read else ''}: "
                  f"{100 * rate:5.1f}% right, diversity {div:.2f} of real; G alone {100 * alone[-1]:.0f}%")
        print(f"  {domain}: mean {100 * sum(rates) / len(rates):.1f}%, worst {100 * min(rates):.1f}%, "
              f"{sum(r >= 0.8 for r in rates)}/{len(rates)} prompts at 80% or more; "
              f"G alone (real test images' embeddings): mean {100 * sum(alone) / len(alone):.1f}%")
        summary[domain] = (sum(rates) / len(rates), min(rates), sum(r >= 0.8 for r in rates))
    return summary


@functools.lru_cache(maxsize=1)
def real_shapes(n: int):
    """Every pair, held-out ones too: the diversity reference (made once for all prior rules)."""
    return make_shapes(n, SIDE, seed=1)


@torch.no_grad()
def shapes(tg: TextGenerator, n: int, rule: str, psi: float = 1.0) -> dict:
    if "shapes" not in tg.domains():
        return {}
    print(f"\n2. Shapes, prior “{rule}”: “a {{colour}} {{shape}}”, {n} images per pair; right = shape and colour "
          "both right")
    shape_clf, colour_clf = load_classifier("shapes-shape"), load_classifier("shapes-colour")
    real = real_shapes(24 * n * 2)
    seen, held, div_seen, div_held = [], [], [], []
    for s, shape in enumerate(SHAPES):
        for c, colour in enumerate(COLOURS):
            x = tg.generate(f"a {colour} {shape}", n=n, seed=100 + 10 * s + c, psi=psi, prior=rule)
            ok = (shape_clf.predict(x) == s) & (colour_clf.predict(x) == c)
            rate = float(ok.double().mean())
            pair = (real.attributes["shape"] == s) & (real.attributes["colour"] == c)
            div = relative_diversity(x, real.x[pair][:n])
            is_held = (shape, colour) in HELD_OUT_PAIRS
            (held if is_held else seen).append(rate)
            (div_held if is_held else div_seen).append(div)
            if is_held:
                read = tg.read_as(f"a {colour} {shape}", rule)
                print(f"  held out: a {colour} {shape}{f' (read as “{read}”)' if read else ''}: {100 * rate:.1f}%, "
                      f"diversity {div:.2f} of real")
    print(f"  seen pairs ({len(seen)}): mean {100 * sum(seen) / len(seen):.1f}%, worst {100 * min(seen):.1f}%, "
          f"{sum(r >= 0.8 for r in seen)}/{len(seen)} at 80% or more; diversity {min(div_seen):.2f} to "
          f"{max(div_seen):.2f} of real (mean {sum(div_seen) / len(div_seen):.2f})")
    print(f"  held-out pairs ({len(held)}): mean {100 * sum(held) / len(held):.1f}%")
    return {"seen": sum(seen) / len(seen), "held": sum(held) / len(held),
            "diversity_seen": sum(div_seen) / len(div_seen), "diversity_held": sum(div_held) / len(div_held)}


def domain_check(tg: TextGenerator) -> None:
    inside = [p for d in tg.domains() for p in HELD_OUT.get(d, [])]
    if "shapes" in tg.domains():
        inside += [f"a {c} {s}" for s, c in HELD_OUT_PAIRS]
    accepted = sum(tg.domain(p).ok for p in inside)
    flagged = [p for p in UNRELATED if not tg.domain(p).ok]
    print(f"\n3. Domain check: accepts {accepted}/{len(inside)} held-out in-domain prompts, "
          f"flags {len(flagged)}/{len(UNRELATED)} unrelated ones")
    for p in inside:
        if not tg.domain(p).ok:
            print(f"  wrongly flagged: “{p}”")
    for p in UNRELATED:
        if p not in flagged:
            print(f"  not flagged: “{p}”")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run", type=Path, default=Path("models/text-captioned"))
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--threads", type=int)
    p.add_argument("--psi", type=float, default=1.0, help="truncation (1 = as trained)")
    p.add_argument("--priors", default="", help="comma-separated prior rules (image, caption, none); "
                   "default: every rule the model supports")
    a = p.parse_args()
    configure_threads(a.threads)
    tg = TextGenerator.open(a.run)
    print(tg.describe(), f"· ψ {a.psi:g}")
    rules = [r.strip() for r in a.priors.split(",") if r.strip()] or tg.prior.rules()
    table = {}
    for rule in rules:
        table[rule] = (held_out_wording(tg, a.n, rule, a.psi), shapes(tg, a.n, rule, a.psi))
    domain_check(tg)
    print("\nSummary (mean share right; in brackets: prompts or pairs at 80% or more)")
    print(f"  {'prior':8s} {'fashion-mnist':>16s} {'mnist':>16s} {'shapes seen':>12s} {'shapes held out':>16s}")
    for rule, (words, sh) in table.items():
        cells = [f"{100 * words[d][0]:5.1f}% ({words[d][2]}/10)" if d in words else "-"
                 for d in ("fashion-mnist", "mnist")]
        cells += [f"{100 * sh[k]:5.1f}%" if k in sh else "-" for k in ("seen", "held")]
        print(f"  {rule:8s} {cells[0]:>16s} {cells[1]:>16s} {cells[2]:>12s} {cells[3]:>16s}")


if __name__ == "__main__":
    main()
