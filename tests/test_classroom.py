"""A shared server: users kept apart, no path from a page to the server's files, the teacher's powers.

Everything here goes through the tab handlers, as a page would (runs on threads, so the tests can look
inside them); tests/test_server.py drives a real server through gradio_client and HTTP.
"""
import json
import os
import sys
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.access import Access, Identity
from ganlab.config import DataConfig
from ganlab.devtools import wait_until
from ganlab.errors import GanlabError
from ganlab.server import ServerOptions
from ganlab.ui.classroom import NOT_TEACHER, ClassroomHandlers
from ganlab.ui.explore import ExploreHandlers
from ganlab.ui.sessions import Sessions
from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers

pytestmark = [pytest.mark.filterwarnings("ignore:.*:UserWarning"),   # gr.Warning outside a request
              pytest.mark.usefixtures("one_torch_thread")]

FAST = dict(DEFAULT_FORM, batch_size=32, steps=100_000)




def _wait(pred, timeout=20.0):
    return wait_until(pred, timeout, every=0.02)


def _server(tmp_path, **opts):
    options = ServerOptions(runs=tmp_path / "runs", train_processes=False, play_processes=False, classroom=True,
                            teacher_password="teach", **opts)
    s = Sessions(options=options)
    return s, TrainHandlers(s), ClassroomHandlers(s)


@pytest.fixture
def server(tmp_path):
    s, h, c = _server(tmp_path, max_runs=4)
    yield s, h, c
    s.close_all()


def _engine(h, key, timeout=30):
    v = h.sessions.get(key).train
    assert v.ticket.ready.wait(timeout), "the run did not start"
    return v.engine


def _ok(out):
    msg = out[0] if isinstance(out, tuple) else out
    assert not str(msg).startswith("⚠️"), msg
    return msg


def _refused(out, words=""):
    msg = out[0] if isinstance(out, tuple) else out
    assert str(msg).startswith("⚠️") and words in msg, msg
    return msg


# ---- users kept apart ------------------------------------------------------------------------------------
def test_a_user_cannot_see_pause_step_stop_open_or_fork_anothers_run(server):
    s, h, room = server
    _ok(h.start(FAST, "alice"))
    a = _engine(h, "alice")
    assert _wait(lambda: a.status()["step"] > 20)
    ref = s.access.ref(a.run.path)
    assert ref in [r for _, r in h.run_choices("alice")]
    assert ref not in [r for _, r in h.run_choices("bob")]             # not listed for bob
    for action in (h.pause, h.step, h.stop, h.resume, h.save_checkpoint):   # bob's buttons reach only bob's run
        _refused(action("bob"), "no run yet")
    _refused(h.open_run(ref, None, "bob"), "not a run you may open")
    _refused(h.fork(ref, FAST, "bob"), "not a run you may open")
    _refused(h.share(ref, True, "bob"), "not a run you may open")
    _refused(_catch(lambda: room.stop_run(ref, "bob")), NOT_TEACHER)
    ex = ExploreHandlers(s)
    with pytest.raises(GanlabError, match="not a run you may open"):
        ex.select(ref, "bob")
    assert a.state == "running"                                         # untouched through all of that
    # shared by its owner: bob may look and fork, not train it
    _ok(h.share(ref, True, "alice"))
    assert ref in [r for _, r in h.run_choices("bob")]
    msg = _ok(h.open_run(ref, None, "bob"))
    assert "read-only" in msg and not s.get("bob").train.mine
    assert a.state == "running"                                         # opening it read-only changed nothing
    _refused(h.pause("bob"), "read-only")
    _refused(h.stop("bob"), "read-only")
    h.tick("bob")
    status = s.get("bob").train.status_text
    assert "READ-ONLY" in status and "RUNNING" in status                # a live view of alice's run
    before = sorted(p.name for p in (a.run.path / "checkpoints").iterdir())
    msg = _ok(h.fork(ref, dict(FAST, lr_g=5e-4), "bob"))
    assert "Forked" in msg and "lr G 0.0005" in msg
    b = _engine(h, "bob")
    assert b.run.path != a.run.path and json.loads((b.run.path / "owner.json").read_text())["owner"] == \
        s.who("bob").owner
    assert b.status()["step"] >= 20 and b.status()["lr_g"] == 5e-4      # alice's state, bob's settings
    assert sorted(p.name for p in (a.run.path / "checkpoints").iterdir()) == before   # nothing written there
    assert s.access.record(b.run.path)["forked_from"] == ref


def _catch(fn):
    try:
        return fn()
    except GanlabError as e:
        return f"⚠️ {e}"


def test_folders_carry_no_part_of_the_session_key_and_owners_survive_a_restart(tmp_path):
    s, h, _ = _server(tmp_path, auth={"alice": "pw"})
    s.get("sess-alice-1", user="alice")                                 # signed in: the run is the account's
    _ok(h.start(dict(FAST, steps=40), "sess-alice-1"))
    e = _engine(h, "sess-alice-1")
    assert _wait(lambda: e.state in ("finished", "stopped"))
    path = e.run.path
    assert "sess" not in path.name and "alice" not in path.name
    s.close_all()
    # a restart: new sessions over the same folder; alice, in another browser, sees her run and resumes it
    s2, h2, _ = _server(tmp_path, auth={"alice": "pw"})
    try:
        s2.get("other-browser", user="alice")
        refs = [r for _, r in h2.run_choices("other-browser")]
        ref = s2.access.ref(path)
        assert ref in refs
        assert ref not in [r for _, r in h2.run_choices("a-stranger")]
        msg, *_ = h2.open_run(ref, 60, "other-browser")
        assert "from step 40" in msg
        resumed = _engine(h2, "other-browser")
        assert _wait(lambda: resumed.status()["step"] >= 60)
    finally:
        s2.close_all()


def test_a_browser_keeps_its_runs_with_the_secret_it_stores(tmp_path):
    s, h, _ = _server(tmp_path)
    token = s.adopt_token("tab-1", None)                                # first visit: a new secret for the page
    assert len(token) >= 32
    _ok(h.start(dict(FAST, steps=30), "tab-1"))
    e = _engine(h, "tab-1")
    assert _wait(lambda: e.state in ("finished", "stopped"))
    ref = s.access.ref(e.run.path)
    s.close_all()
    s2, h2, _ = _server(tmp_path)
    try:
        assert s2.adopt_token("tab-2", token) == token                  # the page sends it back after a restart
        assert ref in [r for _, r in h2.run_choices("tab-2")]
        s2.adopt_token("tab-3", "forged" * 8)                           # another secret is another browser
        assert ref not in [r for _, r in h2.run_choices("tab-3")]
        assert s2.adopt_token("tab-4", "../../x") != "../../x"          # a malformed one is replaced
    finally:
        s2.close_all()


# ---- no path from a page to the server's files ----------------------------------------------------------
@pytest.fixture
def opened(monkeypatch):
    """Every path the process opens from now on (an audit hook: it sees os.open, io.open, PIL, torch)."""
    seen = []
    active = [True]

    def hook(event, args):
        if active[0] and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            seen.append(os.fsdecode(args[0]))
    sys.addaudithook(hook)
    yield seen
    active[0] = False


def test_typed_datasets_outside_the_allowed_roots_are_refused_and_read_nothing(tmp_path, opened):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "passwd.csv").write_text("root:x:0:0:root:/root:/bin/bash\n0.1,0.2\n")
    Image.new("RGB", (8, 8), "green").save(secret / "photo.png")
    roots = tmp_path / "datasets"
    (roots / "cats").mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(roots / "cats" / "a.png")
    os.symlink(secret, roots / "escape")                                # a link out of the data root
    access = Access(tmp_path / "runs", data_roots=[roots])
    alice, bob = Identity.user("alice"), Identity.user("bob")
    bobs = access.new_upload(bob, "bobs")
    Image.new("RGB", (8, 8), "red").save(bobs / "mine.png")
    opened.clear()
    for typed in (f"points:{secret / 'passwd.csv'}", f"folder:{secret}", "folder:/", "folder:/etc",
                  f"folder:{roots}/../secret", "folder:escape", "folder:cats/../../secret", "points:passwd.csv",
                  f"folder:{bobs}", "upload:bobs", f"points:{bobs / 'mine.png'}", "torchvision:../../etc",
                  "/etc/passwd", "ring:/etc/passwd", "captioned:/etc"):
        with pytest.raises(GanlabError) as err:
            access.dataset(typed, alice)
        assert "root:x" not in str(err.value)
    assert not [p for p in opened if "secret" in p or p.startswith("/etc") or "mine.png" in p], opened
    # what is allowed: built-in sets, torchvision names, folders under the roots, one's own uploads
    assert access.dataset("fashion-mnist", alice) == "fashion-mnist"
    assert access.dataset("torchvision:CIFAR10", alice) == "torchvision:CIFAR10"
    assert access.dataset("folder:cats", alice) == f"folder:{os.path.realpath(roots / 'cats')}"
    assert access.dataset("upload:bobs", bob) == f"folder:{os.path.realpath(bobs)}"
    assert access.display_dataset(access.dataset("upload:bobs", bob)) == "upload:bobs"


def test_a_page_typing_a_server_path_gets_one_sentence_and_the_cli_keeps_full_paths(server, tmp_path):
    s, h, _ = server
    csv = tmp_path / "points.csv"
    csv.write_text("x,y\n0.1,0.2\n0.3,0.4\nnot a number here\n")
    msg = _refused(h.start(dict(FAST, custom=f"points:{csv}"), "k"), "not a dataset this server lets")
    assert "upload:NAME" in msg and "not a number" not in msg
    from ganlab.data import load_dataset  # the CLI, run by the machine's owner
    with pytest.raises(GanlabError) as err:
        load_dataset(DataConfig(name=f"points:{csv}"))
    assert "line 4" in str(err.value) and "not a number" not in str(err.value)   # never the file's contents


def test_nearest_images_only_from_sets_the_page_may_see(tmp_path):
    from ganlab.config import ModelConfig, RunConfig, TrainConfig
    from ganlab.engine import Engine
    s, h, _ = _server(tmp_path)
    try:
        alice = s.who("alice")
        up = s.access.new_upload(alice, "faces")
        for i in range(8):
            Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(up / f"{i}.png")
        cfg = RunConfig(DataConfig(name=f"folder:{up}", resolution=28, channels=1),
                        ModelConfig(name="dcgan", width=4, z_dim=4),
                        TrainConfig(steps=1, batch_size=4, n_samples=4))
        run = s.access.new_run_dir(alice, cfg.data.name)
        e = Engine.new(cfg, run)
        e.step_once()
        e.stop()
        s.access.share(run, True, alice)
        ex = ExploreHandlers(s)
        view = dict(seed_a=1, seed_b=2, t=0, psi=1.0, directions=[0] * 5)
        ref = s.access.ref(run)
        ex.select(ref, "alice")
        assert "nearest of 8 training images" in ex.nearest(view, "alice")[1]
        ex.select(ref, "bob")                                           # shared: bob may explore the generator,
        with pytest.raises(GanlabError, match="someone else's uploaded images"):
            ex.nearest(view, "bob")                                     # but not see alice's photos
    finally:
        s.close_all()


# ---- nothing lost when things fail --------------------------------------------------------------------------
def test_out_of_memory_stops_that_run_only_and_says_how_to_fit(server, monkeypatch):
    s, h, _ = server
    _ok(h.start(FAST, "a"))
    _ok(h.start(FAST, "b"))
    a, b = _engine(h, "a"), _engine(h, "b")
    assert _wait(lambda: a.status()["step"] > 30 and b.status()["step"] > 30)
    real = a.trainer.step

    def oom():
        if a.trainer.step_count >= 50:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real()
    monkeypatch.setattr(a.trainer, "step", oom)
    assert _wait(lambda: a.state == "error")
    err = a.status()["error"]
    assert "ran out of memory" in err and "batch size of 16" in err and "last good checkpoint is step" in err
    saved = int(err.split("checkpoint is step ")[1].split(":")[0].replace(",", ""))
    assert (a.run.path / "checkpoints" / f"step_{saved:06d}" / "state.safetensors").is_file()
    assert _wait(lambda: "ran out of memory" in (h.tick("a")[0] or ""), 5)   # said on that user's page
    assert _wait(lambda: s.scheduler.busy() == 1)                       # its slot was released
    at = b.status()["step"]
    assert _wait(lambda: b.status()["step"] > at + 20) and b.state == "running"    # the other run goes on
    monkeypatch.setattr(a.trainer, "step", real)
    msg = _ok(h.resume("a"))                                            # and the failed one resumes
    assert f"from step {saved:,}" in msg


def test_a_training_thread_that_raises_reports_it_and_frees_the_slot(tmp_path, monkeypatch):
    s, h, _ = _server(tmp_path, max_runs=1)
    try:
        _ok(h.start(FAST, "a"))
        a = _engine(h, "a")
        assert _wait(lambda: a.status()["step"] > 10)
        _ok(h.start(FAST, "b"))                                         # waits behind a
        monkeypatch.setattr(a.trainer, "step", lambda: 1 / 0)
        assert _wait(lambda: a.state == "error")
        assert "ZeroDivisionError" in a.status()["error"]
        assert _wait(lambda: "ZeroDivisionError" in (h.tick("a")[0] or ""), 5)
        assert _engine(h, "b") is not None                              # a's slot went to b
    finally:
        s.close_all()


def test_ui_runs_checkpoint_every_few_minutes_and_when_paused_for_long(tmp_path):
    s, h, _ = _server(tmp_path, checkpoint_minutes=0.5 / 60, release_minutes=1 / 60)   # 0.5 s and 1 s
    try:
        _ok(h.start(FAST, "k"))
        e = _engine(h, "k")
        ckpts = e.run.path / "checkpoints"
        assert _wait(lambda: len(list(ckpts.glob("step_*"))) >= 2, 10)  # by time, while it trains
        h.pause("k")
        at = e.status()["step"]
        assert _wait(lambda: e.state == "stopped", 10)                  # paused too long: saved and stopped
        assert (ckpts / f"step_{at:06d}").is_dir() and s.scheduler.busy() == 0
        assert "PAUSED" in h.tick("k")[0]
        assert f"from step {at:,}" in _ok(h.resume("k"))
    finally:
        s.close_all()


def test_kill_9_in_the_middle_of_a_checkpoint_leaves_the_previous_one_loadable(tmp_path):
    """A real child process writes checkpoints while being killed; whatever is left loads."""
    import signal
    import subprocess
    script = tmp_path / "writer.py"
    script.write_text(f"""
import sys, time
import safetensors.torch as st
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.checkpoint import save_checkpoint
from ganlab.trainer import Trainer
cfg = RunConfig(DataConfig(name="ring", n=200), ModelConfig(name="mlp", width=256), TrainConfig(batch_size=16))
t = Trainer(cfg)
save_checkpoint(t, {str(tmp_path / 'ckpts' / 'step_000001')!r})
real = st.save_file
def slow(tensors, path, metadata=None):
    real(tensors, path, metadata=metadata)
    print("writing", flush=True)
    time.sleep(30)                       # killed here: the new checkpoint is half written
st.save_file = slow
import ganlab.checkpoint as c
c.save_file = slow
t.step_count = 2
save_checkpoint(t, {str(tmp_path / 'ckpts' / 'step_000002')!r})
""")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    from ganlab.checkpoint import latest_checkpoint, load_checkpoint
    from ganlab.config import ModelConfig, RunConfig, TrainConfig
    from ganlab.trainer import Trainer
    ckpt = latest_checkpoint(tmp_path / "ckpts")
    assert ckpt.name == "step_000001"                                   # the half-written one is invisible
    t = Trainer(RunConfig(DataConfig(name="ring", n=200), ModelConfig(name="mlp", width=256),
                          TrainConfig(batch_size=16)))
    load_checkpoint(t, ckpt)
    assert t.step_count == 0                                            # the first checkpoint's step
    assert any(p.name.startswith(".tmp-") for p in (tmp_path / "ckpts").iterdir())   # the wreck is hidden


# ---- fair sharing ---------------------------------------------------------------------------------------------
def test_the_memory_estimate_refuses_an_oversized_run_before_loading_anything(tmp_path):
    import re
    s, h, _ = _server(tmp_path, memory_budget=2 * 2**30)                # a 2 GB server
    try:
        msg = _refused(h.start(dict(FAST, dataset="shapes", model="dcgan", resolution=64, batch_size=8192), "k"))
        found = re.search(r"needs about .* batch size ([\d,]+) would fit", msg)
        assert found, msg
        fits = int(found.group(1).replace(",", ""))
        assert s.data.loads == 0 and s.scheduler.tickets() == []       # nothing loaded, nothing queued
        assert not (s.root / "ui").exists() or not any((s.root / "ui").iterdir())   # no run folder either
        _ok(h.start(dict(FAST, dataset="shapes", model="dcgan", resolution=64, batch_size=fits), "k"))   # it fits
        _refused(h.start(dict(FAST, eval_every=100, eval_n=200_000, dataset="fashion-mnist", model="dcgan"), "k"),
                 "eval")                                                # the FID estimate's size is capped too
    finally:
        s.close_all()


def test_uploads_have_a_size_limit_and_quotas(tmp_path):
    s, h, _ = _server(tmp_path, max_upload=60_000, upload_quota=100_000, upload_total=150_000)
    try:
        def png(name, size):
            p = tmp_path / name
            p.write_bytes(os.urandom(size))
            return str(p)
        big = tmp_path / "big.zip"
        with zipfile.ZipFile(big, "w") as zf:
            zf.writestr("a.png", os.urandom(70_000))
        _refused(h.upload([str(big)], "a"), "at most")                 # a zip over the upload limit
        _ok(h.upload([png("1.png", 50_000)], "a"))
        _refused(h.upload([png("2.png", 55_000)], "a"), "Delete my uploads")      # alice's quota is full
        _ok(h.upload([png("3.png", 55_000)], "b"))
        _refused(h.upload([png("4.png", 50_000)], "c"), "space for uploads is full")   # the server's is
        assert "Deleted your 1 upload" in h.remove_uploads("a")
        _ok(h.upload([png("5.png", 40_000)], "c"))
    finally:
        s.close_all()


def test_an_idle_browser_is_closed_and_its_run_checkpointed_and_paused(tmp_path):
    s, h, _ = _server(tmp_path, idle_minutes=0.5 / 60)
    try:
        _ok(h.start(FAST, "gone"))
        e = _engine(h, "gone")
        time.sleep(1.0)
        s._swept = 0.0                                                  # sweep now, not in 30 s
        s.bind(type("R", (), {"session_hash": "someone-else", "username": None})())
        assert _wait(lambda: e.state == "paused" and e.status()["checkpoint"], 10) and s.peek("gone") is None
        assert (e.run.path / "checkpoints").is_dir() and list((e.run.path / "checkpoints").iterdir())
    finally:
        s.close_all()


def test_playground_runs_take_slots_and_give_them_back_when_idle(tmp_path, monkeypatch):
    import ganlab.ui.playground as pg
    import ganlab.ui.train_handlers as th
    from ganlab.ui.playground import DEFAULT_SETTINGS, LIVE_DEFAULTS, PlaygroundHandlers
    monkeypatch.setattr(th, "START_WAIT", 0.2)                          # answer at once: do not wait for the slot
    monkeypatch.setattr(pg, "START_WAIT", 0.2)
    s, h, _ = _server(tmp_path, max_runs=1, release_minutes=1.5 / 60)
    try:
        play = PlaygroundHandlers(s, processes=False)
        play.open("p")                                                  # the pretrained ring: one slot, idle
        assert s.scheduler.busy() == 1
        assert "1st in line" in h.start(FAST, "t")[0]                   # a Train run waits for it
        e = _engine(h, "t")                                             # the idle playground gave it back
        assert e.state == "running" and s.get("p").play.panels[0].engine.state == "stopped"
        assert "1st in line" in play.play("p")                          # its Play waits its turn in line
        h.stop("t")
        assert _wait(lambda: s.get("p").play.panels and s.get("p").play.panels[0].engine.state == "running")
        assert play.new(dict(DEFAULT_SETTINGS), dict(LIVE_DEFAULTS), "p").startswith("New ring run")
    finally:
        s.close_all()


# ---- the teacher ---------------------------------------------------------------------------------------------
def test_students_cannot_use_the_teachers_actions(server):
    s, h, room = server
    _ok(h.start(FAST, "student"))
    e = _engine(h, "student")
    ref = s.access.ref(e.run.path)
    for act in (lambda: room.runs("student"), lambda: room.stop_run(ref, "student"),
                lambda: room.pause_run(ref, "student"), lambda: room.broadcast(ref, "student"),
                lambda: room.end_broadcast("student"), lambda: room.push_lesson("collapse", "student"),
                lambda: room.gallery("student")):
        with pytest.raises(GanlabError, match="Only the teacher"):
            act()
    with pytest.raises(GanlabError, match="not the teacher password"):
        room.sign_in("guess", "student")
    for _ in range(4):
        _catch(lambda: room.sign_in("guess", "student"))
    with pytest.raises(GanlabError, match="Too many wrong passwords"):
        room.sign_in("teach", "student")                                # locked out for a minute, even if right
    assert e.state == "running" and s.classroom.broadcast is None and s.classroom.lesson is None


def test_the_teacher_sees_every_run_broadcasts_one_and_a_student_forks_it(server):
    s, h, room = server
    assert "Signed in as the teacher" in room.sign_in("teach", "teacher")
    _ok(h.start(FAST, "teacher"))
    _ok(h.start(dict(FAST, lr_g=2e-3), "student"))
    t, st = _engine(h, "teacher"), _engine(h, "student")
    assert _wait(lambda: t.status()["step"] > 20 and st.status()["step"] > 20)
    rows = room.runs("teacher")
    assert len(rows) == 2 and {r[4] for r in rows} == {"running"} and all(r[1] == "ring" for r in rows)
    assert {r[0] for r in rows} == {s.who("teacher").label, s.who("student").label}
    assert len(room.gallery("teacher")) == 2
    ref = s.access.ref(t.run.path)
    assert "Broadcasting" in room.broadcast(ref, "teacher")
    out = h.tick("student")
    box, status, curves, points = out[6:10]
    assert box["visible"] and ref in status and "Broadcast by your teacher" in status   # beside the student's own
    assert json.loads(curves)["data"] and points["visible"]
    assert "Fork it" in out[11]
    at = t.status()["step"]
    assert _wait(lambda: t.status()["step"] > at + 20)
    time.sleep(1.1)
    later = h.tick("student")
    assert later[7] != status                                           # it updates, live
    msg = _ok(h.fork(ref, FAST, "student"))                             # the student's own copy of it
    assert "Forked" in msg and _engine(h, "student").run.path != t.run.path
    assert "Paused" in room.pause_run(ref, "teacher") and t.state == "paused"
    assert "Stopped" in room.stop_run(s.access.ref(_engine(h, "student").run.path), "teacher")
    assert "Pushed" in room.push_lesson("collapse", "teacher") and s.classroom.lesson_seq == 1
    assert "pushed" in h.tick("student")[11]
    assert "ended" in room.end_broadcast("teacher")
    assert h.tick("student")[6]["visible"] is False


def test_a_pushed_lesson_loads_in_every_playground(tmp_path):
    from ganlab.ui.playground import PlaygroundHandlers
    s, h, room = _server(tmp_path, max_runs=8)
    try:
        play = PlaygroundHandlers(s, processes=False)
        play.open("student")
        room.sign_in("teach", "teacher")
        room.push_lesson("fixes", "teacher")
        assert play.pushed("student")
        msg, text = play.load_pushed("student")
        assert "teacher pushed" in msg and "2." in text and len(s.get("student").play.panels) == 3
        assert not play.pushed("student")                               # once
        play.open("late")                                               # a student opening the tab later gets it
        assert len(s.get("late").play.panels) == 3
    finally:
        s.close_all()


def test_opening_a_shipped_model_is_read_only_and_training_it_forks_it(server):
    s, h, _ = server
    model = s.models_root / "mnist-cgan"
    if not model.is_dir():
        pytest.skip("no shipped mnist-cgan")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in model.rglob("*"))
    msg = _ok(h.open_run("models/mnist-cgan", None, "k"))
    assert "read-only" in msg and not s.get("k").train.mine
    _refused(h.resume("k"), "read-only")
    msg = _ok(h.fork("models/mnist-cgan", dict(FAST, steps=3, batch_size=16, lr_g=1e-4, lr_d=1e-4), "k"))
    assert "G from the shipped model mnist-cgan and a fresh D" in msg
    e = _engine(h, "k")
    assert _wait(lambda: e.state in ("finished", "stopped"), 60)
    assert e.run.path.parent == s.root / "ui" and s.access.can_write(e.run.path, s.who("k"))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in model.rglob("*")) == before     # nothing written there
