"""Explore renders in the browser: Chromium drives `python app.py`, and onnxruntime-web draws the main image.

A slider moves the picture with the server's render endpoint blocked; the page's pictures equal the
server's for the same views (a class-conditioned 28 px model and the 64 px StyleGAN); a model the page
cannot load is drawn by the server, as before.
"""
import base64
import io
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.devtools import CHROMIUM, AppFailed, chromium, explore_page, serve_app, wait_until
from ganlab.ui.explore import ExploreHandlers
from ganlab.ui.explore_tab import VIEW_KEYS, _view
from ganlab.ui.sessions import MODELS_DIR, Sessions

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
              pytest.mark.skipif(not (MODELS_DIR / "emoji-stylegan").is_dir(), reason="no shipped models")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    try:
        with serve_app(tmp_path_factory.mktemp("app"), env={"OMP_NUM_THREADS": "1"}) as (url, _):
            config = json.load(urllib.request.urlopen(url + "config"))
            render = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "explore_render")
            with chromium() as browser:
                yield url, browser, render
    except AppFailed as e:
        pytest.fail(str(e))


def _until(pred, timeout=30.0):
    return wait_until(pred, timeout, every=0.1)


def explore(app, model, block=None):
    """A page on the Explore tab with ``model`` open; ``block``: URL glob whose requests fail."""
    url, browser, _ = app
    page = explore_page(browser, url, model, block)
    assert _until(lambda: f"models/{model}" in page.inner_text("#explore-info"), timeout=60)
    return page


def in_browser(page, model, timeout=60):
    """Wait until the page renders ``model`` itself."""
    return _until(lambda: page.evaluate(
        "(m) => { const s = window.ganlabExplore && window.ganlabExplore.state.model;"
        " return !!s && s.where === m && window.ganlabRenderPath === 'browser'"
        " && document.querySelector('#explore-info code').textContent === m; }", f"models/{model}"), timeout)


def server_renders(page, render_id):
    """A list that grows with every request the page makes to the server's render (the slider's event)."""
    seen = []

    def watch(request):                                  # (Playwright delivers these while the test calls it)
        if "/queue/join" in request.url and request.post_data:
            if json.loads(request.post_data).get("fn_index") == render_id:
                seen.append(request.url)
    page.on("request", watch)
    return seen


def picture(page, elem_id="explore-image"):
    """What the user sees of #elem_id, as RGB pixels."""
    return np.asarray(Image.open(io.BytesIO(page.locator(f"#{elem_id}").screenshot())).convert("RGB"), dtype=int)


def canvas(page):
    """The page's own render: the canvas over the server's picture, as [H, W, 3] uint8."""
    url = page.evaluate("document.querySelector('#explore-live-canvas').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"), dtype=int)


def frames(page):
    return page.evaluate("window.ganlabRenderTimes.length")


def test_a_slider_moves_the_picture_with_the_server_render_blocked(app):
    page = explore(app, "fashion-mnist-dcgan")
    assert in_browser(page, "fashion-mnist-dcgan"), page.inner_text("#explore-render-note")
    assert "rendering in your browser" in page.inner_text("#explore-render-note")
    asked = server_renders(page, app[2])
    page.route(lambda url: "/queue/join" in url, lambda route: route.abort() if json.loads(
        route.request.post_data or "{}").get("fn_index") == app[2] else route.continue_())
    before, n = picture(page), frames(page)
    page.locator("#explore-t input[type=range]").fill("0.6")                 # the A -> B slider
    assert _until(lambda: frames(page) > n), "the page drew no frame"
    assert _until(lambda: "t 0.60" in page.input_value("#explore-caption textarea"))
    after = picture(page)
    assert np.abs(after - before).max() > 50, "the picture did not change"
    page.wait_for_timeout(500)                                              # any request would be seen by now
    assert asked == [], "the slider asked the server to render"
    page.close()


# views of the controls, beyond the defaults (seeds 1 and 2, slerp, ψ 1, no directions)
CGAN_VIEWS = [dict(t=0.37, psi=0.8), dict(t=0.5, mode="lerp", class_a="Sneaker", class_b="Bag", blend=0.3),
              dict(seed_a=11, seed_b=5, t=0.8, pc0=1.5, pc3=-2, dim=3, dim_amount=0.7)]
PLAIN_VIEWS = [dict(t=0.37, psi=0.8), dict(seed_a=11, seed_b=5, t=0.8, mode="lerp", pc0=1.5, pc3=-2, dim=3,
                    dim_amount=0.7)]
STYLE_VIEWS = [dict(t=0.4, psi=0.7), dict(t=0.6, space="Z", mode="slerp", pc1=-1.0, dir_layers="coarse"),
               dict(seed_a=7, t=0.25, psi=1.2, pc0=2.0, dim=5, dim_amount=-1.0)]


@pytest.mark.parametrize("model, views", [("fashion-mnist-cgan", CGAN_VIEWS), ("emoji-stylegan", STYLE_VIEWS),
                                          ("emoji-progan", PLAIN_VIEWS)])
def test_the_browser_draws_what_the_server_draws(app, model, views, tmp_path):
    torch.set_num_threads(1)
    h = ExploreHandlers(Sessions(tmp_path / "runs"))
    h.select(f"models/{model}", "test")
    page = explore(app, model)
    assert in_browser(page, model), page.inner_text("#explore-render-note")
    base = dict(seed_a=1, seed_b=2, mode="slerp", t=0.0, psi=1.0, frames=8, dim=0, dim_amount=0.0, class_a=None,
                class_b=None, blend=0.0, space="W", dir_layers="all", noise="fixed", noise_layers=[], noise_seed=0,
                own=False, **{f"pc{i}": 0.0 for i in range(5)})
    for changes in views:
        values = [{**base, **changes}.get(k) for k in VIEW_KEYS]
        n = frames(page)
        caption = page.evaluate("(v) => window.ganlabExplore.render(v)", values)
        assert _until(lambda n=n: frames(page) > n), f"no frame for {changes}"
        want, want_caption = h.render(_view(values), "test")
        want = np.asarray(want.convert("RGB"), dtype=int)
        got = canvas(page)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 4, f"{changes}: the browser's picture is not the server's"
        assert caption == want_caption
    page.close()


def test_a_model_the_page_cannot_load_is_rendered_on_the_server(app):
    page = explore(app, "fashion-mnist-dcgan", block="**/ganlab/explore/*/*.onnx")
    assert _until(lambda: "could not load" in page.inner_text("#explore-render-note"), timeout=60)
    assert page.evaluate("window.ganlabRenderPath") == "server"
    asked = server_renders(page, app[2])
    first = page.evaluate("document.querySelector('#explore-image img').src")
    page.locator("#explore-t input[type=range]").fill("0.6")
    assert _until(lambda: page.wait_for_timeout(100) or asked), "the slider did not ask the server"
    assert _until(lambda: page.evaluate("document.querySelector('#explore-image img').src") != first)
    assert _until(lambda: "t 0.60" in page.input_value("#explore-caption textarea"))
    page.close()
