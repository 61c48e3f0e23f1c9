"""How fast the app answers a hand: Explore's sliders and Text -> Image's prompts, p50 and p95.

    python bench/latency.py                          # everything, 50 samples each
    python bench/latency.py --n 100 --no-e2e --no-browser --json latency.json

1. Handler: ExploreHandlers.render for a slider walking A -> B on every shipped
   Explore model (noise, interpolation, G, the picture), and
   TextHandlers.generate for a prompt (the gallery of 8), in this process.
2. End to end: `python app.py` in the background and gradio_client calling the
   slider's endpoint (/explore_render, the default model) and the prompt's
   (/text_go): Gradio's queue, PNG encoding and the round trip included.
3. In the browser: headless Chromium on the real page, the A -> B slider moved
   by the keyboard one step at a time, per shipped Explore model; the page's
   own clock (window.ganlabRenderTimes, static/explore.js) from the input event
   to the new pixels on the canvas. Models the page cannot render itself are
   drawn by the server and show as "server" in the table.

``main(argv)`` returns the summary it prints (and writes with --json).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:                          # python bench/latency.py from anywhere
    sys.path.insert(0, str(ROOT))

from ganlab.trainer import configure_threads  # noqa: E402
from ganlab.ui.explore import ExploreHandlers, shipped_models  # noqa: E402
from ganlab.ui.explore_tab import VIEW_KEYS  # noqa: E402
from ganlab.ui.sessions import Sessions  # noqa: E402

PROMPTS = ["a sneaker", "a red circle", "the digit 7", "a bag", "a blue triangle", "an ankle boot"]
TARGET_MS = 50.0                                       # issue 22: slider to pixels, p95, in the browser


def stats(ms: Sequence[float]) -> Dict[str, float]:
    return {"p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1),
            "n": len(ms)}


def timed(fn, n: int, warm: int = 2) -> Dict[str, float]:
    """p50/p95 in ms of ``fn(i)`` for i in range(n), after ``warm`` untimed calls."""
    for i in range(warm):
        fn(i)
    ms = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        ms.append(1000 * (time.perf_counter() - t0))
    return stats(ms)


def view(t: float, ex=None) -> dict:
    return dict(seed_a=1, seed_b=2, mode="slerp", t=t, psi=1.0, frames=8, dim=0, dim_amount=0.0,
                class_a=ex.class_names[0] if ex is not None and ex.conditional else None, class_b=None, blend=0.0,
                directions=[0.0] * 5)


# ---- 1. in the handlers ---------------------------------------------------------------------------------
def explore_handler(n: int) -> Dict[str, Dict]:
    h = ExploreHandlers(Sessions(tempfile.mkdtemp(prefix="ganlab-latency-")))
    out = {}
    for path in shipped_models():
        h.select(str(path), "bench")
        ex = h.explorer("bench")
        out[path.name] = timed(lambda i, ex=ex: h.render(view(i / max(1, n), ex), "bench"), n)
    return out


def text_handler(n: int) -> Optional[Dict]:
    from ganlab.ui.text import PRIORS, TextHandlers
    h = TextHandlers(Sessions(tempfile.mkdtemp(prefix="ganlab-latency-")))
    try:
        _ = h.generator("bench").prior                 # the default model and its prior (encodes the captions)
    except Exception as e:                             # no shipped text model
        print(f"text handler: skipped ({e})", file=sys.stderr)
        return None
    return timed(lambda i: h.generate(PROMPTS[i % len(PROMPTS)], 8, 0.7, i, "bench", PRIORS["image"]), n)


# ---- 2. through gradio_client ----------------------------------------------------------------------------
def end_to_end(url: str, n: int) -> Dict[str, Dict]:
    from gradio_client import Client

    from ganlab.ui.text import PRIORS
    client = Client(url, verbose=False)

    def slide(i):
        values = dict(seed_a=1, seed_b=2, mode="slerp", t=(i % 100) / 100, psi=1.0, frames=8, dim=0, dim_amount=0,
                      class_a=None, class_b=None, blend=0.0, space="W", dir_layers="all", noise="fixed",
                      noise_layers=[], noise_seed=0, own=False, mix_rows="1,2,3", mix_cols="10,11,12,13",
                      mix_layers=[], **{f"pc{k}": 0 for k in range(5)})
        client.predict(*[values[k] for k in VIEW_KEYS], api_name="/explore_render")

    def prompt(i):
        client.predict(PROMPTS[i % len(PROMPTS)], 8, 0.7, i, PRIORS["image"], api_name="/text_go")
    return {"explore": timed(slide, n, warm=3), "text": timed(prompt, n, warm=2)}


# ---- 3. in the browser -----------------------------------------------------------------------------------
def in_browser(url: str, n: int, models: List[str]) -> Dict[str, Dict]:
    from ganlab.devtools import chromium, explore_page
    out = {}
    with chromium() as browser:
        for name in models:
            page = explore_page(browser, url, name)
            ref = f"models/{name}"
            try:                                     # the page has taken this model over, or said why not
                page.wait_for_function(
                    "(m) => { const c = document.querySelector('#explore-info code');"
                    " const note = document.querySelector('#explore-render-note').innerText;"
                    " return c && c.textContent === m && (/on the server \\(/.test(note) ||"
                    " (window.ganlabExplore.state.model || {}).where === m); }", arg=ref, timeout=120_000)
            except Exception as e:
                out[name] = {"path": "failed", "error": str(e).splitlines()[0]}
                page.close()
                continue
            path = page.evaluate("window.ganlabRenderPath")
            slider = page.locator("#explore-t input[type=range]")
            slider.focus()
            start = page.evaluate("window.ganlabRenderTimes.length")
            for i in range(n + 3):                   # one step a frame, there and back: a slow, steady hand
                page.keyboard.press("ArrowRight" if (i // 40) % 2 == 0 else "ArrowLeft")
                if path == "browser":
                    page.wait_for_function("(k) => window.ganlabRenderTimes.length > k", arg=start + i,
                                           timeout=10_000)
                page.wait_for_timeout(30)
            times = page.evaluate("(k) => window.ganlabRenderTimes.slice(k)", start + 3)
            out[name] = {"path": path, **(stats(times) if times else {})}
            page.close()
    return out


def served(n: int, e2e: bool, browser: bool) -> Dict:
    from ganlab.devtools import serve_app
    work = Path(tempfile.mkdtemp(prefix="ganlab-latency-"))
    out: Dict = {}
    with serve_app(work, env={"OMP_NUM_THREADS": "1"}, timeout=120) as (url, _):
        if e2e:
            out["e2e"] = end_to_end(url, n)
        if browser:
            out["browser"] = in_browser(url, n, [p.name for p in shipped_models()])
    return out


# ---- the table ---------------------------------------------------------------------------------------------
def table(summary: Dict) -> str:
    rows = [("what", "where", "p50 ms", "p95 ms", "n")]
    for model, s in summary["explore"]["handler"].items():
        rows.append((f"Explore slider · {model}", "handler", s["p50"], s["p95"], s["n"]))
    if summary["text"]["handler"]:
        s = summary["text"]["handler"]
        rows.append(("Text → Image prompt (8 images)", "handler", s["p50"], s["p95"], s["n"]))
    e2e = summary.get("e2e")
    if e2e:
        rows.append(("Explore slider · default model", "end to end", e2e["explore"]["p50"], e2e["explore"]["p95"],
                     e2e["explore"]["n"]))
        rows.append(("Text → Image prompt (8 images)", "end to end", e2e["text"]["p50"], e2e["text"]["p95"],
                     e2e["text"]["n"]))
    for model, s in (summary.get("browser") or {}).items():
        where = "in the browser" if s.get("path") == "browser" else f"browser, via {s.get('path')}"
        rows.append((f"Explore slider · {model}", where, s.get("p50", "-"), s.get("p95", "-"), s.get("n", 0)))
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50, help="samples per figure (default 50)")
    p.add_argument("--no-e2e", action="store_true", help="skip the gradio_client round trips")
    p.add_argument("--no-browser", action="store_true", help="skip headless Chromium")
    p.add_argument("--threads", type=int, help="torch threads of this process (default: torch's)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the summary here")
    a = p.parse_args(argv)
    summary: Dict = {"torch_threads": configure_threads(a.threads), "n": a.n, "target_browser_p95_ms": TARGET_MS,
                     "explore": {"handler": explore_handler(a.n)}, "text": {"handler": text_handler(a.n)}}
    if not (a.no_e2e and a.no_browser):
        summary.update(served(a.n, not a.no_e2e, not a.no_browser))
    print(table(summary))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
