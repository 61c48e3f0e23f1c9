"""Image-to-image sets, built offline from the sets that already install: inputs, targets and a held-out part.

    ds = load_dataset(DataConfig(name="edges2emoji", resolution=32))
    ds.inputs, ds.x          # [N, 1, 32, 32] edge maps, [N, 3, 32, 32] the emoji they came from
    ds.paired                # True: inputs[i] goes with x[i]
    ds.test                  # the held-out part (the emoji's held-out 10% of code points), same layout
    ds = pairs_of(load_dataset(DataConfig(name="folder:photos,paintings")))   # two folders: paired by
                             # file name where the names match, else unpaired

Names (``python -m ganlab list``):

- ``edges2emoji``, ``edges2fashion``: an edge map -> the image. Edges are a Sobel threshold, not
  Canny: each colour channel is blurred 3x3, and a pixel where any channel's Sobel gradient
  magnitude exceeds EDGE_THRESHOLD (on a 0-1 scale) is drawn black on white, the way a sketch is
  drawn. Per channel, not on the luminance: a yellow face on white differs little in luminance,
  and its outline would be lost.
- ``noto2emojione``: the Noto glyph -> the EmojiOne drawing of the same code point.
- ``gray2emoji``: luminance -> colour.
- ``sr-emoji``, ``sr-fashion``, ``inpaint-emoji``, ``inpaint-fashion``: the images alone; the
  srgan and inpaint families make their inputs (the down-sample, the masked image) themselves.
- ``noto<->emojione``, ``sneaker<->boot`` (Fashion-MNIST classes 7 and 9): two unpaired domains.

Every set's held-out part comes from its source's test split (Fashion-MNIST's 10,000 test
images, the emoji sets' held-out code points); a folder pair holds out a fixed 10% of its
file names (by hash, so adding files never moves an old one across).
"""
from __future__ import annotations

import hashlib
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from ..config import DataConfig
from ..errors import GanlabError
from .base import DATASETS, DataSource

EDGE_THRESHOLD = 0.25
DOMAINS = {"edges2emoji": ("edges", "emoji"), "edges2fashion": ("edges", "clothes"), "gray2emoji": ("grey", "colour"),
           "noto2emojione": ("Noto", "EmojiOne"), "noto<->emojione": ("Noto", "EmojiOne"),
           "sneaker<->boot": ("Sneaker", "Ankle boot")}
FAMILY = {"edges2emoji": "pix2pix", "edges2fashion": "pix2pix", "gray2emoji": "pix2pix", "noto2emojione": "pix2pix",
          "noto<->emojione": "cyclegan", "sneaker<->boot": "cyclegan", "sr-emoji": "srgan", "sr-fashion": "srgan",
          "inpaint-emoji": "inpaint", "inpaint-fashion": "inpaint"}     # the family each set is made for
HOLDOUT_EVERY = 10
SNEAKER, BOOT = 7, 9


def luminance(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] in [-1, 1] -> [N, 1, H, W] (ITU-R 601 weights for colour)."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def edges(x: torch.Tensor, threshold: float = EDGE_THRESHOLD, chunk: int = 4096) -> torch.Tensor:
    """Black-on-white edge maps [N, 1, H, W] in {-1, 1} of images in [-1, 1] (a thresholded Sobel, the
    strongest colour channel's)."""
    kx = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]) / 4
    kernels = torch.stack([kx, kx.t()])[:, None].to(x.dtype)          # [2, 1, 3, 3]
    blur = torch.ones(1, 1, 3, 3, dtype=x.dtype) / 9
    out = []
    for part in x.split(chunk):
        n, c, h, w = part.shape
        v = ((part + 1) / 2).reshape(n * c, 1, h, w)                     # each channel alone, in [0, 1]
        v = F.conv2d(F.pad(v, (1, 1, 1, 1), mode="replicate"), blur)
        g = F.conv2d(F.pad(v, (1, 1, 1, 1), mode="replicate"), kernels)
        mag = g.pow(2).sum(1).sqrt().view(n, c, h, w).amax(1, keepdim=True)   # the strongest channel's edge
        out.append(torch.where(mag > threshold, -1.0, 1.0).to(x.dtype))
    return torch.cat(out)


def _held(name: str) -> bool:
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % HOLDOUT_EVERY == 0


# ---------------------------------------------------------------- the named sets

def _split_pair(build: Callable[[str], DataSource], note: Callable[[DataSource, DataSource], str]) -> DataSource:
    """The training part built by ``build("train")``, carrying ``build("test")`` as its held-out part."""
    train, test = build("train"), build("test")
    train.note, train.test = note(train, test), test
    return train


def _base(name: str, split: str, cfg: DataConfig) -> DataSource:
    from .images import load_split
    return load_split(name, split, DataConfig(name=name, resolution=cfg.resolution, channels=cfg.channels,
                                              root=cfg.root, download=cfg.download))


def _emoji_colour(cfg: DataConfig) -> DataConfig:
    if cfg.channels == 1:
        raise GanlabError("The emoji image-to-image sets are colour; leave the channels unset (or 3).")
    return cfg


def _derived(name: str, base: str, make: Callable[[torch.Tensor], torch.Tensor], domains: Tuple[str, str],
             how: str) -> Callable:
    def load(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
        def part(split):
            src = _base(base, split, cfg)
            return DataSource(name, src.x, inputs=make(src.x), paired=True, domains=domains, labels=src.labels,
                              class_names=src.class_names, keys=src.keys, captions=src.captions, note=src.note)
        return _split_pair(part, lambda train, test: f"{how}, built from {train.note}; held out: {len(test):,} "
                                                     "pairs from its test split")
    return load


def _plain(name: str, base: str, task: str) -> Callable:
    def load(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
        train, test = _base(base, "train", cfg), _base(base, "test", cfg)
        train.name, test.name = name, name
        train.note = f"{train.note}; for {task}; held out: {len(test):,} images from its test split"
        train.test = test
        return train
    return load


DATASETS.register("edges2emoji", "sketch -> picture: Sobel edge maps -> Noto emoji, paired (offline)")(
    _derived("edges2emoji", "emoji", edges, ("edges", "emoji"), "Sobel edge maps -> Noto emoji"))
DATASETS.register("edges2fashion", "sketch -> picture: Sobel edge maps -> Fashion-MNIST, paired (offline)")(
    _derived("edges2fashion", "fashion-mnist", edges, ("edges", "clothes"), "Sobel edge maps -> Fashion-MNIST"))
DATASETS.register("gray2emoji", "colourise: luminance -> the colour emoji, paired (offline)")(
    _derived("gray2emoji", "emoji", luminance, ("grey", "colour"), "luminance -> colour Noto emoji"))
DATASETS.register("sr-emoji", "super-resolution: Noto emoji; srgan shrinks them 4x (64 px from 16) itself")(
    _plain("sr-emoji", "emoji", "super-resolution"))
DATASETS.register("sr-fashion", "super-resolution: Fashion-MNIST; srgan shrinks it 4x (28 px from 7) itself")(
    _plain("sr-fashion", "fashion-mnist", "super-resolution"))
DATASETS.register("inpaint-emoji", "inpainting: Noto emoji; the inpaint family cuts random holes itself")(
    _plain("inpaint-emoji", "emoji", "inpainting"))
DATASETS.register("inpaint-fashion", "inpainting: Fashion-MNIST; the inpaint family cuts random holes itself")(
    _plain("inpaint-fashion", "fashion-mnist", "inpainting"))


def _canonical_index(ds: DataSource):
    from .emoji import canonical
    return {canonical(k): i for i, k in enumerate(ds.keys or [])}


@DATASETS.register("noto2emojione", "style -> style: the Noto glyph -> the EmojiOne drawing of the same code point")
def noto2emojione(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    _emoji_colour(cfg)

    def part(split):
        noto, one = _base("emoji", split, cfg), _base("emoji-one", split, cfg)
        a, b = _canonical_index(noto), _canonical_index(one)
        both = sorted(set(a) & set(b))
        ia, ib = torch.tensor([a[k] for k in both]), torch.tensor([b[k] for k in both])
        return DataSource("noto2emojione", one.x[ib], inputs=noto.x[ia], paired=True, domains=("Noto", "EmojiOne"),
                          keys=both, captions=[one.captions[i] for i in ib.tolist()] if one.captions else None,
                          labels=one.labels[ib] if one.labels is not None else None, class_names=one.class_names)
    return _split_pair(part, lambda train, test: (
        f"{len(train):,} code points drawn by both Noto and EmojiOne (CC-BY 4.0), paired; held out: {len(test):,} "
        "from the emoji sets' held-out code points"))


@DATASETS.register("noto<->emojione", "unpaired: Noto emoji (A) and EmojiOne emoji (B), not matched up")
def noto_emojione(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    _emoji_colour(cfg)

    def part(split):
        noto, one = _base("emoji", split, cfg), _base("emoji-one", split, cfg)
        return DataSource("noto<->emojione", one.x, inputs=noto.x, paired=False, domains=("Noto", "EmojiOne"))
    return _split_pair(part, lambda train, test: (
        f"unpaired: {len(train.inputs):,} Noto and {len(train):,} EmojiOne (CC-BY 4.0) emoji; held out: the emoji "
        "sets' held-out code points"))


@DATASETS.register("sneaker<->boot", "unpaired: Fashion-MNIST sneakers (A, class 7) and ankle boots (B, class 9)")
def sneaker_boot(cfg: DataConfig, arg=None, seed: int = 0) -> DataSource:
    def part(split):
        src = _base("fashion-mnist", split, cfg)
        return DataSource("sneaker<->boot", src.x[src.labels == BOOT], inputs=src.x[src.labels == SNEAKER],
                          paired=False, domains=("Sneaker", "Ankle boot"))
    return _split_pair(part, lambda train, test: (
        f"unpaired: {len(train.inputs):,} sneakers and {len(train):,} ankle boots from Fashion-MNIST's training "
        f"split; held out: {len(test.inputs):,} and {len(test):,} from its test split"))


# ---------------------------------------------------------------- the user's own: two folders

def pairs_of(ds: DataSource) -> DataSource:
    """A set with inputs and targets (a named pair set, as it is), or one read from two folders A and B
    (``folder:A,B``, or a folder or .zip holding ``A/`` and ``B/``): paired where every file name of A
    has one in B, else unpaired. The held-out part is split off here when the set has none."""
    if ds.inputs is not None:
        return ds
    if not ds.class_names or len(ds.class_names) != 2 or ds.keys is None:
        raise GanlabError(f"{ds.name} is not an image-to-image set: give a pair set (see `python -m ganlab list`), "
                          "or two folders of images, folder:A,B (a .zip holding A/ and B/ works too).")
    a_idx = torch.nonzero(ds.labels == 0).flatten().tolist()
    b_idx = torch.nonzero(ds.labels == 1).flatten().tolist()
    names = ds.class_names

    def stem(key: str) -> str:
        rest = key.split("/", 1)[-1]
        return rest.rsplit(".", 1)[0]

    a_names, b_names = {stem(ds.keys[i]): i for i in a_idx}, {stem(ds.keys[i]): i for i in b_idx}
    paired = len(a_names) > 0 and set(a_names) == set(b_names)
    if paired:
        order = sorted(a_names)
        train = [k for k in order if not _held(k)]
        test = [k for k in order if _held(k)] or order[-1:]
        if len(train) == 0:
            raise GanlabError("Two folders need at least two matching images to pair.")

        def part(keys):
            ia, ib = torch.tensor([a_names[k] for k in keys]), torch.tensor([b_names[k] for k in keys])
            return DataSource(ds.name, ds.x[ib], inputs=ds.x[ia], paired=True, domains=tuple(names), keys=keys)
        out, held = part(train), part(test)
        out.note = (f"{len(out):,} pairs matched by file name from {names[0]}/ and {names[1]}/; "
                    f"{len(held):,} held out (1 name in {HOLDOUT_EVERY}, by hash)")
    else:
        def split(idx):
            keep = [i for i in idx if not _held(ds.keys[i])]
            held = [i for i in idx if _held(ds.keys[i])] or idx[-1:]
            return keep or idx, held
        (a_tr, a_te), (b_tr, b_te) = split(a_idx), split(b_idx)
        out = DataSource(ds.name, ds.x[b_tr], inputs=ds.x[a_tr], paired=False, domains=tuple(names))
        held = DataSource(ds.name, ds.x[b_te], inputs=ds.x[a_te], paired=False, domains=tuple(names))
        out.note = (f"unpaired: {len(a_tr):,} images in {names[0]}/ and {len(b_tr):,} in {names[1]}/ (the file "
                    f"names do not match up); {len(a_te) + len(b_te):,} held out")
    out.test = held
    out.skipped = ds.skipped
    return out


def held_out_of(ds: DataSource, cfg: Optional[DataConfig] = None) -> DataSource:
    """The set with its held-out part: its own, its source's test split, or a fixed 10% (by hash) split off
    here (then the copy returned keeps the other 90%). For the families that need only images (srgan, inpaint)."""
    if ds.test is not None:
        return ds
    import dataclasses
    ds = dataclasses.replace(ds)                 # a copy: the loaded set may be shared by other runs
    from .images import SPLIT_SETS
    if ds.name in SPLIT_SETS:
        ds.test = _base(ds.name, "test", cfg or DataConfig(name=ds.name))
        return ds
    keys = ds.keys or [str(i) for i in range(len(ds))]
    held = torch.tensor([_held(k) for k in keys])
    if held.all() or not held.any():
        held = torch.zeros(len(ds), dtype=torch.bool)
        held[-max(1, len(ds) // HOLDOUT_EVERY):] = True
    if len(ds) < 2:
        raise GanlabError(f"{ds.name} has {len(ds)} image; an image-to-image model needs at least two "
                          "(one is held out to show how it does on unseen input).")
    test = DataSource(ds.name, ds.x[held], keys=[k for k, h in zip(keys, held.tolist()) if h])
    ds.x = ds.x[~held]
    ds.keys = [k for k, h in zip(keys, held.tolist()) if not h]
    if ds.labels is not None:
        ds.labels = ds.labels[~held]
    ds.captions, ds.attributes, ds.attribute_names = None, {}, {}
    ds.note += f"; {int(held.sum()):,} images held out (1 in {HOLDOUT_EVERY}, by hash)"
    ds.test = test
    return ds
