"""What a newcomer tripped over (issue 28), through the handlers a page calls; the browser tests in
tests/test_ui_browser.py see the same on screen (a reload keeps the run, the shape word comes back)."""
import time

import pytest

from ganlab.devtools import wait_until
from ganlab.server import ServerOptions
from ganlab.ui.broadcast import broadcast_outputs
from ganlab.ui.classroom import ClassroomHandlers
from ganlab.ui.sessions import Sessions
from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers

pytestmark = [pytest.mark.filterwarnings("ignore:.*:UserWarning"),
              pytest.mark.usefixtures("one_torch_thread")]

PASSWORD = "a-long-teacher-password"
FAST = dict(DEFAULT_FORM, batch_size=32, steps=100_000)


class Request:
    def __init__(self, session_hash, host="10.0.0.7"):
        self.session_hash, self.username = session_hash, None
        self.client = type("Client", (), {"host": host})()


def _server(tmp_path, **opts):
    options = ServerOptions(runs=tmp_path / "runs", train_processes=False, play_processes=False, classroom=True,
                            teacher_password=PASSWORD, **{"max_runs": 4, **opts})
    s = Sessions(options=options)
    return s, TrainHandlers(s), ClassroomHandlers(s)


def _page(s, key, token=None, host="10.0.0.7"):
    """A page loading: its session, and the browser's stored secret (as demo.load hands it over)."""
    return s.adopt_token(s.bind(Request(key, host)).key, token)


def _msg(out):
    return str(out[0] if isinstance(out, tuple) else out)


def _step(s, key):
    return s.get(key).train.engine.status()["step"]


# ---- 1. a reload keeps the run; closing the page pauses it after the grace period ------------------------
def test_a_reload_reattaches_to_the_running_run(tmp_path):
    s, h, _ = _server(tmp_path)
    try:
        token = _page(s, "before")
        assert not _msg(h.start(FAST, "before")).startswith("⚠️")
        v = s.get("before").train
        assert v.ticket.ready.wait(30) and wait_until(lambda: _step(s, "before") > 10, 30)
        s.close("before")                                     # the page unloads ...
        _page(s, "after", token)                              # ... and the reloaded one comes in
        after = s.get("after").train
        assert after is v and after.engine.state == "running"
        at = _step(s, "after")
        assert wait_until(lambda: _step(s, "after") > at, 20)  # it kept training
        status = h.tick("after")[0]
        assert "RUNNING" in str(status)                        # and the page draws it again from the start
        assert _page(s, "stranger") and s.get("stranger").train is None   # another browser gets nothing
    finally:
        s.close_all()


def test_a_closed_page_pauses_its_run_after_the_grace_period_and_says_so(tmp_path):
    s, h, _ = _server(tmp_path, idle_minutes=0.03)            # 1.8 s of grace
    try:
        token = _page(s, "p1")
        h.start(FAST, "p1")
        v = s.get("p1").train
        assert v.ticket.ready.wait(30) and wait_until(lambda: v.engine.status()["step"] > 10, 30)
        s.close("p1")
        time.sleep(0.5)
        assert v.engine.state == "running"                     # still training within the grace period
        assert wait_until(lambda: v.engine.state == "paused", 20)
        assert wait_until(lambda: v.engine.status()["checkpoint"] and v.notice, 20)
        _page(s, "p2", token)
        assert s.get("p2").train is v
        status = h.tick("p2")[0]
        assert "You left the page" in str(status) and "paused" in str(status)
        assert "Training from step" in _msg(h.resume("p2"))
        assert "You left the page" not in str(h._status("p2"))
    finally:
        s.close_all()


# ---- 2 and 3. forking a broadcast leaves it running; its owner does not see it as read-only -------------------
def test_forking_the_broadcast_leaves_it_running_and_its_owner_sees_it_as_their_own(tmp_path):
    s, h, room = _server(tmp_path)
    try:
        _page(s, "teacher"), _page(s, "student", host="10.0.0.8")
        room.sign_in(PASSWORD, "teacher", "10.0.0.7")
        h.start(FAST, "teacher")
        v = s.get("teacher").train
        assert v.ticket.ready.wait(30) and wait_until(lambda: v.engine.status()["step"] > 20, 30)
        ref = s.access.ref(v.path)
        room.broadcast(ref, "teacher")
        out = broadcast_outputs(s, s.get("teacher"))
        assert "Fork it" not in str(out[5]) and "READ-ONLY" not in str(out[1]) and "The class sees" in str(out[5])
        out = broadcast_outputs(s, s.get("student"))
        assert "Broadcast by your teacher" in str(out[1]) and "Fork it" in str(out[5])
        for who in ("student", "teacher"):                     # a student forks it, then the teacher too
            assert "Forked" in _msg(h.fork(ref, FAST, who)), who
            time.sleep(1.0)
            at = v.engine.status()["step"]
            assert v.engine.state == "running" and wait_until(lambda: v.engine.status()["step"] > at, 20), who
        _page(s, "late", host="10.0.0.9")                       # a page opened now sees the broadcast still live
        s.classroom.frame = None                                 # (not the frame drawn a moment ago)
        assert "RUNNING" in str(broadcast_outputs(s, s.get("late"))[1])
        assert any(r[4] == "running" and r[6] == ref for r in room.runs("teacher"))   # still in the table
        assert "Moved" in _msg(h.open_run(ref, None, "teacher"))   # and the teacher can take it back
    finally:
        s.close_all()


# ---- 4. the teacher's sign-in lasts for the browser ------------------------------------------------------
def test_the_teacher_sign_in_survives_a_reload(tmp_path):
    s, _, room = _server(tmp_path)
    try:
        token = _page(s, "a")
        room.sign_in(PASSWORD, "a", "10.0.0.7")
        s.close("a")
        _page(s, "b", token)
        assert s.is_teacher("b")
        assert not (_page(s, "c") and s.is_teacher("c"))
    finally:
        s.close_all()


# ---- 6. Playground panels are not runs in Your runs, Explore or Compare ---------------------------------------
def test_a_playground_lesson_adds_nothing_to_the_run_lists(tmp_path):
    from ganlab.ui.compare_tab import CompareHandlers
    from ganlab.ui.playground import PlaygroundHandlers
    s, h, _ = _server(tmp_path)
    try:
        play = PlaygroundHandlers(s)
        _page(s, "k")
        assert "Lesson loaded" in play.load_lesson("fixes", "k")[0]
        play.play("k")
        panels = s.get("k").play.panels
        assert len(panels) == 3 and wait_until(lambda: all(p.engine.status()["step"] > 2 for p in panels), 30)
        assert s.access.visible_runs(s.who("k")) == []
        listed = [str(c) for c in CompareHandlers(s).choices("k") + h.run_choices("k")]
        assert listed and not [c for c in listed if "play-" in c or "playground" in c], listed
    finally:
        s.close_all()


# ---- 11. "Healthy so far" is not said beside a low recall -------------------------------------------------------
def test_a_low_recall_is_said_instead_of_healthy():
    from ganlab.metrics.health import HealthMonitor, health_markdown
    h = HealthMonitor()
    for step in range(0, 3000, 100):
        h.observe({"step": step, "loss_d": 1.0, "loss_g": 1.0, "d_real": 0.6, "d_fake": 0.4, "grad_norm_g": 1.0,
                   "diversity": 0.9})
    assert "Healthy so far" in health_markdown(h.findings())
    h.observe({"step": 3000, "fid": 80.0, "precision": 0.6, "recall": 0.15})
    text = health_markdown(h.findings())
    assert "Healthy so far" not in text and "covers little" in text and "0.15" in text
    h.observe({"step": 4000, "fid": 40.0, "precision": 0.6, "recall": 0.5})
    assert "Healthy so far" in health_markdown(h.findings())


# ---- 11. the Train tab's placeholder follows the dataset picked --------------------------------------------------
def test_the_placeholder_says_what_start_will_train(tmp_path):
    s, h, _ = _server(tmp_path)
    try:
        text, points = h.placeholder("fashion-mnist", "dcgan", "k")
        assert "dcgan on fashion-mnist" in text and "ring" not in text and points["visible"] is False
        text, points = h.placeholder("ring", "mlp", "k")
        assert "mlp on ring" in text and points["visible"] is True
        h.start(FAST, "k")                                       # with a run on the page, the run's status stays
        import gradio as gr
        assert h.placeholder("mnist", "dcgan", "k") == (gr.skip(), gr.skip())
    finally:
        s.close_all()


# ---- 11. a finished 2-D run keeps its plot's title, axes and legend --------------------------------------------
def test_a_finished_ring_run_is_drawn_as_a_plot_not_a_picture(tmp_path):
    from ganlab.ui.runview import DiskRun
    from ganlab.ui.train_view import render
    from ganlab.ui.sessions import TrainView
    s, h, _ = _server(tmp_path)
    try:
        h.start(dict(FAST, steps=40), "k")
        v = s.get("k").train
        assert v.ticket.ready.wait(30)
        assert wait_until(lambda: (v.path / "checkpoints" / "step_000040" / "state.safetensors").exists(), 90)
        snap = DiskRun(v.path).snapshot(0, -1)
        step, x = snap["samples"]
        assert step == 40 and tuple(x.shape) == (512, 2)          # points, not a saved picture
        view = TrainView(path=v.path, mine=False, source=DiskRun(v.path))
        out = render(s, view)
        fig = out[2]["value"] if isinstance(out[2], dict) and "value" in out[2] else out[2]
        text = str(fig)
        assert "G(z)" in text and "real data" in text and "step 40" in text
    finally:
        s.close_all()


# ---- 13. the Classroom gallery: one labelled tile per student --------------------------------------------------
def test_the_gallery_shows_one_labelled_tile_per_student(tmp_path):
    import numpy as np
    s, h, room = _server(tmp_path)
    try:
        _page(s, "teacher")
        room.sign_in(PASSWORD, "teacher", "10.0.0.7")
        _page(s, "ann1", host="10.0.0.8")
        h.start(dict(FAST, steps=30), "ann1")
        v = s.get("ann1").train
        assert v.ticket.ready.wait(30)
        assert wait_until(lambda: (v.path / "checkpoints" / "step_000030" / "state.safetensors").exists(), 90)
        ann = s.get("ann1").who
        s.get("ann2").who = ann                                  # the same student in a second tab, a newer run
        h.start(dict(FAST, steps=100_000), "ann2")
        w = s.get("ann2").train
        assert w.ticket.ready.wait(30) and wait_until(lambda: w.engine.status()["step"] > 40, 30)
        tiles = room.gallery("teacher")
        assert len(tiles) == 1                                   # one tile for her, her furthest run
        picture, caption = tiles[0]
        assert ann.label in caption and "step" in caption
        top = np.asarray(picture)[:12]
        assert (top < 100).any() and picture.width == 256        # the label is written on the tile itself
    finally:
        s.close_all()
