"""bench/image_to_image.py: the figures and fills on tensors with known answers, and the bench end to end on
two-step 16 px runs (FID through a stand-in feature extractor, so no Inception network runs here)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import image_to_image as bench
from ganlab.checkpoint import save_checkpoint
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.errors import GanlabError
from ganlab.trainer import make_trainer
from ganlab.translate import quality as q

SIDE = 16


def _images(n=2, c=3, seed=0):
    return torch.rand(n, c, SIDE, SIDE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _hole():
    m = torch.zeros(2, 1, SIDE, SIDE)
    m[:, :, 4:11, 5:12] = 1
    return m


# ---- the figures --------------------------------------------------------------------------------------

def test_psnr_and_ssim_of_known_pairs():
    x = _images()
    assert torch.equal(q.psnr(x, x), torch.full((2,), q.PSNR_CAP))          # MSE 0: capped, not infinite
    assert torch.allclose(q.ssim(x, x), torch.ones(2))
    grey = torch.zeros(2, 3, SIDE, SIDE)
    assert torch.allclose(q.psnr(grey + 0.2, grey), torch.full((2,), 20.0), atol=1e-3)   # 0.1 on [0, 1]: 20 dB
    assert (q.ssim(x, _images(seed=1)) < 0.5).all()


def test_hole_psnr_ignores_pixels_outside_the_hole():
    x, m = _images(), _hole()
    noisy = torch.where(m > 0, x, -x)                            # every pixel outside the hole wrong
    assert torch.equal(q.hole_psnr(noisy, x, m), torch.full((2,), q.PSNR_CAP))
    target = torch.where(m > 0, torch.tensor(0.0), x)
    off = torch.where(m > 0, torch.tensor(0.2), -x)              # 0.1 off on [0, 1] inside: 20 dB
    assert torch.allclose(q.hole_psnr(off, target, m), torch.full((2,), 20.0), atol=1e-3)
    assert (q.hole_ssim(x, x, m) == 1).all() and (q.hole_ssim(noisy, x, m) < 1).all()


def test_an_image_without_a_hole_has_no_hole_figures():
    x, m = _images(), _hole()
    m[1] = 0
    v = q.hole_psnr(x * 0.5, x, m)
    assert not math.isnan(float(v[0])) and math.isnan(float(v[1]))
    assert q.mean(v) == pytest.approx(float(v[0]))
    assert math.isnan(float(q.hole_ssim(x, x, m)[1]))


def test_mean_fill_is_the_mean_of_the_known_pixels():
    x, m = _images(), _hole()
    y = q.mean_fill(x, m)
    known = (m == 0).expand_as(x)
    assert torch.equal(y[known], x[known])
    for i in range(2):
        for c in range(3):
            want = x[i, c][m[i, 0] == 0].mean()
            assert torch.allclose(y[i, c][m[i, 0] > 0], want.expand(int(m[i].sum())), atol=1e-6)


def test_laplace_fill_restores_flat_and_ramp_images_and_keeps_the_known_pixels():
    m = _hole()
    flat = torch.full((2, 3, SIDE, SIDE), -0.75)                 # a dyadic value: every sum on the way is exact
    assert torch.equal(q.laplace_fill(flat * (1 - m), m), flat)
    flat = torch.full((2, 3, SIDE, SIDE), 0.3)                   # the same to float32 rounding
    assert (q.laplace_fill(flat * (1 - m), m) - flat).abs().max() < 1e-6
    ramp = torch.linspace(-1, 1, SIDE).view(1, 1, 1, SIDE).expand(2, 3, SIDE, SIDE).contiguous()
    y = q.laplace_fill(ramp * (1 - m), m)                        # harmonic: diffusion brings it back
    assert (y - ramp).abs().max() < 1e-3
    x = _images()
    z = q.laplace_fill(x, m)
    known = (m == 0).expand_as(x)
    assert torch.equal(z[known], x[known])
    assert z[~known].std() < x[~known].std()                     # smoother than the noise it replaced


def test_telea_fill_when_opencv_is_there():
    x, m = _images(), _hole()
    y = q.telea_fill(x, m)
    if y is None:
        pytest.skip("OpenCV is not installed")
    known = (m == 0).expand_as(x)
    assert y.shape == x.shape and torch.equal(y[known], x[known])


# ---- the bench on tiny runs -----------------------------------------------------------------------------

def _pictures(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True)
    g = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(g.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)).save(folder / f"im{i:02d}.png")


def _run(path: Path, family: str, data: str, adversarial: float = 1.0, side: int = SIDE) -> Path:
    torch.manual_seed(0)
    cfg = RunConfig(DataConfig(name=data, resolution=side), ModelConfig(name=family, width=8),
                    TrainConfig(steps=2, batch_size=4, device="cpu", eval_every=0, seed=1, adversarial=adversarial))
    trainer = make_trainer(cfg)
    for _ in range(2):
        trainer.step()
    save_checkpoint(trainer, path / "checkpoints" / "step_000002")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("i2i")
    _pictures(root / "A", 30, 0)
    _pictures(root / "B", 30, 1)
    return root, f"folder:{root / 'A'},{root / 'B'}", f"folder:{root / 'A'}"


class _Features:
    """A stand-in for the Inception network: per-channel means and spreads (6 numbers an image)."""

    def features(self, images, desc=None):
        return torch.cat([images.mean((2, 3)), images.std((2, 3))], 1)


def test_pix2pix_end_to_end_with_its_l1_only_baseline(data, tmp_path, monkeypatch, capsys):
    root, both, _ = data
    gan, l1 = _run(tmp_path / "gan", "pix2pix", both), _run(tmp_path / "l1", "pix2pix", both, adversarial=0.0)
    monkeypatch.setattr(bench, "inception", lambda device: _Features())
    out = bench.main(["--run", str(gan), "--baseline", str(l1), "--n", "2", "--json", str(tmp_path / "s.json"),
                      "--figure", str(tmp_path / "f.png"), "--device", "cpu"])
    assert json.loads((tmp_path / "s.json").read_text()) == out
    assert (out["run"], out["step"], out["n"], out["task"]) == (str(gan), 2, 2, "paired")
    assert list(out["methods"]) == ["gan", "l1_only"] and out["fid_real_images"] == {"fid": 2}
    for row in out["methods"].values():
        assert all(math.isfinite(row[k]) for k in ("psnr", "ssim", "fid"))
    printed = capsys.readouterr().out
    assert "| pix2pix (this run)" in printed and "L1-only pix2pix, no D" in printed
    assert "python bench/image_to_image.py --run" in printed
    assert Image.open(tmp_path / "f.png").size[0] > Image.open(tmp_path / "f.png").size[1]    # 2 rows, 4 columns


def test_sr_inpaint_and_cyclegan_end_to_end_without_fid(data, tmp_path, capsys):
    _, both, single = data
    sr = bench.main(["--run", str(_run(tmp_path / "sr", "srgan", single)), "--n", "2", "--no-fid"])
    assert list(sr["methods"]) == ["gan", "bicubic"] and sr["fid_real_images"] is None
    gan, bicubic = sr["methods"]["gan"]["psnr"], sr["methods"]["bicubic"]["psnr"]
    assert gan == pytest.approx(bicubic, abs=1.0)                                # an untrained G is bicubic
    fill = bench.main(["--run", str(_run(tmp_path / "in", "inpaint", single)), "--n", "2", "--no-fid",
                       "--figure", str(tmp_path / "f.png")])
    assert {"gan", "mean_fill", "laplace_fill"} <= set(fill["methods"])
    assert all(math.isfinite(r["hole_psnr"]) and "fid" not in r for r in fill["methods"].values())
    cyc = bench.main(["--run", str(_run(tmp_path / "cy", "cyclegan", both)), "--n", "2", "--no-fid"])
    assert list(cyc["methods"]) == ["gan", "identity"] and cyc["n"] == 4
    assert math.isfinite(cyc["methods"]["gan"]["cycle_aba"]) and cyc["methods"]["identity"]["cycle_aba"] is None
    assert cyc["methods"]["gan"]["to_b"] is None                                 # no classifier for these sides
    printed = capsys.readouterr().out
    assert "No --baseline" in printed and "SSIM map averaged over" in printed and "No shipped classifier" in printed


def test_a_baseline_of_another_task_is_refused(data, tmp_path):
    _, both, single = data
    with pytest.raises(GanlabError, match="must do this run's task"):
        bench.main(["--run", str(_run(tmp_path / "a", "pix2pix", both)), "--baseline",
                    str(_run(tmp_path / "b", "inpaint", single)), "--no-fid"])


def test_cyclegan_on_sneakers_and_boots_is_judged_by_the_shipped_classifier(tmp_path):
    run = _run(tmp_path / "sb", "cyclegan", "sneaker<->boot", side=28)
    out = bench.main(["--run", str(run), "--n", "100", "--no-fid"])
    assert out["n_per_side"] == [100, 100] and out["n"] == 200
    ident, gan = out["methods"]["identity"], out["methods"]["gan"]
    assert ident["to_b"] <= 0.05 and ident["to_a"] <= 0.1             # real sneakers are not boots (measured: 0, 3%)
    assert 0 <= gan["to_b"] <= 1 and 0 <= gan["to_a"] <= 1 and math.isfinite(gan["cycle_bab"])
