"""Checkpoints reproduce a run exactly and refuse ones that do not fit."""
import pytest
import torch
from safetensors.torch import load_file, save_file

from ganlab.checkpoint import load_checkpoint, save_checkpoint
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.errors import GanlabError
from ganlab.sampling import load_generator, sample
from ganlab.trainer import Trainer


def _cfg(**train):
    base = dict(loss="wgan-gp", steps=20, batch_size=16, n_critic=2, ema=0.9, instance_noise=0.1,
                label_smoothing=0.0, seed=3, device="cpu")
    base.update(train)
    return RunConfig(DataConfig(name="ring", n=512), ModelConfig(name="mlp", width=32), TrainConfig(**base))


def _params(t):
    items = list(t.G.state_dict().items()) + [("D." + k, v) for k, v in t.D.state_dict().items()]
    return {k: v.clone() for k, v in items}


@pytest.mark.parametrize("loss", ["wgan-gp", "ns"])
def test_resume_matches_uninterrupted_run(tmp_path, loss):
    n = 10
    straight = Trainer(_cfg(loss=loss))
    for _ in range(2 * n):
        straight.step()

    first = Trainer(_cfg(loss=loss))
    for _ in range(n):
        first.step()
    save_checkpoint(first, tmp_path / "ckpt")
    second = Trainer(_cfg(loss=loss))
    load_checkpoint(second, tmp_path / "ckpt")
    assert second.step_count == n
    for _ in range(n):
        second.step()

    a, b = _params(straight), _params(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert torch.equal(straight.sample(), second.sample())


def test_dcgan_resume_with_batchnorm(tmp_path, tiny_images):
    data = tiny_images(1, 28, 32)
    cfg = lambda: RunConfig(DataConfig(), ModelConfig(name="dcgan", width=8),  # noqa: E731
                            TrainConfig(loss="hinge", batch_size=8, ema=0.5, device="cpu", seed=1))
    straight = Trainer(cfg(), data)
    for _ in range(4):
        straight.step()
    first = Trainer(cfg(), data)
    for _ in range(2):
        first.step()
    save_checkpoint(first, tmp_path / "c")
    second = Trainer(cfg(), data)
    load_checkpoint(second, tmp_path / "c")
    for _ in range(2):
        second.step()
    assert torch.equal(straight.sample(), second.sample())
    assert torch.equal(straight.sample(use_ema=False), second.sample(use_ema=False))


def test_save_then_load_gives_identical_samples(tmp_path):
    t = Trainer(_cfg())
    for _ in range(5):
        t.step()
    save_checkpoint(t, tmp_path / "ckpt")
    G, cfg, step = load_generator(tmp_path / "ckpt")
    assert step == 5 and cfg.model.name == "mlp"
    z = torch.randn(7, G.z_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(G(z), t.sample(z))
    assert torch.equal(sample(G, 7, seed=0), t.sample(z))


def test_checkpoint_is_atomic_and_overwritable(tmp_path):
    t = Trainer(_cfg())
    save_checkpoint(t, tmp_path / "c")
    t.step()
    save_checkpoint(t, tmp_path / "c")                  # replace in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]   # no temporary folders left
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["config.json", "state.json", "state.safetensors"]


def test_checkpoint_of_another_model_is_refused(tmp_path):
    save_checkpoint(Trainer(_cfg()), tmp_path / "c")
    other = _cfg()
    other.model.width = 64
    with pytest.raises(GanlabError, match="does not fit"):
        load_checkpoint(Trainer(other), tmp_path / "c")


def test_tampered_checkpoint_is_refused(tmp_path):
    t = Trainer(_cfg())
    save_checkpoint(t, tmp_path / "c")
    path = tmp_path / "c" / "state.safetensors"
    tensors = load_file(str(path))
    tensors["G.net.0.weight"] = torch.zeros(3, 3)        # wrong shape
    save_file(tensors, str(path))
    with pytest.raises(GanlabError, match="does not fit"):
        load_checkpoint(Trainer(_cfg()), tmp_path / "c")
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(GanlabError, match="unreadable"):
        load_checkpoint(Trainer(_cfg()), tmp_path / "c")
