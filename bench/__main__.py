"""The speed harness in one command: ``make bench`` or ``python -m bench``; a JSON summary at the end.

    python -m bench                          # all four, their default budgets (about 75 min on 2 CPU cores)
    python -m bench --quick                  # short turns and small n (about 15 min): a smoke test of the figures
    python -m bench --only throughput,latency --json bench-results.json

1. throughput   bench/train_throughput.py: ganlab against pytorch/examples' DCGAN loop, 28 and 64 px,
                CPU (and CUDA when present), fp32 and bf16; model FLOPs utilisation on a GPU
2. latency      bench/latency.py: Explore slider and Text prompt, handler / end to end / in the page
3. ui           bench/ui_overhead.py: images/s with the Train tab attached against headless
4. quality      bench/quality_clock.py: FID and KID against CPU minutes (1, 2, 5), the reference loop, the previous
                default and the Train tab's recipe, with a table and a plot (quality-clock.png)

Each part is also a script of its own with more options (``python bench/<part>.py --help``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
PARTS = ("throughput", "latency", "ui", "quality")


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def args_for(part: str, quick: bool) -> list:
    if part == "throughput":
        return ["--rounds", "2", "--seconds", "4", "--warmup", "2"] if quick else []
    if part == "latency":
        return ["--n", "20"] if quick else []
    if part == "ui":
        return ["--rounds", "1", "--seconds", "20", "--warmup", "8"] if quick else []
    return (["--marks", "0.5,1", "--n", "500"] if quick else []) + ["--plot", "quality-clock.png"]


def run_part(part: str, quick: bool) -> dict:
    a = args_for(part, quick)
    if part == "throughput":
        mod = load("train_throughput")
        return {"fp32": mod.main(a + ["--precision", "fp32"]), "bf16": mod.main(a + ["--precision", "bf16"])}
    if part == "latency":
        return load("latency").main(a)
    if part == "ui":
        return load("ui_overhead").main(a)
    return load("quality_clock").main(a)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    p.add_argument("--quick", action="store_true", help="short turns and small n")
    p.add_argument("--json", default="bench-results.json", help="the summary (default bench-results.json)")
    a = p.parse_args(argv)
    parts = [x.strip() for x in a.only.split(",") if x.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        p.error(f"unknown part(s) {unknown}; choose from {', '.join(PARTS)}")
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.processor() or platform.machine(),
               "python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.cuda.is_available(),
               "quick": a.quick}
    for part in parts:
        print(f"\n=== {part} ===", flush=True)
        t0 = time.perf_counter()
        summary[part] = run_part(part, a.quick)
        summary[part + "_seconds"] = round(time.perf_counter() - t0, 1)
        Path(a.json).write_text(json.dumps(summary, indent=2, default=str))    # after every part: nothing lost
    print(f"\nsummary: {a.json}")
    return summary


if __name__ == "__main__":
    main()
