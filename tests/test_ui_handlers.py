"""The Train tab without a browser: figures from synthetic rows, sessions kept apart, errors as messages."""
import json
import zipfile

import numpy as np
import pytest
import torch

from ganlab.devtools import wait_until
from ganlab.engine import Engine
from ganlab.ui import build_app
from ganlab.ui.plots import MAX_POINTS, curves_figure, device_label, points_figure, status_markdown, thin
from ganlab.ui.sessions import Sessions
from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers, config_from_form, is_point_set
from ganlab.viz import BOX

pytestmark = [pytest.mark.filterwarnings("ignore:.*:UserWarning"),   # gr.Warning outside a request
              pytest.mark.usefixtures("one_torch_thread")]

FAST = dict(DEFAULT_FORM, batch_size=32, steps=100_000)




@pytest.fixture
def handlers(tmp_path):
    h = TrainHandlers(Sessions(tmp_path / "runs", max_runs=1))     # runs on threads: the trainers can be seen
    yield h
    h.sessions.close_all()


def _rows(n, gp=False):
    return [dict(step=10 * (i + 1), loss_d=1.3, loss_g=0.7 + i * 1e-3, d_real=0.6, d_fake=0.4,
                 grad_norm_d=1.0, grad_norm_g=2.0, **({"gp": 0.1} if gp else {})) for i in range(n)]


def _wait(pred, timeout=20.0):
    return wait_until(pred, timeout)


def _message(out):
    return out[0] if isinstance(out, tuple) else out


# ---- plots ---------------------------------------------------------------------
def test_thin_keeps_ends_and_caps_points():
    rows = _rows(5000)
    out = thin(rows)
    assert len(out) <= MAX_POINTS and out[0] is rows[0] and out[-1] is rows[-1]
    assert [r["step"] for r in out] == sorted(r["step"] for r in out)
    assert thin(rows[:10]) == rows[:10]


def test_curves_figure_has_the_six_series():
    fig = curves_figure(_rows(50))
    names = {t.name for t in fig.data}
    assert names == {"D loss", "G loss", "D(x)", "D(G(z))", "|∇D|", "|∇G|"}
    loss_d = next(t for t in fig.data if t.name == "D loss")
    assert list(loss_d.x) == [10 * (i + 1) for i in range(50)] and len(loss_d.y) == 50
    assert tuple(fig.layout.yaxis2.range) == (-0.02, 1.02)          # D outputs are probabilities


def test_curves_figure_downsamples_and_shows_gp():
    fig = curves_figure(_rows(6000, gp=True), probability=False)
    assert "grad penalty" in {t.name for t in fig.data}
    assert all(len(t.x) <= MAX_POINTS for t in fig.data)
    assert fig.layout.yaxis2.range is None                        # critic scores are unbounded
    assert len(curves_figure([]).data) == 0


def test_points_figure_real_grey_fake_orange_fixed_axes():
    fake, real = torch.randn(64, 2) * 0.3, torch.randn(300, 2) * 0.3
    fig = points_figure(fake, real, step=120)
    assert [t.name for t in fig.data] == ["real data", "G(z)"]
    assert len(fig.data[0].x) == 300 and len(fig.data[1].x) == 64
    np.testing.assert_allclose(fig.data[1].x, fake[:, 0].numpy(), rtol=1e-6)
    assert tuple(fig.layout.xaxis.range) == (-BOX, BOX) == tuple(fig.layout.yaxis.range)
    assert "120" in fig.layout.title.text


def test_status_markdown_says_state_step_device_and_folder():
    st = dict(state="running", error="", step=1234, steps=5000, device="cuda:0", steps_per_s=50.0,
              images_per_s=12800.0, eta_s=75.3, lr_g=1e-3, lr_d=2e-4, n_critic=2, run_dir="runs/ui/x",
              checkpoint=None)
    text = status_markdown(st, note="ring · 10,000 items")
    for part in ("RUNNING", "1,234 / 5,000", "CUDA", "12,800 img/s", "1m 15s", "n_critic 2", "runs/ui/x", "ring"):
        assert part in text
    assert device_label("cpu") == "CPU" and device_label("mps").startswith("MPS")


# ---- form --------------------------------------------------------------------------
def test_image_datasets_suggest_dcgan():
    assert is_point_set("ring") and is_point_set("moons")
    assert not is_point_set("fashion-mnist") and not is_point_set("folder:/x")
    assert TrainHandlers.dataset_defaults("mnist") == ("", "dcgan", 2e-4, 2e-4, 2000)   # images: FID on
    assert TrainHandlers.dataset_defaults("ring") == ("", "mlp", 1e-3, 1e-3, 0)
    cfg = config_from_form(dict(DEFAULT_FORM, custom=" folder:/tmp/x ", resolution=32))
    assert cfg.data.name == "folder:/tmp/x" and cfg.data.resolution == 32
    assert cfg.data.label is None and not cfg.model.factorised        # blank: the set's own classes
    cfg = config_from_form(dict(DEFAULT_FORM, dataset="shapes", label=" shape+colour ", factorised=True,
                                model="projection"))
    assert cfg.data.label == "shape+colour" and cfg.model.factorised


# ---- sessions ----------------------------------------------------------------------
def _engine(h, key, timeout=30):
    """The browser's engine once its run has left the line and started."""
    v = h.sessions.get(key).train
    assert v is not None and v.ticket.ready.wait(timeout), "the run did not start"
    return v.engine


def test_sessions_keep_engines_apart_and_queue_beyond_the_cap(handlers):
    h = handlers
    assert "started" in h.start(FAST, "aaaaaaaa")[0]
    msg, status = h.start(FAST, "bbbbbbbb")                      # the one slot is taken: b waits in line
    assert "1st in line" in msg and "WAITING" in status and h.sessions.get("bbbbbbbb").engine is None
    a = _engine(h, "aaaaaaaa")
    h.pause("aaaaaaaa")                                           # paused, a keeps its slot for a while ...
    assert h.sessions.get("bbbbbbbb").train.ticket.state == "waiting"
    h.stop("aaaaaaaa")                                            # ... stopped, the slot goes to b by itself
    b = _engine(h, "bbbbbbbb")
    assert a is not b and a.run.path != b.run.path
    assert a.trainer.data is b.trainer.data and h.sessions.data.loads == 1     # one copy of the data
    assert "aaaaaa" not in a.run.path.name and "bbbbbb" not in b.run.path.name   # no part of the session key
    assert b.run.path.parent == a.run.path.parent
    assert a.state == "stopped" and b.state == "running" and h.sessions.scheduler.busy() == 1
    assert "1st in line" in h.resume("aaaaaaaa")[0]               # a's resume waits for the slot in turn
    h.sessions.close("aaaaaaaa")
    assert h.sessions.peek("aaaaaaaa") is None and h.sessions.scheduler.tickets()[0].job.owner == "bbbbbbbb"
    assert "There is no run yet" in h.step("aaaaaaaa")[0]          # a's browser sees nothing of b


def test_new_start_stops_the_old_run(handlers):
    h = handlers
    h.start(FAST, "k")
    old = _engine(h, "k")
    assert "started" in h.start(FAST, "k")[0]                     # the cap counts the session once
    assert old.state == "stopped" and _engine(h, "k") is not old


def test_step_pause_apply_and_tick(handlers):
    h = handlers
    h.start(FAST, "k")
    e = _engine(h, "k")
    assert _wait(lambda: e.status()["step"] >= 20)
    msg, _ = h.step("k")                                          # pauses first, then one step
    at = e.status()["step"]
    assert e.state == "paused" and f"Step {at:,}" in msg and "D loss" in msg
    h.step("k")
    assert e.status()["step"] == at + 1
    msg, status = h.apply(5e-4, 1e-4, 3, "k")
    assert "n_critic 3" in msg and "lr G 0.0005" in status and e.status()["n_critic"] == 3
    skip = {"__type__": "update"}                                 # gr.skip()
    status, curves, points, grid, health, classes = h.tick("k")[:6]
    assert status == skip                                         # apply() already showed this status
    assert json.loads(curves)["data"] and points["visible"] and not grid["visible"]   # live plots: JSON text
    assert isinstance(health, str) and not classes["visible"]   # a point set has no class histogram
    fake = json.loads(points["value"])["data"][1]
    assert fake["name"] == "G(z)" and len(fake["x"]) == 512
    assert h.tick("k")[:6] == (skip,) * 6                         # nothing new while paused
    h.resume("k")
    assert _wait(lambda: e.status()["step"] > at + 30)
    status, curves, *_ = h.tick("k")
    assert "RUNNING" in status and json.loads(curves)["data"]


def test_a_nan_during_step_is_reported_not_a_key_error(handlers, monkeypatch):
    """Step on a run whose loss becomes NaN: the engine rolls back and the message says so."""
    h = handlers
    h.start(FAST, "k")
    e = _engine(h, "k")
    assert _wait(lambda: e.status()["step"] >= 20)
    h.pause("k")
    real = e.trainer.step

    def nan_step():
        m = real()
        return dict(m, loss_d=float("nan"))
    monkeypatch.setattr(e.trainer, "step", nan_step)
    msg, _ = h.step("k")
    assert not msg.startswith("⚠️"), msg                           # it was "Something went wrong: KeyError"
    assert "loss_d became nan" in msg and "went back to step" in msg and "halved" in msg


def test_checkpoint_and_gif_downloads(handlers):
    h = handlers
    h.start(dict(FAST, steps=120), "k")
    e = _engine(h, "k")
    assert _wait(lambda: e.state in ("finished", "stopped"))
    msg, _, archive = h.save_checkpoint("k")
    names = zipfile.ZipFile(archive).namelist()
    assert any(n.endswith("state.safetensors") for n in names) and any(n.endswith("config.json") for n in names)
    msg, _, gif = h.gif("k")
    assert gif.endswith(".gif") and open(gif, "rb").read(3) == b"GIF"
    assert not (e.run.path / "training.gif").exists()             # downloads go to scratch, not the run folder
    assert "reached its 120 steps" in h.resume("k")[0]
    h.stop("k")
    assert h.save_checkpoint("k")[2].endswith(".zip")             # a stopped run still downloads


def test_open_run_continues_a_cli_run(handlers):
    cfg = config_from_form(dict(FAST, steps=30))
    run = handlers.sessions.root / "cli-run"                      # the CLI's runs under --runs are the owner's
    e = Engine.new(cfg, run)
    e.start()
    assert _wait(lambda: e.state == "finished")
    e.stop()
    choices = [ref for _, ref in handlers.run_choices("k")]
    assert "cli-run" in choices
    assert "reached its 30 steps" in handlers.open_run("cli-run", None, "k")[0]
    msg, status, lr_g, lr_d, n_critic = handlers.open_run("cli-run", 60, "k")
    assert "from step 30" in msg and lr_g == 1e-3 and n_critic == 1
    opened = _engine(handlers, "k")
    assert _wait(lambda: opened.status()["step"] >= 60)


# ---- mistakes become one sentence ---------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (dict(lr_g=0), "learning rate"), (dict(lr_d=-1e-3), "learning rate"),
    (dict(batch_size=0), "batch size"), (dict(batch_size=50_000), "larger than the dataset"),
    (dict(steps=-5), "cannot be negative"), (dict(custom="no-such-set"), "not a dataset this server"),
    (dict(steps=None), "Fill in"), (dict(n_critic=0), "n_critic"),
])
def test_bad_form_values_give_a_message(handlers, change, words):
    msg, status = handlers.start(dict(FAST, **change), "k")
    assert msg.startswith("⚠️") and words in msg
    assert handlers.sessions.get("k").engine is None


def test_bad_upload_and_bad_runs_give_a_message(handlers, tmp_path):
    z = tmp_path / "notes.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.txt", "hello")
        zf.writestr("b.txt", "world")
    msg, custom, model, lr_g, _, _ = handlers.upload([str(z)], "k")
    assert custom == "upload:notes" and model == "dcgan" and lr_g == 2e-4
    msg, _ = handlers.start(dict(FAST, custom=custom, model=model), "k")
    assert msg.startswith("⚠️") and "image" in msg and str(tmp_path) not in msg
    assert handlers.sessions.get("k").engine is None
    assert "not a run" in handlers.open_run(str(tmp_path / "missing"), None, "k")[0]
    (handlers.sessions.root / "empty").mkdir(parents=True)
    assert handlers.open_run("empty", None, "k")[0].startswith("⚠️")
    assert handlers.open_run("", None, "k")[0].startswith("⚠️")
    assert "There is no run yet" in handlers.pause("k")[0]


def test_a_bug_becomes_a_message_and_frees_the_slot(handlers, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(Engine, "new", boom)
    msg, _ = handlers.start(FAST, "k")
    assert msg == "⚠️ Starting the run failed: RuntimeError: disk on fire"
    assert handlers.sessions.scheduler.busy() == 0


def test_build_app_has_a_train_tab(tmp_path):
    demo = build_app(tmp_path / "runs")
    ids = {getattr(b, "elem_id", None) for b in demo.blocks.values()}
    for eid in ("tab-train", "train-dataset", "train-start", "train-pause", "train-resume", "train-step",
                "train-stop", "train-status", "train-curves", "train-points", "train-grid", "train-apply",
                "train-save", "train-gif", "train-open", "train-upload", "train-runs", "train-fork",
                "train-share", "train-broadcast", "train-notice", "tab-classroom"):
        assert eid in ids
    assert isinstance(demo.sessions, Sessions)


def test_curves_gain_fid_and_diversity_panels_when_a_run_has_them():
    rows = _rows(20) + [dict(step=100, fid=80.0, recall=0.2), dict(step=50, fid=120.0, recall=0.1)]
    rows[3]["diversity"] = 0.8
    fig = curves_figure(rows)
    fid = next(t for t in fig.data if t.name == "FID")
    assert list(fid.x) == [50, 100] and list(fid.y) == [120.0, 80.0]          # sorted by step
    assert {"recall", "diversity"} <= {t.name for t in fig.data} and fig.layout.yaxis5.domain is not None
    plain = curves_figure(_rows(20))
    assert "yaxis4" not in plain.layout.to_plotly_json() and plain.layout.height < fig.layout.height
