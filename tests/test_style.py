"""StyleGAN and progressive growing: tiny nets (8-16 px, width 8) that build, train, mix, grow and resume."""
import pytest
import torch

from ganlab.checkpoint import load_checkpoint, save_checkpoint
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.errors import GanlabError
from ganlab.nets import MODELS
from ganlab.nets.progan import growth_at
from ganlab.nets.stylegan import StyleGenerator
from ganlab.style.trainer import ProGANTrainer, StyleGANTrainer
from ganlab.trainer import make_trainer


def _cfg(name, **train):
    t = dict(loss="ns", batch_size=8, ema=0.9, seed=2, device="cpu", augment="translation,color")
    t.update(train)
    return RunConfig(DataConfig(), ModelConfig(name=name, width=8, z_dim=16, mapping_depth=2, grow_every=3),
                     TrainConfig(**t))


@pytest.mark.parametrize("name,cls", [("stylegan", StyleGANTrainer), ("progan", ProGANTrainer)])
@pytest.mark.parametrize("side", [8, 16])
def test_families_build_and_train_two_steps(tiny_images, name, cls, side):
    tr = make_trainer(_cfg(name, r1=1.0), tiny_images(3, side, 32))
    assert type(tr) is cls
    for _ in range(2):
        m = tr.step()
    assert all(torch.isfinite(torch.tensor(v)) for v in m.values() if isinstance(v, float))
    x = tr.sample()
    assert x.shape == (64, 3, side, side) and torch.isfinite(x).all()


def test_stylegan_layers_and_groups():
    G = StyleGenerator(16, 16, 3, 64, width=2, mapping_depth=1)
    assert G.num_ws == 10
    assert G.layer_resolutions() == [4, 8, 8, 16, 16, 32, 32, 64, 64, 64]
    assert G.layer_group("coarse") == [0, 1, 2]
    assert G.layer_group("middle") == [3, 4, 5, 6]
    assert G.layer_group("fine") == [7, 8, 9]
    with pytest.raises(GanlabError, match="coarse, middle or fine"):
        G.layer_group("all")
    with pytest.raises(GanlabError, match="power of two"):
        MODELS.get("stylegan")(ModelConfig(name="stylegan"), (3, 28, 28))


def test_truncation_noise_and_determinism():
    torch.manual_seed(0)
    G = StyleGenerator(16, 16, 3, 16, width=4, mapping_depth=2).eval()
    G.w_avg.normal_()
    z = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.equal(G(z), G(z))                                 # eval: the fixed noise maps
        at_mean = G(z, psi=0.0)
        assert torch.allclose(at_mean, at_mean[:1].expand_as(at_mean), atol=1e-6)   # psi 0: w_avg's image
        assert not torch.allclose(G(z), at_mean[:1].expand_as(at_mean))
        for layer in G.convs:
            layer.noise_strength.fill_(1.0)
        ws = G.broadcast(G.mapping(z))
        const, zero = G.synthesis(ws, "const"), G.synthesis(ws, "zero")
        g = torch.Generator().manual_seed(1)
        fresh = G.synthesis(ws, ["random"] + ["const"] * (len(G.convs) - 1), gen=g)
    assert not torch.allclose(const, zero)
    assert not torch.allclose(const, fresh)                           # only the first layer's noise changed
    with pytest.raises(GanlabError, match="noise mode"):
        G.synthesis(ws, "loud")


def test_mixing_regularisation_uses_two_latents_and_tracks_w_avg(tiny_images):
    tr = make_trainer(_cfg("stylegan", style_mixing=1.0), tiny_images(3, 16, 32))
    seen = []
    real = tr.G.synthesis
    tr.G.synthesis = lambda ws, *a, **k: (seen.append(ws.detach().clone()), real(ws, *a, **k))[1]
    before = tr.G.w_avg.clone()
    tr.step()
    assert not torch.equal(before, tr.G.w_avg)
    for ws in seen:                                                   # every batch: a cut between two w's
        same = [torch.equal(ws[:, i], ws[:, 0]) for i in range(ws.shape[1])]
        cut = same.index(False)
        assert 1 <= cut < ws.shape[1] and all(same[:cut]) and not any(same[cut:])
    tr.cfg.train.style_mixing = 0.0
    seen.clear()
    tr.step()
    assert all(torch.equal(ws, ws[:, :1].expand_as(ws)) for ws in seen)


def test_lazy_r1_every_16_steps(tiny_images):
    tr = make_trainer(_cfg("stylegan", r1=2.0), tiny_images(3, 8, 32))
    had = ["r1" in tr.step() for _ in range(18)]
    assert [i for i, h in enumerate(had) if h] == [0, 16]
    tr.cfg.train.r1_every = 4                                         # the config overrides the family's 16
    assert ["r1" in tr.step() for _ in range(4)] == [False, False, True, False]   # step counts 18..21: at 20


def test_growth_schedule():
    # 3 steps at 8 px, then per doubling 3 fading and 3 stable
    got = [growth_at(s, 3, 32) for s in range(14)]
    assert got[:3] == [(8, 1.0)] * 3
    assert got[3:6] == [(16, 0.0), (16, 1 / 3), (16, 2 / 3)]
    assert got[6:9] == [(16, 1.0)] * 3
    assert got[9] == (32, 0.0) and got[12:] == [(32, 1.0)] * 2
    assert growth_at(10_000, 3, 32) == (32, 1.0)


def test_fade_in_starts_where_the_last_stage_ended():
    torch.manual_seed(0)
    G, D = MODELS.get("progan")(ModelConfig(name="progan", width=4, z_dim=8), (3, 32, 32))
    z, x = torch.randn(3, 8), torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        G.set_growth(8, 1.0), D.set_growth(8, 1.0)
        g8, d8 = G(z), D(x)
        G.set_growth(16, 0.0), D.set_growth(16, 0.0)
        g16, d16 = G(z), D(x)
        G.set_growth(16, 1.0)
        grown = G(z)
    assert g8.shape == g16.shape == (3, 3, 32, 32)                    # one display size throughout
    assert torch.allclose(g8, g16, atol=1e-6) and torch.allclose(d8, d16, atol=1e-5)
    assert not torch.allclose(g16, grown)
    assert torch.equal(g8[..., ::4, ::4].repeat_interleave(4, -1).repeat_interleave(4, -2), g8)   # 8 px, blown up
    with pytest.raises(GanlabError, match="grows through"):
        G.set_growth(12, 1.0)


@pytest.mark.parametrize("name,stop", [("progan", 4), ("stylegan", 3)])
def test_resume_reproduces_the_run(tmp_path, tiny_images, name, stop):
    """progan stops mid-fade (step 4 of a 3-step phase schedule), stylegan between lazy-R1 steps."""
    data = tiny_images(3, 16, 32)
    cfg = lambda: _cfg(name, r1=1.0, r1_every=2)                     # noqa: E731
    straight = make_trainer(cfg(), data)
    for _ in range(2 * stop):
        straight.step()
    first = make_trainer(cfg(), data)
    for _ in range(stop):
        first.step()
    save_checkpoint(first, tmp_path / "c")
    second = make_trainer(cfg(), data)
    load_checkpoint(second, tmp_path / "c")
    if name == "progan":
        assert second.G.current == first.G.current and 0 < second.growth()[1] < 1
    for _ in range(stop):
        second.step()
    assert torch.equal(straight.sample(), second.sample())
    assert torch.equal(straight.sample(use_ema=False), second.sample(use_ema=False))


def test_memory_estimate_sizes_progan_fully_grown(monkeypatch):
    from ganlab.budget import estimate_run
    cfg = lambda: RunConfig(DataConfig(name="shapes"), ModelConfig(name="progan", width=8, grow_every=5),  # noqa: E731
                            TrainConfig(batch_size=16))
    assert ProGANTrainer.peak_step(cfg(), (3, 32, 32)) == 20                    # 8 -> 16 -> 32: four phases
    grown = estimate_run(cfg(), items=100, sample_shape=(3, 32, 32)).activations
    monkeypatch.setattr(ProGANTrainer, "peak_step", classmethod(lambda cls, c, shape: 0))
    at_start = estimate_run(cfg(), items=100, sample_shape=(3, 32, 32)).activations
    assert grown > 2 * at_start > 0                                            # 32 px costs far more than 8 px


def test_progan_status_names_resolution_and_alpha(tiny_images):
    tr = make_trainer(_cfg("progan"), tiny_images(3, 16, 32))
    assert tr.status_note() == "resolution 8 px, next 16 px (shown at 16 px)"
    for _ in range(5):
        tr.step()                                                      # the 5th step ran at (16, 1/3)
    assert tr.status_note() == "growing: fading in 16 px, α 0.33 (shown at 16 px)"
    for _ in range(2):
        tr.step()
    assert tr.status_note() == "resolution 16 px (fully grown)"
    assert make_trainer(_cfg("stylegan"), tiny_images(3, 16, 32)).status_note() is None


def test_the_train_form_gives_style_families_their_preset_settings():
    from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers, config_from_form
    cfg = config_from_form(dict(DEFAULT_FORM, dataset="emoji", model="stylegan", batch_size=16))
    assert (cfg.train.beta1, cfg.train.beta2, cfg.train.r1) == (0.0, 0.99, 0.2)
    assert cfg.train.augment == "translation,color,cutout" and cfg.model.width == 8
    assert cfg.train.lr_g == DEFAULT_FORM["lr_g"]                       # what the form says is kept
    assert TrainHandlers.model_defaults("stylegan") == (2e-3, 2e-3, 0.999, 16, "ns")
    plain = config_from_form(dict(DEFAULT_FORM, dataset="emoji", model="dcgan"))
    assert plain.train.beta1 == 0.5 and plain.train.augment == ""
    import gradio as gr
    assert TrainHandlers.model_defaults("dcgan") == (gr.skip(),) * 5   # no preset: the form is left alone
