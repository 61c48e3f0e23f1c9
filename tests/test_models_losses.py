"""Every registered model x loss builds and trains a few steps with finite numbers."""
import math

import pytest
import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.losses import LOSSES, d_bce, d_hinge, data_to_data_cross_entropy, g_minimax, g_nonsaturating
from ganlab.nets import MODELS
from ganlab.trainer import Trainer, make_trainer

CASES = [("mlp", None), ("mlp", (1, 28)), ("dcgan", (1, 28)), ("dcgan", (3, 32)), ("dcgan", (3, 64)),
         ("cgan", (1, 28)), ("projection", (3, 32)), ("acgan", (1, 28)), ("reacgan", (1, 28)),
         ("proj-reacgan", (3, 32)), ("stylegan", (3, 16)), ("progan", (3, 16))]         # tiny_images: 4 classes


def test_every_model_is_covered():
    # text-gan needs captions and an embedder: tests/test_text.py trains it with each embedder; the
    # image-to-image families need pairs: tests/test_translate.py trains each with every loss
    translation = {"pix2pix", "cyclegan", "srgan", "inpaint"}
    assert {m for m, _ in CASES} | {"text-gan"} | translation == set(MODELS.names())


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("model,image", CASES)
def test_model_loss_trains_three_steps(model, image, loss, tiny_images):
    data = tiny_images(*image, n=16) if image else None
    cfg = RunConfig(DataConfig(name="ring", n=256), ModelConfig(name=model, width=16 if model == "mlp" else 8),
                    TrainConfig(loss=loss, steps=3, batch_size=8, n_critic=2, ema=0.9, label_smoothing=0.1,
                                instance_noise=0.1, device="cpu"))
    t = make_trainer(cfg, data)
    before = [p.clone() for p in t.G.parameters()]
    for _ in range(3):
        m = t.step()
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert math.isfinite(m[key]), key
    assert m["step"] == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, t.G.parameters())), "G did not update"
    x = t.sample()
    assert x.shape == (cfg.train.n_samples, *t.data.sample_shape)
    assert torch.isfinite(x).all()
    if image:
        assert x.abs().max() <= 1


def test_ema_warms_up_so_a_short_run_is_not_its_initial_weights():
    cfg = RunConfig(DataConfig(name="ring", n=256), ModelConfig(name="mlp", width=16),
                    TrainConfig(loss="ns", batch_size=16, ema=0.999, device="cpu"))
    t = Trainer(cfg)
    init = [p.clone() for p in t.G.parameters()]
    for _ in range(20):
        t.step()
    # distance of the EMA from G and from the initial weights: it must sit much nearer G
    to_g = sum((a - b).norm() for a, b in zip(t.G_ema.parameters(), t.G.parameters()))
    to_init = sum((a - b).norm() for a, b in zip(t.G_ema.parameters(), init))
    assert to_g < 0.5 * to_init


def test_wgan_clips_weights():
    cfg = RunConfig(DataConfig(name="ring", n=256), ModelConfig(name="mlp", width=16),
                    TrainConfig(loss="wgan", clip=0.01, batch_size=16, device="cpu"))
    t = Trainer(cfg)
    t.step()
    assert max(p.abs().max().item() for p in t.D.parameters()) <= 0.01 + 1e-7


def test_loss_functions_on_known_logits():
    big = torch.full((4,), 20.0)
    # a D that is sure and right has ~zero BCE loss; the minimax G loss saturates there, NS does not
    assert d_bce(big, -big).item() < 1e-6
    assert g_minimax(-big).abs().item() < 1e-6
    assert g_nonsaturating(-big).item() == pytest.approx(20.0, rel=1e-4)
    assert d_hinge(torch.ones(4), -torch.ones(4)).item() == 0.0
    # one-sided smoothing: a perfect real logit no longer has zero loss
    assert d_bce(big, -big, smooth=0.1).item() > 1.0


def test_data_to_data_cross_entropy_on_known_embeddings():
    eye = torch.eye(4)
    y = torch.tensor([0, 1, 2, 3])
    # each image on its own proxy, the classes orthogonal: no pull, and each push sits at its floor
    # (e^0 for each of the 3 other-class images), so the loss is its minimum, log(1 + 3), with no gradient
    e = eye.clone().requires_grad_(True)
    loss = data_to_data_cross_entropy((e, eye), y)
    loss.backward()
    assert loss.item() == pytest.approx(math.log(4)) and e.grad.abs().max() == 0
    # images away from their proxies, or near another class's images, cost more
    rot = eye[[1, 2, 3, 0]]
    assert data_to_data_cross_entropy((rot, eye), y) > loss + 1
    alike = torch.nn.functional.normalize(eye + 1.0, dim=1)
    assert data_to_data_cross_entropy((alike, alike), y) > loss + 1
    # images of one class are not pushed apart: two identical same-class images cost the minimum
    same = torch.tensor([0, 0, 1, 1])
    two = eye[[0, 0, 1, 1]]
    assert data_to_data_cross_entropy((two, two), same).item() == pytest.approx(math.log(3))


def test_configure_threads(monkeypatch):
    import torch

    from ganlab.errors import GanlabError
    from ganlab.trainer import configure_threads
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("GANLAB_TORCH_THREADS", "1")
        assert configure_threads() == 1 == torch.get_num_threads()
        monkeypatch.setenv("GANLAB_TORCH_THREADS", "many")
        with pytest.raises(GanlabError, match="whole number"):
            configure_threads()
        with pytest.raises(GanlabError, match="at least 1"):
            configure_threads(0)
    finally:
        torch.set_num_threads(before)
