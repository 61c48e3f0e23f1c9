"""Explore's browser rendering, server side: the ONNX it hands a page equals the server's render, its URLs
open for the one browser that claimed them, and a model that cannot be exported stays on the server."""
import shutil

import numpy as np
import pytest
import torch
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ganlab.errors import GanlabError
from ganlab.ui import explore_client
from ganlab.ui.explore import ExploreHandlers
from ganlab.ui.explore_client import parse_seeds
from ganlab.ui.sessions import MODELS_DIR, Sessions

ort = pytest.importorskip("onnxruntime")
DCGAN = MODELS_DIR / "fashion-mnist-dcgan"
pytestmark = pytest.mark.skipif(not DCGAN.is_dir(), reason="no shipped models")


@pytest.fixture
def handlers(tmp_path):
    torch.set_num_threads(1)
    return ExploreHandlers(Sessions(tmp_path / "runs"))


def serve(h):
    return Starlette(routes=h.browser.routes())


def test_a_run_s_onnx_url_opens_for_the_browser_that_claimed_it_and_no_other(handlers):
    h = handlers
    alice, bob = h.sessions.get("alice-page"), h.sessions.get("bob-page")
    run = h.sessions.access.new_run_dir(alice.who, "fashion-mnist")          # alice's own run
    for name in ("config.json", "state.json", "generator.safetensors"):
        shutil.copy(DCGAN / name, run / name)
    ref = h.sessions.access.ref(run)
    h.select(ref, alice.key)
    base = "/" + h.offer(alice.key)["base"]
    with pytest.raises(GanlabError):                                         # bob cannot open it at all
        h.select(ref, bob.key)
    app = serve(h)
    mine, other = TestClient(app), TestClient(app)
    assert other.get(base + "g.onnx").status_code == 403                      # not claimed yet: nobody gets it
    assert mine.get(base + "claim").status_code == 204
    assert mine.get(base + "g.onnx").status_code == 200
    assert mine.get(base + "claim").status_code == 204                        # the same browser, again
    assert other.get(base + "claim").status_code == 403                       # a leaked URL opens nothing
    assert other.get(base + "g.onnx").status_code == 403
    assert other.get(base + "meta.json").status_code == 403
    assert mine.get(base + "../../../config.json").status_code == 404
    assert mine.get(base + "state.json").status_code == 404                   # only the export's files
    h.forget(alice.key)                                                       # the page left
    assert mine.get(base + "g.onnx").status_code == 404


def test_the_exported_generator_and_z_equal_the_server_s(handlers):
    h = handlers
    h.select("models/fashion-mnist-cgan", "p")
    ex = h.explorer("p")
    before = ex.render(ex.z(3), 0.8, torch.tensor([2]))
    base = "/" + h.offer("p")["base"]
    assert not ex.G.training and torch.equal(ex.render(ex.z(3), 0.8, torch.tensor([2])), before)   # G untouched
    c = TestClient(serve(h))
    c.get(base + "claim")
    meta = c.get(base + "meta.json").json()
    assert meta["kind"] == "plain" and meta["conditional"] and meta["class_names"] == ex.class_names
    assert np.array(meta["directions"]["vectors"]).shape == (5, ex.z_dim)
    zs = c.get(base + "z?seeds=3,7").json()
    assert torch.equal(torch.tensor(zs["7"]), ex.z(7))                        # bit for bit, through JSON
    assert c.get(base + "z?seeds=-1").status_code == 400
    sess = ort.InferenceSession(c.get(base + "g.onnx").content)
    y = torch.zeros(1, len(ex.class_names))
    y[0, 2] = 1
    got = sess.run(None, {"z": (ex.z(3)[None] * 0.8).numpy(), "y": y.numpy()})[0]
    want = ex.render(ex.z(3), 0.8, torch.tensor([2]))
    assert np.abs(got - want.numpy()).max() < 1e-3


def test_a_style_model_exports_mapping_and_synthesis(handlers):
    h = handlers
    h.select("models/emoji-stylegan", "p")
    ex = h.explorer("p")
    folder, meta = h.browser.export(ex)
    assert meta["kind"] == "style" and len(meta["w_avg"]) == ex.G.w_dim
    assert meta["layer_groups"]["coarse"] == ex.G.layer_group("coarse")
    w = ort.InferenceSession(str(folder / "mapping.onnx")).run(None, {"z": ex.z(4)[None].numpy()})[0]
    avg = ex.G.w_avg.numpy()
    ws = np.repeat((avg + 0.7 * (w - avg))[:, None], ex.G.num_ws, 1).astype(np.float32)   # ψ 0.7 in W
    got = ort.InferenceSession(str(folder / "synthesis.onnx")).run(None, {"ws": ws})[0]
    assert np.abs(got - ex.render(ex.z(4), 0.7).numpy()).max() < 1e-3


def test_a_model_that_cannot_be_exported_is_rendered_on_the_server(handlers, monkeypatch):
    def broken(G, path):
        raise RuntimeError("an op ONNX does not have")
    monkeypatch.setattr(explore_client, "export_onnx", broken)
    h = handlers
    h.select("models/fashion-mnist-dcgan", "p")
    offer = h.offer("p")
    assert "base" not in offer and "exported" in offer["server"]
    img, caption = h.render({"seed_a": 1, "seed_b": 2, "t": 0.5}, "p")       # the server path is untouched
    assert img.size == (112, 112) and "t 0.50" in caption


def test_an_account_s_model_needs_that_account_s_login_cookie(handlers):
    h = handlers
    h.select("models/fashion-mnist-dcgan", "p")
    base = "/" + h.browser.offer("p", h.explorer("p"), owner="user:alice")["base"]
    assert TestClient(serve(h)).get(base + "claim").status_code == 403       # no Gradio login: not alice


def test_seeds_are_checked():
    assert parse_seeds("1, 2,3") == [1, 2, 3]
    for bad in ("", "x", "1.5", str(2 ** 31), ",".join(["1"] * 65)):
        with pytest.raises(GanlabError):
            parse_seeds(bad)
