"""Watching a cluster run: python app.py --watch DIR lists DIR's runs to every user, read-only, live."""
import json
import os

import gradio as gr
import pytest

from ganlab.access import Access, Identity
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.engine import Engine
from ganlab.errors import GanlabError
from ganlab.server import ServerOptions, parse_options

pytestmark = [pytest.mark.filterwarnings("ignore:.*:UserWarning"),   # gr.Warning outside a request
              pytest.mark.usefixtures("one_torch_thread")]


def _write_run(folder, steps=10):
    """A run folder as any job writes it: config.json, metrics.jsonl, samples/, checkpoints/."""
    cfg = RunConfig(DataConfig(name="ring", n=500), ModelConfig(name="mlp", width=16),
                    TrainConfig(steps=1000, batch_size=32, log_every=1, sample_every=5, seed=0, device="cpu"))
    e = Engine.new(cfg, folder)
    for _ in range(steps):
        e.step_once()
    e.stop()
    return folder


@pytest.fixture
def cluster(tmp_path):
    """A watched folder holding one run, an app runs folder, and a folder nobody published."""
    root = tmp_path / "shared" / "runs"
    _write_run(root / "ddp-ring")
    private = _write_run(tmp_path / "private" / "secret-run", steps=2)
    return root, tmp_path / "app-runs", private


def _sessions(cluster):
    from ganlab.ui.sessions import Sessions
    root, runs, _ = cluster
    return Sessions(options=ServerOptions(runs=runs, watch=[root], train_processes=False, auth={"a": "b"}))


def test_every_user_reads_a_watched_run_and_nobody_writes_it(cluster):
    root, runs, private = cluster
    access = Access(runs, watch_roots=[root])
    guest = Identity.browser("x" * 40)
    [entry] = access.visible_runs(guest)
    assert entry.kind == "watched" and not entry.writable
    ref = access.ref(entry.path)
    assert ref == "watch:runs/ddp-ring" and access.run_path(ref, guest) == root / "ddp-ring"
    assert not access.can_write(root / "ddp-ring", guest) and not access.can_write(root / "ddp-ring",
                                                                                     Identity.user("t", True))
    with pytest.raises(GanlabError, match="can be shared"):
        access.share(root / "ddp-ring", True, guest)
    assert access.scrub(f"cannot read {root}/ddp-ring/metrics.jsonl") == "cannot read watch:runs/ddp-ring/metrics.jsonl"


@pytest.mark.parametrize("typed", ["watch:runs/../../private/secret-run", "watch:nope/ddp-ring", "watch:runs/..",
                                   "PRIVATE", "../private/secret-run"])
def test_nothing_outside_a_watched_folder_is_reached(cluster, typed):
    root, runs, private = cluster
    (root / "escape").symlink_to(private)                            # a link out of the folder leads nowhere
    access = Access(runs, watch_roots=[root])
    guest = Identity.browser("y" * 40)
    assert [access.ref(e.path) for e in access.visible_runs(guest)] == ["watch:runs/ddp-ring"]
    typed = str(private) if typed == "PRIVATE" else typed
    with pytest.raises(GanlabError, match="not a run you may open"):
        access.run_path(typed, guest)
    with pytest.raises(GanlabError, match="not a run you may open"):
        access.run_path("watch:runs/escape", guest)


def test_compare_follows_a_watched_run_as_it_grows(cluster):
    from ganlab.ui.compare_tab import CompareHandlers
    s = _sessions(cluster)
    root = cluster[0]
    h = CompareHandlers(s)
    msg, runs, *_ = h.refresh([], "k")
    assert "Found 1 run" in msg and runs["choices"][0][1] == "watch:runs/ddp-ring"
    assert str(root) not in runs["choices"][0][0]                      # labelled as listed, no server path
    msg, _, fig, slider, grids = h.follow(["watch:runs/ddp-ring"], None, "k")
    d_loss = [t for t in fig.data if t.yaxis == "y" and t.line.dash == "solid"][0]
    assert len(d_loss.x) == 10 and slider["value"] == 10 and grids is not None
    assert h.follow(["watch:runs/ddp-ring"], 10, "k") == (gr.skip(),) * 5          # nothing new: nothing sent
    last = json.loads((root / "ddp-ring" / "metrics.jsonl").read_text().splitlines()[-1])
    with open(root / "ddp-ring" / "metrics.jsonl", "a") as f:       # the job logs two more steps
        for step in (11, 12):
            f.write(json.dumps(dict(last, step=step, loss_d=0.5)) + "\n")
    msg, _, fig, slider, grids = h.follow(["watch:runs/ddp-ring"], 10, "k")
    d_loss = [t for t in fig.data if t.yaxis == "y" and t.line.dash == "solid"][0]
    assert list(d_loss.x)[-2:] == [11, 12] and list(d_loss.y)[-1] == 0.5
    s.close_all()


def test_open_run_watches_without_controls(cluster):
    from ganlab.ui.train_handlers import TrainHandlers
    s = _sessions(cluster)
    h = TrainHandlers(s)
    msg = h.open_run("watch:runs/ddp-ring", None, "k")[0]
    assert "watching" in msg and "read-only" in msg
    before = (cluster[0] / "ddp-ring" / "metrics.jsonl").read_bytes()
    for control in (h.pause, h.resume, h.stop, h.step):
        control("k")                                                   # each refuses or says there is nothing
    assert s.get("k").engine is None and (cluster[0] / "ddp-ring" / "metrics.jsonl").read_bytes() == before
    assert "not a run you may open" in h.open_run("watch:runs/../../private/secret-run", None, "k")[0]
    s.close_all()


def test_watch_flags(tmp_path):
    assert parse_options(["--watch", str(tmp_path)], environ={}).watch == [tmp_path]
    both = parse_options([], environ={"GANLAB_WATCH": f"{tmp_path}{os.pathsep}{tmp_path}"})
    assert both.watch == [tmp_path, tmp_path]
    with pytest.raises(GanlabError, match="--watch: .* is not a folder"):
        parse_options(["--watch", str(tmp_path / "nope")], environ={})
