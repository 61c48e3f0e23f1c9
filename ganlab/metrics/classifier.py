"""Small CNN classifiers that judge generated images: which class did G draw?

    clf = load_classifier("fashion-mnist")          # shipped in models/classifiers/fashion-mnist/
    probs = clf.probabilities(images)               # [N, K], images [N, C, H, W] in [-1, 1]
    class_histogram(clf, images)                    # share of samples per class: mode dropping shows
    class_agreement(clf, images, labels)            # how often G drew the class it was asked for

    python -m ganlab.metrics.classifier --data fashion-mnist      # retrain the shipped classifier
    python -m ganlab.metrics.classifier --data fashion-mnist --side 32   # a judge for 32x32 generators
    load_classifier("fashion-mnist-32px")

A judge sees images at its own size: a 28x28 classifier given 32x32 images
resizes them (bilinear), and the double resampling costs it accuracy on
classes told apart by fine detail (real Fashion-MNIST coats: 90% at 28x28,
61% after 28 -> 32 -> 28). ``--side`` trains one on images resized the way a
32x32 generator's training data was (bilinear from 28x28), so it judges such
a generator at the generator's own size.

A classifier is a checkpoint folder like every other model here
(config.json + model.safetensors + a short card), independent of any GAN.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from ..config import DataConfig
from ..errors import GanlabError

MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "classifiers"


@dataclass
class ClassifierConfig:
    data: str = "fashion-mnist"          # dataset it was trained on
    attribute: str = "class"             # "class", or an attribute of the shapes set ("shape", "colour", ...)
    channels: int = 1
    side: int = 28
    class_names: List[str] = field(default_factory=list)
    width: int = 32
    test_accuracy: Optional[float] = None
    note: str = ""


class Classifier(nn.Module):
    """Two conv blocks and an MLP head: [B, C, side, side] in [-1, 1] -> [B, K] logits."""

    def __init__(self, cfg: ClassifierConfig):
        super().__init__()
        self.cfg = cfg
        w, s = cfg.width, cfg.side // 4
        self.net = nn.Sequential(
            # state size. C x side x side
            nn.Conv2d(cfg.channels, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),
            # state size. w x side/2 x side/2
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            # state size. 2w x side/4 x side/4
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * w * s * s, 128), nn.ReLU(),
            nn.Linear(128, len(cfg.class_names)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (self.cfg.channels, self.cfg.side, self.cfg.side):
            x = _fit(x, self.cfg.channels, self.cfg.side)
        return self.net(x)

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        self.eval()
        device = next(self.parameters()).device
        return torch.cat([F.softmax(self(x[i:i + batch_size].to(device)), 1).cpu()
                          for i in range(0, len(x), batch_size)])

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.probabilities(x).argmax(1)


def _fit(x: torch.Tensor, channels: int, side: int) -> torch.Tensor:
    if x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, 3, -1, -1)
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    return x


# ---- what the classifiers say about a generator ------------------------------------------

def class_histogram(clf: Classifier, images: torch.Tensor) -> Dict[str, float]:
    """Share of ``images`` the classifier puts in each class (sums to 1)."""
    pred = clf.predict(images)
    counts = torch.bincount(pred, minlength=len(clf.cfg.class_names)).float()
    return {name: float(c) / max(1, len(images)) for name, c in zip(clf.cfg.class_names, counts)}


def histogram_entropy(hist: Dict[str, float]) -> float:
    """Entropy of a class histogram over log(K): 1 = every class equally often, 0 = a single class."""
    p = torch.tensor(list(hist.values())).clamp_min(1e-12)
    k = len(hist)
    return float(-(p * p.log()).sum() / torch.log(torch.tensor(float(k)))) if k > 1 else 0.0


def class_agreement(clf: Classifier, images: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
    """How often the classifier agrees with the class each image was generated for: overall and per class."""
    pred = clf.predict(images)
    out = {"overall": float((pred == labels.cpu()).float().mean())}
    for k, name in enumerate(clf.cfg.class_names):
        mask = labels.cpu() == k
        if mask.any():
            out[name] = float((pred[mask] == k).float().mean())
    return out


# ---- saving and loading -------------------------------------------------------------------

def classifier_name(data: str, attribute: str = "class", side: Optional[int] = None) -> str:
    name = data if attribute == "class" else f"{data}-{attribute}"
    return f"{name}-{side}px" if side else name


def save_classifier(clf: Classifier, folder: Path, card: str = "") -> Path:
    folder = Path(folder)
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in clf.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "ganlab-classifier-1"})
        (tmp / "config.json").write_text(json.dumps(asdict(clf.cfg), indent=2))
        if card:
            (tmp / "README.md").write_text(card)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_classifier(name_or_path: str, root: Path = MODELS_DIR) -> Classifier:
    """A shipped classifier by name ("fashion-mnist", "mnist", "shapes-shape", ...) or a folder."""
    folder = Path(name_or_path)
    if not (folder / "config.json").is_file():
        folder = Path(root) / name_or_path
    if not (folder / "config.json").is_file():
        have = sorted(p.name for p in Path(root).glob("*") if (p / "config.json").is_file())
        raise GanlabError(f"There is no classifier called {name_or_path!r}; shipped ones: {', '.join(have)}.")
    try:
        cfg = ClassifierConfig(**json.loads((folder / "config.json").read_text()))
        clf = Classifier(cfg)
        clf.load_state_dict(load_file(str(folder / "model.safetensors")))
    except (OSError, TypeError, RuntimeError, SafetensorError, json.JSONDecodeError) as e:
        raise GanlabError(f"The classifier in {folder} is unreadable or does not fit ({e}).") from None
    return clf.eval()


def classifier_for(data_name: str, attribute: str = "class", side: Optional[int] = None) -> Optional[Classifier]:
    """The shipped classifier for a dataset (the one trained at ``side`` pixels if given), or None."""
    try:
        return load_classifier(classifier_name(data_name, attribute, side))
    except GanlabError:
        return None


# ---- training -----------------------------------------------------------------------------

def _labelled(data: str, attribute: str, split: str):
    from ..data import load_dataset
    from ..data.images import SPLIT_SETS, load_split
    if data in SPLIT_SETS:
        ds = load_split(data, split, DataConfig(name=data))
    else:
        train = split == "train"
        ds = load_dataset(DataConfig(name=data, n=20_000 if train else 4_000), seed=0 if train else 1)
    if attribute == "class":
        if ds.labels is None:
            raise GanlabError(f"{data} has no class labels to train a classifier on.")
        return ds, ds.labels, ds.class_names
    if attribute not in ds.attributes:
        raise GanlabError(f"{data} has no attribute {attribute!r}; it has {', '.join(ds.attributes) or 'none'}.")
    return ds, ds.attributes[attribute], ds.attribute_names[attribute]


def _resized(x: torch.Tensor, side: Optional[int]) -> torch.Tensor:
    if not side or x.shape[-1] == side:
        return x
    return F.interpolate(x.float(), size=(side, side), mode="bilinear", align_corners=False)


def train_classifier(data: str, attribute: str = "class", epochs: int = 4, batch_size: int = 128,
                     seed: int = 0, holdout: int = 500, side: Optional[int] = None, width: int = 32,
                     flip: bool = False) -> Classifier:
    """Train on the training split; report accuracy on the test split (or a held-out slice).
    With ``side``, every image is first resized to side x side (bilinear). ``flip`` mirrors half of
    each batch left to right: right for clothes, wrong for digits."""
    from ..data.images import SPLIT_SETS
    ds, labels, names = _labelled(data, attribute, "train")
    x = _resized(ds.x, side)
    test_x = test_y = None
    if data in SPLIT_SETS:
        test = load_split_if_distinct(data)
        if test is not None:
            test_x, test_y = _resized(test.x, side), _values(test, attribute)
    if test_x is None:                                   # one set only (offline MNIST, shapes): hold some out
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(x), generator=g)
        test_idx, train_idx = perm[:holdout], perm[holdout:]
        test_x, test_y = x[test_idx], labels[test_idx]
        x, labels = x[train_idx], labels[train_idx]
    cfg = ClassifierConfig(data=data, attribute=attribute, channels=x.shape[1], side=x.shape[-1],
                           class_names=list(names), width=width, note=ds.note)
    torch.manual_seed(seed)
    clf = Classifier(cfg)
    opt = torch.optim.Adam(clf.parameters(), lr=2e-3)
    steps = epochs * (len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(seed + 1)
    clf.train()
    bar = tqdm(total=steps, desc=f"classifier {classifier_name(data, attribute, side)}", unit="step")
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch_size + 1, batch_size):
            idx = perm[i:i + batch_size]
            xb = x[idx]
            shift = torch.randint(-2, 3, (2,), generator=g).tolist()       # small translations
            xb = torch.roll(xb, shifts=shift, dims=(2, 3))
            if flip:
                mirror = torch.rand(len(xb), generator=g) < 0.5
                xb = torch.where(mirror[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(clf(xb), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    clf.eval()
    cfg.test_accuracy = float((clf.predict(test_x) == test_y).float().mean())
    return clf


def _values(ds, attribute: str) -> torch.Tensor:
    """[N] int64: the classes, or an attribute's values (emoji's subgroup)."""
    return ds.labels if attribute == "class" else ds.attributes[attribute]


def load_split_if_distinct(data: str):
    """The test split, or None when offline MNIST has only one set of 5,000 digits."""
    from ..data.images import load_split
    test = load_split(data, "test", DataConfig(name=data))
    return None if "same set" in (test.note or "") else test


def _card(clf: Classifier, seconds: float, command: str, per_class: Optional[Dict[str, float]] = None,
          resized_to: Optional[int] = None) -> str:
    c, per_class = clf.cfg, per_class or {}
    side = f" at {resized_to}x{resized_to} (images resized to it, bilinear)" if resized_to else ""
    per = "".join(f"\n  - {name}: {100 * per_class[name]:.1f}%" for name in c.class_names if name in per_class)
    return (f"# Classifier: {classifier_name(c.data, c.attribute, resized_to)}\n\n"
            f"A small CNN (two conv blocks, {sum(p.numel() for p in clf.parameters()):,} parameters) that "
            f"tells the {len(c.class_names)} {c.attribute} values of `{c.data}` apart{side}, used to judge "
            "generated images (class histograms, conditional agreement). It is independent of every GAN.\n\n"
            f"- data: {c.note}\n- classes: {', '.join(c.class_names)}\n"
            f"- test accuracy: **{100 * c.test_accuracy:.2f}%**{per}\n"
            f"- trained in {seconds:.0f} s on {os.cpu_count()} CPU cores\n"
            f"- command: `{command}`\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganlab.metrics.classifier", description="Train a shipped classifier.")
    p.add_argument("--data", nargs="+", default=["fashion-mnist", "mnist"])
    p.add_argument("--attribute", default="class", help="class, or a shapes attribute: shape, colour, size, position")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--side", type=int, help="train (and name) it at this image size, e.g. 32 for a 32x32 generator")
    p.add_argument("--width", type=int, default=32, help="channels of the first conv block (the second has twice)")
    p.add_argument("--flip", action="store_true", help="mirror half of each batch (clothes, not digits)")
    p.add_argument("--out", type=Path, default=MODELS_DIR)
    a = p.parse_args(argv)
    if a.width < 1 or a.epochs < 1:
        p.error("--width and --epochs must be whole numbers of at least 1")
    from ..data.images import SPLIT_SETS
    for data in a.data:
        t0 = time.perf_counter()
        clf = train_classifier(data, a.attribute, epochs=a.epochs, side=a.side, width=a.width, flip=a.flip)
        seconds = time.perf_counter() - t0
        cmd = (f"python -m ganlab.metrics.classifier --data {data} --attribute {a.attribute} --epochs {a.epochs}"
               + (f" --side {a.side}" if a.side else "")
               + (f" --width {a.width}" if a.width != p.get_default("width") else "")
               + (" --flip" if a.flip else ""))
        per_class = None
        if a.side:                                       # the per-class figures a judge's reader needs
            test = load_split_if_distinct(data) if data in SPLIT_SETS else None
            if test is not None:
                per_class = class_agreement(clf, _resized(test.x, a.side), _values(test, a.attribute))
        out = save_classifier(clf, a.out / classifier_name(data, a.attribute, a.side),
                              _card(clf, seconds, cmd, per_class, a.side))
        print(f"{out}: test accuracy {100 * clf.cfg.test_accuracy:.2f}% ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
