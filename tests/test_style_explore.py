"""Explore and `sample` for style models: W space, truncation towards w_avg, mixing grids, noise, W directions."""
import pytest
import torch
from PIL import Image

from ganlab.checkpoint import save_checkpoint
from ganlab.cli import main
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.errors import GanlabError
from ganlab.explore import Explorer
from ganlab.style.mixing import mix, mix_grid, noise_modes, parse_layers
from ganlab.trainer import make_trainer


@pytest.fixture(scope="module")
def style_run(tmp_path_factory):
    """A stylegan on 16 px colour noise after 3 steps, saved as a run; its noise strengths made visible."""
    g = torch.Generator().manual_seed(0)
    from ganlab.data.base import DataSource
    data = DataSource("tiny16", torch.rand(32, 3, 16, 16, generator=g) * 2 - 1)
    cfg = RunConfig(DataConfig(name="tiny16"), ModelConfig(name="stylegan", width=4, z_dim=16, mapping_depth=2),
                    TrainConfig(batch_size=8, ema=0.5, seed=1, device="cpu"))
    tr = make_trainer(cfg, data)
    for _ in range(3):
        tr.step()
    with torch.no_grad():
        for G in (tr.G, tr.G_ema):
            for layer in G.convs:
                layer.noise_strength.fill_(0.5)
    run = tmp_path_factory.mktemp("style") / "run"
    save_checkpoint(tr, run / "checkpoints" / "step_000003")
    return run


@pytest.fixture
def ex(style_run):
    return Explorer.open(style_run)


def test_explorer_knows_a_style_model(ex):
    assert ex.style and "10 styles" not in ex.describe() and "6 styles of 16" in ex.describe()
    ws = ex.ws(ex.z(1), psi=1.0)
    assert ws.shape == (1, 6, 16)
    assert torch.equal(ex.render(ex.z(1)), ex.render_ws(ws))                    # render goes through W
    mean = ex.render(ex.z(5), psi=0.0)
    assert torch.allclose(mean, ex.render(ex.z(9), psi=0.0), atol=1e-6)          # psi 0: w_avg for any seed
    assert torch.allclose(mean, ex.render_ws(ex.G.w_avg.expand(1, 6, 16)), atol=1e-6)
    with pytest.raises(GanlabError, match="shape"):
        ex.render_ws(torch.zeros(1, 5, 16))


def test_walk_in_w_is_a_straight_line_between_the_two_ws(ex):
    a, b = ex.z(1), ex.z(2)
    frames = ex.walk(a, b, n=5, psi=0.8)
    assert frames.shape == (5, 3, 16, 16)
    # endpoints: one image rendered in a batch of 5 and alone (the kernels' rounding differs by ~3e-6)
    assert torch.allclose(frames[0], ex.render(a, psi=0.8)[0], atol=1e-5)
    assert torch.allclose(frames[-1], ex.render(b, psi=0.8)[0], atol=1e-5)
    mid = ex.render_ws((ex.ws(a, 0.8) + ex.ws(b, 0.8)) / 2)[0]
    assert torch.allclose(frames[2], mid, atol=1e-5)
    in_z = ex.walk(a, b, n=5, psi=0.8, space="z")
    # the same endpoint by two paths, and a different middle
    assert torch.allclose(in_z[0], frames[0], atol=1e-5) and not torch.allclose(in_z[2], frames[2], atol=1e-4)


def test_mixing_grid_cells(ex):
    G = ex.G
    wa, wb = ex.ws(torch.stack([ex.z(1), ex.z(2)])), ex.ws(torch.stack([ex.z(3), ex.z(4), ex.z(5)]))
    layers = parse_layers(G, "coarse")
    # 16 px: styles drive 4, 8, 8, 16, 16, 16 px; "fine" is the output's own, and no scale is in between
    assert layers == [0, 1, 2] and parse_layers(G, "fine") == [3, 4, 5] and parse_layers(G, "middle") == []
    assert parse_layers(G, "0-1,4") == [0, 1, 4] and parse_layers(G, "coarse+fine") == list(range(6))
    grid, nrow = mix_grid(G, wa, wb, layers)
    assert nrow == 4 and grid.shape == (12, 3, 16, 16)
    assert torch.equal(grid[0], torch.ones_like(grid[0]))                        # the white corner
    assert torch.allclose(grid[1:4], ex.render_ws(wb), atol=1e-5)                # B across the top
    assert torch.allclose(grid[4], ex.render_ws(wa[:1])[0], atol=1e-5)           # A down the side
    cell = ex.render_ws(mix(wa[1:2], wb[2:3], layers))[0]
    assert torch.allclose(grid[11], cell, atol=1e-5)
    none, _ = mix_grid(G, wa, wb, [])                                            # no layers: A unchanged
    assert torch.allclose(none[5], none[4], atol=1e-5)
    every, _ = mix_grid(G, wa, wb, list(range(G.num_ws)))                        # every layer: B itself
    assert torch.allclose(every[5], every[1], atol=1e-5)
    for bad, msg in (("all", "Unknown layers"), ("7", "does not exist")):
        with pytest.raises(GanlabError, match=msg):
            parse_layers(G, bad)


def test_noise_per_layer(ex):
    ws = ex.ws(ex.z(1))
    base = ex.render_ws(ws)
    fresh = ex.render_ws(ws, noise_modes(ex.G, resample=[4], seed=3))
    assert not torch.allclose(base, fresh)
    assert torch.equal(fresh, ex.render_ws(ws, noise_modes(ex.G, resample=[4], seed=3)))   # seeded
    zero = ex.render_ws(ws, noise_modes(ex.G, zero=list(range(len(ex.G.convs)))))
    assert torch.equal(zero, ex.render_ws(ws, "zero")) and not torch.allclose(zero, base)
    with pytest.raises(GanlabError, match="noise layers 0 to 4"):
        noise_modes(ex.G, zero=[5])


def test_w_directions_edit_only_the_chosen_layers(ex):
    d = ex.w_directions(k=5, n=200)
    assert d.vectors.shape == (5, 16) and torch.allclose(d.vectors.norm(dim=1), torch.ones(5), atol=1e-5)
    assert (d.variance[:-1] >= d.variance[1:]).all() and d.space == "W"
    ws = ex.ws(ex.z(1))
    moved = ex.move_ws(ws, [2.0], layers=[0, 1])
    assert torch.equal(moved[:, 2:], ws[:, 2:]) and not torch.equal(moved[:, :2], ws[:, :2])
    assert torch.allclose((moved - ws)[0, 0].norm(), 2.0 * d.scales[0], atol=1e-5)
    assert torch.equal(ex.move_ws(ws, [0.0, 0.0]), ws)


def test_dcgan_has_no_w_space(tiny_images, tmp_path):
    cfg = RunConfig(DataConfig(), ModelConfig(name="dcgan", width=8), TrainConfig(batch_size=8, device="cpu"))
    tr = make_trainer(cfg, tiny_images(1, 28, 16))
    tr.step()
    save_checkpoint(tr, tmp_path / "run" / "checkpoints" / "step_000001")
    dc = Explorer.open(tmp_path / "run")
    assert not dc.style
    with pytest.raises(GanlabError, match="style-based model"):
        dc.ws(dc.z(1))
    with pytest.raises(GanlabError, match="style-based model"):
        dc.walk(dc.z(1), dc.z(2), n=3, space="w")
    assert main(["sample", "--run", str(tmp_path / "run"), "--noise", "zero", "--out", str(tmp_path / "x.png")]) == 2
    assert main(["sample", "--run", str(tmp_path / "run"), "--mix", "1", "2", "--out", str(tmp_path / "x.png")]) == 2


def test_sample_cli_mix_noise_and_w_walk(style_run, tmp_path, capsys):
    out = tmp_path / "mix.png"
    assert main(["sample", "--run", str(style_run), "--mix", "1,2", "3,4,5", "--layers", "fine",
                 "--out", str(out)]) == 0
    assert "styles [3, 4, 5] ([16] px)" in capsys.readouterr().out
    w, h = Image.open(out).size
    assert w > h                                                          # 4 columns (corner + 3 B), 3 rows
    for noise in ("zero", "random"):
        assert main(["sample", "--run", str(style_run), "--n", "4", "--noise", noise, "--noise-layers", "0-2",
                     "--out", str(tmp_path / f"{noise}.png")]) == 0
    assert Image.open(tmp_path / "zero.png").tobytes() != Image.open(tmp_path / "random.png").tobytes()
    assert main(["sample", "--run", str(style_run), "--interpolate", "1", "2", "--frames", "4",
                 "--out", str(tmp_path / "walk.gif")]) == 0
    assert "straight line in W" in capsys.readouterr().out
    assert main(["sample", "--run", str(style_run), "--mix", "1,x", "2", "--out", str(out)]) == 2
    assert "seeds separated by commas" in capsys.readouterr().err
    assert main(["sample", "--run", str(style_run), "--noise", "zero", "--noise-layers", "9",
                 "--out", str(out)]) == 2


# ---- the Explore tab's handlers on a style model ---------------------------------------------------
def test_explore_handlers_for_a_style_model(style_run, tmp_path):
    import numpy as np

    from ganlab.sampling import export_generator
    from ganlab.ui.explore import ExploreHandlers
    from ganlab.ui.explore_style import noise_layer_choices, style_layer_choices
    from ganlab.ui.sessions import Sessions
    export_generator(style_run, tmp_path / "models" / "tiny-style", card="# tiny\n")
    h = ExploreHandlers(Sessions(tmp_path / "runs", models_root=tmp_path / "models"))
    ex = h.select("models/tiny-style", "k")
    assert style_layer_choices(ex)[3] == ("3 · 16 px", 3) and len(noise_layer_choices(ex)) == 5
    view = dict(seed_a=1, seed_b=2, mode="slerp", t=0.5, psi=1.0, frames=4, dim=0, dim_amount=0,
                directions=[0] * 5, space="W", dir_layers="all", noise="fixed", noise_layers=[], noise_seed=0,
                own=False, mix_rows="1,2", mix_cols="3,4,5", mix_layers=[0, 1, 2])
    w_img, cap = h.render(view, "k")
    z_img, cap_z = h.render(dict(view, space="Z"), "k")
    assert "in W" in cap and "in Z" in cap_z
    assert (np.asarray(w_img) != np.asarray(z_img)).any()                      # the midpoints differ
    moved, cap_m = h.render(dict(view, directions=[2, 0, 0, 0, 0], dir_layers="coarse"), "k")
    assert "directions on coarse layers" in cap_m and (np.asarray(moved) != np.asarray(w_img)).any()
    fresh, cap_n = h.render(dict(view, noise="fresh", noise_layers=[4], noise_seed=7), "k")
    assert "noise fresh on layers [4] (seed 7)" in cap_n and (np.asarray(fresh) != np.asarray(w_img)).any()
    grid = h.mixing(view, "k")
    other = h.mixing(dict(view, mix_layers=[5]), "k")
    assert grid.size == other.size and (np.asarray(grid) != np.asarray(other)).any()
    with pytest.raises(GanlabError, match="at most 64 cells"):
        h.mixing(dict(view, mix_rows=",".join(map(str, range(9))), mix_cols=",".join(map(str, range(8)))), "k")
    with pytest.raises(GanlabError, match="Project an image"):
        h.render(dict(view, own=True), "k")
    ws = ex.ws(ex.z(42))
    h.remember_projection("k", ex, ws)                                          # as a projection would
    own_img, cap_o = h.render(dict(view, own=True, t=0.0), "k")
    assert "from your projected image" in cap_o
    assert np.array_equal(np.asarray(own_img), np.asarray(h.render(dict(view, seed_a=42, t=0.0), "k")[0]))
    assert h.mixing(dict(view, own=True), "k").height > grid.height             # a row for "yours"
    assert h.strip(dict(view, own=True), "k").width > 0
    h.forget("k")
    assert "k" not in h.projected


def test_edit_your_own_image_in_explore(style_run, tmp_path):
    """Upload -> streamed projection -> the result stands in for seed A -> its latent reopens; a broken
    upload and another model's latent get a sentence."""
    import numpy as np

    from ganlab.sampling import export_generator
    from ganlab.ui.explore import ExploreHandlers
    from ganlab.ui.explore_project import open_latent, project_stream
    from ganlab.ui.sessions import Sessions
    export_generator(style_run, tmp_path / "models" / "tiny-style", card="# tiny\n")
    h = ExploreHandlers(Sessions(tmp_path / "runs", models_root=tmp_path / "models"))
    h.select("models/tiny-style", "k")
    pic = tmp_path / "me.png"
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[8:32, 8:32] = (220, 40, 40, 255)                               # a red square on transparency
    Image.fromarray(rgba, "RGBA").save(pic)
    out = list(project_stream(h, "k", str(pic), None, 20, "W+"))
    assert out[0][0].startswith("Projecting **me.png** into W+") and out[0][1] is not None
    final, picture, latent_file = out[-1]
    assert "PSNR" in final and "SSIM" in final and latent_file.endswith("me.safetensors")
    assert picture.width > picture.height                               # input | reconstruction
    view = dict(seed_a=1, seed_b=2, mode="slerp", t=0.0, psi=1.0, frames=3, dim=0, dim_amount=0,
                directions=[0] * 5, space="W", dir_layers="all", noise="fixed", noise_layers=[], noise_seed=0,
                own=True, mix_rows="1", mix_cols="2", mix_layers=[0])
    mine, cap = h.render(view, "k")
    assert "from your projected image" in cap
    assert not np.array_equal(np.asarray(mine), np.asarray(h.render(dict(view, own=False), "k")[0]))
    h.forget("k")
    h.select("models/tiny-style", "k")
    assert "Opened the latent of **me.png** (W+)" in open_latent(h, "k", latent_file)
    assert np.array_equal(np.asarray(h.render(view, "k")[0]), np.asarray(mine))
    bad = tmp_path / "bad.png"
    bad.write_text("not a picture")
    with pytest.raises(GanlabError):
        list(project_stream(h, "k", str(bad), None, 20, "W+"))
    with pytest.raises(GanlabError, match="10 to 1000 steps"):
        list(project_stream(h, "k", str(pic), None, 5, "W+"))
    with pytest.raises(GanlabError, match="Upload a picture"):
        list(project_stream(h, "k", None, None, 20, "W+"))
