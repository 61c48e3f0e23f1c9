"""How the Playground's training scales with the number of browsers (a classroom), runs in processes or on threads.

    python bench/playground_scaling.py                      # 1, 2 and 4 browsers, 20 s each
    python bench/playground_scaling.py --browsers 1 2 4 8 --seconds 30

For each count N, N sessions of the Playground's handlers (as N browsers
would get) open the pretrained ring and press Play; no page is drawn. It
prints the steps per second of all runs together and of the slowest one,
first with each run in a process of its own (the app's default), then with
every run on a thread of one process (GANLAB_PLAY_PROCESSES=0). On threads,
all runs share one Python interpreter lock, so together they cannot use much
more than one core.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from ganlab.ui.playground import PlaygroundHandlers
from ganlab.ui.sessions import Sessions


def measure(n: int, processes: bool, seconds: float) -> tuple:
    h = PlaygroundHandlers(Sessions(tempfile.mkdtemp(prefix="ganlab-scale-"), max_runs=n), processes=processes)
    try:
        keys = [f"browser{i}" for i in range(n)]
        for k in keys:
            h.open(k)
            h.play(k)
        engines = [h.sessions.get(k).play.panels[0].engine for k in keys]
        time.sleep(3)                                         # warm-up
        s0, t0 = [e.status()["step"] for e in engines], time.monotonic()
        time.sleep(seconds)
        dt = time.monotonic() - t0
        rates = [(e.status()["step"] - a) / dt for e, a in zip(engines, s0)]
    finally:
        h.sessions.close_all()
    return sum(rates), min(rates)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--browsers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seconds", type=float, default=20)
    a = p.parse_args()
    print(f"{os.cpu_count()} CPU cores; the ring's best preset, one torch thread per run, {a.seconds:g} s each")
    print(f"{'browsers':>8}  {'processes: all / slowest':>26}  {'threads: all / slowest':>24}")
    for n in a.browsers:
        proc = measure(n, True, a.seconds)
        thr = measure(n, False, a.seconds)
        print(f"{n:>8}  {proc[0]:>13,.0f} / {proc[1]:>4,.0f} steps/s  {thr[0]:>11,.0f} / {thr[1]:>4,.0f} steps/s",
              flush=True)


if __name__ == "__main__":
    main()
