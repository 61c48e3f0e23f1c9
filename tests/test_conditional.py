"""Class-conditioned families: they build, train, sample by class, blend classes and save their names."""
import math

import pytest
import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.data import DataSource, load_dataset
from ganlab.data.shapes import COLOURS, SHAPES
from ganlab.engine import Engine
from ganlab.errors import GanlabError
from ganlab.nets import MODELS
from ganlab.nets.conditioning import FactorisedEmbedding, class_table
from ganlab.sampling import class_index, generate, load_generator, noise, sample
from ganlab.trainer import GRID_CLASSES, Trainer

FAMILIES = ["cgan", "projection", "acgan", "reacgan", "proj-reacgan"]


def cfg(model, loss="ns", label="colour", **train):
    t = dict(loss=loss, batch_size=16, n_samples=16, log_every=1, sample_every=1000, steps=3)
    t.update(train)
    return RunConfig(DataConfig(name="shapes", n=96, resolution=32, label=label),
                     ModelConfig(name=model, width=8, z_dim=8), TrainConfig(**t))


@pytest.mark.parametrize("loss", ["ns", "hinge", "wgan-gp", "lsgan"])
@pytest.mark.parametrize("model", FAMILIES)
def test_every_family_and_loss_trains_with_finite_losses(model, loss):
    t = Trainer(cfg(model, loss))
    for _ in range(3):
        m = t.step()
    assert all(math.isfinite(v) for v in m.values()), m
    assert t.cfg.model.num_classes == 8                    # 8 colours, recorded in config.json
    x = t.sample()
    assert x.shape == (8 * 4, 3, 32, 32) and torch.isfinite(x).all()
    assert t.sample_nrow == 4 and t.fixed_y.tolist() == sum(([k] * 4 for k in range(8)), [])


@pytest.mark.parametrize("model", FAMILIES)
def test_mode_seeking_pairs_train_every_family(model):
    t = Trainer(cfg(model, "hinge", diversity=1.0))
    m = t.step()
    assert math.isfinite(m["mode_seeking"]) and m["mode_seeking"] > 0 and math.isfinite(m["loss_g"])


def test_fixed_samples_keep_z_across_the_rows():
    t = Trainer(cfg("cgan"))
    rows = t.fixed_z.view(8, 4, -1)
    assert torch.equal(rows[0], rows[5])                  # same style in every class row


def test_many_classes_get_a_bounded_sample_grid_spread_over_them():
    c = cfg("projection", label="shape+colour+size+position")
    c.model.factorised = True
    t = Trainer(c)
    k = t.num_classes
    assert k == 3 * 8 * 3 * 9 and len(t.data.class_names) == k
    shown = t.fixed_y.view(GRID_CLASSES, 4)[:, 0]
    assert t.sample().shape == (GRID_CLASSES * 4, 3, 32, 32)                # not 648 rows
    assert shown[0] == 0 and shown[-1] == k - 1 and (shown.diff() > 0).all()
    assert (t.fixed_y.view(GRID_CLASSES, 4) == shown[:, None]).all()
    rows = t.fixed_z.view(GRID_CLASSES, 4, -1)
    assert torch.equal(rows[0], rows[-1])                                     # same style in every row


@pytest.mark.parametrize("factors", [None, [2, 5]], ids=["joint", "factorised"])
@pytest.mark.parametrize("model", FAMILIES)
def test_class_weights_blend_and_match_indices(model, factors):
    torch.manual_seed(0)
    m = ModelConfig(name=model, width=8, z_dim=8, factorised=bool(factors), class_factors=factors)
    G, _ = MODELS.get(model)(m, (1, 28, 28), num_classes=10)
    G.eval()
    with torch.no_grad():                                 # as if trained: classes differ (cBN starts equal)
        for m in G.modules():
            if isinstance(m, torch.nn.Embedding):
                m.weight.normal_(1.0, 0.3)
    z = torch.randn(4, 8)
    y = torch.tensor([0, 3, 3, 9])
    onehot = torch.nn.functional.one_hot(y, 10).float()
    with torch.no_grad():
        assert torch.allclose(G(z, y), G(z, onehot), atol=1e-6)
        half = torch.zeros(4, 10)
        half[:, 0] = half[:, 9] = 0.5
        mid = G(z, half)
    assert torch.isfinite(mid).all() and not torch.allclose(mid, G(z, y).detach())


def test_acgan_discriminator_classifies_and_trains_its_classifier():
    t = Trainer(cfg("acgan", label="shape"))
    m = t.step()
    assert "class_loss_d" in m and m["class_loss_d"] == pytest.approx(math.log(3), abs=0.5)
    logits, cls = t.D(t.x[:4])
    assert logits.shape == (4,) and cls.shape == (4, 3)


def test_reacgan_discriminator_embeds_on_the_sphere_and_learns_classes_from_real_images_only():
    t = Trainer(cfg("reacgan", label="shape"))
    logits, (e, v) = t.D(t.x[:4], t.y[:4])
    assert logits.shape == (4,) and e.shape == v.shape == (4, t.D.embedding.out_features)
    assert torch.allclose(e.norm(dim=1), torch.ones(4)) and torch.allclose(v.norm(dim=1), torch.ones(4))
    assert not t.D.classify_fakes and t.D.class_loss == "d2d-ce"
    m = t.step()
    assert math.isfinite(m["class_loss_d"]) and m["class_loss_d"] > 0


def test_conditioning_on_shape_and_colour_together():
    ds = load_dataset(DataConfig(name="shapes", n=200, label="shape+colour"))
    assert len(ds.class_names) == 24 and ds.class_names[0] == "red circle" and ds.class_names[-1] == "orange triangle"
    for i in range(20):
        shape, colour = ds.class_names[ds.labels[i]].split(" ")[::-1]
        assert f"{colour} {shape}" in ds.captions[i]
    with pytest.raises(GanlabError, match="no attribute 'texture'"):
        load_dataset(DataConfig(name="shapes", n=10, label="texture"))


def test_conditional_models_need_labels():
    with pytest.raises(GanlabError, match="labelled dataset"):
        MODELS.get("cgan")(ModelConfig(name="cgan"), (1, 28, 28), num_classes=0)
    with pytest.raises(GanlabError, match="square images"):
        MODELS.get("projection")(ModelConfig(name="projection"), (2,), num_classes=8)
    unlabelled = DataSource("plain", torch.zeros(32, 1, 28, 28))
    with pytest.raises(GanlabError, match="labelled dataset"):
        Trainer(RunConfig(DataConfig(name="plain"), ModelConfig(name="acgan"), TrainConfig(batch_size=8)),
                data=unlabelled)


def test_a_saved_conditional_run_samples_by_class_name(tmp_path):
    e = Engine.new(cfg("projection", label="shape", steps=4), tmp_path / "run")
    for _ in range(4):
        e.step_once()
    e.stop()
    G, c, step = load_generator(tmp_path / "run")
    assert G.class_names == ["circle", "square", "triangle"] and step == 4 and c.data.label == "shape"
    assert class_index(G, "Triangle") == 2 and class_index(G, 1) == 1
    with pytest.raises(GanlabError, match="knows: circle, square, triangle"):
        class_index(G, "hexagon")
    x = sample(G, 6, seed=1, labels=torch.full((6,), 2))
    assert x.shape == (6, 3, 32, 32)
    z = noise(G, 3, seed=1)
    assert torch.equal(generate(G, z, torch.tensor([0, 1, 2])), generate(G, z))   # round-robin by default
    grid = list((tmp_path / "run" / "samples").glob("*.png"))
    assert grid


def test_factorised_tables_sum_one_row_per_label_part_in_the_datas_numbering():
    ds = load_dataset(DataConfig(name="shapes", n=200, label="shape+colour"))
    assert ds.label_factors == [3, 8]
    table = FactorisedEmbedding(ds.label_factors, 5)
    for k, name in enumerate(ds.class_names):             # "red triangle": colour 0 of part 1, shape 2 of part 0
        colour, shape = name.split(" ")
        want = table.parts[0].weight[SHAPES.index(shape)] + table.parts[1].weight[COLOURS.index(colour)]
        assert torch.allclose(table.weight[k], want) and torch.allclose(table(torch.tensor([k]))[0], want)
    assert sum(p.numel() for p in table.parameters()) == (3 + 8) * 5      # not 24 rows of its own
    table.fill_(1.0)
    assert torch.equal(table.weight, torch.ones(24, 5))
    with pytest.raises(GanlabError, match="do not multiply"):
        class_table(25, 5, [3, 8])


@pytest.mark.parametrize("model", FAMILIES)
def test_factorised_runs_train_save_and_sample_by_class_name(tmp_path, model):
    c = cfg(model, "hinge", label="shape+colour", steps=3)
    c.model.factorised = True
    e = Engine.new(c, tmp_path / "run")
    for _ in range(3):
        e.step_once()
    e.stop()
    G, saved, _ = load_generator(tmp_path / "run")
    assert saved.model.class_factors == [3, 8] and saved.model.num_classes == 24
    shared = [m for m in G.modules() if isinstance(m, FactorisedEmbedding)]
    assert shared and not any(isinstance(m, torch.nn.Embedding) and m.num_embeddings == 24 for m in G.modules())
    x = sample(G, 4, seed=0, labels=torch.full((4,), class_index(G, "green triangle")))
    assert x.shape == (4, 3, 32, 32) and torch.isfinite(x).all()


def test_factorised_conditioning_needs_a_label_of_parts():
    c = cfg("projection", label="colour")
    c.model.factorised = True
    with pytest.raises(GanlabError, match="label joined from parts"):
        Trainer(c)
