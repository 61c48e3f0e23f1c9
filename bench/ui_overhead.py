"""What watching costs: training images/s headless against images/s with the Train tab open and streaming.

    python bench/ui_overhead.py                           # Fashion-MNIST DCGAN, 3 rounds of 40 s each way
    python bench/ui_overhead.py --data mnist --rounds 2 --seconds 30 --json ui.json

One ``python app.py`` serves throughout (as `make run` does). Turns alternate:

* **attached**: a headless Chromium opens the app, picks the dataset, presses Start and
  stays on the Train tab, which streams the loss curves and the sample grid; the run
  trains in the server's training process, as every browser's run does;
* **headless**: no page is open; the same config (read from the attached run's
  config.json) trains in a process of its own through the headless Engine, at the same
  niceness as the server's training processes.

A turn's rate is the steps its run's metrics.jsonl rows gained after a warm-up, times the
batch, over the rows' wall-clock span. The overhead is 1 - attached / headless.

On a machine with few cores most of the overhead is the browser's own CPU time: the training
threads wait at every op for the one Chromium preempted. ``--pin`` separates that from what
streaming costs the run: training (both sides, one thread per CPU) keeps to the last CPU (the
app's ``--train-cpus``), while the server, Chromium and this script share the others, as when
the browser runs on the student's own machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]


def rate_of(metrics: Path, warmup: float) -> Optional[float]:
    """Images/s from a run's metrics rows, leaving out the rows of the first ``warmup`` seconds."""
    if not metrics.exists():
        return None
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "loss_d" in r and "time" in r]
    if len(rows) < 3:
        return None
    start = rows[0]["time"] + warmup
    kept = [r for r in rows if r["time"] >= start]
    if len(kept) < 2:
        return None
    images = sum(r["images"] for r in kept[1:])       # the rows after the first kept one
    return images / (kept[-1]["time"] - kept[0]["time"])


def cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by the processes ``pids`` (Linux /proc; 0 where unreadable)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def chromium_pids() -> List[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"chromium" in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def newest_run(root: Path, since: float) -> Optional[Path]:
    runs = [p.parent for p in root.rglob("config.json") if p.stat().st_mtime >= since and
            (p.parent / "metrics.jsonl").exists()]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def attached_turn(browser, url: str, runs: Path, data: str, seconds: float, warmup: float, server: int) -> Dict:
    """A Train-tab run with the page open; also the CPU seconds the server process and Chromium used meanwhile
    (where the overhead goes: on a real deployment the browser runs on the student's machine)."""
    from ganlab.devtools import train_page, wait_until
    t0 = time.time()
    page = train_page(browser, url, data, steps=10**6)
    try:
        page.wait_for_selector("#train-curves", timeout=60_000)
        found = wait_until(lambda: newest_run(runs, t0) is not None, timeout=60)
        if not found:
            raise RuntimeError("the Train tab's run never appeared under " + str(runs))
        time.sleep(warmup)
        before = cpu_seconds([server]), cpu_seconds(chromium_pids()), time.time()
        time.sleep(seconds)
        after = cpu_seconds([server]), cpu_seconds(chromium_pids()), time.time()
        run = newest_run(runs, t0)
        shown = page.locator("#train-grid img").count() + page.locator("#train-points").count()
    finally:
        page.close()                                  # unload: the browser's run stops
    span = after[2] - before[2]
    return {"turn": "attached", "run": str(run), "images_per_s": rate_of(run / "metrics.jsonl", warmup),
            "page_showed_samples": shown > 0, "server_cpu_share": (after[0] - before[0]) / span,
            "chromium_cpu_share": (after[1] - before[1]) / span}


def headless_turn(config: Path, folder: Path, seconds: float, warmup: float, nice: int, cpus: str = "") -> Dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(config), str(folder), str(seconds + warmup),
                             str(nice), cpus], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    proc.wait(timeout=seconds + warmup + 300)
    return {"turn": "headless", "run": str(folder), "images_per_s": rate_of(folder / "metrics.jsonl", warmup)}


def child(config: str, folder: str, seconds: str, nice: str, cpus: str = "") -> None:
    """The headless side: the config through the Engine, in this process, for ``seconds`` of training
    (on ``cpus``, "1,3", with a thread each, as the app's --train-cpus runs do; "" = every CPU)."""
    from ganlab.config import RunConfig
    from ganlab.engine import Engine
    os.nice(int(nice))
    pinned = [int(c) for c in cpus.split(",") if c]
    if pinned:
        os.sched_setaffinity(0, pinned)
    cfg = RunConfig.from_dict(json.loads(Path(config).read_text()))
    e = Engine.new(cfg, folder, threads=len(pinned) or None)
    e.start()
    end = time.time() + float(seconds)
    while time.time() < end and e.status()["state"] == "running":
        time.sleep(0.5)
    e.stop()


def main(argv: Optional[List[str]] = None) -> Dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="fashion-mnist", help="the dataset picked in the Train tab")
    p.add_argument("--rounds", type=int, default=3, help="turns each way")
    p.add_argument("--seconds", type=float, default=40.0, help="measured seconds per turn")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds of each turn left out")
    p.add_argument("--nice", type=int, default=19, help="niceness of the training processes on both sides "
                   "(the app's --train-nice; its default is 19, so pages stay quick)")
    p.add_argument("--pin", action="store_true", help="training on the last CPU, the server and Chromium on the "
                   "others: what streaming costs, without the browser's share of the cores")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    from ganlab.devtools import chromium, serve_app
    env, train_cpus = {"GANLAB_TRAIN_NICE": str(a.nice)}, ""
    if a.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            p.error("--pin needs at least 2 CPUs")
        train_cpus = str(cpus[-1])
        os.sched_setaffinity(0, cpus[:-1])            # the server and Chromium, started from here, inherit it
        env["GANLAB_TRAIN_CPUS"] = train_cpus
    turns: List[Dict] = []
    with tempfile.TemporaryDirectory(prefix="ganlab-ui-overhead-") as tmp:
        work = Path(tmp)
        with serve_app(work, env=env) as (url, proc), chromium() as browser:
            config = None
            for r in range(a.rounds):
                order = ["attached", "headless"] if r % 2 == 0 else ["headless", "attached"]
                for kind in order:                   # round 0 starts attached: its run gives the config
                    if kind == "attached":
                        turns.append(attached_turn(browser, url, work / "runs", a.data, a.seconds, a.warmup, proc.pid))
                        config = config or Path(turns[-1]["run"]) / "config.json"
                    else:
                        turns.append(headless_turn(config, work / f"headless-{r}", a.seconds, a.warmup, nice=a.nice,
                                                   cpus=train_cpus))
                    print(json.dumps({k: v for k, v in turns[-1].items() if k != "run"}), flush=True)
    return summarise(turns, a)


def summarise(turns: List[Dict], a) -> Dict:
    def mean(kind):
        xs = [t["images_per_s"] for t in turns if t["turn"] == kind and t["images_per_s"]]
        return sum(xs) / len(xs) if xs else None
    att, head = mean("attached"), mean("headless")
    out = {"data": a.data, "seconds": a.seconds, "nice": a.nice, "pinned": a.pin,
           "turns": turns, "attached_images_per_s": att,
           "headless_images_per_s": head}
    for key in ("server_cpu_share", "chromium_cpu_share"):
        xs = [t[key] for t in turns if key in t]
        out[key] = sum(xs) / len(xs) if xs else None
    if att and head:
        out["ratio"] = att / head
        out["overhead"] = 1 - att / head
        print(f"headless {head:.1f} img/s, Train tab attached {att:.1f} img/s: ratio {att / head:.3f} "
              f"(overhead {100 * (1 - att / head):.1f}%); while attached the server process used "
              f"{out['server_cpu_share']:.2f} cores and Chromium {out['chromium_cpu_share']:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        main()
