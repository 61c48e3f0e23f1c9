"""What the GAN adds: an image-to-image run's figures on its held-out inputs, each beside baselines that do not learn.

    python bench/image_to_image.py --run runs/edges2emoji-pix2pix --baseline runs/edges2emoji-l1
    python bench/image_to_image.py --run runs/sr-emoji --baseline runs/sr-emoji-l1 --json scores.json
    python bench/image_to_image.py --run runs/inpaint-emoji --n 100 --figure fills.png
    python bench/image_to_image.py --run runs/sneaker2boot --no-fid

The inputs are the run's fixed held-out part (``Translator.held_out``: the same images, holes
and down-samples every time). Per task:

- pix2pix: PSNR, SSIM and FID against the held-out targets; beside the L1-only run (``--baseline``).
- srgan: PSNR, SSIM and FID against the high-res originals; beside bicubic up-sampling and the L1-only run.
- inpaint: PSNR and SSIM inside the hole, FID of whole images; beside the mean-colour fill, a Laplace
  (diffusion) fill, OpenCV's Telea fill (``cv2.inpaint``, when OpenCV imports) and the L1-only run.
- cyclegan: the share of A -> B outputs the shipped Fashion-MNIST classifier calls B, and the reverse
  (sneaker<->boot: "Ankle boot" and "Sneaker"); the cycle PSNR A->B->A and B->A->B; FID of each
  direction against the other side's held-out images; beside the identity (the inputs untranslated).

The L1-only baseline is the same G trained as long with no D: ``python -m ganlab train`` with
the run's recipe and ``--adversarial 0``. PSNR and SSIM are torchmetrics' on [0, 1]
(:mod:`ganlab.translate.quality` says how the hole figures are taken); FID is ganlab's own
(:mod:`ganlab.metrics`), on a few hundred images at most, so it only compares rows of one
table. ``--json`` writes the figures, with the run, step and n, as a model card's scores.json.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganlab.errors import GanlabError
from ganlab.translate import quality as q
from ganlab.translate.model import HeldOut, Translator
from ganlab.translate.trainer import as_channels

BATCH = 64
Baseline = Tuple[Translator, Tuple[str, str]]      # the --baseline run and its row's (key, name)
SHOWN = 6                 # held-out examples in --figure


@dataclass
class Row:
    key: str                                    # the JSON name: gan, l1_only, bicubic, mean_fill, ...
    name: str                                   # what the table calls it
    figures: Dict[str, Optional[float]] = field(default_factory=dict)
    images: Dict[str, torch.Tensor] = field(default_factory=dict)     # FID column -> the images it scores
    shown: Optional[torch.Tensor] = None        # its column of --figure


@dataclass
class Bench:
    tr: Translator
    hold: HeldOut
    columns: List[Tuple[str, str, str]]         # (figure, header, format)
    rows: List[Row]
    refs: Dict[str, torch.Tensor]               # FID column -> the real images it is measured against
    notes: List[str]
    n: int                                      # held-out inputs used (cyclegan: both sides together)
    fid_n: Optional[Dict[str, int]] = None      # FID column -> real images it was measured against; None: no FID


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="a pix2pix, srgan, inpaint or cyclegan run or model")
    p.add_argument("--baseline", type=Path, help="the L1-only run: same task, data and steps, --adversarial 0")
    p.add_argument("--n", type=int, help="held-out inputs to use (default: all of them)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON (scores.json)")
    p.add_argument("--figure", type=Path, metavar="PNG", help="a grid: input | baselines | output | target")
    p.add_argument("--no-fid", action="store_true", help="skip FID (it runs Inception on every image: the slow part)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--threads", type=int)
    return p.parse_args(argv)


def run_all(tr: Translator, x: torch.Tensor, direction: str = "AB", masks: Optional[torch.Tensor] = None,
            desc: Optional[str] = None) -> torch.Tensor:
    """G on a whole set, in batches; [N, C', H, W] on the CPU."""
    out = []
    for i in tqdm(range(0, len(x), BATCH), desc=desc, unit="batch", leave=False, disable=desc is None):
        m = masks[i:i + BATCH] if masks is not None else None
        out.append(tr.translate(x[i:i + BATCH], direction, mask=m))
    return torch.cat(out)


def open_baseline(path: Path, tr: Translator) -> Tuple[Translator, Tuple[str, str], List[str]]:
    """The --baseline run, its row's (key, name) and what to know about it; refused when it does another task."""
    base = Translator.open(path)
    same = (base.task, base.cfg.data.name, base.resolution, base.input_side())
    if same != (tr.task, tr.cfg.data.name, tr.resolution, tr.input_side()):
        raise GanlabError(f"The baseline {path} is {base.family} on {base.cfg.data.name} at {base.resolution} px; "
                          f"it must do this run's task ({tr.family} on {tr.cfg.data.name} at {tr.resolution} px).")
    adv, notes = base.cfg.train.adversarial, []
    if adv != 0:
        notes.append(f"The baseline {path} was trained with adversarial weight {adv:g}, not 0, so it is not "
                     "the L1-only net; its row is another run, not a baseline without D.")
    if base.step != tr.step:
        notes.append(f"The baseline has {base.step:,} steps and this run {tr.step:,}: not like for like.")
    if adv == 0:
        return base, ("l1_only", f"L1-only {base.family}, no D ({path}, step {base.step:,})"), notes
    return base, ("baseline", f"{base.family} ({path}, step {base.step:,})"), notes


def no_baseline_hint(tr: Translator) -> str:
    from ganlab.presets import PRESETS
    names = [k for k, p in PRESETS.items()
             if (p.cfg.data.name, p.cfg.model.name) == (tr.cfg.data.name, tr.family)]
    how = f"--preset {names[0]}" if names else f"--data {tr.cfg.data.name} --model {tr.family} (this run's flags)"
    return (f"No --baseline: the L1-only {tr.family} (same G, no D) is not in the table; train it with "
            f"`python -m ganlab train {how} --steps {tr.step} --adversarial 0 --out RUN-l1` and pass --baseline "
            "RUN-l1.")


# ---- the tasks --------------------------------------------------------------------------------------

def scored(key: str, name: str, out: torch.Tensor, target: torch.Tensor) -> Row:
    return Row(key, name, {"psnr": q.mean(q.psnr(out, target)), "ssim": q.mean(q.ssim(out, target))},
               {"fid": out}, out)


def paired(tr: Translator, hold: HeldOut, base: Optional[Baseline]) -> Bench:
    """pix2pix and srgan: whole-image PSNR and SSIM against the truth; srgan beside bicubic too."""
    x, y = hold.inputs, hold.targets
    rows = [scored("gan", f"{tr.family} (this run)", run_all(tr, x, desc=tr.family), y)]
    if tr.task == "sr":
        rows.append(scored("bicubic", "bicubic up-sampling", tr.upsample(x), y))
    if base:
        rows.append(scored(*base[1], run_all(base[0], x, desc="baseline"), y))
    cols = [("psnr", "PSNR (dB)", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"), ("fid", "FID", "{:.1f}")]
    return Bench(tr, hold, cols, rows, {"fid": y}, [], len(x))


def filled(key: str, name: str, out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> Row:
    return Row(key, name, {"hole_psnr": q.mean(q.hole_psnr(out, target, mask)),
                           "hole_ssim": q.mean(q.hole_ssim(out, target, mask))}, {"fid": out}, out)


def inpaint(tr: Translator, hold: HeldOut, base: Optional[Baseline]) -> Bench:
    """Figures inside the hole, FID of whole images; the classical fills beside G's."""
    x, y, m = hold.inputs, hold.targets, hold.masks
    rows = [filled("gan", f"{tr.family} (this run)", run_all(tr, x, masks=m, desc=tr.family), y, m),
            filled("mean_fill", "mean-colour fill (known pixels' mean)", q.mean_fill(x, m), y, m),
            filled("laplace_fill", "Laplace (diffusion) fill", q.laplace_fill(x, m, desc="Laplace fill"), y, m)]
    notes = []
    telea = q.telea_fill(x, m)
    if telea is not None:
        rows.append(filled("telea_fill", "OpenCV Telea fill (cv2.inpaint)", telea, y, m))
    else:
        notes.append("OpenCV is not installed, so cv2.inpaint's Telea fill is not in the table.")
    if base:
        rows.append(filled(*base[1], run_all(base[0], x, masks=m, desc="baseline"), y, m))
    area = float(m.flatten(1).mean(1).mean())
    notes.append(f"Inside the hole (on average {area:.0%} of each image): PSNR from the MSE over the hole's pixels, "
                 "SSIM as torchmetrics' SSIM map averaged over them (its window sees the known pixels beside).")
    cols = [("hole_psnr", "PSNR in hole (dB)", "{:.2f}"), ("hole_ssim", "SSIM in hole", "{:.3f}"),
            ("fid", "FID (whole image)", "{:.1f}")]
    return Bench(tr, hold, cols, rows, {"fid": y}, notes, len(x))


def judge(tr: Translator):
    """The shipped Fashion-MNIST classifier and the (A, B) class indices, for sneaker<->boot only."""
    if tr.cfg.data.name != "sneaker<->boot":
        return None
    from ganlab.data.pairs import BOOT, SNEAKER
    from ganlab.metrics.classifier import load_classifier
    clf = load_classifier("fashion-mnist")
    names = clf.cfg.class_names
    assert (names[SNEAKER], names[BOOT]) == ("Sneaker", "Ankle boot"), names
    return clf, SNEAKER, BOOT


def unpaired(tr: Translator, hold: HeldOut, base: Optional[Baseline]) -> Bench:
    """cyclegan: does A -> B look like B to a classifier, does the round trip come back, is it B-like (FID)?"""
    a, b = hold.inputs, hold.others
    da, db = tr.domains
    clf = judge(tr)

    def row(key, name, t):
        ab, ba = run_all(t, a, "AB", desc=f"{key} A->B"), run_all(t, b, "BA", desc=f"{key} B->A")
        aba, bab = run_all(t, ab, "BA"), run_all(t, ba, "AB")
        return Row(key, name, {**called(clf, ab, ba), "cycle_aba": q.mean(q.psnr(aba, a)),
                               "cycle_bab": q.mean(q.psnr(bab, b))}, {"fid_ab": ab, "fid_ba": ba},
                   torch.cat([ab, ba]))

    rows = [row("gan", f"{tr.family} (this run)", tr),
            Row("identity", "identity (inputs untranslated)", {**called(clf, a, b), "cycle_aba": None,
                                                              "cycle_bab": None}, {"fid_ab": a, "fid_ba": b})]
    if base:
        rows.append(row(*base[1], base[0]))
    notes = [f"A is {da} ({len(a):,} held-out inputs), B is {db} ({len(b):,}). The identity's round trip is "
             "exact by definition, so it has no cycle PSNR."]
    if clf is None:
        notes.append(f"No shipped classifier knows {da} and {db}; the class shares are for sneaker<->boot only.")
    cols = [("to_b", f"{da}->{db} judged {db}", "{:.1%}"), ("to_a", f"{db}->{da} judged {da}", "{:.1%}"),
            ("cycle_aba", "A->B->A PSNR (dB)", "{:.2f}"), ("cycle_bab", "B->A->B PSNR (dB)", "{:.2f}"),
            ("fid_ab", f"FID A->B vs held-out {db}", "{:.1f}"), ("fid_ba", f"FID B->A vs held-out {da}", "{:.1f}")]
    return Bench(tr, hold, cols, rows, {"fid_ab": b, "fid_ba": a}, notes, len(a) + len(b))


def called(clf, to_b: torch.Tensor, to_a: torch.Tensor) -> Dict[str, Optional[float]]:
    """Shares of the images meant to be B (A) that the classifier calls B (A)."""
    if clf is None:
        return {"to_b": None, "to_a": None}
    model, ka, kb = clf
    return {"to_b": float((model.predict(to_b) == kb).float().mean()),
            "to_a": float((model.predict(to_a) == ka).float().mean())}


TASKS = {"paired": paired, "sr": paired, "inpaint": inpaint, "unpaired": unpaired}


# ---- FID, the table, the JSON, the figure -----------------------------------------------------------

def inception(device):
    from ganlab.metrics.inception import InceptionFeatures
    return InceptionFeatures.load(str(device))


def add_fid(bench: Bench, device) -> None:
    """Every row's FID against its column's real images, all through one Inception network."""
    from ganlab.metrics.scores import fid
    sizes = {k: len(v) for k, v in bench.refs.items()}
    if min(sizes.values()) < 2:
        bench.notes.append("FID needs at least 2 held-out images a side; it is left out.")
        return
    net = inception(device)
    real = {k: net.features(v, desc=f"Inception: real ({k})") for k, v in bench.refs.items()}
    for row in bench.rows:
        for k, images in row.images.items():
            row.figures[k] = fid(real[k], net.features(images, desc=f"Inception: {row.key} ({k})"))
    bench.fid_n = sizes
    side = bench.tr.resolution
    counts = " and ".join(f"{n:,}" for n in dict.fromkeys(sizes.values()))
    bench.notes.append(f"FID from {counts} images a side at {side} px (Inception pool_3, ganlab.metrics): so few "
                       "images bias it upwards, so compare it only within this table.")


def fmt(v: Optional[float], how: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else how.format(v)


def used(bench: Bench) -> str:
    if bench.tr.task == "unpaired":
        return f"{len(bench.hold.inputs):,} + {len(bench.hold.others):,} (A + B)"
    return f"{bench.n:,}"


def table(bench: Bench, command: str) -> str:
    tr = bench.tr
    cols = [c for c in bench.columns if any(c[0] in r.figures for r in bench.rows)]
    head = ["method"] + [c[1] for c in cols]
    body = [[r.name] + [fmt(r.figures.get(c[0]), c[2]) for c in cols] for r in bench.rows]
    widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [f"{tr.family} on {tr.cfg.data.name} at {tr.resolution} px, step {tr.step:,} ({tr.path})",
           f"{bench.hold.note}; n = {used(bench)} used", "", line(head),
           "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body), ""]
    out += [f"- {n}" for n in bench.notes]
    out.append(f"\n{command}")
    return "\n".join(out)


def as_json(bench: Bench, command: str, device) -> dict:
    tr = bench.tr

    def clean(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(v, 5)
    return {"bench": "image_to_image", "command": command, "run": str(tr.path), "family": tr.family,
            "task": tr.task, "data": tr.cfg.data.name, "resolution": tr.resolution, "step": tr.step, "n": bench.n,
            "n_per_side": [len(bench.hold.inputs), len(bench.hold.others)] if tr.task == "unpaired" else None,
            "held_out": bench.hold.note, "device": str(device), "fid_real_images": bench.fid_n,
            "columns": {k: header for k, header, _ in bench.columns},
            "methods": {r.key: {"name": r.name, **{k: clean(v) for k, v in r.figures.items()}} for r in bench.rows},
            "notes": bench.notes}


def figure(bench: Bench):
    """Rows of held-out examples: input | baselines | output | target (cyclegan: A | A->B | A->B->A, then B);
    the picture and a legend of its columns."""
    from ganlab.viz import grid_image
    tr, hold, k = bench.tr, bench.hold, min(SHOWN, bench.hold.inputs.shape[0])
    side = tr.resolution
    if tr.task == "unpaired":
        a, b = hold.inputs[:k], hold.others[:k]
        ab, ba = run_all(tr, a, "AB"), run_all(tr, b, "BA")
        cols = [torch.cat([a, b]), torch.cat([ab, ba]), torch.cat([run_all(tr, ab, "BA"), run_all(tr, ba, "AB")])]
        legend = ["input (A rows, then B rows)", "translated", "translated back"]
    else:
        x = F.interpolate(hold.inputs[:k], size=(side, side), mode="nearest")     # SR: the small input, enlarged
        gan, *baselines = bench.rows
        shown = [r for r in baselines if r.shown is not None]
        cols = [x] + [r.shown[:k] for r in shown] + [gan.shown[:k], hold.targets[:k]]
        legend = ["input"] + [r.name for r in shown] + [gan.name, "target"]
    c = max(t.shape[1] for t in cols)
    pics = torch.stack([as_channels(t, c) for t in cols], 1).flatten(0, 1)
    return grid_image(pics, nrow=len(cols), scale=max(1, 96 // side)), " | ".join(legend)


def main(argv: Optional[List[str]] = None) -> dict:
    a = parse(argv)
    from ganlab.trainer import configure_threads, pick_device
    configure_threads(a.threads)
    device = pick_device(a.device)
    command = "python bench/image_to_image.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    tr = Translator.open(a.run)
    tr.G.to(device)
    base, notes = None, []
    if a.baseline:
        b, name, notes = open_baseline(a.baseline, tr)
        b.G.to(device)
        base = (b, name)
    elif tr.task != "unpaired":
        notes = [no_baseline_hint(tr)]
    if a.n is not None and a.n < 1:
        raise GanlabError(f"--n must be at least 1 (got {a.n}).")
    bench = TASKS[tr.task](tr, tr.held_out(a.n), base)
    bench.notes = notes + bench.notes
    if a.no_fid:
        bench.notes.append("FID skipped (--no-fid).")
    else:
        add_fid(bench, device)
    result = as_json(bench, command, device)
    print(table(bench, command))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"figures -> {a.json}")
    if a.figure:
        a.figure.parent.mkdir(parents=True, exist_ok=True)
        picture, legend = figure(bench)
        picture.save(a.figure)
        print(f"held-out examples ({legend}) -> {a.figure}")
    return result


if __name__ == "__main__":
    try:
        main()
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
