"""The MLP GAN really learns the ring of 8 Gaussians in a short CPU run."""
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.metrics import mode_coverage
from ganlab.trainer import Trainer


def test_mlp_gan_covers_ring_modes():
    cfg = RunConfig(DataConfig(name="ring"), ModelConfig(name="mlp"),
                    TrainConfig(loss="ns", steps=1000, batch_size=128, lr_g=1e-3, lr_d=1e-3,
                                n_samples=2000, seed=1, device="cpu"))
    t = Trainer(cfg)
    start = mode_coverage(t.sample(), t.data.modes, t.data.mode_std)
    for _ in range(cfg.train.steps):
        t.step()
    end = mode_coverage(t.sample(), t.data.modes, t.data.mode_std)
    assert start["modes"] <= 2 and start["high_quality"] < 0.2     # an untrained G is nowhere near
    assert end["modes"] >= 6, end
    assert end["high_quality"] >= 0.4, end


def test_mode_coverage_on_synthetic_sets():
    import torch
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    both = centres[torch.arange(1000) % 2] + 0.01 * torch.randn(1000, 2, generator=g)
    one = centres[0] + 0.01 * torch.randn(1000, 2, generator=g)
    far = torch.full((1000, 2), 5.0)
    cov = mode_coverage(both, centres, 0.01)
    assert cov["modes"] == 2 and 0.98 < cov["high_quality"] <= 1.0   # 2-D: 98.9% lie within 3 std
    assert mode_coverage(one, centres, 0.01)["modes"] == 1
    assert mode_coverage(far, centres, 0.01) == {"modes": 0, "of": 2, "high_quality": 0.0}
