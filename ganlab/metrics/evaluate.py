"""Paper-comparable evaluation of a run, and the real-data floor.

    report = evaluate_run("runs/fmnist", metrics=["fid", "kid", "pr"], n=10_000)
    report = evaluate_floor("fashion-mnist", n=10_000)    # FID of real test images against real train images
    print(format_report(report))

The protocol is Lucic et al. 2018 ("Are GANs Created Equal?"): ``n``
generated images against the first ``n`` test images, grey tiled to 3
channels, bilinear resize to 299, TF-Inception pool_3 features. Every report
carries that protocol in words, so numbers are only compared with like.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Iterable, List

import torch

from ..config import DataConfig
from ..errors import GanlabError
from .inception import PROTOCOL, InceptionFeatures
from .reference import generated_features, generated_images, real_images, reference_features
from .scores import fid, kid, prdc

METRICS = ("fid", "kid", "pr", "dc", "classes")
METRIC_HELP = {"fid": "Fréchet Inception Distance", "kid": "Kernel Inception Distance (x 1000 in text)",
               "pr": "precision and recall (Kynkäänniemi et al. 2019, k = 5)",
               "dc": "density and coverage (Naeem et al. 2020, k = 5)",
               "classes": "class histogram of generated images by the shipped classifier"}


def parse_metrics(text: str) -> List[str]:
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise GanlabError(f"Unknown metric(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METRICS)}.")
    return names


def _device(name: str) -> torch.device:
    from ..trainer import pick_device
    return pick_device(name)


def _scores(real: torch.Tensor, fake: torch.Tensor, metrics: Iterable[str]) -> Dict[str, float]:
    out: Dict[str, float] = {}
    metrics = set(metrics)
    if "fid" in metrics:
        out["fid"] = fid(real, fake)
    if "kid" in metrics:
        out.update(kid(real, fake))
    if metrics & {"pr", "dc"}:
        m = prdc(real, fake)
        if "pr" in metrics:
            out.update(precision=m["precision"], recall=m["recall"])
        if "dc" in metrics:
            out.update(density=m["density"], coverage=m["coverage"])
    return out


def evaluate_run(run: Path, metrics: Iterable[str] = ("fid", "kid", "pr"), n: int = 10_000, split: str = "test",
                 seed: int = 0, device: str = "auto", progress: bool = True, use_ema: bool = True) -> Dict:
    """Score the latest checkpoint of ``run`` (or a checkpoint folder) with the paper protocol."""
    from ..sampling import load_generator
    if n < 10:
        raise GanlabError(f"Use at least 10 images per side (got {n}); papers use 10,000.")
    metrics = list(metrics)
    t0 = time.perf_counter()
    dev = _device(device)
    G, cfg, step = load_generator(run, use_ema=use_ema)
    if not G.z_dim:
        raise GanlabError(f"{run} is an image-to-image model ({cfg.model.name}); score it on its held-out inputs "
                          f"with `python bench/image_to_image.py --run {run}`.")
    G.to(dev)
    net = InceptionFeatures.load(str(dev))
    data = cfg.data
    real, note = reference_features(data, split, n, net, progress=progress)
    report: Dict = {"run": str(run), "step": step, "data": data.name, "split": split, "reference": note,
                    "n_real": len(real), "n_fake": n, "seed": seed, "protocol": PROTOCOL,
                    "comparable": _comparable(note)}
    fake = generated_features(G, n, net, seed=seed, progress=progress) if set(metrics) - {"classes"} else None
    if fake is not None:
        report.update(_scores(real, fake, metrics))
    if "classes" in metrics:
        report.update(_class_report(G, data, min(n, 10_000), seed))
    report.update(device=str(dev), seconds=round(time.perf_counter() - t0, 1))
    return report


def _class_report(G, data: DataConfig, n: int, seed: int) -> Dict:
    from .classifier import class_histogram, classifier_for, histogram_entropy
    clf = classifier_for(data.name)
    if clf is None:
        return {"classes_note": f"no shipped classifier for {data.name}"}
    images = generated_images(G, n, seed=seed)
    hist = class_histogram(clf, images)
    return {"class_hist": hist, "class_entropy": histogram_entropy(hist)}


def evaluate_floor(data: str, n: int = 10_000, device: str = "auto", progress: bool = True,
                   metrics: Iterable[str] = ("fid", "kid", "pr")) -> Dict:
    """The same scores for real data against real data: the first ``n`` test images against the
    first ``n`` training images. This is what "perfect" looks like under the protocol."""
    t0 = time.perf_counter()
    dev = _device(device)
    net = InceptionFeatures.load(str(dev))
    cfg = DataConfig(name=data)
    test, note_test = reference_features(cfg, "test", n, net, progress=progress)
    train, note_train = reference_features(cfg, "train", n, net, progress=progress)
    report = {"data": data, "real": note_test, "against": note_train, "n_real": len(test),
              "n_fake": len(train), "protocol": PROTOCOL, "comparable": _comparable(note_test)}
    report.update(_scores(test, train, metrics))
    report.update(device=str(dev), seconds=round(time.perf_counter() - t0, 1))
    return report


def _comparable(note: str) -> bool:
    """Offline MNIST (5,000 digits, no test split) and sets without a test split are not paper-comparable."""
    return "not paper-comparable" not in note and "no test split" not in note and "same set" not in note


def format_report(r: Dict) -> str:
    lines = []
    if "run" in r:
        lines.append(f"{r['run']} (step {r['step']:,}) on {r['data']}")
    else:
        lines.append(f"floor: real {r['data']} test images against real train images")
    for key, label in (("fid", "FID"), ("kid", "KID x 1000"), ("precision", "precision"), ("recall", "recall"),
                       ("density", "density"), ("coverage", "coverage"), ("class_entropy", "class entropy")):
        if key in r:
            v = r[key] * 1000 if key == "kid" else r[key]
            extra = f" ± {r['kid_std'] * 1000:.3f}" if key == "kid" and "kid_std" in r else ""
            lines.append(f"  {label:14s} {v:.3f}{extra}")
    if "class_hist" in r:
        lines.append("  classes        " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["class_hist"].items()))
    lines.append(f"protocol: {r['n_fake']:,} generated vs {r['n_real']:,} real; {r['protocol']}")
    lines.append(f"reference: {r.get('reference', r.get('real'))}")
    if not r.get("comparable", True):
        lines.append("NOTE: not comparable with published numbers (see the reference line).")
    lines.append(f"{r['seconds']:.0f} s on {r['device']}")
    return "\n".join(lines)


__all__ = ["evaluate_run", "evaluate_floor", "format_report", "parse_metrics", "METRICS", "real_images"]
