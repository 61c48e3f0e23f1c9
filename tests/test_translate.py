"""Image-to-image families on tiny seeded sets (16 px, width 8): build, train, learn, resume; their data."""
import math

import pytest
import torch

from ganlab.budget import estimate_run
from ganlab.checkpoint import load_checkpoint, save_checkpoint
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.data import DataSource, load_dataset
from ganlab.data.pairs import edges, held_out_of, pairs_of
from ganlab.devtools import wait_until
from ganlab.errors import GanlabError
from ganlab.losses import LOSSES
from ganlab.nets.cyclegan import CycleDiscriminators
from ganlab.nets.inpaint import crop_boxes
from ganlab.nets.pix2pix import patch_layers, receptive_field
from ganlab.nets.srgan import bicubic
from ganlab.presets import preset
from ganlab.trainer import make_trainer
from ganlab.translate.masks import draw_masks
from ganlab.translate.trainer import TASKS, CycleGANTrainer, InpaintTrainer, Pix2PixTrainer, SRGANTrainer

SIDE = 16


def shapes(n=48, side=SIDE, seed=0):
    """Colour squares and discs on white: images with structure to learn, [n, 3, side, side] in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    out = torch.ones(n, 3, side, side)
    for i in range(n):
        cy, cx = torch.randint(4, side - 4, (2,), generator=g).tolist()
        r = int(torch.randint(2, 5, (), generator=g))
        colour = torch.rand(3, generator=g) * 2 - 1
        inside = ((yy - cy).abs() <= r) & ((xx - cx).abs() <= r) if i % 2 else (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        out[i][:, inside] = colour[:, None]
    return out


def paired(x, inputs, n_test=8):
    ds = DataSource("toy-pairs", x[n_test:], inputs=inputs[n_test:], paired=True)
    ds.test = DataSource("toy-pairs", x[:n_test], inputs=inputs[:n_test], paired=True)
    return ds


def plain(x, n_test=8):
    ds = DataSource("toy", x[n_test:])
    ds.test = DataSource("toy", x[:n_test])
    return ds


def cfg(model, spectral_norm=False, **train):
    t = dict(loss="ns", batch_size=8, ema=0.9, seed=1, device="cpu", steps=100)
    t.update(train)
    m = ModelConfig(name=model, width=8, sr_scale=4 if model == "srgan" else None,
                    spectral_norm=bool(spectral_norm) or spectral_norm is None and train.get("loss") == "hinge")
    return RunConfig(DataConfig(name="toy"), m, TrainConfig(**t))


def data_for(model):
    x = shapes()
    if model == "pix2pix":
        return paired(x, edges(x))
    if model == "cyclegan":
        return paired(x, x.flip(1))                        # colour channels swapped: a toy pair of domains
    return plain(x)


def psnr(a, b):
    mse = ((a.clamp(-1, 1) - b) ** 2).mean().item() / 4     # on the [0, 1] scale
    return 10 * math.log10(1 / max(mse, 1e-10))


@pytest.mark.parametrize("model,cls", [("pix2pix", Pix2PixTrainer), ("cyclegan", CycleGANTrainer),
                                       ("srgan", SRGANTrainer), ("inpaint", InpaintTrainer)])
def test_every_family_builds_at_16_px_and_trains_two_steps(model, cls):
    tr = make_trainer(cfg(model, r1=1.0, augment="translation,color"), data_for(model))
    assert type(tr) is cls and model in TASKS
    for _ in range(2):
        m = tr.step()
    assert m["step"] == 2 and "loss_d" in m and "loss_g" in m
    assert all(math.isfinite(v) for v in m.values() if isinstance(v, float))
    grid = tr.sample()                                     # rows of input | output | target
    assert grid.shape == (24, 3, SIDE, SIDE) and torch.isfinite(grid).all() and tr.sample_nrow == 3


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("model", list(TASKS))
def test_every_family_trains_with_every_loss_and_stabiliser(model, loss):
    tr = make_trainer(cfg(model, loss=loss, n_critic=2, label_smoothing=0.1, instance_noise=0.1,
                          spectral_norm=None), data_for(model))
    before = [p.clone() for p in tr.G.parameters()]
    for _ in range(3):
        m = tr.step()
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert math.isfinite(m[key]), key
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.G.parameters()))


def test_pix2pix_learns_the_identity_psnr_rises():
    x = shapes(64)
    tr = make_trainer(cfg("pix2pix", ema=0.0, lr_g=1e-3), paired(x, x))
    a, b = tr.test.inputs, tr.test.x

    def score():
        tr.G.eval()
        with torch.no_grad():
            out = tr.G(a)
        tr.G.train()
        return psnr(out, b)
    before = score()
    for _ in range(50):
        tr.step()
    after = score()
    assert after > before + 5, (before, after)


def test_cyclegan_cycle_loss_falls_on_a_colour_swap():
    tr = make_trainer(cfg("cyclegan", loss="lsgan", lr_g=1e-3, lr_d=1e-3), data_for("cyclegan"))
    first = [tr.step()["cycle"] for _ in range(5)]
    for _ in range(30):
        tr.step()
    last = [tr.step()["cycle"] for _ in range(5)]
    assert sum(last) / 5 < 0.6 * sum(first) / 5, (first, last)


def test_cyclegan_lr_decays_linearly_over_the_second_half():
    tr = make_trainer(cfg("cyclegan", steps=10, lr_g=1e-3, lr_d=2e-3), data_for("cyclegan"))
    lrs = []
    for _ in range(10):
        lrs.append(tr.step()["lr_g"])
    assert lrs[:6] == [1e-3] * 6                              # flat for the first half (steps 0..5)
    assert lrs[6] == pytest.approx(8e-4) and lrs[9] == pytest.approx(2e-4)
    assert tr.lr_d == pytest.approx(2 * tr.lr_g)


def test_the_history_pool_fills_then_swaps_about_half():
    D = CycleDiscriminators(1, 1, 8, 4, False)
    g = torch.Generator().manual_seed(0)
    first = torch.arange(50.).view(50, 1, 1, 1).expand(50, 1, 8, 8)
    assert torch.equal(D.from_pool("a", first, g), first) and int(D.pool_count[0]) == 50
    new = -1 - torch.arange(200.).view(200, 1, 1, 1).expand(200, 1, 8, 8)
    out = D.from_pool("a", new, g)
    swapped = (out[:, 0, 0, 0] != new[:, 0, 0, 0]).sum().item()
    assert 70 < swapped < 130                                  # each one with probability 1/2
    olds = out[:, 0, 0, 0][out[:, 0, 0, 0] >= 0]
    assert len(olds.unique()) == len(olds)                     # an old fake leaves the pool when it is used
    assert int(D.pool_count[1]) == 0                            # the other domain's pool is untouched


def test_inpainting_never_changes_pixels_outside_the_mask():
    tr = make_trainer(cfg("inpaint"), data_for("inpaint"))
    for _ in range(3):
        tr.step()
    x = tr.test.x
    mask = draw_masks(len(x), SIDE, "mixed", torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = tr.G(x, mask)
    keep = mask.expand_as(x) == 0
    assert torch.equal(out[keep], x[keep])
    assert not torch.equal(out[~keep], x[~keep])              # and the hole is filled with something


def test_sr_output_has_the_target_size_and_agrees_with_its_input_down_sampled():
    tr = make_trainer(cfg("srgan", lr_g=1e-3), data_for("srgan"))
    for _ in range(20):
        tr.step()
    hi = tr.test.x
    lo = bicubic(hi, SIDE // 4)
    with torch.no_grad():
        out = tr.G(lo)
    assert lo.shape[-1] == 4 and out.shape == hi.shape
    assert psnr(bicubic(out, SIDE // 4), lo) > 25              # what G adds is detail, not a different picture
    assert psnr(out, hi) > 12


def test_a_checkpoint_resumes_cyclegan_exactly_pool_and_decay_included(tmp_path):
    c = cfg("cyclegan", steps=8)
    a = make_trainer(c, data_for("cyclegan"))
    for _ in range(8):
        a.step()
    b = make_trainer(cfg("cyclegan", steps=8), data_for("cyclegan"))
    for _ in range(5):
        b.step()
    save_checkpoint(b, tmp_path / "ck")
    c2 = make_trainer(cfg("cyclegan", steps=8), data_for("cyclegan"))
    load_checkpoint(c2, tmp_path / "ck")
    for _ in range(3):
        c2.step()
    for p, q in zip(a.G.parameters(), c2.G.parameters()):
        assert torch.equal(p, q)
    assert torch.equal(a.D.pool_a, c2.D.pool_a) and a.lr_g == c2.lr_g


def test_patchgan_receptive_field_is_sized_to_the_resolution():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]   # 70: the paper's PatchGAN
    assert [patch_layers(r) for r in (16, 28, 32, 64, 128, 256)] == [1, 1, 1, 2, 3, 3]


def test_masks_and_the_local_crop():
    g = torch.Generator().manual_seed(0)
    for kind in ("rect", "stroke", "mixed"):
        m = draw_masks(20, 32, kind, g)
        assert m.shape == (20, 1, 32, 32) and set(m.unique().tolist()) <= {0.0, 1.0}
        area = m.mean((1, 2, 3))
        assert (area > 0.01).all() and (area < 0.6).all()
    m = torch.zeros(1, 1, 32, 32)
    m[0, 0, 20:26, 2:6] = 1
    assert crop_boxes(m, 16).tolist() == [[15, 0]]               # centred on the hole, clamped inside


def test_bad_settings_get_one_sentence():
    x = shapes()
    unpaired = paired(x, x)
    unpaired.paired = unpaired.test.paired = False
    with pytest.raises(GanlabError, match="paired"):
        make_trainer(cfg("pix2pix"), unpaired)
    with pytest.raises(GanlabError, match="eval_every"):
        make_trainer(cfg("srgan", eval_every=100), data_for("srgan"))
    with pytest.raises(GanlabError, match="divisible"):
        make_trainer(cfg("srgan"), plain(shapes(side=18)))
    with pytest.raises(GanlabError, match="not an image-to-image set"):
        make_trainer(cfg("cyclegan"), DataSource("noise", x))
    with pytest.raises(GanlabError, match="mask"):
        RunConfig(train=TrainConfig(mask="circle")).validate()


def test_two_folders_pair_by_file_name_and_hold_out_a_tenth(tmp_path):
    from PIL import Image
    for side, colour in (("A", (0, 0, 0)), ("B", (255, 0, 0))):
        (tmp_path / side).mkdir()
        for i in range(30):
            Image.new("RGB", (20, 20), colour).save(tmp_path / side / f"{i:02d}.png")
    ds = pairs_of(load_dataset(DataConfig(name=f"folder:{tmp_path / 'A'},{tmp_path / 'B'}", resolution=16)))
    assert ds.paired and ds.domains == ("A", "B") and len(ds) + len(ds.test) == 30 and len(ds.test) >= 1
    assert (ds.inputs < 0).all() and (ds.x[:, 0] > 0.9).all()             # inputs from A, targets from B
    assert not set(ds.keys) & set(ds.test.keys)
    import zipfile
    with zipfile.ZipFile(tmp_path / "pairs.zip", "w") as zf:                # an upload: one zip holding A/ and B/
        for side in ("A", "B"):
            for f in sorted((tmp_path / side).iterdir()):
                zf.write(f, f"pairs/{side}/{f.name}")
    z = pairs_of(load_dataset(DataConfig(name=f"folder:{tmp_path / 'pairs.zip'}", resolution=16)))
    assert z.paired and len(z) == len(ds) and torch.equal(z.x, ds.x)
    (tmp_path / "B" / "00.png").rename(tmp_path / "B" / "zz.png")          # the names no longer match up
    ds = pairs_of(load_dataset(DataConfig(name=f"folder:{tmp_path / 'A'},{tmp_path / 'B'}", resolution=16)))
    assert not ds.paired and "unpaired" in ds.note


def test_a_set_without_a_test_split_holds_out_a_fixed_tenth():
    ds = held_out_of(DataSource("mine", shapes(40), keys=[f"img{i}.png" for i in range(40)]))
    again = held_out_of(DataSource("mine", shapes(40), keys=[f"img{i}.png" for i in range(40)]))
    assert 1 <= len(ds.test) <= 12 and len(ds) + len(ds.test) == 40 and ds.test.keys == again.test.keys


def test_edges_are_black_lines_on_white():
    x = shapes(4)
    e = edges(x)
    assert e.shape == (4, 1, SIDE, SIDE) and set(e.unique().tolist()) == {-1.0, 1.0}
    assert (e == 1).float().mean() > 0.6                                 # mostly white paper
    assert (edges(torch.ones(1, 3, 8, 8)) == 1).all()                    # a blank image has no edges


@pytest.mark.parametrize("name", ["edges2emoji-pix2pix", "sr-emoji", "inpaint-emoji", "sneaker2boot-cyclegan"])
def test_the_memory_budget_sizes_every_shipped_recipe(name):
    est = estimate_run(preset(name))
    assert 50 * 2**20 < est.total < 2 * 2**30 and est.activations > 0


def test_the_offline_pair_sets():
    ds = load_dataset(DataConfig(name="sneaker<->boot"))
    assert not ds.paired and ds.inputs.shape == (6000, 1, 28, 28) and len(ds) == 6000 and len(ds.test) == 1000
    try:
        ds = load_dataset(DataConfig(name="noto2emojione", resolution=32))
    except GanlabError as e:                                             # the emoji packages are missing
        pytest.skip(str(e))
    assert ds.paired and ds.inputs.shape == ds.x.shape and ds.x.shape[1:] == (3, 32, 32)
    assert not set(ds.keys) & set(ds.test.keys)                          # held-out code points stay out


def test_the_train_tab_trains_an_image_to_image_run_with_its_grid(tmp_path, one_torch_thread):
    from ganlab.ui.sessions import Sessions
    from ganlab.ui.train_handlers import DEFAULT_FORM, TrainHandlers
    h = TrainHandlers(Sessions(tmp_path / "runs", max_runs=1))
    try:
        _, model, lr_g, _, eval_every = h.dataset_defaults("sneaker<->boot")    # picking the set: its family
        assert (model, lr_g, eval_every) == ("cyclegan", 2e-4, 0)
        form = dict(DEFAULT_FORM, dataset="sneaker<->boot", model=model, lr_g=lr_g, lr_d=lr_g, batch_size=4,
                    steps=10_000, eval_every=2000)                       # a stale FID setting is dropped
        assert "started" in h.start(form, "k")[0]
        v = h.sessions.get("k").train
        assert v.ticket.ready.wait(60)
        e = v.engine
        assert e.trainer.cfg.train.identity == 0.0 and e.trainer.cfg.train.eval_every == 0   # the preset's
        assert h.model_defaults("cyclegan")[-1] == "lsgan"               # and picking the family sets its loss
        assert wait_until(lambda: e.status()["step"] >= 3, 60)
        e.pause()
        grid = e.trainer.sample()
        assert grid.shape == (24, 1, 28, 28)                             # A -> B -> A and B -> A -> B rows
        out = h.tick("k")
        assert out[3]["visible"]                                          # the live grid is shown
    finally:
        h.sessions.close_all()
