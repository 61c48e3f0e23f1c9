"""How often the 2-D Playground redraws, and how fast it trains with the tab open.

    python bench/playground_refresh.py                 # headless, 30 s in Chromium, headless again
    python bench/playground_refresh.py --seconds 60 --lesson fixes --repeat 3

1. Headless: the playground's best preset on the ring, trained by an Engine
   (its own thread, as in the app) with nothing watching: steps/s.
2. In the browser: `python app.py`, Chromium opens the 2-D Playground (the
   pretrained ring) or loads a lesson, presses Play, and counts in the page how
   often panel 1 is redrawn (its title carries the step) for --seconds.
   Steps/s come from the step in the title at the start and the end.

This virtual machine's speed drifts by 10-20% over minutes, so the headless
rate is measured right before and right after each browser run (half the
time each), and the share is taken against their mean.

``--interleave N`` measures drift-free instead: with the app and the page
open, it alternates N times between the run paused in the page while a
headless run trains in this process (5 s) and the page's run playing (10 s),
and compares the two over the same minutes.

At the end of each browser run it prints the memory of the app and of the
processes under it (the fork server and one process per Playground run):
resident (RSS), proportional (PSS, shared pages split between their users)
and private (what the process alone holds). Linux only. ``--threads`` runs
the Playground on threads of the app (GANLAB_PLAY_PROCESSES=0), as before.
"""
from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ganlab.devtools import chromium, serve_app
from ganlab.engine import Engine
from ganlab.lessons import THREADS, best_preset

COUNT_JS = """() => {
    window.__redraws = 0; window.__last = '';
    window.__timer = setInterval(() => {
        const div = document.querySelector('#play-plane-0 .js-plotly-plot');
        const t = div && div.layout && div.layout.title ? div.layout.title.text : '';
        if (t && t !== window.__last) { window.__redraws++; window.__last = t; }
    }, 20);
}"""
TITLE_JS = """() => window.__last || ''"""


def headless(seconds: float) -> float:
    with tempfile.TemporaryDirectory() as d:
        e = Engine.new(best_preset("ring"), Path(d) / "run", threads=THREADS)      # as the Playground runs it
        e.start()
        time.sleep(3)                                     # warm-up
        s0, t0 = e.status()["step"], time.monotonic()
        time.sleep(seconds)
        rate = (e.status()["step"] - s0) / (time.monotonic() - t0)
        e.stop()
    return rate


@contextmanager
def playground_page(threads: bool = False) -> Iterator[tuple]:
    """(page, app process, work folder): `python app.py` in a temp folder, Chromium on its 2-D Playground tab."""
    work = Path(tempfile.mkdtemp(prefix="ganlab-refresh-"))
    env = {"GANLAB_PLAY_PROCESSES": "0"} if threads else None
    with serve_app(work, env=env) as (url, app), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("tab", name="2-D Playground").click()
        page.wait_for_selector("#play-plane-0 .js-plotly-plot", timeout=60_000)
        yield page, app, work


def interleaved(cycles: int, threads: bool = False) -> tuple:
    """(headless steps/s, steps/s with the tab open, redraws/s), alternating the two ``cycles`` times."""
    with playground_page(threads) as (page, _, _), tempfile.TemporaryDirectory() as d:
        e = Engine.new(best_preset("ring"), Path(d) / "run", threads=THREADS)
        page.evaluate(COUNT_JS)
        alone = [0, 0.0]
        shown = [0, 0.0, 0]
        for i in range(cycles):
            e.start() if i == 0 else e.resume()                    # headless, with the page's run paused
            time.sleep(1)
            s0, t0 = e.status()["step"], time.monotonic()
            time.sleep(5)
            alone[0] += e.status()["step"] - s0
            alone[1] += time.monotonic() - t0
            e.pause()
            page.click("#play-play")                               # the page's run, with the headless one paused
            time.sleep(2)
            s0, r0, t0 = step_of(page.evaluate(TITLE_JS)), page.evaluate("() => window.__redraws"), time.monotonic()
            time.sleep(10)
            shown[0] += step_of(page.evaluate(TITLE_JS)) - s0
            shown[2] += page.evaluate("() => window.__redraws") - r0
            shown[1] += time.monotonic() - t0
            page.click("#play-pause")
            time.sleep(1)
        e.stop()
    return alone[0] / alone[1], shown[0] / shown[1], shown[2] / shown[1]


def _descendants(pid: int) -> list:
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def memory(pid: int) -> str:
    """RSS / PSS / private MB of ``pid`` and each process under it, from /proc/PID/smaps_rollup."""
    parts = []
    for p in [pid] + _descendants(pid):
        try:
            kb = {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in
                  Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:])}
            name = Path(f"/proc/{p}/comm").read_text().strip()
        except (OSError, ValueError):
            continue
        private = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
        parts.append(f"{'app' if p == pid else name} {kb['Rss'] / 1024:.0f}/{kb['Pss'] / 1024:.0f}/"
                     f"{private / 1024:.0f}")
    return "memory RSS/PSS/private MB: " + ", ".join(parts)


def step_of(title: str) -> int:
    m = re.search(r"step ([\d,]+)", title)
    return int(m.group(1).replace(",", "")) if m else -1


def in_browser(seconds: float, lesson: str, threads: bool = False) -> tuple:
    with playground_page(threads) as (page, app, work):
        if lesson:
            page.locator("#play-lesson input").click()
            page.get_by_role("option", name=re.compile(lesson)).click()
            page.click("#play-load")
        else:
            page.click("#play-play")
        page.wait_for_function("() => /Playing|Lesson loaded/.test("
                               "document.querySelector('#play-message').innerText)", timeout=30_000)
        time.sleep(3)                                     # warm-up
        page.evaluate(COUNT_JS)
        time.sleep(0.5)
        s0, t0 = step_of(page.evaluate(TITLE_JS)), time.monotonic()
        time.sleep(seconds)
        redraws = page.evaluate("() => window.__redraws")
        s1, dt = step_of(page.evaluate(TITLE_JS)), time.monotonic() - t0
        mem = memory(app.pid)
        page.screenshot(path=str(work / "playground.png"), full_page=True)
    return redraws / dt, (s1 - s0) / dt, work / "playground.png", mem


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--lesson", default="", help="a lesson title to load instead of playing the ring, e.g. 'Fixing'")
    p.add_argument("--repeat", type=int, default=1, help="browser runs, each between two headless ones")
    p.add_argument("--interleave", type=int, default=0, metavar="N",
                   help="alternate headless and tab-open N times within each browser run (drift-free)")
    p.add_argument("--threads", action="store_true", help="the Playground's runs on threads of the app, "
                   "not in processes of their own (GANLAB_PLAY_PROCESSES=0)")
    a = p.parse_args()
    what = (f"lesson '{a.lesson}'" if a.lesson else "the ring") + (", runs on threads" if a.threads else "")
    shares = []
    if a.interleave:
        for _ in range(a.repeat):
            alone, shown, fps = interleaved(a.interleave, a.threads)
            shares.append(shown / alone)
            print(f"interleaved x{a.interleave} ({what}): headless {alone:,.0f} steps/s, with the tab open "
                  f"{shown:,.0f} steps/s = {100 * shown / alone:.0f}%, {fps:.1f} redraws/s", flush=True)
    after = headless(a.seconds / 2) if not a.interleave else 0.0
    for _ in range(0 if a.interleave else a.repeat):
        before = after
        fps, rate, shot, mem = in_browser(a.seconds, a.lesson, a.threads)
        after = headless(a.seconds / 2)
        base = (before + after) / 2
        shares.append(rate / base)
        print(f"headless {before:,.0f} and {after:,.0f} steps/s; Playground tab open in Chromium ({what}): "
              f"{fps:.1f} redraws/s of panel 1, training {rate:,.0f} steps/s = {100 * rate / base:.0f}% of "
              f"headless; screenshot {shot}\n  {mem}", flush=True)
    if len(shares) > 1:
        print(f"training share with the tab open: {', '.join(f'{100 * x:.0f}%' for x in shares)}; "
              f"median {100 * statistics.median(shares):.0f}%")


if __name__ == "__main__":
    main()
