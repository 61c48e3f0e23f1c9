"""Turn a finished run into a shipped model folder with its card.

    python -m ganlab.ship --run runs/fmnist-best --name fashion-mnist-dcgan \\
        --command "python -m ganlab train --preset fashion-mnist-best --out runs/fmnist-best" --fid-n 10000

Writes models/NAME/ (config.json, state.json, generator.safetensors: the EMA
of G) and models/NAME/README.md: the data, the exact training command, the
training time and hardware (from the run's metrics), and, with ``--fid-n``,
the FID/KID/precision/recall under the paper protocol of ``python -m ganlab
eval`` (or, with ``--no-fid``, none: text models are judged by
bench/text_to_image.py instead).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Optional

import torch

from .checkpoint import read_config
from .runs import RunDir
from .sampling import export_generator

MODELS = Path(__file__).resolve().parents[1] / "models"


def training_time(run: Path, upto: Optional[int] = None) -> str:
    """Seconds spent in training steps up to the shipped step (a resumed leg's repeated rows count once)."""
    rows = RunDir(Path(run), None).read_metrics()
    by_step = {r["step"]: r for r in rows if "loss_d" in r and (upto is None or r["step"] <= upto)}
    train = [by_step[k] for k in sorted(by_step)]
    if not train:
        return "unknown"
    seconds = sum(r.get("seconds", 0.0) for r in train)
    return f"{seconds / 3600:.2f} h of training steps, {upto or train[-1]['step']:,} steps"


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__}"


def card(name: str, run: Path, command: str, scores: dict, notes: str = "", step: Optional[int] = None) -> str:
    cfg = read_config(run)
    m, t, d = cfg.model, cfg.train, cfg.data
    lines = [f"# {name}", "",
             f"{m.name} (width {m.width}{f', z_dim {m.z_dim}' if m.z_dim else ''}"
             f"{', spectral norm' if m.spectral_norm else ''}) trained on "
             f"`{d.name}`{f' conditioned on {d.label}' if d.label else ''} with the {t.loss} loss, "
             f"batch {t.batch_size}, "
             f"lr {t.lr_g:g}/{t.lr_d:g}, Adam betas ({t.beta1:g}, {t.beta2:g}), EMA {t.ema:g}"
             f"{f', DiffAugment {t.augment}' if t.augment else ''}. The weights are the EMA of G.", "",
             f"- **Command:** `{command}`",
             f"- **Training:** {training_time(run, step)}, on {hardware()} (the training machine).",
             f"- **Data:** {notes or d.name}"]
    if scores:
        lines += ["", "## Scores", "", f"Measured with `python -m ganlab eval --run models/{name} --n "
                  f"{scores['n_fake']}`: {scores['protocol']}; reference: {scores['reference']}.", "",
                  "| metric | value |", "|---|---|"]
        for key, label in (("fid", "FID"), ("kid", "KID x 1000"), ("precision", "precision"), ("recall", "recall")):
            if key in scores:
                v = scores[key] * (1000 if key == "kid" else 1)
                lines.append(f"| {label} | {v:.3f} |")
        if not scores.get("comparable", True):
            lines += ["", "Not comparable with published numbers: see the reference above."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from .metrics.evaluate import evaluate_run
    p = argparse.ArgumentParser(prog="python -m ganlab.ship", description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--command", required=True, help="the exact command that trained the run")
    p.add_argument("--fid-n", type=int, default=10_000)
    p.add_argument("--no-fid", action="store_true")
    p.add_argument("--notes", default="", help="what to say about the data")
    p.add_argument("--extra", type=Path, help="a markdown file appended to the card (benchmark figures)")
    p.add_argument("--scores", type=Path, help="a bench's --json output, kept as the card's scores.json (with "
                   "--no-fid: image-to-image models are scored by bench/image_to_image.py)")
    a = p.parse_args(argv)
    out = export_generator(a.run, MODELS / a.name)
    scores = {} if a.no_fid else evaluate_run(out, ["fid", "kid", "pr"], a.fid_n)
    step = json.loads((out / "state.json").read_text())["step"]
    text = card(a.name, a.run, a.command, scores, a.notes, step)
    if a.extra:
        text += "\n" + a.extra.read_text()
    (out / "README.md").write_text(text)
    if scores:
        (out / "scores.json").write_text(json.dumps(scores, indent=2))
    elif a.scores:
        (out / "scores.json").write_text(json.dumps(json.loads(a.scores.read_text()), indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
