"""``python -m ganlab translate``: tiny image-to-image runs (16 px, width 8, 2 steps) over a folder of inputs."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.checkpoint import save_checkpoint
from ganlab.cli import main
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.trainer import make_trainer

SIDE = 16


def _pictures(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True)
    g = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(g.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)).save(folder / f"im{i:02d}.png")


def _run(root: Path, family: str, data: str) -> Path:
    torch.manual_seed(0)
    cfg = RunConfig(DataConfig(name=data, resolution=SIDE), ModelConfig(name=family, width=8),
                    TrainConfig(steps=2, batch_size=4, device="cpu", eval_every=0, seed=1))
    trainer = make_trainer(cfg)
    for _ in range(2):
        trainer.step()
    save_checkpoint(trainer, root / family / "checkpoints" / "step_000002")
    return root / family


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("i2i")
    _pictures(root / "A", 12, 0)
    _pictures(root / "B", 12, 1)
    both, single = f"folder:{root / 'A'},{root / 'B'}", f"folder:{root / 'A'}"
    return {"pix2pix": _run(root, "pix2pix", both), "cyclegan": _run(root, "cyclegan", both),
            "srgan": _run(root, "srgan", single), "inpaint": _run(root, "inpaint", single)}


@pytest.fixture
def inputs(tmp_path):
    """A 16 px PNG, a 40x30 JPEG, an 8 px WebP, a broken PNG and a text file (not an image type: ignored)."""
    d = tmp_path / "in"
    d.mkdir()
    g = np.random.default_rng(2)
    Image.fromarray(g.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(d / "a.png")
    Image.fromarray(g.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(d / "b.jpg")
    Image.fromarray(g.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(d / "c.webp")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not the rest of a png")
    (d / "readme.txt").write_text("not an image")
    return d


def _sizes(folder: Path) -> dict:
    return {p.name: Image.open(p).size for p in sorted(folder.iterdir())}


def test_pix2pix_writes_one_png_per_input_and_says_what_was_resized(runs, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["translate", "--run", str(runs["pix2pix"]), "--input", str(inputs), "--out", str(out)]) == 0
    assert _sizes(out) == {"a.png": (16, 16), "b.png": (16, 16), "c.png": (16, 16)}
    err = capsys.readouterr().err
    assert "2 inputs were resized to 16x16" in err and "40x30" in err and "8x8" in err
    assert "1 not square, so padded with white" in err
    assert "skipped 1 file(s) that are not readable images: broken.png" in err


def test_srgan_outputs_are_four_times_the_side_it_takes(runs, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["translate", "--run", str(runs["srgan"]), "--input", str(inputs), "--out", str(out)]) == 0
    assert _sizes(out) == {"a.png": (16, 16), "b.png": (16, 16), "c.png": (16, 16)}      # from 4x4 inputs
    assert "3 inputs were resized to 4x4" in capsys.readouterr().err


def test_cyclegan_goes_both_ways(runs, inputs, tmp_path):
    ab, ba = tmp_path / "ab", tmp_path / "ba"
    assert main(["translate", "--run", str(runs["cyclegan"]), "--input", str(inputs), "--out", str(ab)]) == 0
    assert main(["translate", "--run", str(runs["cyclegan"]), "--input", str(inputs), "--out", str(ba),
                 "--direction", "BA"]) == 0
    assert _sizes(ab) == _sizes(ba) == {"a.png": (16, 16), "b.png": (16, 16), "c.png": (16, 16)}
    assert not np.array_equal(np.asarray(Image.open(ab / "a.png")), np.asarray(Image.open(ba / "a.png")))


def test_direction_and_masks_are_refused_for_a_one_way_model(runs, inputs, tmp_path, capsys):
    args = ["translate", "--run", str(runs["pix2pix"]), "--input", str(inputs), "--out", str(tmp_path / "o")]
    assert main(args + ["--direction", "BA"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --direction picks a CycleGAN model's way") and err.count("\n") == 0
    assert main(args + ["--masks", str(inputs)]) == 2
    assert "--masks is for inpainting models" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_inpaint_fills_only_the_masked_pixels(runs, inputs, tmp_path, capsys):
    masks = tmp_path / "masks"
    masks.mkdir()
    hole = np.zeros((16, 16), np.uint8)
    hole[4:10, 5:12] = 255
    Image.fromarray(hole).save(masks / "a.png")                  # same name
    Image.fromarray(hole).save(masks / "c.png")                  # same stem as c.webp
    out = tmp_path / "out"
    assert main(["translate", "--run", str(runs["inpaint"]), "--input", str(inputs), "--out", str(out),
                 "--masks", str(masks)]) == 0
    assert _sizes(out) == {"a.png": (16, 16), "c.png": (16, 16)}
    before, after = np.asarray(Image.open(inputs / "a.png")), np.asarray(Image.open(out / "a.png"))
    known = hole == 0
    assert np.array_equal(before[known], after[known]) and not np.array_equal(before[~known], after[~known])
    assert "skipped 1 image(s) with no hole" in capsys.readouterr().err          # b.jpg has no mask


def test_inpaint_without_masks_reads_transparency_as_the_hole(runs, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    rgba = np.full((16, 16, 4), 200, np.uint8)
    rgba[..., 3] = 255
    rgba[3:8, 3:8, 3] = 0                                        # erased: the hole
    Image.fromarray(rgba).save(d / "erased.png")
    Image.fromarray(rgba[..., :3].copy()).save(d / "opaque.png")
    out = tmp_path / "out"
    assert main(["translate", "--run", str(runs["inpaint"]), "--input", str(d), "--out", str(out)]) == 0
    assert _sizes(out) == {"erased.png": (16, 16)}
    assert "opaque.png" in capsys.readouterr().err
    assert main(["translate", "--run", str(runs["inpaint"]), "--input", str(d), "--out", str(tmp_path / "o"),
                 "--masks", str(tmp_path / "nowhere")]) == 2


def test_clashing_stems_keep_both_and_an_empty_folder_is_refused(runs, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    for name in ("x.png", "x.jpg"):
        Image.new("RGB", (16, 16), (10, 200, 30)).save(d / name)
    out = tmp_path / "out"
    assert main(["translate", "--run", str(runs["pix2pix"]), "--input", str(d), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x_jpg.png", "x_png.png"]
    (tmp_path / "empty").mkdir()
    assert main(["translate", "--run", str(runs["pix2pix"]), "--input", str(tmp_path / "empty"),
                 "--out", str(out)]) == 2
    assert "holds no PNG, JPEG or WebP images" in capsys.readouterr().err
    assert main(["translate", "--run", str(runs["pix2pix"]), "--input", str(d), "--out", str(d)]) == 2
