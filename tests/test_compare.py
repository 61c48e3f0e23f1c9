"""The Compare runs tab without a browser: real tiny run folders, figures, grids and handler messages."""
import json
import os

import pytest
import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.engine import Engine
from ganlab.ui.compare import (
    GAP,
    PALETTE,
    common_steps,
    compare_figure,
    find_runs,
    grids_at_step,
    read_metrics,
    run_label,
    side_by_side,
)
from ganlab.ui.compare_tab import PICK, CompareHandlers

pytestmark = pytest.mark.filterwarnings("ignore:.*:UserWarning")   # gr.Warning outside a request


def _cfg(loss="ns", seed=0):
    return RunConfig(DataConfig(name="ring", n=500), ModelConfig(name="mlp", width=16, depth=1),
                     TrainConfig(loss=loss, steps=30, batch_size=32, log_every=5, sample_every=10, seed=seed))


def _train(path, steps, **kw):
    """A real run folder: grids at step 0, every 10 steps, and at the last step (saved by stop())."""
    torch.manual_seed(0)
    e = Engine.new(_cfg(**kw), path)
    for _ in range(steps):
        e.step_once()
    e.stop()
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    n = torch.get_num_threads()
    torch.set_num_threads(1)                  # a busy 2-core box: keep the tiny runs polite
    root = tmp_path_factory.mktemp("runs")
    old = _train(root / "cli" / "old", 25)                       # grids at 0, 10, 20, 25
    new = _train(root / "ui" / "20240101-ring-abcdef", 12, loss="hinge", seed=1)   # 0, 10, 12
    for decoy in (root / ".hidden" / "run", root / "ui" / "uploads" / "run", old / "checkpoints" / "x"):
        decoy.mkdir(parents=True)                                # look like runs, but must not be listed
        for name in ("config.json", "metrics.jsonl"):
            (decoy / name).write_bytes((old / name).read_bytes())
    (root / "ui" / "uploads" / "pics").mkdir()
    # evaluation rows arrive late and out of step order, and without losses
    with open(old / "metrics.jsonl", "a") as f:
        for row in ({"step": 20, "fid": 50.0, "recall": 0.2}, {"step": 10, "fid": 80.0}):
            f.write(json.dumps(row) + "\n")
    os.utime(old / "metrics.jsonl", (1_000, 1_000))              # make "new" the newest run
    torch.set_num_threads(n)
    return root, old, new


def test_find_runs_skips_hidden_uploads_and_checkpoints(root):
    root, old, new = root
    assert find_runs(root) == [new, old]                         # newest metrics first
    assert find_runs(root / "missing") == []
    assert find_runs(root, max_depth=1) == []                    # both runs are two levels down


def test_run_label_reads_config_and_tolerates_broken_ones(root, tmp_path):
    root, old, new = root
    assert run_label(new, root) == "ui/20240101-ring-abcdef · ring · mlp · hinge"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    assert run_label(broken, root) == str(broken)                # outside root, unreadable: just the path


def test_compare_figure_one_trace_per_run_and_series(root):
    _, old, new = root
    runs = {"old": read_metrics(old), "new": read_metrics(new)}
    fig = compare_figure(runs)
    traces = {(t.name, t.yaxis, t.line.dash): t for t in fig.data}
    for j, name in enumerate(runs):
        d, g = traces[(name, "y", "solid")], traces[(name, "y", "dot")]
        assert d.line.color == g.line.color == PALETTE[j]
        assert list(d.x) == [r["step"] for r in runs[name] if "loss_d" in r]
        assert (name, "y4", "solid") in traces                   # diversity, logged by the engine
    assert [t.name for t in fig.data if t.showlegend] == ["old", "new"]      # one legend entry per run
    fid = [t for t in fig.data if t.yaxis == "y2"]
    assert [t.name for t in fid] == ["old"] and list(fid[0].x) == [10, 20] and list(fid[0].y) == [80.0, 50.0]
    assert [t.name for t in fig.data if t.yaxis == "y3"] == ["old"]           # recall
    assert len(fig.data) == 2 * 3 + 2


def test_compare_figure_keeps_layout_when_panels_are_empty(root):
    _, _, new = root
    full, empty = compare_figure({"new": read_metrics(new)}), compare_figure({})
    assert not empty.data and {t.yaxis for t in full.data} == {"y", "y4"}
    for fig in (full, empty):
        assert [fig.layout[f"yaxis{s}"].domain for s in ("", "2", "3", "4")] == \
            [full.layout[f"yaxis{s}"].domain for s in ("", "2", "3", "4")]
    assert any("no FID" in a.text for a in full.layout.annotations)


def test_grids_at_step_picks_the_saved_step_at_or_below(root):
    _, old, new = root
    assert common_steps([old, new]) == (0, 25)
    assert [s for _, _, s in grids_at_step([old, new], 11)] == [10, 10]
    assert [s for _, _, s in grids_at_step([old, new], 15)] == [10, 12]
    assert [s for _, _, s in grids_at_step([old, new], 25)] == [25, 12]
    assert [s for _, _, s in grids_at_step([old], -3)] == [0]                  # none below: the nearest
    (path, image, step), = grids_at_step([old], 20)
    assert path == str(old) and image.mode == "RGB" and step == 20


def test_grids_at_step_without_grids(tmp_path):
    assert grids_at_step([tmp_path], 10) == [(str(tmp_path), None, -1)]
    assert common_steps([tmp_path]) == (0, 0)


def test_side_by_side_puts_grids_next_to_each_other(root, tmp_path):
    _, old, new = root
    grids = grids_at_step([old, new, tmp_path], 20)
    picture = side_by_side(grids, ["old", "new", "empty"])
    images = [g[1] for g in grids[:2]]
    assert picture.width == sum(im.width for im in images) + images[0].width + 2 * GAP   # the empty gets a blank
    assert picture.height > max(im.height for im in images)     # room for the label and step above
    right = picture.crop((images[0].width + GAP, picture.height - images[1].height, picture.width, picture.height))
    assert right.getbbox() is not None                           # the second grid was pasted, not left white


def _handlers(root, **opts):
    from ganlab.server import ServerOptions
    from ganlab.ui.sessions import Sessions
    return CompareHandlers(Sessions(options=ServerOptions(runs=root, train_processes=False, **opts)))


def test_handlers_warn_about_bad_input(root, tmp_path):
    root, old, _ = root
    h = _handlers(root)
    msg = h.add(str(tmp_path / "nope"), [], "k")[0]
    assert msg.startswith("⚠️") and "not a run you may open" in msg
    (root / "ui" / "empty").mkdir(exist_ok=True)
    msg = h.add("ui/empty", [], "k")[0]
    assert msg.startswith("⚠️") and "not a run folder" in msg
    assert h.show([], "k")[0] == f"⚠️ {PICK}"
    assert h.at_step([], 10, "k")[0] == f"⚠️ {PICK}"
    assert h.pick([], "k")[0] == PICK and h.pick([], "k")[4] is None      # clearing the list is not an error
    assert h.at_step([str(tmp_path)], 10, "k")[0].startswith("⚠️")


def test_handlers_list_add_and_draw(root, tmp_path):
    root, old, new = root
    outside = _train(tmp_path / "elsewhere", 5)
    h = _handlers(root)                                          # personal mode: the CLI's runs are listed
    msg, runs, *_ = h.refresh([], "k")
    assert msg.startswith("Found 2 run(s)") and [v for _, v in runs["choices"]] == ["ui/20240101-ring-abcdef",
                                                                                     "cli/old"]
    assert h.add(str(outside), ["cli/old"], "k")[0].startswith("⚠️")     # no folder outside the runs folder
    msg, runs, fig, slider, picture = h.add("  ui/20240101-ring-abcdef  ", ["cli/old"], "k")
    assert not msg.startswith("⚠️") and runs["value"] == ["cli/old", "ui/20240101-ring-abcdef"]
    assert (slider["minimum"], slider["maximum"], slider["value"]) == (0, 25, 25)
    assert {t.name for t in fig.data if t.showlegend} == {run_label(old, root), run_label(new, root)}
    assert picture.width >= 2 * 320
    msg, picture = h.at_step(["cli/old", "ui/20240101-ring-abcdef"], 15, "k")
    assert "nearest step 15" in msg and "10" in msg
    assert h.refresh(["cli/old"], "k")[1]["value"] == ["cli/old"]


def test_a_browser_compares_only_runs_it_may_see(root):
    root, old, new = root
    h = _handlers(root, classroom=True, teacher_password="teach")
    alice, bob = h.sessions.get("alice").who, h.sessions.get("bob").who
    h.sessions.access.claim(new, alice)
    try:
        assert [v for _, v in h.refresh([], "alice")[1]["choices"]] == ["ui/20240101-ring-abcdef"]
        assert h.refresh([], "bob")[1]["choices"] == []          # not alice's run, nor the CLI's (a classroom)
        assert h.add("ui/20240101-ring-abcdef", [], "bob")[0].startswith("⚠️")
        assert h.show(["ui/20240101-ring-abcdef"], "bob")[0].startswith("⚠️")
        h.sessions.access.share(new, True, alice)
        assert [v for _, v in h.refresh([], "bob")[1]["choices"]] == ["ui/20240101-ring-abcdef"]
        assert not h.show(["ui/20240101-ring-abcdef"], "bob")[0].startswith("⚠️")
        assert bob.owner != alice.owner
    finally:
        (new / "owner.json").unlink()
