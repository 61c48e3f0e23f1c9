"""The speed work computes what it did before: ganlab's step equals the reference loop's
(bench/train_throughput.py), and the speed options (channels_last, bf16, deferred metrics) stay close."""
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.engine import Engine
from ganlab.errors import GanlabError
from ganlab.trainer import Trainer, draw_noise

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "bench" / "train_throughput.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def cfg(**train) -> RunConfig:
    # MNIST's 5,000 offline digits, a tiny DCGAN with BatchNorm in D as the reference has it
    t = dict(loss="ns", batch_size=16, steps=100, seed=3, device="cpu", channels_last=False, precision="fp32")
    t.update(train)
    return RunConfig(DataConfig(name="mnist"), ModelConfig(name="dcgan", width=8, z_dim=16, d_norm="batch"),
                     TrainConfig(**t))


def params(*nets):
    return torch.cat([v.detach().float().flatten() for net in nets for v in net.state_dict().values()])


def the_next_draws(trainer: Trainer):
    """The real batch and noise the trainer's next step will draw (from a copy of its generator)."""
    g = torch.Generator().set_state(trainer.gen.get_state())
    idx = torch.randint(len(trainer.x), (trainer.cfg.train.batch_size,), generator=g)
    z = draw_noise(len(idx), trainer.G.z_dim, trainer.cfg.model.z_dist, g)
    return trainer.x[idx], z


def test_one_step_equals_the_reference_loop():
    bench = _bench()
    t = Trainer(cfg())
    ref = bench.reference_for(t)                    # the same weights, in nn.Sequential nets
    assert torch.equal(params(ref.netG, ref.netD), params(t.G, t.D))
    real, z = the_next_draws(t)
    other = bench.reference_for(t)                  # a control: the same step on other noise
    ref.step(real=real, noise=z)
    other.step(real=real, noise=torch.randn(z.shape, generator=torch.Generator().manual_seed(9)))
    t.step()
    ours, theirs = params(t.G, t.D), params(ref.netG, ref.netD)
    assert (ours - theirs).abs().max() < 2e-6       # float rounding (BCE on logits vs on sigmoids)
    # the tolerance can fail: other noise moves the weights by about lr (2e-4)
    assert (params(other.netG, other.netD) - theirs).abs().max() > 1e-4


def test_the_reference_loop_trains_from_its_data_loader():
    bench = _bench()
    ref = bench.reference_for(Trainer(cfg()))
    before = params(ref.netG, ref.netD)
    m = [ref.step() for _ in range(3)][-1]
    assert all(math.isfinite(v) for v in m.values())
    assert not torch.equal(before, params(ref.netG, ref.netD))


def test_g_step_reuses_the_d_steps_fakes_only_where_the_maths_allows():
    assert Trainer(cfg())._reuses_fakes()
    assert not Trainer(cfg(diversity=1.0))._reuses_fakes()        # MSGAN needs its own noise pairs


@pytest.mark.parametrize("option,tol", [({"channels_last": True}, 2e-6), ({"precision": "bf16"}, 0.05)])
def test_speed_options_keep_the_step_numerically_close(option, tol):
    a, b = Trainer(cfg()), Trainer(cfg(**option))
    assert torch.equal(params(a.G, a.D), params(b.G, b.D))
    for _ in range(3):
        a.step(), b.step()
    z = torch.randn(16, 16, generator=torch.Generator().manual_seed(0))
    diff = (a.sample(z) - b.sample(z)).abs()
    assert diff.max() < max(tol, 1e-5) and diff.mean() < tol / 5, (diff.max(), diff.mean())
    if option.get("channels_last"):
        assert b.memory_format == torch.channels_last and next(b.D.parameters()).is_contiguous(
            memory_format=torch.channels_last) or next(b.D.parameters()).dim() != 4


def test_channels_last_is_chosen_for_conv_nets_only():
    assert Trainer(cfg(channels_last=None)).memory_format == torch.channels_last
    ring = RunConfig(DataConfig(name="ring"), ModelConfig(name="mlp"), TrainConfig(device="cpu"))
    assert Trainer(ring).memory_format is None


def test_bad_speed_options_are_refused_with_a_sentence():
    with pytest.raises(GanlabError, match="precision"):
        cfg(precision="fp8").validate()
    with pytest.raises(GanlabError, match="gradient penalty"):
        cfg(loss="wgan-gp").validate()
    bad = cfg()
    bad.model.name = "mlp"
    with pytest.raises(GanlabError, match="dcgan family only"):
        bad.validate()


def test_compile_gives_the_same_step(monkeypatch):
    pytest.importorskip("torch._inductor")
    a, b = Trainer(cfg()), Trainer(cfg(compile=True))
    for _ in range(2):
        a.step(), b.step()
    assert (params(a.G, a.D) - params(b.G, b.D)).abs().max() < 1e-4
    assert list(a.G.state_dict()) == list(b.G.state_dict())            # checkpoints keep their keys


def test_compile_without_a_compiler_says_so(monkeypatch):
    monkeypatch.setattr("ganlab.trainer.shutil.which", lambda name: None)
    with pytest.raises(GanlabError, match="C\\+\\+ compiler"):
        Trainer(cfg(compile=True))


def ring_cfg(steps: int) -> RunConfig:
    return RunConfig(DataConfig(name="ring"), ModelConfig(name="mlp", width=32),
                     TrainConfig(steps=steps, batch_size=64, seed=0, device="cpu", log_every=10))


def test_deferred_metrics_still_log_floats_and_roll_back_a_nan(tmp_path):
    # what the engine does on a GPU (no sync per step), on the CPU: rows are numbers, a NaN is caught per row
    e = Engine.new(ring_cfg(steps=60), tmp_path / "defer")
    e.trainer.defer_metrics = True
    real_step = e.trainer.step
    poisoned = {"done": False}

    def step():
        if e.trainer.step_count == 22 and not poisoned["done"]:
            poisoned["done"] = True
            with torch.no_grad():
                next(e.trainer.D.parameters()).fill_(float("nan"))
        m = real_step()
        assert isinstance(m["loss_d"], torch.Tensor)            # no float (and no sync) per step
        return m

    e.trainer.step = step
    e.start()
    e._thread.join(60)
    st = e.status()
    assert st["state"] == "finished" and st["step"] == 60 and st["rollbacks"] == 1, st
    rows = [r for r in e.metrics_since(0)[0] if "loss_d" in r]
    assert rows and all(isinstance(r["loss_d"], float) and math.isfinite(r["loss_d"]) for r in rows)
    assert all(isinstance(r["grad_norm_g"], float) for r in rows)
    e.stop()


def test_the_harness_prints_both_sides_and_their_ratio(monkeypatch, capsys, tmp_path):
    bench = _bench()
    monkeypatch.setitem(bench.SHAPES, 28, ("mnist", 28, 1, 8, 16))
    out = bench.main(["--sizes", "28", "--devices", "cpu", "--rounds", "2", "--seconds", "0.3", "--warmup", "0.2",
                      "--json", str(tmp_path / "t.json")])
    row = out["throughput"][0]
    assert row["ganlab_images_per_s"] > 0 and row["reference_images_per_s"] > 0 and row["step_gflops"] > 0
    assert row["ratio"] == pytest.approx(row["ganlab_images_per_s"] / row["reference_images_per_s"])
    assert "ratio" in capsys.readouterr().out and (tmp_path / "t.json").exists()


def test_the_quality_clock_trains_every_recipe_in_turns_and_tables_and_plots_them(monkeypatch, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("quality_clock", ROOT / "bench" / "quality_clock.py")
    qc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(qc)

    def score(snaps, n):                          # FID is its own test; here a made-up curve that falls with time
        for m in snaps:
            m["fid"] = (100.0 if m["side"] == "reference" else 60.0) / m["minutes"] / 100
            m["kid_x1000"] = m["fid"] / 10
    monkeypatch.setattr(qc, "score", score)
    out = qc.main(["--marks", "0.005,0.01", "--data", "mnist", "--n", "10", "--recipes", "reference,fast",
                   "--out", str(tmp_path), "--json", str(tmp_path / "c.json"), "--plot", str(tmp_path / "c.png")])
    snaps = out["snapshots"]
    assert [m["side"] for m in snaps] == ["reference", "fast", "fast", "reference"]     # turns alternate
    assert all(Path(m["checkpoint"], "config.json").exists() for m in snaps)   # what `eval` scores
    for side in ("reference", "fast"):
        steps = [m["step"] for m in snaps if m["side"] == side]
        assert steps[0] >= 1 and steps[1] > steps[0]
    printed = capsys.readouterr().out
    assert "FID@10" in printed and "fast: 0.60, 0.60 × the reference's FID" in printed
    assert (tmp_path / "c.png").stat().st_size > 5000 and json.loads((tmp_path / "c.json").read_text())["table"]


def test_cli_speed_flags_reach_the_config_and_may_change_on_resume(tmp_path):
    import json

    from ganlab.cli import main
    run = tmp_path / "run"
    assert main(["train", "--data", "mnist", "--model", "dcgan", "--width", "8", "--z-dim", "8", "--batch-size", "8",
                 "--steps", "2", "--precision", "bf16", "--no-channels-last", "--d-norm", "batch",
                 "--device", "cpu", "--out", str(run)]) == 0
    c = json.loads((run / "config.json").read_text())
    assert c["train"]["precision"] == "bf16" and c["train"]["channels_last"] is False
    assert c["model"]["d_norm"] == "batch"
    assert main(["train", "--resume", str(run), "--steps", "3", "--precision", "fp32"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["precision"] == "fp32"


def test_live_samples_are_drawn_only_while_someone_reads_them(tmp_path, monkeypatch):
    import time

    import ganlab.engine.run as run
    monkeypatch.setattr(run, "SAMPLE_SECONDS", 0.05)
    cfg = ring_cfg(steps=10**6)
    cfg.train.sample_every = 10**6                   # no saved grids: only the live ones count
    e = Engine.new(cfg, tmp_path / "live")
    drawn = []
    real = e._refresh_samples
    e._refresh_samples = lambda save: (drawn.append(save), real(save))
    e.start()
    try:
        time.sleep(1.0)                              # training, nobody looking
        unwatched = drawn.count(False)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:                # a page polling
            e.latest_samples()
            time.sleep(0.1)
        watched = drawn.count(False) - unwatched
    finally:
        e.stop()
    assert e.status()["step"] > 0
    assert unwatched == 0 and watched >= 2, (unwatched, watched)


def test_python_m_bench_runs_a_part_and_writes_its_summary(tmp_path, monkeypatch):
    import json
    import subprocess
    import sys
    bad = subprocess.run([sys.executable, "-m", "bench", "--only", "nope"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown part" in bad.stderr
    spec = importlib.util.spec_from_file_location("bench_main", ROOT / "bench" / "__main__.py")
    main = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main)
    monkeypatch.setattr(main, "run_part", lambda part, quick: {"part": part, "quick": quick})
    out = main.main(["--only", "throughput,ui", "--quick", "--json", str(tmp_path / "b.json")])
    assert out["throughput"] == {"part": "throughput", "quick": True} and "ui" in out
    assert json.loads((tmp_path / "b.json").read_text())["ui"]["part"] == "ui"
