"""The memory budget: estimates close to measured peaks, made without allocating, and refusals that say what fits."""
import re
import zipfile
from pathlib import Path

import pytest

from ganlab import budget
from ganlab.budget import (
    BATCH_LADDER,
    check_fits,
    dataset_shape,
    default_budget,
    estimate_run,
    measure_peak,
    parse_budget,
)
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.data.images import DEBIAN_FASHION
from ganlab.errors import GanlabError

GB, MB = 2**30, 2**20


def _rss() -> int:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def _dcgan(res=64, n=2000, width=64, batch=128, **train) -> RunConfig:
    return RunConfig(DataConfig(name="shapes", resolution=res, n=n), ModelConfig(name="dcgan", width=width),
                     TrainConfig(batch_size=batch, **train))


def _small_run() -> RunConfig:
    """A set-dominated run: Fashion-MNIST's 60,000 images where Debian ships them, else 10,000 shapes."""
    data = DataConfig(name="fashion-mnist") if DEBIAN_FASHION.is_dir() else DataConfig(name="shapes", n=10_000)
    return RunConfig(data, ModelConfig(name="dcgan"), TrainConfig(batch_size=64))


def test_the_estimate_is_within_2x_of_the_measured_peak_on_two_sizes():
    # a 64 px RGB DCGAN whose step dominates (~0.6 GB), and a set-dominated run (~0.3 GB): big enough
    # that the fixed costs (kernels' code, the allocator) are not what is measured
    for cfg in (_dcgan(), _small_run()):
        est = estimate_run(cfg, engine=False)             # a bare Trainer: no NaN-guard copies
        peak = measure_peak(cfg, steps=3)["trainer"]
        assert peak > 200 * MB
        assert 0.5 <= est.total / peak <= 2, f"{cfg.data.name}: estimated {est.describe()}, measured {peak / MB:.0f} MB"
        print(f"{cfg.data.name}: estimate / measured = {est.total / peak:.2f}")


def _no_loading(monkeypatch):
    """Every way of reading a set's pixels fails the test."""
    import ganlab.data
    import ganlab.data.images
    import ganlab.data.shapes
    import ganlab.trainer

    def boom(*args, **kwargs):
        raise AssertionError("the estimate loaded a dataset")
    for module in (ganlab.data, ganlab.trainer):
        monkeypatch.setattr(module, "load_dataset", boom)
    monkeypatch.setattr(ganlab.data.shapes, "make_shapes", boom)
    monkeypatch.setattr(ganlab.data.images, "load_split", boom)
    for name, (_, help) in list(ganlab.data.DATASETS._items.items()):
        monkeypatch.setitem(ganlab.data.DATASETS._items, name, (boom, help))


def test_an_oversized_run_is_refused_before_anything_is_allocated(monkeypatch):
    _no_loading(monkeypatch)
    huge = _dcgan(n=20_000, width=32, batch=10_000)       # a 10,000-image batch at 64 px: tens of GB of activations
    estimate_run(_dcgan(res=32, n=100, width=8, batch=4))  # imports and first-use costs, outside the measurement
    before = _rss()
    with pytest.raises(GanlabError) as e:
        check_fits(huge, 4 * GB)
    assert _rss() - before < 40 * MB
    message = str(e.value)
    assert message.startswith("This run needs about ") and "4.0 GB free" in message, message
    assert re.search(r"batch size \d+ would fit", message), message
    with pytest.raises(GanlabError) as e:                 # a flattened 1024 px MLP cannot fit at any batch
        check_fits(RunConfig(DataConfig(name="torchvision:CIFAR10", resolution=1024), ModelConfig(name="mlp"),
                             TrainConfig(batch_size=64)), 8 * GB)
    assert re.search(r"no batch size fits, but resolution \d+", str(e.value)), str(e.value)


def test_the_suggested_batch_fits_and_the_next_larger_does_not():
    cfg, free = _dcgan(n=20_000, width=32, batch=10_000), 4 * GB
    with pytest.raises(GanlabError) as e:
        check_fits(cfg, 6 * GB, in_use=6 * GB - free)
    batch = int(re.search(r"batch size (\d+) would fit", str(e.value)).group(1))
    cfg.train.batch_size = batch
    assert estimate_run(cfg).total <= free
    cfg.train.batch_size = BATCH_LADDER[BATCH_LADDER.index(batch) + 1]
    assert estimate_run(cfg).total > free


def test_a_huge_eval_n_is_refused_naming_one_that_fits(monkeypatch):
    _no_loading(monkeypatch)
    cfg = RunConfig(DataConfig(name="shapes", n=50_000), ModelConfig(name="dcgan"),
                    TrainConfig(eval_every=1000, eval_n=200_000))  # prdc's 50,000^2 distances: ~28 GB
    with pytest.raises(GanlabError) as e:
        check_fits(cfg, 4 * GB)
    found = re.search(r"eval_n ([\d,]+)", str(e.value))
    assert found and "no batch size fits" in str(e.value), str(e.value)
    cfg.train.eval_n = int(found.group(1).replace(",", ""))
    assert cfg.train.eval_n < 50_000 and check_fits(cfg, 4 * GB).total <= 4 * GB


def test_the_parts_follow_the_optimiser_and_the_config_is_left_alone():
    cfg = RunConfig()                                       # the ring MLP: no buffers, no EMA
    sizes = {}
    for name in ("adam", "rmsprop", "sgd"):
        cfg.train.optimizer = name
        est = estimate_run(cfg)
        sizes[name] = est.optimizer / est.params            # state plus gradients, per parameter byte
        assert est.activations > 0 and est.data == 10_000 * (2 * 4 + 8)   # float32 points and int64 labels
    assert sizes == pytest.approx({"adam": 3, "rmsprop": 2, "sgd": 1}, rel=1e-3)   # (+ a step count per tensor)
    assert cfg.model.z_dim is None and cfg.model.width is None   # the builders' defaults went into a copy
    ema = estimate_run(RunConfig(train=TrainConfig(ema=0.999)))
    assert ema.params > estimate_run(RunConfig()).params
    told = estimate_run(_dcgan(res=32, n=2000), items=500, sample_shape=(1, 32, 32))   # a set already loaded
    assert (told.items, told.sample_shape) == (500, (1, 32, 32)) and told.data < 500 * 32 * 32 * 4 + 500 * 200


def test_budgets_parse_as_sizes_or_shares_of_memory():
    total = int(re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text()).group(1)) * 1024
    assert parse_budget("8GB", "cpu") == 8 * GB
    assert parse_budget("512MB", "cpu") == parse_budget("512 mib", "cpu") == 512 * MB
    assert parse_budget("12e9", "cpu") == 12 * 10**9
    assert parse_budget("50%", "cpu") == total // 2
    assert abs(default_budget("cpu") - 0.7 * total) < 1024
    for bad in ("abc", "-1GB", "0", "0%", "150%", "", "nan", "8 parsecs"):
        with pytest.raises(GanlabError, match="memory budget must be"):
            parse_budget(bad, "cpu")


def test_a_folder_is_counted_without_decoding_a_file(tmp_path, monkeypatch):
    import PIL.Image

    from ganlab.data import folder
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            PIL.Image.new("RGB", (40, 30), (i * 80, 0, 0)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"not an image")   # a file all the same: an upper bound
    (tmp_path / "cats" / ".DS_Store").write_bytes(b"hidden")
    monkeypatch.setattr(PIL.Image, "open", lambda *a, **k: pytest.fail("a file was decoded"))
    side = folder.DEFAULT_RESOLUTION
    assert dataset_shape(DataConfig(name=f"folder:{tmp_path}")) == (7, (3, side, side))
    assert dataset_shape(DataConfig(name=f"folder:{tmp_path}", resolution=28, channels=1)) == (7, (1, 28, 28))
    assert budget._set_info(DataConfig(name=f"folder:{tmp_path}")).classes == 2
    with zipfile.ZipFile(tmp_path / "pets.zip", "w") as zf:
        for path in sorted(tmp_path.rglob("*.png")):
            zf.write(path, f"pets/{path.relative_to(tmp_path)}")
    assert dataset_shape(DataConfig(name=f"folder:{tmp_path / 'pets.zip'}"))[0] == 7
    with pytest.raises(GanlabError, match="no folder or .zip"):
        dataset_shape(DataConfig(name=f"folder:{tmp_path / 'missing'}"))
