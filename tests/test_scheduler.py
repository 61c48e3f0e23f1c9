"""The scheduler: a cap on training slots, a line kept in order, idle runs giving their slots back."""
import threading
import time

import pytest

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.devtools import wait_until
from ganlab.engine import Engine
from ganlab.engine.scheduler import Job, Scheduler
from ganlab.errors import GanlabError


class FakeEngine:
    """What the scheduler sees of an engine: listen(), state, stop(), and state changes it reports."""

    def __init__(self, state="running"):
        self._state, self._listeners = state, []

    def listen(self, fn):
        self._listeners.append(fn)

    @property
    def state(self):
        return self._state

    def set(self, state):
        self._state = state
        for fn in self._listeners:
            fn(state, "")

    def stop(self):
        self.set("stopped")


def _wait(pred, timeout=10.0):
    return wait_until(pred, timeout, every=0.02)


def _job(name, started, state="running", **kw):
    def start():
        e = FakeEngine(state)
        started.append((name, e))
        return [e]
    return Job(owner=name, label=name, start=start, **kw)


def test_cap_is_honoured_and_the_line_starts_in_order():
    s = Scheduler(slots=2, release_after=60)
    started = []
    tickets = [s.request(_job(f"r{i}", started)) for i in range(5)]
    assert _wait(lambda: len(started) == 2)
    time.sleep(0.2)
    assert [n for n, _ in started] == ["r0", "r1"] and s.busy() == 2           # the cap: two at once
    assert [s.position(t)[0] for t in tickets[2:]] == [1, 2, 3]                   # the rest wait, in order
    started[0][1].set("finished")                                                  # a slot frees ...
    assert _wait(lambda: len(started) == 3) and started[2][0] == "r2"             # ... and the next starts
    assert [s.position(t)[0] for t in tickets[3:]] == [1, 2]
    started[1][1].set("error")                                                     # a failed run frees its slot
    assert _wait(lambda: len(started) == 4) and started[3][0] == "r3"
    s.cancel(tickets[4])
    started[2][1].set("stopped")
    time.sleep(0.2)
    assert len(started) == 4 and tickets[4].state == "cancelled" and s.busy() == 1
    s.close()


def test_a_lesson_takes_one_slot_per_panel_and_keeps_its_turn():
    s = Scheduler(slots=3, release_after=60)
    started = []

    def lesson():
        es = [FakeEngine() for _ in range(3)]
        started.append(("lesson", es))
        return es
    first = s.request(_job("solo", started))
    big = s.request(Job(owner="l", label="lesson", start=lesson, units=3))
    small = s.request(_job("small", started))
    assert _wait(lambda: len(started) == 1)
    time.sleep(0.2)
    assert big.state == "waiting" and small.state == "waiting"      # small fits, but waits behind the lesson
    assert s.position(small)[0] == 2
    started[0][1].set("stopped")
    assert _wait(lambda: big.state == "active") and s.busy() == 3
    assert small.state == "waiting"
    for e in started[1][1][:2]:
        e.set("stopped")
    time.sleep(0.1)
    assert small.state == "waiting"                                  # one panel still trains
    started[1][1][2].set("finished")
    assert _wait(lambda: small.state == "active")
    assert first.state == "done"
    s.close()


def test_an_idle_run_gives_its_slot_back_and_the_eta_counts_it():
    s = Scheduler(slots=1, release_after=0.5)
    started, idled = [], []

    def on_idle(ticket):
        idled.append(ticket.job.label)
        ticket.engines[0].stop()
    a = s.request(_job("a", started, on_idle=on_idle))
    assert _wait(lambda: a.state == "active")
    b = s.request(_job("b", started))
    started[0][1].set("paused")
    place, eta = s.position(b)
    assert place == 1 and eta is not None and 0 <= eta <= 0.5      # a's idle deadline is when b starts
    assert _wait(lambda: b.state == "active", timeout=5)
    assert idled == ["a"] and a.state == "done"
    s.close()


def test_resuming_before_the_deadline_keeps_the_slot():
    s = Scheduler(slots=1, release_after=0.4)
    started, idled = [], []
    a = s.request(_job("a", started, on_idle=lambda t: idled.append(1)))
    assert _wait(lambda: a.state == "active")
    e = started[0][1]
    for _ in range(4):
        e.set("paused")
        time.sleep(0.2)
        e.set("running")
    time.sleep(0.6)
    assert idled == [] and a.state == "active"
    s.close()


def test_a_start_that_fails_frees_the_slot_and_says_why():
    s = Scheduler(slots=1, release_after=60)
    started = []

    def broken():
        raise GanlabError("There is no such dataset.")
    bad = s.request(Job(owner="x", label="bad", start=broken))
    good = s.request(_job("good", started))
    assert bad.ready.wait(5) and bad.state == "failed" and "no such dataset" in bad.error
    assert _wait(lambda: good.state == "active")
    s.close()


def test_memory_is_a_limit_too_and_shared_data_counts_once():
    s = Scheduler(slots=10, memory=1000, release_after=60)
    started = []
    a = s.request(_job("a", started, memory=300, data_key="fmnist", data_bytes=400))
    b = s.request(_job("b", started, memory=300, data_key="fmnist", data_bytes=400))   # 300+300+400 = 1000
    c = s.request(_job("c", started, memory=100))
    assert _wait(lambda: b.state == "active") and s.memory_in_use() == 1000
    time.sleep(0.2)
    assert c.state == "waiting"                                                       # no memory left
    started[0][1].set("stopped")
    assert _wait(lambda: c.state == "active")
    assert a.state == "done"
    with pytest.raises(GanlabError, match="slots"):
        s.request(Job(owner="y", label="huge", start=lambda: [], units=11))
    s.close()


def test_a_real_engine_reports_to_the_scheduler(tmp_path):
    """An Engine's state changes reach the scheduler: a finished run hands its slot on."""
    cfg = RunConfig(DataConfig(name="ring", n=500), ModelConfig(name="mlp", width=16),
                    TrainConfig(steps=30, batch_size=16, device="cpu", log_every=5))
    s = Scheduler(slots=1, release_after=60)
    ended = threading.Event()

    def start(name):
        def go():
            e = Engine.new(cfg, tmp_path / name)
            e.start()
            return [e]
        return go
    a = s.request(Job(owner="a", label="a", start=start("a"), on_end=lambda t: ended.set()))
    b = s.request(Job(owner="b", label="b", start=start("b")))
    assert ended.wait(30) and _wait(lambda: b.state == "active", 30)
    assert a.engines[0].state == "finished"
    for t in (a, b):
        t.engines[0].stop()
    s.close()
