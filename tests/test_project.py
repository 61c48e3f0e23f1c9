"""GAN inversion and perceptual path length on tiny seeded nets (16 px stylegan, 28 px dcgan)."""
import struct
import zlib

import pytest
import torch
from PIL import Image
from torch import nn

from ganlab.checkpoint import save_checkpoint
from ganlab.cli import main
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.errors import GanlabError
from ganlab.nets import MODELS
from ganlab.nets.stylegan import StyleGenerator
from ganlab.sampling import load_generator
from ganlab.style.ppl import path_length, slerp, trimmed_mean
from ganlab.style.project import Projection, load_image, load_latent, project, quality, save_latent
from ganlab.trainer import make_trainer


@pytest.fixture
def style_g():
    torch.manual_seed(0)
    return StyleGenerator(16, 16, 3, 16, width=4, mapping_depth=2).eval()


@pytest.fixture
def dcgan_g():
    torch.manual_seed(0)
    G, _ = MODELS.get("dcgan")(ModelConfig(name="dcgan", z_dim=8, width=4), (1, 28, 28))
    for m in G.modules():                        # wider weights: fresh nets draw near-grey images, too easy a target
        if isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0, 0.3)
    return G.eval()


def _mixed_target(G):
    """An image G makes from two w's (coarse styles from one, the rest from the other): reachable in
    W+, not exactly in W."""
    with torch.no_grad():
        w = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(5)))
        ws = G.broadcast(w[:1]).clone()
        ws[:, 4:] = w[1]
        return G.synthesis(ws, "const")[0]                            # [3, 16, 16]


def test_projection_recovers_gs_own_image_and_w_plus_beats_w(style_g):
    x = _mixed_target(style_g)
    in_w = project(style_g, x, steps=300, space="w", feature="pixel")
    in_wp = project(style_g, x, steps=300, space="w+", feature="pixel")
    assert in_wp.psnr > 30 and in_wp.ssim > 0.95
    assert in_wp.losses[-1] < in_wp.losses[0] / 100
    assert in_wp.losses[-1] <= in_w.losses[-1] and in_wp.psnr >= in_w.psnr
    assert in_w.latent.shape == in_wp.latent.shape == (1, style_g.num_ws, 16)
    assert torch.equal(in_w.latent, in_w.latent[:, :1].expand_as(in_w.latent))   # W: one style everywhere
    assert in_wp.image.shape == x.shape and len(in_wp.losses) == 300
    assert all(p.requires_grad for p in style_g.parameters()) and not style_g.training   # G as it was


def test_inception_feature_distance_lowers_the_loss(style_g):
    seen = []
    p = project(style_g, _mixed_target(style_g), steps=12, feature="inception",
                progress=lambda i, loss, img: seen.append((i, img.shape)))
    assert p.space == "w+" and "Inception" in p.distance and p.losses[-1] < p.losses[0]
    assert seen[-1] == (12, (3, 16, 16))


def test_any_unconditional_g_inverts_in_z(dcgan_g):
    with torch.no_grad():
        x = dcgan_g(torch.randn(1, 8, generator=torch.Generator().manual_seed(3)))[0]
    with torch.no_grad():                        # another z: a different picture, far below the bar
        other = dcgan_g(torch.randn(1, 8, generator=torch.Generator().manual_seed(4)))[0]
    p = project(dcgan_g, x, steps=150, feature="pixel")
    assert p.space == "z" and p.latent.shape == (1, 8)
    assert p.psnr > 40 > 20 > quality(other, x)[0] and p.losses[-1] < p.losses[0] / 100
    with pytest.raises(GanlabError, match="style-based"):
        project(dcgan_g, x, space="w+")
    with pytest.raises(GanlabError, match="1x28x28"):
        project(dcgan_g, torch.zeros(3, 16, 16))


def test_conditional_and_text_gs_are_refused():
    G, _ = MODELS.get("cgan")(ModelConfig(name="cgan", z_dim=8, width=4), (1, 28, 28), num_classes=4)
    with pytest.raises(GanlabError, match="class-conditional"):
        project(G, torch.zeros(1, 28, 28))
    with pytest.raises(GanlabError, match="class-conditional"):
        path_length(G, n=10)
    text = nn.Linear(1, 1)
    text.z_dim, text.cond_dim = 8, 16
    with pytest.raises(GanlabError, match="text-conditioned"):
        project(text, torch.zeros(1, 28, 28))


def _projection(latent, space):
    return Projection(space, latent, torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), "mse on pixels", 5, 0.1,
                      psnr=31.5, ssim=0.9)


def test_latent_file_round_trip_and_refusals(tmp_path, style_g, dcgan_g):
    ws = torch.randn(1, style_g.num_ws, 16)
    path = save_latent(tmp_path / "me.safetensors", _projection(ws, "w+"), model="stylegan", source="/x/me.png")
    got, meta = load_latent(path, style_g)
    assert torch.equal(got, ws) and got.dtype == ws.dtype
    assert meta["space"] == "w+" and meta["model"] == "stylegan" and meta["source"] == "me.png"
    assert meta["num_ws"] == str(style_g.num_ws) and meta["w_dim"] == "16" and meta["psnr"] == "31.500"
    assert [p.name for p in tmp_path.iterdir()] == ["me.safetensors"]          # no temporary left behind
    with pytest.raises(GanlabError, match="project the image again"):
        load_latent(path, StyleGenerator(16, 16, 3, 8, width=4, mapping_depth=2))   # 4 styles, not 6
    with pytest.raises(GanlabError, match="style-based"):
        load_latent(path, dcgan_g)
    z_path = save_latent(tmp_path / "z.safetensors", _projection(torch.randn(1, 16), "z"))
    with pytest.raises(GanlabError, match=r"\[1, 8\]"):
        load_latent(z_path, dcgan_g)
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(GanlabError, match="not a readable latent"):
        load_latent(tmp_path / "junk.safetensors")


def _huge_png_header(side: int) -> bytes:
    """A PNG that claims side x side pixels: the header alone, as a decompression bomb's would be."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_load_image_flattens_onto_white_and_refuses_broken_files(tmp_path):
    rgba = Image.new("RGBA", (32, 32), (255, 0, 0, 0))               # hidden red: must come out white
    rgba.paste((0, 0, 255, 255), (8, 8, 24, 24))
    rgba.save(tmp_path / "emoji.png")
    x = load_image(tmp_path / "emoji.png", 3, 16)
    assert x.shape == (3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[:, 0, 0], torch.ones(3)) and torch.allclose(x[:, 8, 8], torch.tensor([-1., -1., 1.]))
    assert load_image(tmp_path / "emoji.png", 1, 28).shape == (1, 28, 28)
    noise = Image.fromarray(torch.randint(0, 255, (64, 64, 3), dtype=torch.uint8).numpy())
    noise.save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:3000])
    (tmp_path / "text.png").write_text("hello, I am not a picture")
    (tmp_path / "huge.png").write_bytes(_huge_png_header(20_000))
    for name, message in (("cut.png", "truncated"), ("text.png", "not a readable"), ("huge.png", "too large"),
                          ("missing.png", "no image file")):
        with pytest.raises(GanlabError, match=message):
            load_image(tmp_path / name, 3, 16)


def test_ppl_is_finite_seeded_and_zero_for_a_g_that_ignores_z(style_g, dcgan_g):
    r = path_length(style_g, n=40, feature="pixel", seed=1)
    assert r["ppl_z"] >= 0 and r["ppl_w"] >= 0 and all(map(torch.isfinite, torch.tensor([r["ppl_z"], r["ppl_w"]])))
    again = path_length(style_g, n=40, feature="pixel", seed=1)
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in r.items() if k != "seconds"}
    assert r["n"] == 40 and r["eps"] == 1e-4 and r["distance"].startswith("pixel") and r["smoother"] in "wz"
    assert path_length(style_g, n=40, feature="pixel", seed=2)["ppl_z"] != r["ppl_z"]
    assert set(path_length(dcgan_g, n=10, feature="pixel")) & {"ppl_z", "ppl_w"} == {"ppl_z"}
    incep = path_length(style_g, n=10, seed=1)                        # the default distance, on 20 images
    assert "Inception" in incep["distance"] and incep["ppl_w"] > 0

    class Constant(nn.Module):
        z_dim = 4

        def __init__(self):
            super().__init__()
            self.image = nn.Parameter(torch.rand(1, 3, 16, 16) * 2 - 1)

        def forward(self, z):
            return self.image.expand(len(z), -1, -1, -1)

    assert path_length(Constant(), n=20, feature="pixel")["ppl_z"] == 0


def test_slerp_and_trimmed_mean():
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    t = torch.tensor([[0.0], [0.5], [1.0]])
    out = slerp(a, b, t)
    assert torch.allclose(out[0], a[0], atol=1e-5) and torch.allclose(out[2], b[2], atol=1e-5)
    assert torch.allclose(slerp(a, a, t), a)                          # parallel: no NaN
    v = torch.cat([torch.zeros(1), torch.ones(98), torch.full((1,), 1e6)])
    assert trimmed_mean(v) == 1.0                                     # the 1 % at each end dropped


def _tiny_run(tmp_path, tiny_images):
    cfg = RunConfig(DataConfig(), ModelConfig(name="stylegan", width=4, z_dim=16, mapping_depth=2),
                    TrainConfig(loss="ns", batch_size=8, seed=2, device="cpu"))
    tr = make_trainer(cfg, tiny_images(3, 16, 16))
    for _ in range(2):
        tr.step()
    save_checkpoint(tr, tmp_path / "run" / "checkpoints" / "step_000002")
    return tmp_path / "run"


def test_cli_projects_an_image_and_measures_ppl(tmp_path, tiny_images, capsys):
    run = _tiny_run(tmp_path, tiny_images)
    Image.new("RGBA", (40, 30), (20, 200, 40, 255)).save(tmp_path / "me.png")
    out, png = tmp_path / "lat" / "me.safetensors", tmp_path / "side.png"
    argv = ["project", "--run", str(run), "--image", str(tmp_path / "me.png"), "--out", str(out), "--steps", "8"]
    assert main(argv + ["--png", str(png)]) == 0
    printed = capsys.readouterr().out
    assert "PSNR" in printed and "SSIM" in printed and "W+" in printed
    G, _, _ = load_generator(run)
    ws, meta = load_latent(out, G)
    assert ws.shape == (1, G.num_ws, 16) and meta["model"] == "stylegan" and meta["source"] == "me.png"
    assert Image.open(png).size[0] > 2 * Image.open(png).size[1] - 20             # two pictures side by side
    (tmp_path / "bad.png").write_text("not an image")
    assert main(argv[:4] + [str(tmp_path / "bad.png")] + argv[5:]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: bad.png is not a readable") and "Traceback" not in "".join(err)
    assert main(["eval", "--run", str(run), "--metrics", "ppl", "--ppl-n", "10", "--ppl-distance", "pixel"]) == 0
    printed = capsys.readouterr().out
    assert "PPL in Z" in printed and "PPL in W" in printed and "smoother" in printed
