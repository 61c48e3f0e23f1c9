"""What a determined student can try on a shared server (issue 27), through the handlers a page calls.

tests/test_server.py tries the same against a live server (guesses from fresh sessions, Gradio's upload
route, a 20 MB value, requests without a session).
"""
import gc
import logging
import os

import pytest

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.devtools import wait_until
from ganlab.errors import GanlabError
from ganlab.server import ServerOptions
from ganlab.ui.classroom import ClassroomHandlers
from ganlab.ui.common import MAX_TEXT, for_the_page, guarded
from ganlab.ui.explore import ExploreHandlers
from ganlab.ui.sessions import Sessions
from ganlab.ui.throttle import Throttle
from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers

pytestmark = [pytest.mark.filterwarnings("ignore:.*:UserWarning"),   # gr.Warning outside a request
              pytest.mark.usefixtures("one_torch_thread")]

PASSWORD = "a-long-teacher-password"
FAST = dict(DEFAULT_FORM, batch_size=32, steps=100_000)


class Request:
    """What Sessions.bind reads off a gr.Request."""

    def __init__(self, session_hash, host="10.0.0.7", username=None):
        self.session_hash, self.username = session_hash, username
        self.client = type("Client", (), {"host": host})()


def _server(tmp_path, **opts):
    options = ServerOptions(runs=tmp_path / "runs", play_processes=False, classroom=True, teacher_password=PASSWORD,
                            **{"max_runs": 4, "train_processes": False, **opts})
    s = Sessions(options=options)
    return s, TrainHandlers(s), ClassroomHandlers(s)


@pytest.fixture
def server(tmp_path):
    s, h, c = _server(tmp_path)
    yield s, h, c
    s.close_all()


def _msg(out):
    return str(out[0] if isinstance(out, tuple) else out)


# ---- 1. teacher sign-in ------------------------------------------------------------------------------------
def test_thirty_guesses_from_fresh_sessions_are_locked_out(server, caplog):
    s, _, room = server
    caplog.set_level(logging.WARNING)
    answers = []
    for i in range(30):                                   # a new session before every guess, one address
        key = s.bind(Request(f"guesser{i}")).key
        try:
            room.sign_in(f"guess-{i}", key, "10.0.0.7")
        except GanlabError as e:
            answers.append(str(e))
    assert answers[:5] == ["That is not the teacher password."] * 5
    assert all("locked" in a for a in answers[5:]), answers[5:8]
    with pytest.raises(GanlabError, match="locked"):      # the right password waits too, from that address
        room.sign_in(PASSWORD, s.bind(Request("fresh")).key, "10.0.0.7")
    assert not s.is_teacher("fresh")
    assert "wrong teacher password from 10.0.0.7" in caplog.text
    assert "Signed in" in room.sign_in(PASSWORD, s.bind(Request("teacher", host="10.0.0.9")).key, "10.0.0.9")


def test_guesses_from_many_addresses_lock_everyone_and_back_off_doubles():
    now = [0.0]
    t = Throttle(free=5, window=600, base=30, cap=3600, total=20, clock=lambda: now[0])
    for i in range(21):                                   # 21 addresses, one guess each: the server-wide count
        t.check(f"10.0.1.{i}")
        t.failed(f"10.0.1.{i}")
    with pytest.raises(GanlabError, match="locked"):
        t.check("10.0.9.9")                               # an address that never guessed waits as well
    one = Throttle(free=2, base=10, total=100, clock=lambda: now[0])
    waits = []
    for _ in range(4):
        one.failed("x")
        waits.append(one.wait("x"))
    assert waits == [0.0, 10.0, 20.0, 40.0]


def test_a_short_teacher_password_is_refused_and_none_makes_one(capsys):
    from ganlab.server import parse_options
    with pytest.raises(GanlabError, match="at least 12 characters"):
        parse_options(["--classroom", "--teacher-password", "teach"], environ={})
    o = parse_options(["--classroom"], environ={})
    assert o.generated_password and len(o.teacher_password) >= 12


def test_the_teacher_stays_signed_in_after_a_reload_and_a_forged_request_does_not(server):
    s, _, room = server
    token = s.adopt_token(s.bind(Request("page1")).key, None)
    room.sign_in(PASSWORD, "page1", "10.0.0.7")
    assert s.is_teacher("page1")
    s.close("page1")                                      # the page reloads: a new session hash, the same secret
    s.adopt_token(s.bind(Request("page2")).key, token)
    assert s.is_teacher("page2")
    s.adopt_token(s.bind(Request("forged")).key, "f" * 48)   # a made-up secret is nobody's
    assert not s.is_teacher("forged")


# ---- 2. every request belongs to a session ------------------------------------------------------------------
def test_requests_without_a_session_hash_share_nothing(server):
    s, h, _ = server
    for bad in (None, "", "../x", "a" * 500):
        with pytest.raises(GanlabError, match="no browser session"):
            s.bind(Request(bad))
        with pytest.raises(GanlabError, match="no browser session"):
            s.get(bad)
    assert "no browser session" in _msg(h.start(FAST, None))
    assert len(s) == 0                                    # nothing was made for them
    assert not _msg(h.start(FAST, "alice")).startswith("⚠️")
    assert _msg(h.stop(None)).startswith("⚠️") and _msg(h.stop("")).startswith("⚠️")
    assert s.get("alice").train.ticket.state in ("starting", "active")     # hers trains on
    h.stop("alice")


# ---- 5 and 10. bounded inputs, and messages without server paths --------------------------------------------
def test_a_huge_value_is_refused_before_it_is_logged_or_echoed(server, caplog):
    s, h, _ = server
    caplog.set_level(logging.DEBUG)
    huge = "x" * (20 * 2**20)
    msg = _msg(h.open_run(huge, None, "alice"))
    assert "longer than this page takes" in msg and len(msg) < 400
    assert "xxxxxxxxxx" not in caplog.text and "xxxxxxxxxx" not in msg


def test_no_message_names_a_server_path_or_a_python_exception(server, tmp_path):
    s, h, _ = server
    root = str((tmp_path / "runs").resolve())
    ex = ExploreHandlers(s)
    hostile = ["x" * 300, "../../etc/passwd", "/etc/passwd", str(tmp_path / "runs" / "ui"), "\x00", "models/../..",
               "x" * 1999]
    said = []
    for v in hostile:
        said.append(_msg(h.open_run(v, None, "alice")))
        said.append(_msg(h.fork(v, FAST, "alice")))
        said.append(_msg(h.share(v, True, "alice")))
        try:
            ex.select(v, "alice")
        except GanlabError as e:
            said.append(for_the_page(str(e)))
    said.append(_msg(h.start(dict(FAST, seed=2**70), "alice")))
    for m in said:
        assert root not in m and str(tmp_path) not in m, m     # their own typed text may come back, no more
        assert not any(n in m for n in ("Error:", "Errno", "Traceback", "OSError", "ValueError", "Overflow")), m
    assert "seed" in said[-1]


def test_a_bug_becomes_a_reference_the_log_can_find(caplog):
    @guarded(1)
    def broken(key):
        raise KeyError("/srv/secret/runs/alice")
    caplog.set_level(logging.ERROR)
    msg = broken("k")
    assert "reference" in msg and "/srv" not in msg and "KeyError" not in msg
    ref = msg.split("reference ")[1].split(")")[0]
    assert f"[ref {ref}]" in caplog.text and "KeyError" in caplog.text


def test_log_records_are_cut_short():
    from ganlab.ui.gate import LOG_CHARS, install_log_bounds
    install_log_bounds()
    record = logging.getLogger("x").makeRecord("x", logging.WARNING, __file__, 1, "value %s", ("y" * 10**6,), None)
    assert len(record.getMessage()) < LOG_CHARS + 100
    assert MAX_TEXT <= LOG_CHARS


# ---- 6. one student cannot hold every slot; a run's length is bounded ---------------------------------------
def test_one_student_cannot_take_a_third_slot(server):
    s, h, _ = server
    for i in range(2):                                    # two sessions of one browser (one address)
        assert not _msg(h.start(FAST, s.bind(Request(f"tab{i}")).key)).startswith("⚠️")
    msg = _msg(h.start(FAST, s.bind(Request("tab2")).key))
    assert "limit per student (2)" in msg
    other = s.bind(Request("someone", host="10.0.0.8")).key
    assert not _msg(h.start(FAST, other)).startswith("⚠️")        # another student still gets a slot
    assert "longer than this server trains one run" in _msg(h.start(dict(FAST, steps=10**15), other))


# ---- 7 and 8. unsharing closes open views; a checkpoint trained on an upload stays with its owner ---------
def test_an_unshared_run_stops_updating_in_anothers_view(server):
    s, h, _ = server
    assert not _msg(h.start(FAST, "alice")).startswith("⚠️")
    v = s.get("alice").train
    assert v.ticket.ready.wait(30)
    ref = s.access.ref(v.path)
    assert "Shared" in h.share(ref, True, "alice") or "shared" in h.share(ref, True, "alice")
    assert not _msg(h.open_run(ref, None, "bob")).startswith("⚠️")
    assert h.tick("bob")[0] is not None and s.get("bob").train is not None
    h.share(ref, False, "alice")
    out = h.tick("bob")
    assert "NO LONGER SHARED" in str(out[0]) and s.get("bob").train is None
    for act in (h.save_checkpoint, h.gif):
        assert "no run yet" in _msg(act("bob"))
    h.stop("alice")


def test_a_run_on_someones_upload_keeps_its_checkpoint_from_others(server, tmp_path):
    from PIL import Image
    s, h, _ = server
    pics = []
    for i in range(8):
        p = tmp_path / f"p{i}.png"
        Image.new("RGB", (28, 28), (30 * i, 0, 0)).save(p)
        pics.append(str(p))
    out = h.upload(pics, "alice")
    name = out[1]
    assert name.startswith("upload:"), out
    assert not _msg(h.start(dict(FAST, custom=name, model="dcgan", batch_size=4, resolution=28), "alice")
                    ).startswith("⚠️")
    v = s.get("alice").train
    assert v.ticket.ready.wait(30)
    wait_until(lambda: v.engine.status()["step"] > 3, 30)
    ref = s.access.ref(v.path)
    h.share(ref, True, "alice")
    assert not _msg(h.save_checkpoint("alice")).startswith("⚠️")
    assert not _msg(h.open_run(ref, None, "bob")).startswith("⚠️")
    msg = _msg(h.save_checkpoint("bob"))
    assert "stays with its owner" in msg
    h.stop("alice")


# ---- 11. memory: the dataset cache lets go of sets no run uses ----------------------------------------------
def _rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))


def test_memory_returns_to_idle_after_five_runs_with_different_seeds(tmp_path):
    # runs in child processes, as a served app trains them: the server keeps only the sets it shares with them
    s, h, _ = _server(tmp_path, max_runs=8, max_runs_per_student=0, train_processes=True)
    try:
        _five_runs(s, h)
    finally:
        s.close_all()


def _five_runs(s, h):
    form = dict(FAST, dataset="shapes", model="dcgan", batch_size=16, resolution=32)
    h.start(dict(form, seed=99), "warm")                 # import and allocate what every run needs once
    wait_until(lambda: s.get("warm").train.engine is not None, 60)
    h.stop("warm")
    wait_until(lambda: len(s.data) == 0, 30)
    gc.collect()
    idle = _rss()
    for seed in range(5):
        assert not _msg(h.start(dict(form, seed=seed), f"s{seed}", )).startswith("⚠️")
        wait_until(lambda: s.get(f"s{seed}").train.engine is not None, 60)
    assert len(s.data) == 4                               # a generated set per seed (the cache keeps 4 at most)
    for seed in range(5):
        h.stop(f"s{seed}")
    assert wait_until(lambda: len(s.data) == 0, 30), len(s.data)
    gc.collect()
    grown = _rss() - idle
    assert grown < 150 * 2**20, f"{grown / 2**20:.0f} MB more than idle"


# ---- 12. checkpoints early; a lost process says where Resume continues ----------------------------------
def test_a_run_checkpoints_within_its_first_minute(tmp_path):
    from ganlab.engine import Engine
    from ganlab.engine.run import FIRST_CHECKPOINT_SECONDS
    cfg = RunConfig(DataConfig(name="ring"), ModelConfig(name="mlp"), TrainConfig(steps=10**6))
    e = Engine.new(cfg, tmp_path / "r", checkpoint_seconds=300)
    assert e._checkpoint_due() == FIRST_CHECKPOINT_SECONDS <= 60
    e._checkpoint()
    assert e._checkpoint_due() == 300


def test_a_lost_training_process_names_the_step_resume_continues_from(tmp_path):
    from ganlab.engine.remote import _resume_point
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    assert "no checkpoint yet" in _resume_point(run) and "step 0" in _resume_point(run)
    ck = run / "checkpoints" / "step_001234"
    ck.mkdir()
    for f in ("config.json", "state.json", "state.safetensors"):
        (ck / f).write_text("{}")
    said = _resume_point(run)
    assert "step 1,234" in said and "Resume continues" in said
