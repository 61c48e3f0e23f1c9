"""GPU workers: a run placed on a worker process trains there; a wrong key, a dead worker, a missing GPU."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.devtools import wait_until
from ganlab.engine.remote import RemoteEngine
from ganlab.engine.scheduler import Job, Place, PlaceUnavailable, Scheduler
from ganlab.engine.worker import WorkerPlace
from ganlab.errors import GanlabError

KEY = b"0123456789abcdef0123456789abcdef"


def _cfg(steps=100_000):
    return RunConfig(DataConfig(name="ring", n=1000), ModelConfig(name="mlp", width=32),
                     TrainConfig(loss="ns", steps=steps, batch_size=32, log_every=5, sample_every=50, seed=0,
                                 device="auto"))


def _wait(pred, timeout=30.0):
    return wait_until(pred, timeout, every=0.05)


def _start_worker(key_file, slots=1):
    """A worker process on a free port of 127.0.0.1; (process, port) once it says it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "ganlab", "worker", "--device", "cpu", "--listen",
                             "127.0.0.1:0", "--slots", str(slots), "--authkey-file", str(key_file)],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    line = proc.stdout.readline()                  # "ganlab worker listening on 127.0.0.1:PORT, ..."
    assert "listening on 127.0.0.1:" in line, line
    return proc, int(line.split("127.0.0.1:")[1].split(",")[0])


@pytest.fixture
def worker(tmp_path):
    key_file = tmp_path / "worker.key"
    key_file.write_bytes(KEY + b"\n")              # the newline is not part of the key
    proc, port = _start_worker(key_file)
    yield proc, port
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)           # runs checkpoint and the worker exits by itself
        proc.wait(60)


def _run_job(run_dir, placed):
    def start_on(place):
        placed.append(place)
        e = RemoteEngine.new(_cfg(), run_dir, worker=place if place.remote else None)
        e.start()
        return [e]
    return Job(owner="k", label="k · ring · mlp", start_on=start_on)


def test_a_run_placed_on_the_worker_trains_there(worker, tmp_path):
    _, port = worker
    place = WorkerPlace("127.0.0.1", port, KEY)
    assert place.probe() == {"device": "cpu", "slots": 1, "busy": 0}
    s = Scheduler(slots=1, workers=[place], release_after=60)
    placed = []
    ticket = s.request(_run_job(tmp_path / "run", placed))
    assert ticket.ready.wait(60) and ticket.state == "active" and placed == [place]
    e = ticket.engines[0]
    assert e.pid is None                                              # not a child of this process
    assert _wait(lambda: e.status()["step"] >= 30) and e.state == "running"
    st = e.status()
    assert st["device"] == "cpu"                                      # the worker's device, not the config's auto
    rows, cursor = e.metrics_since(0)
    assert rows and cursor == len(rows) and all(r["loss_d"] == r["loss_d"] for r in rows)   # finite, no NaN
    assert place.probe()["busy"] == 1 and s.busy() == 1
    metrics = tmp_path / "run" / "metrics.jsonl"                       # written where the server reads it
    assert _wait(lambda: metrics.stat().st_size > 0)
    e.stop()
    assert e.state == "stopped" and list((tmp_path / "run" / "checkpoints").iterdir())
    assert _wait(lambda: s.busy() == 0 and place.probe()["busy"] == 0)
    s.close()


def test_a_wrong_key_is_refused_and_the_run_goes_elsewhere(worker, tmp_path):
    _, port = worker
    wrong = WorkerPlace("127.0.0.1", port, b"not-the-key-not-the-key")
    with pytest.raises(PlaceUnavailable, match="refused the key"):
        wrong.probe()
    s = Scheduler(slots=1, workers=[wrong], release_after=60)
    placed = []
    ticket = s.request(_run_job(tmp_path / "run", placed))
    assert ticket.ready.wait(60) and ticket.state == "active"
    assert [p.remote for p in placed] == [True, False]               # tried the worker, then trained here
    assert ticket.place is s.local and wrong.down_until > time.monotonic()
    ticket.engines[0].stop()
    s.close()
    assert WorkerPlace("127.0.0.1", port, KEY).probe()["busy"] == 0   # the worker took no harm


def test_killing_the_worker_fails_its_run_and_frees_the_slot(worker, tmp_path):
    proc, port = worker
    place = WorkerPlace("127.0.0.1", port, KEY)
    place.probe()
    s = Scheduler(slots=1, workers=[place], release_after=60)
    placed = []
    ticket = s.request(_run_job(tmp_path / "run", placed))
    assert ticket.ready.wait(60) and ticket.state == "active"
    e = ticket.engines[0]
    assert _wait(lambda: e.status()["step"] >= 10)
    proc.kill()                                                       # no goodbye, no chance to clean up
    assert _wait(lambda: e.state == "error")
    assert "worker 127.0.0.1" in e.status()["error"] and "went away" in e.status()["error"]
    with pytest.raises(GanlabError, match="went away"):
        e.pause()
    assert _wait(lambda: s.busy() == 0) and ticket.state == "done"    # the slot came back
    assert place.down_until > time.monotonic()
    again = s.request(_run_job(tmp_path / "next", placed))             # the next run trains elsewhere
    assert again.ready.wait(60) and again.state == "active" and again.place is s.local
    again.engines[0].stop()
    s.close()


class _FakeWorker(Place):
    remote = True


def test_runs_go_to_the_least_loaded_worker_within_its_slots():
    a, b = _FakeWorker("a", 2), _FakeWorker("b", 1)
    s = Scheduler(slots=1, workers=[a, b], release_after=60)

    class Quiet:                                                      # an engine that trains forever
        state = "running"

        def listen(self, fn):
            pass

    def job(local_only=False):
        if local_only:
            return Job(owner="p", label="p", start=lambda: [Quiet()])
        return Job(owner="k", label="k", start_on=lambda place: [Quiet()])
    tickets = [s.request(job()) for _ in range(4)]
    assert _wait(lambda: all(t.state == "active" for t in tickets))
    assert [t.place.name for t in tickets] == ["a", "b", "a", "this machine"]   # a 0/2, b 0/1, a 1/2, full
    later = s.request(job())
    assert later.state == "waiting"                                   # every slot taken: it waits its turn
    s.cancel(later)
    local = Scheduler(slots=1, workers=[_FakeWorker("c", 5)], release_after=60)
    t = local.request(job(local_only=True))                           # a plain start() stays on this machine
    assert _wait(lambda: t.state == "active") and t.place is local.local
    s.close(), local.close()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_worker_without_cuda_says_so(tmp_path, capsys):
    from ganlab.cli import main
    key_file = tmp_path / "worker.key"
    key_file.write_bytes(KEY)
    assert main(["worker", "--device", "cuda:1", "--authkey-file", str(key_file)]) == 2
    err = capsys.readouterr().err
    assert "CUDA was asked for but no CUDA GPU is visible" in err and "Traceback" not in err
    assert main(["worker", "--device", "gpu2", "--authkey-file", str(key_file)]) == 2
    assert "Unknown device 'gpu2'" in capsys.readouterr().err
    assert main(["worker", "--device", "cpu"]) == 2                   # no key: it says how to make one
    assert "--authkey-file worker.key" in capsys.readouterr().err


def test_the_train_tab_sends_a_run_to_the_worker(worker, tmp_path):
    """python app.py --worker ...: a run started from the form trains on the worker, in the runs folder."""
    from ganlab.server import parse_options
    from ganlab.ui.sessions import Sessions
    from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers
    _, port = worker
    opts = parse_options(["--runs", str(tmp_path / "runs"), "--worker", f"127.0.0.1:{port}",
                          "--worker-authkey-file", str(tmp_path / "worker.key")], environ={})
    s = Sessions(options=opts)
    try:
        assert s.max_runs == opts.max_runs + 1                          # the worker's slot counts too
        msg = TrainHandlers(s).start(dict(DEFAULT_FORM, batch_size=32, steps=100_000), "alice")[0]
        assert not msg.startswith("⚠️"), msg
        v = s.get("alice").train
        assert v.ticket.ready.wait(60) and v.ticket.place.name == f"worker 127.0.0.1:{port}"
        assert _wait(lambda: v.engine.status()["step"] >= 10) and v.path.parent == tmp_path / "runs" / "ui"
        snap = v.engine.snapshot(0, -1)                                 # samples (tensors) travel by value
        assert snap["rows"] and snap["status"]["device"] == "cpu"
        assert not TrainHandlers(s).tick("alice")[0].startswith("⚠️")    # the page's poll draws it
    finally:
        s.close_all()


def test_worker_flags_are_checked():
    from ganlab.server import parse_options
    with pytest.raises(GanlabError, match="--worker-authkey-file"):
        parse_options(["--worker", "127.0.0.1:7001"], environ={})
    with pytest.raises(SystemExit):                                     # one sentence on stderr, status 2
        parse_options(["--worker", "nowhere"], environ={})
    with pytest.raises(GanlabError, match="GANLAB_WORKERS must be HOST:PORT"):
        parse_options([], environ={"GANLAB_WORKERS": "127.0.0.1:7001,oops"})
