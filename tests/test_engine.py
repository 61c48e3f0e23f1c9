"""Engine lifecycle: start, pause, step, resume, stop, with metrics in order."""
import json
import math
import os
import signal
import sys
import time

import pytest
import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.devtools import wait_until
from ganlab.engine import Engine
from ganlab.errors import GanlabError


def _cfg(steps=100_000, seed=0, **train):
    return RunConfig(DataConfig(name="ring", n=1000), ModelConfig(name="mlp", width=32),
                     TrainConfig(loss="ns", steps=steps, batch_size=32, log_every=5, sample_every=50,
                                 seed=seed, device="cpu", **train))


def _wait(pred, timeout=20.0):
    return wait_until(pred, timeout)


def test_lifecycle(tmp_path):
    e = Engine.new(_cfg(), tmp_path / "run")
    assert e.state == "idle"
    e.start()
    assert _wait(lambda: e.status()["step"] >= 50)
    e.pause()
    assert e.state == "paused"
    paused_at = e.status()["step"]
    time.sleep(0.5)
    assert e.status()["step"] == paused_at                 # paused means no training
    m = e.step_once()
    assert m["step"] == paused_at + 1 and e.status()["step"] == paused_at + 1
    e.set_lr(lr_g=5e-4, lr_d=1e-4)
    e.set_n_critic(3)
    st = e.status()
    assert (st["lr_g"], st["lr_d"], st["n_critic"]) == (5e-4, 1e-4, 3)
    e.resume()
    assert _wait(lambda: e.status()["step"] >= paused_at + 30)
    e.stop()
    st = e.status()
    assert st["state"] == "stopped"

    rows, cursor = e.metrics_since(0)
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)) and paused_at + 1 in steps      # ordered, the manual step logged
    assert rows[-1]["step"] == st["step"]
    assert rows[-1]["n_critic"] == 3 and rows[-1]["lr_g"] == 5e-4         # live changes took effect
    assert e.metrics_since(cursor) == ([], cursor)
    on_disk = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert on_disk == rows
    run = tmp_path / "run"
    assert (run / "config.json").is_file()
    assert (run / "samples" / "step_000000.png").is_file()
    assert (run / "samples" / f"step_{st['step']:06d}.png").is_file()
    assert (run / "checkpoints" / f"step_{st['step']:06d}" / "state.safetensors").is_file()
    assert e.make_gif().stat().st_size > 0
    with pytest.raises(GanlabError, match="ended"):
        e.step_once()


def test_finishes_at_steps_and_resumes(tmp_path):
    e = Engine.new(_cfg(steps=40), tmp_path / "run")
    e.start()
    assert _wait(lambda: e.state == "finished")
    assert e.status()["step"] == 40
    e.stop()
    resumed = Engine.open(tmp_path / "run", steps=60)
    assert resumed.status()["step"] == 40
    resumed.start()
    assert _wait(lambda: resumed.state == "finished")
    resumed.stop()
    steps = [r["step"] for r in resumed.metrics_since(0)[0]]
    assert steps == list(range(5, 65, 5))


def test_engine_resume_matches_uninterrupted_engine(tmp_path):
    straight = Engine.new(_cfg(steps=40), tmp_path / "a")
    straight.start()
    assert _wait(lambda: straight.state == "finished")
    straight.stop()
    half = Engine.new(_cfg(steps=20), tmp_path / "b")
    half.start()
    assert _wait(lambda: half.state == "finished")
    half.stop()
    rest = Engine.open(tmp_path / "b", steps=40)
    rest.start()
    assert _wait(lambda: rest.state == "finished")
    rest.stop()
    a, b = straight.metrics_since(0)[0], rest.metrics_since(0)[0]
    keys = ("step", "loss_d", "loss_g", "d_real", "d_fake")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    assert (straight.latest_samples()[1] == rest.latest_samples()[1]).all()


def test_two_engines_run_side_by_side(tmp_path):
    a = Engine.new(_cfg(seed=1), tmp_path / "a")
    b = Engine.new(_cfg(seed=2), tmp_path / "b")
    a.start()
    b.start()
    assert _wait(lambda: a.status()["step"] > 20 and b.status()["step"] > 20)
    a.pause()
    at = a.status()["step"]
    b_before = b.status()["step"]
    assert _wait(lambda: b.status()["step"] > b_before + 20)        # b keeps going while a is paused
    assert a.status()["step"] == at
    a.stop()
    b.stop()
    assert a.run.path != b.run.path


def test_threads_apply_to_the_run_worker_only(tmp_path):
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        e = Engine.new(_cfg(), tmp_path / "one", threads=1)
        e.start()
        assert _wait(lambda: e.status()["step"] > 5)
        assert e.inspect(lambda t: torch.get_num_threads()) == 1      # read on the worker thread
        assert torch.get_num_threads() == 2                          # the caller's count is untouched
        e.stop()
    finally:
        torch.set_num_threads(before)


def test_bad_live_values_are_reported_and_training_goes_on(tmp_path):
    e = Engine.new(_cfg(), tmp_path / "run")
    e.start()
    with pytest.raises(GanlabError, match="greater than 0"):
        e.set_lr(lr_g=0)
    with pytest.raises(GanlabError, match="at least 1"):
        e.set_n_critic(0)
    before = e.status()["step"]
    assert _wait(lambda: e.status()["step"] > before + 10)
    assert e.state == "running"
    e.stop()


def test_new_run_refuses_existing_run_folder(tmp_path):
    Engine.new(_cfg(), tmp_path / "run")
    with pytest.raises(GanlabError, match="already holds a run"):
        Engine.new(_cfg(), tmp_path / "run")


def test_start_on_a_finished_run_marks_it_finished(tmp_path):
    e = Engine.new(_cfg(steps=10), tmp_path / "run")
    e.start()
    assert _wait(lambda: e.state == "finished")
    e.stop()
    again = Engine.open(tmp_path / "run")                  # same step count: nothing left to train
    again.start()
    assert again.state == "finished" and again.status()["step"] == 10
    again.stop()


def test_stopping_an_unstarted_run_writes_no_checkpoint(tmp_path):
    e = Engine.new(_cfg(), tmp_path / "run")
    e.stop()
    assert e.state == "stopped"
    assert not list((tmp_path / "run" / "checkpoints").glob("step_*"))
    assert Engine.open(tmp_path / "run").status()["step"] == 0     # still opens, from scratch


def test_data_info_and_status_describe_the_run(tmp_path):
    e = Engine.new(_cfg(), tmp_path / "run")
    info = e.data_info()
    assert info["items"] == 1000 and not info["is_image"] and info["shape"] == (2,)
    assert e.real_points(300).shape == (300, 2)
    s = e.status()
    assert s["loss"] == "ns" and s["probability"] is True
    e.set_loss("wgan-gp")
    assert e.status()["probability"] is False
    e.stop()


def test_swapping_to_a_loss_with_more_metrics_mid_window(tmp_path):
    e = Engine.new(_cfg(), tmp_path / "run")                  # log_every=5: rows average 5 steps
    for _ in range(2):
        e.step_once()
    e.start()
    e.set_loss("wgan-gp")                                     # adds "gp" to the rows mid-window
    assert _wait(lambda: e.status()["step"] > 30) and e.state == "running"
    rows = e.metrics_since(0)[0]
    assert "gp" in rows[-1] and all(math.isfinite(r["loss_d"]) for r in rows)
    e.stop()


def test_calls_without_a_worker_thread_take_turns(tmp_path):
    """An idle run steps on the caller's thread: a Step click and a live view must not overlap (a view
    borrows the nets, eval mode and no gradients, for its length; a step inside it could not learn)."""
    import threading
    from functools import partial

    from ganlab.lessons import best_preset
    from ganlab.plane import view_between_steps
    cfg = best_preset("ring")
    cfg.train.batch_size, cfg.train.n_samples = 64, 64
    e = Engine.new(cfg, tmp_path / "run")
    errors = []

    def steps():
        try:
            for _ in range(150):
                e.step_once()
        except Exception as err:                        # noqa: BLE001 - the race shows as any error
            errors.append(err)

    t = threading.Thread(target=steps)
    t.start()
    views = 0
    while t.is_alive():
        e.inspect(partial(view_between_steps, stats=False))
        views += 1
    t.join()
    e.stop()
    assert not errors and views >= 1 and e.status()["step"] == 150
    assert e.trainer.G.training and all(q.requires_grad for q in e.trainer.D.parameters())


# ---- RemoteEngine: the same run in a child process ------------------------------------------------
def test_a_remote_run_is_the_same_run_as_a_thread_run(tmp_path):
    """Steps through the pipe give bit-identical nets and metrics to steps on a thread."""
    from operator import attrgetter

    from ganlab.engine.remote import RemoteEngine
    local, remote = Engine.new(_cfg(seed=3), tmp_path / "local"), RemoteEngine.new(_cfg(seed=3), tmp_path / "remote")
    try:
        assert remote.pid != os.getpid() and remote.state == "idle"
        for e in (local, remote):
            e.step_once(), e.step_d_once(), e.step_g_once(), e.step_once()
        for name in ("G", "D"):
            a = local.trainer.G.state_dict() if name == "G" else local.trainer.D.state_dict()
            b = remote.inspect(attrgetter(name)).state_dict()
            assert all(torch.equal(a[k], b[k]) for k in a)
        clockless = [[{k: v for k, v in r.items() if k not in ("seconds", "time")} for r in e.metrics_since(0)[0]]
                     for e in (local, remote)]
        assert clockless[0] == clockless[1] and len(clockless[0]) == 2
        assert remote.status()["step"] == 2 and remote.status()["optimizer"] == "adam"
        with pytest.raises(GanlabError, match="0 to 10 seconds"):        # the child's message, here
            remote.set_delay(99)
        remote.start()
        assert _wait(lambda: remote.status()["step"] >= 30) and remote.state == "running"
        remote.pause()
        assert remote.state == "paused"
    finally:
        local.stop()
        remote.stop()
    assert remote.state == "stopped" and remote.status()["state"] == "stopped"
    assert (tmp_path / "remote" / "checkpoints").is_dir()             # the child wrote its final checkpoint
    with pytest.raises(GanlabError, match="ended"):
        remote.step_once()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this OS")
def test_a_remote_run_keeps_to_the_cpus_it_is_given(tmp_path):
    """--train-cpus: the child and every torch thread it starts run on those CPUs only; a CPU the
    machine lacks is refused in one sentence."""
    from ganlab.engine.remote import RemoteEngine
    mine = sorted(os.sched_getaffinity(0))
    e = RemoteEngine.new(_cfg(), tmp_path / "pinned", threads=2, cpus=mine[-1:])
    try:
        e.start()
        assert _wait(lambda: e.status()["step"] >= 5)                   # torch's threads exist by now
        threads = [int(t) for t in os.listdir(f"/proc/{e.pid}/task")]
        assert len(threads) > 1 and all(os.sched_getaffinity(t) == set(mine[-1:]) for t in threads)
    finally:
        e.stop()
    with pytest.raises(GanlabError, match="Cannot run training on CPUs"):
        RemoteEngine.new(_cfg(), tmp_path / "nowhere", cpus=[4096])


def _minor_faults(trainer) -> int:                     # runs in the child (RemoteEngine.inspect)
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _ten_steps(trainer) -> None:
    for _ in range(10):
        trainer.step()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_run_handed_its_data_in_shared_memory_reuses_its_heap(tmp_path):
    """A child given its data in shared memory never frees a big buffer, so glibc would keep mapping a
    fresh block for every activation (thousands of page faults a step, steps 20% slower); the child
    sets malloc's thresholds itself. Without that this dcgan's step faults about 1,000 times here."""
    from ganlab.data import load_dataset
    from ganlab.engine.remote import RemoteEngine
    cfg = RunConfig(DataConfig(name="shapes", n=256, resolution=32), ModelConfig(name="dcgan", width=32),
                    TrainConfig(batch_size=64, steps=1000, device="cpu"))
    data = load_dataset(cfg.data, seed=0).share_memory_()
    e = RemoteEngine.new(cfg, tmp_path / "shared", data=data, threads=1)
    try:
        e.inspect(_ten_steps)                                           # warm: the heap has grown
        before = e.inspect(_minor_faults)
        e.inspect(_ten_steps)
        per_step = (e.inspect(_minor_faults) - before) / 10
    finally:
        e.stop()
    assert per_step < 200, f"{per_step:.0f} page faults a step"


def test_a_dead_child_fails_its_run_only(tmp_path):
    from ganlab.engine.remote import RemoteEngine
    with pytest.raises(GanlabError, match="Unknown dataset|unknown"):   # errors while building come back
        RemoteEngine.new(RunConfig(DataConfig(name="no-such-set"), ModelConfig(name="mlp"), TrainConfig()),
                         tmp_path / "bad")
    a, b = RemoteEngine.new(_cfg(), tmp_path / "a"), RemoteEngine.new(_cfg(), tmp_path / "b")
    told = []
    a.listen(lambda state, error: told.append(state))
    a.start(), b.start()
    assert _wait(lambda: "running" in told)                             # the child pushes its state changes
    os.kill(a.pid, signal.SIGKILL)
    assert _wait(lambda: told[-1] == "error")                           # and its death, unasked
    with pytest.raises(GanlabError, match="ended unexpectedly"):
        a.pause()
    # killed before its first checkpoint: the message says so, not "its folder keeps the last checkpoint"
    assert a.state == "error" and "no checkpoint yet" in a.status()["error"] and "step 0" in a.status()["error"]
    assert _wait(lambda: b.status()["step"] >= 20)                      # the other run goes on
    a.stop(), b.stop()
    assert b.state == "stopped"


def test_listeners_hear_of_a_death_that_a_call_noticed_first(tmp_path):
    """The page's poll often finds the dead pipe before the watcher thread does: the listeners (the
    scheduler, which frees the slot) must still be told."""
    from ganlab.engine.remote import RemoteEngine
    a = RemoteEngine.new(_cfg(), tmp_path / "a")
    told = []
    a.listen(lambda state, error: told.append(state))
    a.start()
    assert _wait(lambda: "running" in told)
    with a._lock:                                                       # hold the watcher off the lock
        os.kill(a.pid, signal.SIGKILL)
        a._host.process.join(10)
        assert a.state == "error"                                       # the call marks it dead first
    assert _wait(lambda: told and told[-1] == "error")
