"""The app's memory while a browser trains a GAN through it, read from /proc.

    python bench/app_memory.py                              # Fashion-MNIST DCGAN, 10 minutes
    python bench/app_memory.py --dataset ring --minutes 2
    python bench/app_memory.py --browsers 4 --minutes 3     # a small classroom

Starts `python app.py` in a temp folder, drives it with Debian's Chromium
(as tests/test_ui_browser.py does), presses Start in each browser tab with the
Train tab's defaults for the dataset, and prints the app's resident memory
(VmRSS) and the first run's status every 30 s, then saves a screenshot.
Linux only (reads /proc/PID/status).
"""
from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from ganlab.devtools import chromium, serve_app, train_page


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--browsers", type=int, default=1)
    p.add_argument("--screenshot", default="app_memory.png")
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ganlab-mem-"))
    with serve_app(work) as (url, app), chromium() as browser:
        print(f"app up, pid {app.pid}, RSS {rss_mb(app.pid):.0f} MB; runs in {work}/runs", flush=True)
        pages = [train_page(browser, url, a.dataset, steps=1_000_000) for _ in range(a.browsers)]
        t0, peak = time.monotonic(), 0.0
        while True:
            el = time.monotonic() - t0
            status = pages[0].inner_text("#train-status").replace("\n", " ")
            mb = rss_mb(app.pid)
            peak = max(peak, mb)
            print(f"{el / 60:5.1f} min  RSS {mb:7.0f} MB  {status[:150]}", flush=True)
            if el >= a.minutes * 60:
                break
            time.sleep(min(30, a.minutes * 60 - el + 0.1))
        pages[0].screenshot(path=a.screenshot, full_page=True)
        print(f"after {a.minutes:g} min with {a.browsers} browser(s): RSS {rss_mb(app.pid):.0f} MB, "
              f"peak {peak:.0f} MB; screenshot {a.screenshot}")
        steps = [re.search(r"step ([\d,]+)", p.inner_text("#train-status")) for p in pages]
        print("steps:", [m.group(1) if m else "?" for m in steps])


if __name__ == "__main__":
    main()
