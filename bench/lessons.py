"""What each Playground lesson really shows: its runs trained side by side, measured.

    python bench/lessons.py                    # every lesson, 30 s of CPU per run
    python bench/lessons.py --lesson saturation --seconds 60

For each run prints, at the end of its time budget: steps, modes covered and
high-quality share (ring), JS divergence, the mean length of G's per-point
gradient (the playground's arrows), D's mean output on real and fake points,
and how much of the plane D's heatmap is saturated (probability losses: below
0.1 or above 0.9), so the sentences in ganlab/lessons.py can be checked against
numbers.
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from ganlab.lessons import LESSONS, THREADS
from ganlab.plane import plane_view
from ganlab.trainer import Trainer, configure_threads
from ganlab.ui.plane_plot import view_stats


def measure(cfg, seconds: float) -> dict:
    t = Trainer(copy.deepcopy(cfg))
    t0, last = time.perf_counter(), {}
    window = []
    while time.perf_counter() - t0 < seconds:
        last = t.step()
        window.append(last)
        window = window[-200:]
    view = plane_view(t, n_eval=2500)
    st = view_stats(view)
    mean = {k: sum(r[k] for r in window) / len(window) for k in ("d_real", "d_fake")}
    saturated = float(((view.heat < 0.1) | (view.heat > 0.9)).mean()) if view.heat_is_probability else float("nan")
    return dict(st, saturated=saturated, **mean)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lesson", nargs="+", default=list(LESSONS), choices=list(LESSONS))
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--threads", type=int, default=THREADS, help="torch threads (default: the Playground's)")
    a = p.parse_args()
    print(f"{a.seconds:g} s of CPU per run, torch threads {configure_threads(a.threads)}")
    torch.manual_seed(0)
    for key in a.lesson:
        lesson = LESSONS[key]
        print(f"\n{lesson.title}")
        for name, cfg in lesson.runs:
            m = measure(cfg, a.seconds)
            modes = f"modes {m['modes']}/{m['of']}, HQ {100 * m['hq']:4.1f}%" if "modes" in m else ""
            print(f"  {name:24s} step {m['step']:6,d}  {modes}  JS {m['js']:.3f}  mean |∇G| {m['grad']:.3g}  "
                  f"D(x) {m['d_real']:.2f}  D(G(z)) {m['d_fake']:.2f}  D saturated on "
                  f"{100 * m['saturated']:.0f}% of the plane", flush=True)


if __name__ == "__main__":
    main()
