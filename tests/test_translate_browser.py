"""A real browser on the Image → Image tab: a stroke on a pix2pix model's sketchpad gives a picture, and an upload
to a 4x super-resolution model gives a download four times its size.

The models are two-step runs made here (tests/test_translate_ui.py's tiny_run) in the app's runs folder, so
the tab lists them as this browser's runs. Chromium is Debian's; the test skips when it is missing.
GANLAB_SCREENSHOT=1 also writes docs/translate.png.
"""
import io
import os
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from ganlab.devtools import CHROMIUM, ROOT, AppFailed, chromium, serve_app, wait_until

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
NATURAL = "(id) => { const i = document.querySelector('#' + id + ' img'); return i ? i.naturalWidth : 0; }"


@pytest.fixture
def app_url(tmp_path):
    """`python app.py` in tmp_path, with a pix2pix run and a 4x srgan run (8 -> 32 px) in its runs folder."""
    from test_translate_ui import tiny_run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for family in ("pix2pix", "srgan"):
        tiny_run(family, tmp_path / "runs" / family)
    torch.set_num_threads(threads)
    try:
        with serve_app(tmp_path, env={"OMP_NUM_THREADS": "1"}) as (url, _):
            yield url
    except AppFailed as e:
        pytest.fail(str(e))


def _open(page, label):
    page.locator("#translate-model input").click()
    page.get_by_role("option", name=label).click()
    page.click("#translate-open")
    assert wait_until(lambda: label.split(": ")[1] in page.inner_text("#translate-info"), timeout=30)


def _settled_box(page, selector, timeout=15.0):
    """The bounding box of ``selector`` once the page has stopped redrawing it (opening a model sets the
    sketchpad anew, and the canvas is replaced meanwhile)."""
    from playwright.sync_api import Error
    boxes = []

    def same_twice():
        try:
            page.locator(selector).first.scroll_into_view_if_needed(timeout=2000)
            boxes.append(page.locator(selector).first.bounding_box())
        except Error:
            return False
        time.sleep(0.5)
        return len(boxes) >= 2 and boxes[-1] is not None and boxes[-1] == boxes[-2]
    assert wait_until(same_twice, timeout=timeout), f"{selector} kept changing"
    return boxes[-1]


def _natural(page, elem_id) -> int:
    """The width of the picture in #elem_id as sent (0 until one has loaded)."""
    return page.evaluate(NATURAL, elem_id)


def _downloaded(page) -> Image.Image:
    """The true-size output the page offers for download, fetched as the browser would."""
    href = page.get_attribute("#translate-file a", "href")
    with urllib.request.urlopen(href, timeout=10) as r:
        return Image.open(io.BytesIO(r.read()))


def test_a_stroke_becomes_a_picture_and_an_upload_is_made_4x_larger(app_url, tmp_path):
    pytest.importorskip("playwright.sync_api")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.wait_for_selector("#train-start")
        page.get_by_role("tab", name="Image → Image").click()
        _open(page, "your run: pix2pix")
        assert page.is_visible("#translate-sketch") and not page.is_visible("#translate-mask")
        answered = False
        for _ in range(2):          # a stroke made while the model's opening still resets the pad is lost: redraw
            box = _settled_box(page, "#translate-sketch canvas")
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x - 60, y - 60)
            page.mouse.down()
            for i in range(1, 13):                                   # one stroke, corner to corner
                page.mouse.move(x - 60 + 10 * i, y - 60 + 10 * i)
            page.mouse.up()
            answered = wait_until(lambda: "Your drawing" in page.inner_text("#translate-message"), timeout=25)
            if answered:
                break
        assert answered, page.inner_text("#translate-message")
        assert "Your drawing, 16x16 → G's output, 16x16" in page.inner_text("#translate-message")
        assert wait_until(lambda: _natural(page, "translate-out") == 256)        # 16 px shown 16x, pixelated
        assert _downloaded(page).size == (16, 16)
        shot = ROOT / "docs" / "translate.png" if os.environ.get("GANLAB_SCREENSHOT") else tmp_path / "pix.png"
        page.screenshot(path=str(shot), full_page=True)

        _open(page, "your run: srgan")
        assert wait_until(lambda: not page.is_visible("#translate-sketch"), timeout=10)
        page.locator("#translate-source").get_by_text("Upload").click()
        small = tmp_path / "small.png"
        im = Image.new("RGB", (8, 8), "white")
        ImageDraw.Draw(im).ellipse((1, 1, 6, 6), fill=(240, 180, 20))
        im.save(small)
        page.locator("#translate-upload input[type=file]").set_input_files(str(small))
        assert wait_until(lambda: "Your image, 8x8 → G's output, 32x32" in page.inner_text("#translate-message"),
                          timeout=30), page.inner_text("#translate-message")
        assert wait_until(lambda: _natural(page, "translate-out") == 256)        # 32 px shown 8x
        assert page.is_visible("#translate-bicubic")                              # the plain enlargement beside
        assert wait_until(lambda: "32x32 PNG" in page.inner_text("#translate-file"), timeout=10)
        out = _downloaded(page)
        assert out.size == (32, 32) == (4 * im.width, 4 * im.height)
        page.screenshot(path=str(tmp_path / "sr.png"), full_page=True)
