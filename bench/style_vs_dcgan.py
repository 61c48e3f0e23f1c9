"""DCGAN against StyleGAN on colour emoji at equal CPU time: FID against the held-out emoji over time.

    python bench/style_vs_dcgan.py                          # 20 CPU-minutes each, 4 evaluations, 64 px
    python bench/style_vs_dcgan.py --minutes 2 --evals 2 --out runs/style-vs-dcgan-smoke

The two families train interleaved in one process (DCGAN for a slice, then StyleGAN for a slice, ...),
each from its preset (``emoji-dcgan``, ``emoji-stylegan``) with the same torch threads, so both get the same
CPU time (``time.process_time``, summed over threads) and the same machine load. After every slice each
G's EMA is scored: FID and KID of ``--n`` samples against the held-out tenth of emoji code points (never
trained on), with the FID Inception network. Evaluation time is not counted as training time.

Each family's run is written to ``--out/<family>`` (config.json, metrics.jsonl, a checkpoint and a sample
grid per evaluation), so ``python -m ganlab.ship`` or Explore can open it; ``--out/scores.json`` holds the
table printed at the end. Emoji FID is not comparable with any paper's: a different set and only a few
hundred reference images.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ganlab.checkpoint import save_checkpoint
from ganlab.metrics.evaluate import _scores
from ganlab.metrics.inception import InceptionFeatures
from ganlab.metrics.reference import generated_features, reference_features
from ganlab.presets import preset
from ganlab.trainer import configure_threads, make_trainer
from ganlab.viz import samples_image

FAMILIES = {"dcgan": "emoji-dcgan", "stylegan": "emoji-stylegan"}


def _train_for(trainer, seconds: float, rows: list) -> float:
    """Train until ``seconds`` more CPU time is spent; returns the CPU time really used."""
    start = time.process_time()
    acc, k = {}, 0
    while time.process_time() - start < seconds:
        m = trainer.step()
        for key, v in m.items():
            if isinstance(v, (int, float)):
                acc[key] = acc.get(key, 0.0) + float(v)
        k += 1
        if k == trainer.cfg.train.log_every:             # one row as the engine writes it: means, but the
            row = {key: v / k for key, v in acc.items()}  # window's images and seconds summed
            row.update(step=trainer.step_count, images=acc["images"], seconds=acc["seconds"])
            rows.append(row)
            acc, k = {}, 0
    return time.process_time() - start


def _score(trainer, net, real, n: int) -> dict:
    G = trainer.G_ema if trainer.G_ema is not None else trainer.G
    fake = generated_features(G, n, net, seed=0, progress=False)
    return _scores(real, fake, ["fid", "kid"])


def _write(run: Path, trainer, rows: list) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(trainer.cfg.to_json())
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    save_checkpoint(trainer, run / "checkpoints" / f"step_{trainer.step_count:06d}")
    (run / "samples").mkdir(exist_ok=True)
    samples_image(trainer.sample(), nrow=8).save(run / "samples" / f"step_{trainer.step_count:06d}.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=20.0, help="CPU minutes of training per family")
    p.add_argument("--evals", type=int, default=4, help="evaluations per family, evenly spaced in CPU time")
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--data", default="emoji")
    p.add_argument("--n", type=int, default=1000, help="generated images per FID (the reference: all held-out)")
    p.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    p.add_argument("--out", type=Path, default=Path("runs/style-vs-dcgan"))
    a = p.parse_args()
    threads = configure_threads(a.threads)
    trainers, rows = {}, {}
    for fam, name in FAMILIES.items():
        cfg = preset(name)
        cfg.data.name, cfg.data.resolution, cfg.train.device = a.data, a.resolution, "cpu"
        trainers[fam], rows[fam] = make_trainer(cfg), []
    net = InceptionFeatures.load("cpu")
    real, note = reference_features(trainers["stylegan"].cfg.data, "test", 10_000, net, progress=False)
    print(f"{a.data} at {a.resolution} px, {threads} torch threads; reference: {note} ({len(real)} images); "
          f"{a.n} generated images per score", flush=True)
    print(f"{'CPU min':>8} | {'dcgan step':>10} {'FID':>7} {'KID':>7} | {'stylegan step':>13} {'FID':>7} {'KID':>7}")
    table, spent = [], {fam: 0.0 for fam in FAMILIES}
    for i in range(a.evals):
        row = {"cpu_minutes": round(a.minutes * (i + 1) / a.evals, 2)}
        for fam, tr in trainers.items():
            spent[fam] += _train_for(tr, a.minutes * 60 / a.evals, rows[fam])
            s = _score(tr, net, real, a.n)
            row[fam] = {"step": tr.step_count, "cpu_s": round(spent[fam], 1), **{k: round(v, 4) for k, v in s.items()}}
            _write(a.out / fam, tr, rows[fam])
        table.append(row)
        d, s = row["dcgan"], row["stylegan"]
        print(f"{row['cpu_minutes']:8.1f} | {d['step']:10,d} {d['fid']:7.1f} {d['kid']:7.4f} | "
              f"{s['step']:13,d} {s['fid']:7.1f} {s['kid']:7.4f}", flush=True)
    last = table[-1]
    winner = min(FAMILIES, key=lambda f: last[f]["fid"])
    print(f"\nAt {last['cpu_minutes']:g} CPU minutes each: {winner} has the lower FID "
          f"({last['dcgan']['fid']:.1f} dcgan, {last['stylegan']['fid']:.1f} stylegan).")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "scores.json").write_text(json.dumps({"data": a.data, "resolution": a.resolution, "threads": threads,
                                                   "n_fake": a.n, "n_real": len(real), "reference": note,
                                                   "table": table, "command": " ".join(__import__("sys").argv)},
                                                  indent=2))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
