"""Data-parallel training (ganlab.distributed): two gloo processes on the CPU train the one-process run.

The ranks are started the two ways a user would meet: torch.multiprocessing with
torchrun's environment variables (to look at every rank's weights), and torchrun
itself on ``python -m ganlab train`` (the run folder, resuming with another rank count).
"""
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from ganlab.checkpoint import STATE_FILE, latest_checkpoint
from ganlab.cli import main
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.distributed import World, join
from ganlab.errors import GanlabError
from ganlab.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
ATOL = 1e-5                          # float rounding: 2 ranks sum gradients in another order than 1 process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(trainer) -> dict:
    """Every weight and BatchNorm statistic of G and D, and the random generator's state."""
    out = {f"{name}.{k}": v.detach().clone(memory_format=torch.contiguous_format)     # NHWC weights too
           for name, net in (("G", trainer.G), ("D", trainer.D)) for k, v in net.state_dict().items()}
    out["gen"] = trainer.gen.get_state()
    return out


def _rank(rank: int, size: int, port: int, cfg: dict, steps: int, out: str) -> None:
    """One rank, as torchrun would start it: train ``steps`` steps, save its state and last metrics."""
    os.environ.update(WORLD_SIZE=str(size), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    world = join("cpu")
    try:
        trainer = Trainer(RunConfig.from_dict(cfg))
        for _ in range(steps):
            m = trainer.world.average(trainer.step())  # as the engine reads them
        save_file(_state(trainer), f"{out}/rank{rank}.safetensors")
        Path(f"{out}/rank{rank}.json").write_text(json.dumps(m))
    finally:
        world.close()


def _cfg(model="mlp", **train) -> RunConfig:
    if model == "mlp":
        data, m = DataConfig(name="ring", n=256), ModelConfig(name="mlp", width=16, depth=2)
    else:                                  # 32 px shapes: dcgan's G has BatchNorm, cgan's labels are shapes
        data, m = DataConfig(name="shapes", n=64, resolution=32, channels=3), ModelConfig(name=model, width=8)
    return RunConfig(data, m, TrainConfig(loss=train.pop("loss", "ns"), steps=100, batch_size=8, seed=3,
                                          device="cpu", **train))


def _two_ranks(cfg: RunConfig, steps: int, tmp_path: Path):
    mp.spawn(_rank, args=(2, _free_port(), cfg.to_dict(), steps, str(tmp_path)), nprocs=2)
    return ([load_file(tmp_path / f"rank{r}.safetensors") for r in range(2)],
            [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)])


def _one_process(cfg: RunConfig, steps: int):
    trainer = Trainer(cfg)
    for _ in range(steps):
        m = trainer.step()
    return _state(trainer), m


@pytest.mark.parametrize("model,train", [
    ("mlp", {}),
    ("mlp", {"loss": "wgan-gp", "n_critic": 2, "instance_noise": 0.1}),
    ("dcgan", {"r1": 1.0, "augment": "translation,cutout,color"}),    # BatchNorm in G, R1's double backward
    ("cgan", {"ema": 0.9}),
])
def test_two_ranks_train_the_one_process_run(tmp_path, one_torch_thread, model, train):
    cfg = _cfg(model, **train)
    ranks, metrics = _two_ranks(cfg, 3, tmp_path)
    alone, m_alone = _one_process(cfg, 3)
    for k in alone:
        assert torch.equal(ranks[0][k], ranks[1][k]), f"{k} differs between the ranks"
        if k == "gen":                     # the same draws were made: resume with any number of ranks
            assert torch.equal(ranks[0][k], alone[k])
        elif alone[k].is_floating_point():
            torch.testing.assert_close(ranks[0][k], alone[k], atol=ATOL, rtol=1e-4, msg=f"{k} is not the 1-process {k}")
        else:
            assert torch.equal(ranks[0][k], alone[k]), k
    timeless = [{k: v for k, v in m.items() if k != "seconds"} for m in metrics]
    assert timeless[0] == timeless[1]                                  # the world's means, on every rank
    assert metrics[0]["loss_d"] == pytest.approx(m_alone["loss_d"], abs=1e-4)
    assert metrics[0]["images"] == m_alone["images"]                   # the global batch's count


def test_batch_must_divide_among_the_ranks():
    assert World(size=4, rank=1).share(32) == 8
    with pytest.raises(GanlabError, match=r"The batch size 30 does not divide among 4 processes; .* 28 or 32\."):
        World(size=4).share(30)
    with pytest.raises(GanlabError, match=r"multiple of 2 such as 2\."):
        World(size=2).share(1)


@pytest.mark.parametrize("model,train,words", [
    ("stylegan", {}, "stylegan is not supported data-parallel yet; run it in one process."),
    ("dcgan", {"diversity": 1.0}, "--diversity (mode seeking) is not supported data-parallel yet"),
])
def test_what_a_data_parallel_step_cannot_do_is_refused(model, train, words):
    from ganlab.distributed import check_supported
    from ganlab.style.trainer import StyleGANTrainer
    cls = StyleGANTrainer if model == "stylegan" else Trainer
    trainer = cls.__new__(cls)
    trainer.cfg = _cfg(model, **train)                 # the refusal reads the config and the class alone
    with pytest.raises(GanlabError, match=re.escape(words)):
        check_supported(trainer)


def test_a_rank_keeps_its_rows_of_the_world_batch():
    t = torch.arange(12).view(6, 2)
    assert World(size=3, rank=1).mine(t).tolist() == [[4, 5], [6, 7]]
    assert World().mine(t) is t


def _torchrun(n: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", GANLAB_TORCH_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [str(TORCHRUN), "--nnodes", "1", "--nproc_per_node", str(n), "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "ganlab", "train", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


RING = ["--data", "ring", "--model", "mlp", "--width", "16", "--depth", "2", "--batch-size", "8",
        "--device", "cpu", "--seed", "3", "--log-every", "2", "--sample-every", "2", "--checkpoint-every", "2"]


def _weights(run: Path) -> dict:
    return load_file(latest_checkpoint(run / "checkpoints") / STATE_FILE)


def _close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=ATOL, rtol=1e-4, msg=k)


def test_torchrun_writes_one_run_that_resumes_with_another_rank_count(tmp_path, one_torch_thread):
    """2 ranks for 4 steps then 1 process to 6 and 1 process for 4 then 2 ranks to 6 both end at the 6-step run."""
    two_first, one_first, alone = tmp_path / "two_first", tmp_path / "one_first", tmp_path / "alone"
    done = _torchrun(2, *RING, "--steps", "4", "--out", str(two_first))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("continue with:") == 1                  # rank 0 alone reports
    rows = [json.loads(line) for line in (two_first / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]                        # one writer: each row once
    assert sorted(p.name for p in (two_first / "checkpoints").iterdir()) == ["step_000002", "step_000004"]
    assert main(["train", "--resume", str(two_first), "--steps", "6"]) == 0

    assert main(["train", *RING, "--steps", "4", "--out", str(one_first)]) == 0
    done = _torchrun(2, "--resume", str(one_first), "--steps", "6")
    assert done.returncode == 0, done.stderr[-3000:]

    assert main(["train", *RING, "--steps", "6", "--out", str(alone)]) == 0
    _close(_weights(two_first), _weights(alone))
    _close(_weights(one_first), _weights(alone))
    assert [r["step"] for r in map(json.loads, (one_first / "metrics.jsonl").read_text().splitlines())] == [2, 4, 6]


def test_torchrun_refuses_a_batch_that_does_not_divide(tmp_path):
    done = _torchrun(2, *RING, "--batch-size", "7", "--steps", "2", "--out", str(tmp_path / "run"))
    assert done.returncode != 0
    assert "error: The batch size 7 does not divide among 2 processes" in done.stderr
    assert not (tmp_path / "run" / "config.json").exists()
