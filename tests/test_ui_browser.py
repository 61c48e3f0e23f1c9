"""A real browser drives `python app.py`: Start, watch curves and samples move, Pause, Step, Resume, Stop.

Chromium is Debian's (/usr/bin/chromium); the test skips when it is missing.
Curves and samples are compared through the plotly divs' trace data, read
with ``document.querySelector('#ID .js-plotly-plot').data``: robust to
fonts and rendering, and exact about what the user sees.

GANLAB_SCREENSHOT=1 also refreshes docs/train_tab.png (the README's picture).
"""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_url(tmp_path):
    """`python app.py` started in tmp_path on a free port, so its runs/ lands there; one torch thread."""
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GANLAB_RUNS="runs", GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT))
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"app.py exited:\n{(tmp_path / 'app.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("app.py did not start within 30 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def page(app_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.wait_for_selector("#train-start")
        yield page
        browser.close()


def _status(page):
    """(state, step) from the status line."""
    text = page.inner_text("#train-status")
    m = re.search(r"([A-Z]+) · step ([\d,]+) / ([\d,]+)", text)
    return (m.group(1), int(m.group(2).replace(",", ""))) if m else (None, -1)


def _trace(page, elem_id, name):
    """The x and y of the trace called ``name`` in the plotly plot inside #elem_id (None if absent)."""
    return page.evaluate("""([id, name]) => {
        const div = document.querySelector('#' + id + ' .js-plotly-plot');
        if (!div || !div.data) return null;
        const t = div.data.find(t => t.name === name);
        // plotly.py sends numpy arrays as {dtype, bdata: base64}; lists arrive as plain arrays
        const types = {f4: Float32Array, f8: Float64Array, i4: Int32Array, i8: BigInt64Array};
        const arr = v => {
            if (!v || !v.bdata) return Array.from(v || []);
            const bytes = Uint8Array.from(atob(v.bdata), c => c.charCodeAt(0));
            return Array.from(new types[v.dtype](bytes.buffer), Number);
        };
        return t ? [arr(t.x), arr(t.y)] : null;
    }""", [elem_id, name])


def _until(pred, timeout=15.0, every=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(every)
    return None


def test_train_tab_start_pause_step_resume_stop(page, tmp_path):
    page.click("#train-start")                                     # ring + mlp + ns, the defaults
    assert _until(lambda: _status(page)[0] == "RUNNING"), page.inner_text("#train-message")
    assert _until(lambda: (_trace(page, "train-curves", "D loss") or [[]])[0]), "no loss curve appeared"
    assert _until(lambda: (_trace(page, "train-points", "G(z)") or [[]])[0]), "no sample scatter appeared"
    curve1, points1 = _trace(page, "train-curves", "D loss"), _trace(page, "train-points", "G(z)")
    assert _until(lambda: _trace(page, "train-curves", "D loss") != curve1
                  and _trace(page, "train-points", "G(z)") != points1, timeout=10), "plots did not update"
    assert len(_trace(page, "train-points", "real data")[0]) == 400    # grey real points under the samples
    shot = ROOT / "docs" / "train_tab.png" if os.environ.get("GANLAB_SCREENSHOT") else tmp_path / "train.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)

    page.click("#train-pause")
    assert _until(lambda: _status(page)[0] == "PAUSED")
    time.sleep(1.5)                                                # one more poll delivers rows logged before the pause
    paused_at = _status(page)[1]
    curve = _trace(page, "train-curves", "D loss")
    time.sleep(3)
    assert _status(page) == ("PAUSED", paused_at)                  # paused: nothing moves
    assert _trace(page, "train-curves", "D loss") == curve

    page.click("#train-step")                                      # exactly one iteration
    assert _until(lambda: _status(page)[1] == paused_at + 1), _status(page)
    assert _until(lambda: f"Step {paused_at + 1:,}:" in page.inner_text("#train-message"))
    time.sleep(1.5)
    assert _status(page) == ("PAUSED", paused_at + 1)

    page.click("#train-resume")
    assert _until(lambda: _status(page)[1] > paused_at + 1 and _status(page)[0] == "RUNNING")
    assert _until(lambda: _trace(page, "train-curves", "D loss") != curve, timeout=10)

    page.click("#train-stop")
    assert _until(lambda: _status(page)[0] == "STOPPED")
    assert "checkpoint" in page.inner_text("#train-message")
    runs = list((tmp_path / "runs" / "ui").glob("*-ring-*"))
    assert len(runs) == 1 and list((runs[0] / "checkpoints").glob("step_*"))
