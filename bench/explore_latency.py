"""How fast the Explore tab answers a slider: in the handler, and end to end through gradio_client.

    python bench/explore_latency.py                     # every shipped image model, 200 slider moves each
    python bench/explore_latency.py --n 100 --no-e2e

1. Handler: ExploreHandlers.render for a slider walking A -> B (the work the
   server does per move: noise, interpolation, G, PNG-ready picture), p50/p95.
2. End to end: `python app.py` in the background, gradio_client calling the
   slider's endpoint (/explore_render) for the default model, p50/p95 of the
   round trip including Gradio's queue and the PNG encoding.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ganlab.trainer import configure_threads
from ganlab.ui.explore import ExploreHandlers, shipped_models
from ganlab.ui.explore_tab import VIEW_KEYS
from ganlab.ui.sessions import Sessions


def view(t: float, ex) -> dict:
    v = dict(seed_a=1, seed_b=2, mode="slerp", t=t, psi=1.0, frames=8, dim=0, dim_amount=0.0,
             class_a=ex.class_names[0] if ex.conditional else None, class_b=None, blend=0.0,
             directions=[0.0] * 5)
    return v


def pct(xs, q):
    return float(np.percentile(xs, q))


def handler(n: int) -> None:
    h = ExploreHandlers(Sessions(tempfile.mkdtemp()))
    for path in shipped_models():
        h.select(str(path), "bench")
        ex = h.explorer("bench")
        h.render(view(0.0, ex), "bench")                       # warm-up
        ms = []
        for i in range(n):
            t0 = time.perf_counter()
            h.render(view(i / n, ex), "bench")
            ms.append(1000 * (time.perf_counter() - t0))
        print(f"handler  {path.name:28s} {ex.G.z_dim:3d}-d z, {tuple(ex.render(ex.z(0)).shape[1:])}: "
              f"p50 {pct(ms, 50):5.1f} ms  p95 {pct(ms, 95):5.1f} ms  (n={n})", flush=True)


def end_to_end(n: int) -> None:
    from gradio_client import Client

    from ganlab.devtools import serve_app
    work = Path(tempfile.mkdtemp(prefix="ganlab-latency-"))
    with serve_app(work) as (url, _):
        client = Client(url, verbose=False)
        default = ExploreHandlers(Sessions(work)).default_model()
        ms = []
        for i in range(n + 3):
            values = dict(seed_a=1, seed_b=2, mode="slerp", t=i / (n + 3), psi=1.0, frames=8, dim=0, dim_amount=0,
                          class_a=None, class_b=None, blend=0.0, **{f"pc{k}": 0 for k in range(5)})
            t0 = time.perf_counter()
            client.predict(*[values[k] for k in VIEW_KEYS], api_name="/explore_render")
            if i >= 3:                                         # the first calls warm up the server
                ms.append(1000 * (time.perf_counter() - t0))
        print(f"end to end (gradio_client, {Path(default).name}): p50 {pct(ms, 50):5.1f} ms  "
              f"p95 {pct(ms, 95):5.1f} ms  mean {statistics.mean(ms):.1f} ms  (n={n})")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--no-e2e", action="store_true")
    p.add_argument("--threads", type=int)
    a = p.parse_args()
    print(f"torch threads {configure_threads(a.threads)}")
    handler(a.n)
    if not a.no_e2e:
        end_to_end(a.n)


if __name__ == "__main__":
    main()
