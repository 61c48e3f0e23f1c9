"""Helpers for the browser tests and benchmarks: serve app.py on a free port, drive Chromium.

    with serve_app(workdir) as (url, proc):      # `python app.py` in workdir, runs under workdir/runs
        with chromium() as browser:              # Debian's /usr/bin/chromium through Playwright
            page = browser.new_page(); page.goto(url)
            page = train_page(browser, url, "fashion-mnist", steps=10**6)   # a page training that set
    wait_until(lambda: engine.state == "finished", timeout=20)   # polls a condition; None on timeout
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class AppFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(workdir: Path, env: Optional[Dict[str, str]] = None,
              timeout: float = 60.0) -> Iterator[Tuple[str, subprocess.Popen]]:
    """Start ``python app.py`` in ``workdir``; yields its URL and process, stops it afterwards."""
    workdir = Path(workdir)
    port = free_port()
    full = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GANLAB_RUNS="runs",
                GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT), **(env or {}))
    log_path = workdir / "app.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=workdir, env=full, stdout=log,
                                stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            end = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise AppFailed(f"app.py exited:\n{log_path.read_text()[-3000:]}")
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    if time.monotonic() > end:
                        raise AppFailed(f"app.py did not answer within {timeout:g} s") from None
                    time.sleep(0.25)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until(pred, timeout: float = 20.0, every: float = 0.05):
    """Poll ``pred()`` until it returns something true, and return that; None once ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(every)
    return None


def train_page(browser, url: str, dataset: str, steps: int):
    """A new page of the app that picks ``dataset`` (the tab then suggests its model) and presses Start."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.wait_for_selector("#train-start")
    page.click("#train-dataset input")
    page.fill("#train-dataset input", dataset)
    page.keyboard.press("Enter")
    time.sleep(1.0)                                    # the dataset's defaults arrive
    page.fill("#train-steps input", str(steps))
    page.click("#train-start")
    return page


def explore_page(browser, url: str, model: str, block: Optional[str] = None):
    """A new page of the app on the Explore tab, with the shipped ``model`` opened (the Open button pressed;
    the caller waits for what it needs). ``block``: a URL glob whose requests fail."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    if block:
        page.route(block, lambda route: route.abort())
    page.goto(url)
    page.wait_for_selector("#train-start")
    page.get_by_role("tab", name="Explore").click()
    page.locator("#explore-model input").click()
    page.get_by_role("option", name=f"shipped: {model}").click()
    page.click("#explore-open")
    return page


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Debian's), through Playwright's sync API."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
