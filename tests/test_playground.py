"""The 2-D Playground without a browser: lessons run, views and figures are right, controls act."""
import asyncio
import json
import math
import time
from functools import partial
from operator import attrgetter

import numpy as np
import pytest
import torch

from ganlab.config import DataConfig
from ganlab.data import load_dataset
from ganlab.data.toys import points_from_drawing, write_points
from ganlab.devtools import wait_until
from ganlab.errors import GanlabError
from ganlab.lessons import LESSONS, best_preset
from ganlab.metrics import mode_coverage
from ganlab.plane import PlaneView, plane_view, snapshot, view_between_steps
from ganlab.pretrained import TOYS, pretrained_path
from ganlab.trainer import Trainer, draw_noise
from ganlab.ui.plane_plot import (
    ARROW_MAX,
    arrow_ends,
    heat_colours,
    plane_figure,
    plane_picture,
    playground_charts,
    view_stats,
)
from ganlab.ui.playground import DEFAULT_SETTINGS, DRAWING, LIVE_DEFAULTS, PlaygroundHandlers
from ganlab.ui.sessions import Sessions

pytestmark = pytest.mark.filterwarnings("ignore:.*:UserWarning")   # gr.Warning outside a request


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def handlers(tmp_path):
    h = PlaygroundHandlers(Sessions(tmp_path / "runs", max_runs=3))
    yield h
    h.sessions.close_all()


def _small(cfg):
    cfg.train.batch_size, cfg.train.n_samples = 64, 128
    cfg.data.n = 2000
    return cfg


# ---- lessons and presets -------------------------------------------------------------
@pytest.mark.parametrize("key", list(LESSONS))
def test_every_lesson_runs(key):
    lesson = LESSONS[key]
    assert 2 <= len(lesson.text.split(".")) and lesson.runs
    for name, cfg in lesson.runs:
        t = Trainer(_small(cfg))
        for _ in range(15):
            m = t.step()
        assert all(math.isfinite(m[k]) for k in ("loss_d", "loss_g")), (key, name, m)
        v = plane_view(t)
        assert np.isfinite(v.heat).all() and np.isfinite(v.grads).all() and v.step == 15


def test_mode_coverage_counts_ring_modes():
    ring = load_dataset(DataConfig(name="ring", n=4000))
    g = torch.Generator().manual_seed(0)
    five = ring.modes[torch.arange(2000) % 5] + ring.mode_std * torch.randn(2000, 2, generator=g)
    stray = ring.modes[5:6] + 0.001 * torch.randn(10, 2, generator=g)      # 10 of 2010: under 20% of a share
    cov = mode_coverage(torch.cat([five, stray]), ring.modes, ring.mode_std)
    assert cov["modes"] == 5 and cov["of"] == 8 and cov["high_quality"] > 0.98
    assert mode_coverage(ring.x, ring.modes, ring.mode_std)["modes"] == 8      # the data covers itself


def test_views_come_from_a_copy_and_leave_training_alone():
    cfg = _small(best_preset("ring"))
    cfg.model.spectral_norm = True                         # power iterations would change D's buffers
    t = Trainer(cfg)
    t.step()
    before = {k: v.clone() for k, v in t.D.state_dict().items()}
    snap = snapshot(t)
    t.step()                                               # training goes on after the snapshot...
    v = plane_view(snap)
    assert v.step == 1                                     # ...and the view still shows step 1
    t2 = Trainer(cfg)
    t2.step()
    plane_view(t2)
    after = t2.D.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_views_between_steps_borrow_the_nets_and_leave_training_exactly_alone():
    """The Playground looks at a run on its own thread without copying it; the run must not notice."""
    cfg = _small(best_preset("ring"))
    cfg.model.spectral_norm = True                         # eval mode: no power iteration may run
    watched, alone = Trainer(cfg), Trainer(cfg)
    for _ in range(4):
        view = view_between_steps(watched, stats=True)
        watched.step()
        alone.step()
    assert view.step == 3 and view.grads.shape == view.fake.shape and np.isfinite(view.heat).all()
    same = plane_view(snapshot(watched))                   # a borrowed view is the view of a copy
    assert np.array_equal(view_between_steps(watched).heat, same.heat)
    for a, b in ((watched.G, alone.G), (watched.D, alone.D)):
        assert a.training and all(q.requires_grad for q in a.parameters())
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("lesson_run", ["spectral norm + hinge", "minibatch std"])
def test_a_mirror_in_this_process_draws_the_view_the_run_draws_itself(tmp_path, lesson_run):
    """For a run in its own process, the views are drawn here from its weights; they must be its views."""
    from ganlab.engine.remote import RemoteEngine
    from ganlab.lessons import LESSONS
    from ganlab.plane import Mirror
    cfg = next(c for lesson in LESSONS.values() for name, c in lesson.runs if name == lesson_run)
    e = RemoteEngine.new(_small(cfg), tmp_path / "run")
    try:
        mirror = Mirror(e)
        for which in ("both", "d", "g", "both"):
            {"both": e.step_once, "d": e.step_d_once, "g": e.step_g_once}[which]()
            here, there = mirror.view(stats=True), e.inspect(partial(view_between_steps, stats=True))
            assert here.step == there.step
            for field in ("fake", "grads", "heat", "real"):
                assert np.allclose(getattr(here, field), getattr(there, field), atol=1e-6), (which, field)
            assert math.isclose(here.js, there.js, abs_tol=1e-6) and here.coverage == there.coverage
        before = mirror.view(stats=False).heat_is_probability        # a live loss change reaches the mirror
        e.set_loss("hinge" if before else "ns")
        assert mirror.view(stats=False).heat_is_probability is (not before)
    finally:
        e.stop()


# ---- figures ------------------------------------------------------------------------------
def _view(step=3):
    axis = np.linspace(-1.25, 1.25, 4)
    return PlaneView(step, np.zeros((5, 2)), np.array([[0.0, 0.0], [0.5, 0.5]]),
                     np.array([[1.0, 0.0], [0.0, 100.0]]), axis, np.full((4, 4), 0.25), True,
                     [np.array([[0, 0], [1, 1.0]])], 0.1, 0.05, {"modes": 3, "of": 8, "high_quality": 0.5})


def test_arrows_follow_the_gradient_and_stay_on_the_plot():
    g = np.array([[0.2, 0.0], [0.0, 1000.0], [-1e-4, 0.0], [0.0, 0.0]])
    ends = arrow_ends(np.zeros((4, 2)), g, max_len=0.3, half=0.2)
    assert np.allclose(ends[0], [0.15, 0.0])                       # the half-way gradient: half length
    assert np.allclose(ends[1], [0.0, 0.3], atol=1e-4)             # huge ones capped, same direction
    assert -1e-3 < ends[2, 0] < 0 and np.allclose(ends[3], 0)      # vanishing ones shrink to a dot


def _pixel(img, x, y, box=1.25):
    """The RGB of the picture at plane point (x, y)."""
    px = img.size[0]
    col = min(px - 1, int((x + box) / (2 * box) * px))
    row = min(px - 1, int((box - y) / (2 * box) * px))
    return np.asarray(img)[row, col].astype(int)


def test_plane_picture_draws_each_layer_where_it_belongs():
    v = _view()                                    # real points at (0, 0), G's at (0, 0) and (0.5, 0.5)
    heat = plane_picture(v, layers={"heat"}, px=100)
    assert img_close(_pixel(heat, -1, 1), heat_colours(np.float32(0.25), 0, 1))   # D = 0.25 everywhere
    assert tuple(heat_colours(np.array([0.0, 0.5, 1.0]), 0, 1)[1]) == (255, 255, 255)  # 0.5: white
    fake = plane_picture(v, layers={"fake"}, px=100)
    r, g, b = _pixel(fake, 0.5, 0.5)
    assert g < r < 200 and g < b                   # purple where G put a point ...
    assert tuple(_pixel(fake, -1, -1)) == (255, 255, 255)      # ... and nothing elsewhere
    r, g, b = _pixel(plane_picture(v, layers={"real"}, px=100), 0, 0)
    assert g > r and g > b                         # green at the real points
    ends = arrow_ends(v.fake, v.grads)
    arrows = plane_picture(v, layers={"arrows"}, px=100)
    assert _pixel(arrows, *ends[1]).max() < 100 and _pixel(arrows, 0.5, 0.65).max() < 100   # along G's push
    assert tuple(_pixel(arrows, -0.5, 0.6)) == (255, 255, 255)


def img_close(a, b, tol=2):
    return np.abs(np.asarray(a, int) - np.asarray(b, int)).max() <= tol


def test_plane_figure_layers():
    v = _view()
    fig = plane_figure(v)
    assert [t.name for t in fig.data] == ["D"]                     # the colour bar; the plane is a picture
    assert fig.data[0].zmin == 0 and fig.data[0].zmax == 1          # probabilities on a fixed scale
    assert fig.layout.images[0].source.startswith("data:image/jpeg;base64,")
    meta = fig.layout.meta                                          # the numbers behind the picture
    assert np.array_equal(meta["fake"], v.fake.astype(np.float32)) and meta["heat"].shape == (4, 4)
    assert meta["arrow_ends"][0][0] == pytest.approx(ARROW_MAX / 1.2, abs=1e-3)
    only = plane_figure(v, layers={"fake"})
    assert not only.data and only.layout.meta["layers"] == ["fake"]
    st = view_stats(v)
    assert st["modes"] == 3 and st["grad"] == pytest.approx((1 + 100) / 2)


def test_charts_have_one_colour_per_panel():
    rows = [dict(step=10 * i, loss_d=1.0, loss_g=0.5, d_real=0.6, d_fake=0.4) for i in range(1, 4)]
    fig = playground_charts({"a": rows, "b": rows}, {"a": [dict(step=10, js=0.3)]})
    colours = {t.line.color for t in fig.data if t.name == "a"} | {t.line.color for t in fig.data if t.name == "b"}
    assert len(colours) == 2 and len(fig.data) == 2 * 5


# ---- drawing your own points -------------------------------------------------------------
def test_points_from_a_drawing_land_where_the_ink_is(tmp_path):
    ink = torch.zeros(100, 100)
    ink[10:20, 80:90] = 1.0                                         # top right of the canvas
    pts = points_from_drawing(ink, n=500)
    assert pts.shape == (500, 2)
    assert (pts[:, 0] > 0.5).all() and (pts[:, 1] > 0.5).all()     # top right of the plane
    write_points(pts, tmp_path / "p.csv")
    ds = load_dataset(DataConfig(name=f"points:{tmp_path / 'p.csv'}"))
    assert torch.allclose(ds.x, pts, atol=1e-4) and not ds.is_image
    with pytest.raises(GanlabError, match="empty"):
        points_from_drawing(torch.zeros(10, 10))


def test_points_file_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n0.1,0.2\nhello,0.3\n")
    with pytest.raises(GanlabError, match="line 3"):
        load_dataset(DataConfig(name=f"points:{bad}"))
    far = tmp_path / "far.csv"
    far.write_text("0,0\n5,5\n")
    with pytest.raises(GanlabError, match="outside"):
        load_dataset(DataConfig(name=f"points:{far}"))
    with pytest.raises(GanlabError, match="no points file"):
        load_dataset(DataConfig(name=f"points:{tmp_path / 'none.csv'}"))


# ---- pretrained starts ----------------------------------------------------------------------
def test_every_toy_has_a_pretrained_model_that_fits_the_best_preset():
    from ganlab.checkpoint import load_checkpoint
    for name in TOYS:
        path = pretrained_path(name)
        assert path is not None, f"models/playground/{name} is missing: python -m ganlab.pretrained"
        t = Trainer(_small(best_preset(name)))
        load_checkpoint(t, path)
        assert t.step_count > 1000
        if t.data.modes is not None:                                 # a good start, not a random one
            z = draw_noise(2500, t.G.z_dim, "gaussian", torch.Generator().manual_seed(1))
            cov = mode_coverage(t.sample(z, use_ema=True), t.data.modes, t.data.mode_std)
            assert cov["modes"] == cov["of"] and cov["high_quality"] > 0.9, (name, cov)


# ---- handlers -------------------------------------------------------------------------------
def _wait(pred, timeout=20.0):
    return wait_until(pred, timeout)


LAYERS = ["heat", "real", "fake", "arrows", "manifold"]


def _tick(h, key="k"):
    out = h.tick(LAYERS, key)
    return out[0], out[3], out[4]                 # first panel, stats, charts


def test_open_starts_from_the_pretrained_ring_paused(handlers):
    h = handlers
    h.open("k")
    panel = h.sessions.get("k").play.panels[0]
    assert panel.engine.state == "idle" and panel.engine.status()["step"] > 1000
    fig, stats, charts = _tick(h)
    assert fig["visible"] and "modes 8/8" in stats and "idle" in stats


def test_step_d_moves_the_heatmap_not_the_points(handlers):
    h = handlers
    h.new(dict(DEFAULT_SETTINGS, pretrained=False), dict(LIVE_DEFAULTS), "k")
    p = h.sessions.get("k").play.panels[0]
    _tick(h)
    v0 = p.view
    assert "D only" in h.step("d", "k")
    _tick(h)
    v1 = p.view
    assert np.array_equal(v0.fake, v1.fake) and not np.allclose(v0.heat, v1.heat)
    assert "G only" in h.step("g", "k")
    _tick(h)
    v2 = p.view
    assert not np.array_equal(v1.fake, v2.fake) and np.allclose(v1.heat, v2.heat)
    h.step("both", "k")
    _tick(h)
    assert p.view.step == 1                        # D-only and G-only steps do not count as steps


def test_play_pause_live_changes_and_noise_settings(handlers):
    h = handlers
    h.new(dict(DEFAULT_SETTINGS, z_dim=1, z_dist="uniform"), dict(LIVE_DEFAULTS), "k")
    e = h.sessions.get("k").play.panels[0].engine
    assert e.status()["step"] == 0                 # 1-D noise: no pretrained model fits
    assert e.inspect(attrgetter("G.z_dim")) == 1 and e.inspect(attrgetter("cfg.model.z_dist")) == "uniform"
    assert "Playing" in h.play("k")
    assert _wait(lambda: e.status()["step"] > 20)
    msg = h.live(dict(loss="wgan-gp", optimizer="rmsprop", lr_g=1e-4, lr_d=3e-4, n_critic=3, delay=0.0), "k")
    assert "Applied" in msg
    st = e.status()
    assert (st["loss"], st["lr_g"], st["lr_d"], st["n_critic"]) == ("wgan-gp", 1e-4, 3e-4, 3)
    assert st["optimizer"] == "rmsprop" and e.inspect(attrgetter("cfg.train.optimizer")) == "rmsprop"
    assert "⚠️" in h.live(dict(LIVE_DEFAULTS, lr_g=-1), "k")
    fig, _, _ = _tick(h)
    lines = h.sessions.get("k").play.panels[0].view.manifold
    assert len(lines) == 1 and lines[0].shape == (41, 2)                  # 1-D noise: the manifold is one curve
    assert json.loads(fig["value"])["layout"]["images"][0]["source"].startswith("data:image/jpeg")
    h.pause("k")
    assert e.state == "paused"


def test_lessons_fill_panels_side_by_side_within_the_cap(handlers):
    h = handlers
    msg, text, *controls = h.load_lesson("fixes", "k")
    assert "3 runs side by side" in msg and "paused" in msg and "WGAN-GP" in text
    panels = h.sessions.get("k").play.panels
    assert [p.name for p in panels] == ["WGAN-GP", "spectral norm + hinge", "minibatch std"]
    first = panels[0].engine.status()
    assert controls == [first["loss"], first["optimizer"], first["lr_g"], first["lr_d"], first["n_critic"]]
    time.sleep(0.5)
    assert all(p.engine.status()["step"] == 0 for p in panels)      # loaded, not started: Play starts them
    assert "Playing" in h.play("k")
    assert _wait(lambda: all(p.engine.status()["step"] > 5 for p in panels))
    out = h.tick(LAYERS, "k")
    assert all(o["visible"] for o in out[:3]) and out[3].count("modes") == 3
    assert "busy" in h.load_lesson("collapse", "other")[0]          # 3 of 3 slots are in use
    old = panels
    msg = h.load_lesson("collapse", "k")[0]                         # replacing frees them first
    assert "one run" in msg and all(p.engine.state == "stopped" for p in old)
    out = h.tick(LAYERS, "k")
    assert out[1] == {"visible": False, "__type__": "update"}


def test_a_run_whose_process_dies_says_so_and_the_session_goes_on(handlers):
    import os
    import signal
    h = handlers
    h.new(dict(DEFAULT_SETTINGS, pretrained=False), dict(LIVE_DEFAULTS), "k")
    h.play("k")
    e = h.sessions.get("k").play.panels[0].engine
    assert _wait(lambda: e.status()["step"] > 5)
    _tick(h)
    os.kill(e.pid, signal.SIGKILL)
    assert _wait(lambda: e.state == "error")
    fig, stats, _ = _tick(h)
    assert "error" in stats and "New run" in stats                  # said on the page, not only in the log
    assert "⚠️" in h.play("k")
    assert _wait(lambda: h.sessions.scheduler.busy() == 0)              # its slot is free again
    assert "New" in h.new(dict(DEFAULT_SETTINGS), dict(LIVE_DEFAULTS), "k")    # and a new run works
    assert _tick(h)[0]["visible"] is not False


def test_train_on_a_drawing(handlers):
    h = handlers
    canvas = np.zeros((64, 64, 4), dtype=np.uint8)
    canvas[30:34, 5:60, 3] = 255                                    # one horizontal stroke
    msg, dd = h.draw({"background": None, "layers": [canvas], "composite": canvas},
                     dict(DEFAULT_SETTINGS), dict(LIVE_DEFAULTS), "k")
    assert "drawing" in msg and dd["value"] == DRAWING
    e = h.sessions.get("k").play.panels[0].engine
    x = e.inspect(attrgetter("data.x"))
    assert x.shape == (2000, 2) and x[:, 1].abs().max() < 0.15      # a flat line through the middle
    assert "empty" in h.draw(None, dict(DEFAULT_SETTINGS), dict(LIVE_DEFAULTS), "k")[0]
    msg = h.new(dict(DEFAULT_SETTINGS, dataset=DRAWING), dict(LIVE_DEFAULTS), "k")   # the drawing is kept
    assert "drawing" in msg


def test_stream_sends_changes_only_and_ends_with_the_session(handlers):
    """The views stream: the first view at once, nothing while paused, new steps while playing, and
    the stream ends when the browser's session is closed (demo.unload)."""
    h = handlers
    h.open("k")
    got = []

    async def consume():
        async for out in h.stream(LAYERS, "k"):
            got.append(out)

    async def scenario():
        task = asyncio.create_task(consume())
        await asyncio.sleep(1.5)
        assert len(got) == 1 and got[0][1]["visible"] is True           # the first frame shows the panel
        assert json.loads(got[0][1]["value"])["layout"]["title"]["text"].startswith("step")
        h.set_layers(["heat"], "k")                                    # a layer change redraws once
        await asyncio.sleep(1.0)
        assert len(got) == 2 and isinstance(got[1][1], str)            # then bare values: no config rebuilt
        assert {t["type"] for t in json.loads(got[1][1])["data"]} == {"heatmap"}
        h.play("k")
        await asyncio.sleep(2.0)
        h.pause("k")
        titles = [json.loads(o[1])["layout"]["title"]["text"] for o in got[2:] if isinstance(o[1], str)]
        assert len(titles) >= 2 and len(set(titles)) == len(titles)    # each push shows a new step
        h.sessions.close("k")
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
