"""The CLI contract: train, resume, sample, list, and one clear sentence for bad input."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from ganlab.cli import main

RING = ["train", "--data", "ring", "--model", "mlp", "--loss", "ns", "--n", "500", "--device", "cpu"]


def test_train_resume_sample_list(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(RING + ["--steps", "30", "--batch-size", "32", "--sample-every", "10", "--out", str(run)]) == 0
    for name in ("config.json", "metrics.jsonl", "samples/step_000030.png",
                 "checkpoints/step_000030/state.safetensors"):
        assert (run / name).exists(), name
    assert main(["train", "--resume", str(run), "--steps", "50"]) == 0
    assert (run / "checkpoints/step_000050/state.safetensors").exists()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 5                                  # log_every 10: steps 10..50, no duplicates

    out = tmp_path / "grid.png"
    assert main(["sample", "--run", str(run), "--n", "16", "--seed", "1", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 0
    capsys.readouterr()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    for name in ("ring", "grid", "spiral", "moons", "line", "disjoint", "mnist", "fashion-mnist", "shapes",
                 "folder:PATH", "torchvision:NAME", "mlp", "dcgan",
                 "minimax", "ns", "lsgan", "wgan", "wgan-gp", "hinge"):
        assert name in listing, name


@pytest.mark.parametrize("args,message", [
    (["--lr-g", "0"], "learning rate lr_g must be greater than 0"),
    (["--lr-d", "-1e-3"], "learning rate lr_d must be greater than 0"),
    (["--batch-size", "0"], "batch size must be at least 1"),
    (["--batch-size", "501"], "larger than the dataset"),
    (["--steps", "-5"], "cannot be negative"),
    (["--data", "cifar"], "Unknown dataset 'cifar'"),
    (["--model", "biggan"], "Unknown model 'biggan'"),
    (["--loss", "magic"], "Unknown loss 'magic'"),
    (["--device", "tpu"], "Unknown device"),
])
def test_bad_input_is_one_sentence(tmp_path, capsys, args, message):
    base = RING + ["--steps", "5", "--out", str(tmp_path / "run")]
    flags = dict(zip(base[1::2], base[2::2]))
    flags.update(dict(zip(args[::2], args[1::2])))
    argv = ["train"] + [f"{k}={v}" for k, v in flags.items()]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()                  # nothing half-made on disk


def test_resume_of_missing_run_and_wrong_checkpoint(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "no run folder" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(RING + ["--steps", "3", "--batch-size", "8", "--out", str(run)]) == 0
    cfg = (run / "config.json").read_text().replace('"width": 128', '"width": 64')
    (run / "config.json").write_text(cfg)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 2
    assert "does not fit" in capsys.readouterr().err


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "ganlab", "list"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "fashion-mnist" in out.stdout


def test_train_with_fid_estimates_prints_them_and_saves_them(tmp_path, capsys):
    import json
    code = main(["train", "--data", "shapes", "--n", "64", "--resolution", "32", "--model", "dcgan", "--width", "8",
                 "--z-dim", "8", "--steps", "10", "--batch-size", "16", "--eval-every", "5", "--eval-n", "12",
                 "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "fid" in r] == [5, 10]
    err = capsys.readouterr().err
    assert "FID estimate" in err


def test_eval_prints_the_protocol_and_json(tmp_path, capsys):
    import json
    assert main(["train", "--data", "shapes", "--n", "64", "--resolution", "32", "--model", "dcgan", "--width", "8",
                 "--z-dim", "8", "--steps", "2", "--batch-size", "16", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", str(tmp_path / "run"), "--metrics", "fid,kid,pr,dc", "--n", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fid"] > 0 and 0 <= report["recall"] <= 1 and "coverage" in report
    assert "Lucic et al. 2018" in report["protocol"] and report["comparable"] is False     # shapes: no test split
    assert main(["eval", "--run", str(tmp_path / "run"), "--metrics", "fid,nonsense"]) == 2
    assert "Unknown metric" in capsys.readouterr().err
    assert main(["eval", "--metrics", "fid"]) == 2


# ---- sample --out: folders for prompts, one sentence for a file type we cannot write ----------------
TEXT_MODEL = Path(__file__).resolve().parent.parent / "models" / "text-captioned"


def test_sample_a_prompt_into_a_folder_writes_pngs_and_the_prompt(tmp_path, capsys):
    out = tmp_path / "tees"
    code = main(["sample", "--run", str(TEXT_MODEL), "--prompt", "a plain tee", "--n", "4", "--out", f"{out}/"])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(out / "labels.csv")))
    assert [r["file"] for r in rows] == [f"00000{i}.png" for i in range(4)]
    assert all(r["prompt"] == "a plain tee" for r in rows)
    assert sorted(p.name for p in out.glob("*.png")) == [r["file"] for r in rows]
    assert Image.open(out / "000000.png").size == (32, 32)


@pytest.mark.parametrize("prompt", [None, "a plain tee"])
def test_sample_to_an_unknown_file_type_is_one_sentence(tmp_path, capsys, prompt):
    run = TEXT_MODEL if prompt else Path(__file__).resolve().parent.parent / "models" / "fashion-mnist-dcgan"
    argv = ["sample", "--run", str(run), "--n", "4", "--out", str(tmp_path / "grid.xyz")]
    assert main(argv + (["--prompt", prompt] if prompt else [])) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and ".xyz" in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.iterdir())                     # nothing written


# ---- resume: the flags that may change are applied, the others refused ---------------------------------
TINY = ["train", "--data", "ring", "--model", "mlp", "--steps", "20", "--batch-size", "16", "--n", "500",
        "--device", "cpu", "--log-every", "10"]


def _latest(run):
    import json
    ckpt = sorted((run / "checkpoints").iterdir())[-1]
    return ckpt.name, json.loads((ckpt / "config.json").read_text()), json.loads((ckpt / "state.json").read_text())


def test_resume_applies_learning_rates_n_critic_and_schedules(tmp_path):
    import json
    run = tmp_path / "run"
    assert main(TINY + ["--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--steps", "30", "--lr-g", "1e-5", "--lr-d", "3e-5",
                 "--n-critic", "2", "--log-every", "5", "--sample-every", "5", "--checkpoint-every", "5",
                 "--eval-every", "7", "--eval-n", "50"]) == 0
    name, cfg, state = _latest(run)
    assert name == "step_000030"
    assert state["opt_g"][0]["lr"] == 1e-5 and state["opt_d"][0]["lr"] == 3e-5 and state["n_critic"] == 2
    t = cfg["train"]
    assert (t["lr_g"], t["lr_d"], t["n_critic"], t["eval_every"], t["eval_n"]) == (1e-5, 3e-5, 2, 7, 50)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 25, 30]                                # log_every 5 from step 20 on
    assert (run / "samples" / "step_000025.png").exists() and (run / "checkpoints" / "step_000025").is_dir()
    assert main(["train", "--resume", str(run), "--steps", "32"]) == 0      # and they stay on the next resume
    assert _latest(run)[2]["opt_g"][0]["lr"] == 1e-5


def test_a_typed_rate_wins_even_when_it_equals_the_configured_one(tmp_path):
    """After NaN rollbacks halved the rates, --lr-g with the run's configured value must still set it."""
    import json
    run = tmp_path / "run"
    assert main(TINY + ["--out", str(run), "--lr-g", "2e-4"]) == 0
    name = _latest(run)[0]
    state_file = run / "checkpoints" / name / "state.json"
    state = json.loads(state_file.read_text())
    state["opt_g"][0]["lr"] = 5e-5                                   # as two halvings would leave it
    state_file.write_text(json.dumps(state))
    assert main(["train", "--resume", str(run), "--steps", "25", "--lr-g", "2e-4"]) == 0
    assert _latest(run)[2]["opt_g"][0]["lr"] == 2e-4
    assert main(["train", "--resume", str(run), "--steps", "30"]) == 0      # not typed: the live rate stays
    assert _latest(run)[2]["opt_g"][0]["lr"] == 2e-4


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_resume_applies_the_device(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(TINY + ["--out", str(run)]) == 0
    before = (run / "config.json").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--device", "mps"]) == 2     # the trainer was asked for it
    assert "MPS was asked for" in capsys.readouterr().err
    assert (run / "config.json").read_text() == before


@pytest.mark.parametrize("flags,named", [
    (["--preset", "mnist-dcgan", "--width", "64"], "--preset and --width"),
    (["--ema", "0.999"], "--ema"),
    (["--data", "grid", "--batch-size", "8", "--seed", "3"], "--data, --batch-size and --seed"),
])
def test_resume_refuses_flags_that_cannot_change(tmp_path, capsys, flags, named):
    run = tmp_path / "run"
    assert main(TINY + ["--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--lr-g", "1e-5"] + flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {named} cannot change") and len(err.splitlines()) == 1, err
    assert _latest(run)[0] == "step_000020"                          # nothing trained


def test_resume_with_eval_every_scores_the_resumed_steps(tmp_path, capsys):
    import json
    run = tmp_path / "run"
    assert main(["train", "--data", "shapes", "--n", "64", "--resolution", "32", "--model", "dcgan", "--width", "8",
                 "--z-dim", "8", "--steps", "2", "--batch-size", "16", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--steps", "4", "--eval-every", "2", "--eval-n", "12"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["eval_n"]) for r in rows if "fid" in r] == [(4, 12)]
    assert "FID estimate" in capsys.readouterr().err
