"""The server as a user meets it: its options, its file serving, and users through gradio_client.

The live tests start `python app.py` on a free port of 127.0.0.1 (ganlab.devtools.serve_app) and talk to it
over HTTP only: what any page or script could send.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from ganlab.devtools import ROOT, AppFailed, serve_app
from ganlab.errors import GanlabError
from ganlab.server import ServerOptions, parse_options
from ganlab.ui.train_handlers import DEFAULT_FORM, FORM_FIELDS

PASSWORD = "teach-me-twelve"


# ---- options -----------------------------------------------------------------------------------------------
def test_options_come_from_flags_then_the_environment(tmp_path):
    o = parse_options(["--max-runs", "16", "--classroom", "--teacher-password", "s3cret-s3cret", "--auth", "ann:pw",
                       "--auth", "bo:pw2", "--data-roots", str(tmp_path), "--memory-budget", "2GB",
                       "--upload-quota", "50MB"], environ={})
    assert (o.max_runs, o.classroom, o.teacher_password, o.auth) == (16, True, "s3cret-s3cret", {"ann": "pw", "bo": "pw2"})
    assert o.data_roots == [tmp_path] and o.memory_budget == 2 * 2**30 and o.upload_quota == 50 * 2**20
    assert not o.personal and ServerOptions().personal
    env = {"GANLAB_MAX_RUNS": "12", "GANLAB_AUTH": "a:1,b:2", "GRADIO_SERVER_PORT": "8000", "GANLAB_HOST": "0.0.0.0",
           "GANLAB_RUNS": str(tmp_path / "r"), "GANLAB_PLAY_PROCESSES": "0"}
    o = parse_options([], environ=env)
    assert (o.max_runs, o.auth, o.port, o.host, o.runs, o.play_processes) == \
        (12, {"a": "1", "b": "2"}, 8000, "0.0.0.0", tmp_path / "r", False)
    assert parse_options(["--max-runs", "3"], environ=env).max_runs == 3          # a flag wins over its variable
    assert parse_options(["--train-cpus", "0"], environ={}).train_cpus == [0]
    if (os.cpu_count() or 1) >= 2:
        assert parse_options([], environ={"GANLAB_TRAIN_CPUS": "1,0-1"}).train_cpus == [0, 1]
    accounts = tmp_path / "accounts.txt"
    accounts.write_text("# the class\nann:one\n\nbo:two\n")
    assert parse_options(["--auth-file", str(accounts)], environ={}).auth == {"ann": "one", "bo": "two"}


@pytest.mark.parametrize("argv, env, words", [
    ([], {"GANLAB_MAX_RUNS": "many"}, "GANLAB_MAX_RUNS must be a whole number"),
    ([], {"GANLAB_MEMORY_BUDGET": "lots"}, "GANLAB_MEMORY_BUDGET"),
    ([], {"GANLAB_CLASSROOM": "maybe"}, "GANLAB_CLASSROOM must be 1 or 0"),
    (["--classroom", "--teacher-password", "short-pw"], {}, "at least 12 characters"),
    (["--classroom", "--teacher-password", "pw12pw12pw12", "--auth", "teacher:x"], {}, "kept for the teacher"),
    (["--auth", "nopassword"], {}, "USER:PASSWORD"),
    (["--data-roots", "/no/such/folder"], {}, "is not a folder"),
    (["--upload-quota", "5GB", "--upload-total", "1GB"], {}, "cannot be larger"),
    ([], {"GANLAB_TRAIN_CPUS": "4096"}, "GANLAB_TRAIN_CPUS names CPU 4096, but this machine's CPUs are"),
    ([], {"GANLAB_TRAIN_CPUS": "two"}, "GANLAB_TRAIN_CPUS must be CPU numbers"),
    ([], {"GANLAB_TRAIN_CPUS": "1-0"}, "low to high"),
])
def test_a_malformed_option_is_one_sentence(argv, env, words):
    with pytest.raises(GanlabError, match=words):
        parse_options(argv, environ=env)


@pytest.mark.parametrize("args, env, words", [
    (["--max-runs", "abc"], {}, "--max-runs: must be a whole number"),
    (["--port", "99999"], {}, "--port: must be from 1 to 65535"),
    ([], {"GANLAB_MAX_RUNS": "abc"}, "GANLAB_MAX_RUNS must be a whole number (got 'abc')"),
])
def test_app_py_prints_one_line_not_a_traceback(args, env, words):
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), **env))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr


def test_help_lists_every_option_with_its_variable():
    r = subprocess.run([sys.executable, str(ROOT / "app.py"), "--help"], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0
    for flag in ("--host", "--port", "--runs", "--auth", "--auth-file", "--classroom", "--teacher-password",
                 "--max-runs", "--data-roots", "--memory-budget", "GANLAB_TEACHER_PASSWORD", "GANLAB_MAX_RUNS"):
        assert flag in r.stdout, flag


# ---- a live classroom server ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    work = tmp_path_factory.mktemp("classroom")
    env = {"GANLAB_CLASSROOM": "1", "GANLAB_TEACHER_PASSWORD": PASSWORD, "OMP_NUM_THREADS": "1",
           "GANLAB_MAX_RUNS": "4", "GRADIO_TEMP_DIR": str(work / "gradio-cache"),
           "GANLAB_MAX_UPLOAD": "2MB", "GANLAB_UPLOAD_QUOTA": "3MB"}
    try:
        with serve_app(work, env=env, timeout=120) as (url, proc):
            yield url, work
    except AppFailed as e:
        pytest.fail(str(e))


def _client(url, **kw):
    from gradio_client import Client
    return Client(url, verbose=False, **kw)


def _form(**change):
    values = dict(DEFAULT_FORM, **{"batch_size": 32, "steps": 100_000, **change})
    return [values[name] for name in FORM_FIELDS]


def _get(url):
    """(status, body) of a GET; errors are statuses, not exceptions."""
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_no_url_serves_a_file_outside_the_app(classroom, tmp_path):
    url, work = classroom
    secret = Path("/etc/passwd").read_bytes()[:12]
    runs = work / "runs"
    (runs / "ui").mkdir(parents=True, exist_ok=True)
    (runs / "ui" / "private.txt").write_text("someone's notes")
    probes = ["file=/etc/passwd", "gradio_api/file=/etc/passwd", "gradio_api/file=../../../../etc/passwd",
              "gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd", "gradio_api/file=" + "../" * 12 + "etc/passwd",
              f"gradio_api/file={runs}/ui/private.txt", f"gradio_api/file={runs}/.browser-secret",
              f"gradio_api/file={ROOT}/ganlab/server.py", f"gradio_api/file={work}/gradio-cache/../app.log",
              "static/../../../../etc/passwd", "gradio_api/static/../../../../../etc/passwd",
              "assets/../../../../etc/passwd"]
    for probe in probes:
        status, body = _get(url + probe)
        assert secret not in body and b"someone's notes" not in body and b"def parse_options" not in body, probe
        assert status >= 400 or len(body) < 20000 and b"<html" in body.lower(), (probe, status)


def test_a_hostile_upload_is_kept_unextracted_and_serves_nothing(classroom, tmp_path):
    from gradio_client import handle_file
    url, work = classroom
    z = tmp_path / "hostile.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("link.png")
        info.external_attr = 0o120777 << 16                               # a symlink member ...
        zf.writestr(info, "/etc/passwd")                                   # ... to the password file
        zf.writestr("../../escape.png", b"not really")
        buf = tmp_path / "ok.png"
        Image.new("RGB", (32, 32), "green").save(buf)
        zf.write(buf, "ok.png")
    c = _client(url)
    out = c.predict([handle_file(str(z))], api_name="/train_upload")
    assert out[1] == "upload:hostile", out
    uploads = [p for p in (work / "runs" / "ui" / "uploads").rglob("*")]
    assert not [p for p in uploads if p.is_symlink()] and not any(p.name == "escape.png" for p in uploads)
    assert sorted(p.name for p in uploads if p.is_file())[-2:] == ["images.zip", "owner.json"]
    assert not (work / "escape.png").exists() and not (work / "runs" / "escape.png").exists()
    msg, status = c.predict(*_form(custom="upload:hostile", model="dcgan", batch_size=1, resolution=32),
                            api_name="/train_start")
    assert not msg.startswith("⚠️"), msg                                 # the one real image trains
    for probe in ("gradio_api/file=link.png", f"gradio_api/file={work}/gradio-cache/link.png"):
        assert b"root:" not in _get(url + probe)[1]
    c.predict(api_name="/train_stop")


def test_students_cannot_reach_the_classroom_through_the_api(classroom):
    url, _ = classroom
    student = _client(url)
    msg, status = student.predict(*_form(), api_name="/train_start")
    assert not msg.startswith("⚠️"), msg
    ref = re.search(r"run folder `([^`]+)`", status).group(1)
    for api, args in (("/classroom_stop", [ref]), ("/classroom_pause", [ref]), ("/classroom_broadcast", [ref]),
                      ("/classroom_end_broadcast", []), ("/classroom_push_lesson", ["collapse"])):
        out = student.predict(*args, api_name=api)
        assert str(out).startswith("⚠️ Only the teacher"), (api, out)
    table = student.predict(api_name="/classroom_runs")
    assert not any(ref in json.dumps(part, default=str) for part in table if part), table   # no data for students
    assert "not the teacher password" in student.predict("guess", api_name="/teacher_sign_in")[0]
    # the teacher, from another browser, can
    teacher = _client(url)
    assert "Signed in as the teacher" in teacher.predict(PASSWORD, api_name="/teacher_sign_in")[0]
    table = teacher.predict(api_name="/classroom_runs")[0]
    assert ref in json.dumps(table)
    assert "Paused" in teacher.predict(ref, api_name="/classroom_pause")
    assert "Broadcasting" in teacher.predict(ref, api_name="/classroom_broadcast")
    assert "ended" in teacher.predict(api_name="/classroom_end_broadcast")
    student.predict(api_name="/train_stop")


def test_one_browser_cannot_open_or_steer_anothers_run(classroom):
    url, _ = classroom
    alice, bob = _client(url), _client(url)
    msg, status = alice.predict(*_form(), api_name="/train_start")
    ref = re.search(r"run folder `([^`]+)`", status).group(1)
    msg = bob.predict(ref, None, api_name="/train_open")[0]
    assert msg.startswith("⚠️") and "not a run you may open" in msg
    assert bob.predict(*([ref] + _form()), api_name="/train_fork")[0].startswith("⚠️")
    for api in ("/train_pause", "/train_step", "/train_stop"):
        assert "no run yet" in bob.predict(api_name=api)[0]
    assert "Paused" in alice.predict(api_name="/train_pause")[0]                    # her run was untouched
    alice.predict(api_name="/train_stop")


def _post(url, body: bytes, content_type: str):
    """(status, body) of a POST; a connection the server closed before reading the body reads as 'refused'."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError):
        return "refused", b""


def test_requests_without_a_session_act_for_nobody(classroom):
    url, _ = classroom
    alice = _client(url)
    msg, status = alice.predict(*_form(), api_name="/train_start")
    assert not msg.startswith("⚠️"), msg
    for _ in range(2):                                          # two hash-less callers: neither reaches her run
        code, body = _post(url + "gradio_api/run/train_stop", json.dumps({"data": []}).encode(), "application/json")
        assert code != 200 and b"no browser session" in body, (code, body[:300])
    assert "Paused" in alice.predict(api_name="/train_pause")[0]               # still hers, still running
    alice.predict(api_name="/train_stop")


def test_a_20_mb_value_is_neither_read_nor_logged_nor_echoed(classroom):
    url, work = classroom
    huge = json.dumps({"data": ["x" * (20 * 2**20)], "fn_index": 0, "session_hash": "abcdef123"}).encode()
    for path in ("gradio_api/queue/join", "gradio_api/run/train_runs"):
        code, body = _post(url + path, huge, "application/json")
        assert code in (413, "refused") and b"xxxxxxxxxx" not in body, (path, code)
    assert "xxxxxxxxxx" not in (work / "app.log").read_text()
    assert _get(url)[0] == 200                                                   # and the server goes on


def test_gradios_upload_route_keeps_to_the_quotas(classroom):
    url, _ = classroom

    def upload(n: int):
        body = (b'--B\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
                b"Content-Type: image/png\r\n\r\n" + os.urandom(n) + b"\r\n--B--\r\n")
        return _post(url + "gradio_api/upload", body, "multipart/form-data; boundary=B")[0]
    assert upload(3 * 2**20) in (413, "refused")                  # over --max-upload (2 MB) in one request
    assert upload(1_400_000) == 200 and upload(1_400_000) == 200
    assert upload(1_400_000) in (429, "refused")                  # over --upload-quota (3 MB an hour) from here
    assert _get(url)[0] == 200


def test_thirty_guesses_from_fresh_sessions_are_locked_out(classroom):
    """Last of the classroom tests: it locks this server's teacher sign-in."""
    url, work = classroom
    c = _client(url)
    said = []
    for i in range(30):
        c.reset_session()                                      # a fresh session before every guess
        said.append(c.predict(f"guess-{i}", api_name="/teacher_sign_in")[0])
    assert all("not the teacher password" in m for m in said[:5]), said[:5]
    assert all("locked" in m for m in said[5:]), said[5:7]
    c.reset_session()
    assert "locked" in c.predict(PASSWORD, api_name="/teacher_sign_in")[0]     # even the right one, for now
    assert "wrong teacher password from 127.0.0.1" in (work / "app.log").read_text()


def test_a_signed_in_user_finds_her_runs_after_a_restart(tmp_path):
    env = {"GANLAB_AUTH": "alice:pw1,bob:pw2", "OMP_NUM_THREADS": "1"}
    with serve_app(tmp_path, env=env, timeout=120) as (url, _):
        alice = _client(url, auth=("alice", "pw1"))
        msg, status = alice.predict(*_form(steps=60), api_name="/train_start")
        ref = re.search(r"run folder `([^`]+)`", status).group(1)
        end = time.monotonic() + 60
        while "FINISHED" not in str(alice.predict(api_name="/train_poll")[0]) and time.monotonic() < end:
            time.sleep(0.5)
    with serve_app(tmp_path, env=env, timeout=120) as (url, _):                   # the server restarted
        alice = _client(url, auth=("alice", "pw1"))                               # in a new browser
        msg = alice.predict(ref, 90, api_name="/train_open")[0]
        assert "from step 60" in msg, msg
        bob = _client(url, auth=("bob", "pw2"))
        assert "not a run you may open" in bob.predict(ref, 90, api_name="/train_open")[0]
        alice.predict(api_name="/train_stop")
        with pytest.raises(Exception, match="(?i)login|auth|credential|401|password"):
            _client(url, auth=("alice", "wrong"))
