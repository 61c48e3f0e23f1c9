"""Memory budget: the bytes a run will need, worked out before anything is allocated.

    est = estimate_run(cfg)                    # Estimate: data, params, optimizer, activations, eval
    est.describe()                             # "about 1.2 GB (data 188 MB, nets 14 MB, ...)"
    check_fits(cfg, parse_budget("8GB"))       # the estimate, or GanlabError naming a batch that fits

How. The training set's size comes from its name and its files, never its pixels
(:func:`dataset_shape`, in sets.py). The nets are built on torch's meta device and one training
step runs there under a dispatch mode that plays allocator (meta.py), so ``activations`` is the
step's peak of live bytes. measure.py runs the real thing in a child process, to check this.

Sizes are in powers of 1024 (GB = 2**30), as for the server's other size options. The figures
are for the CPU, checked there by tests/test_budget.py and bench/memory_estimate.py; on CUDA the
same tensors sit in GPU memory (the set is kept in host RAM as well), and neither the CUDA context
nor cuDNN's workspace is counted.
"""
from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Tuple

import torch

from ..config import RunConfig
from ..errors import GanlabError
from .measure import measure_peak  # noqa: F401
from .meta import META, _meta_trainer, _net_bytes, _state_bytes, _step_bytes  # noqa: F401
from .sets import TOYS, _pixels, _Set, _set_info, dataset_shape  # noqa: F401

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
SENTENCE_MODEL = 90 * 2**20     # MiniLM-L6 text encoder (87 MB of float32 weights), for the captions
BATCH_LADDER = sorted({m * 2**k for m in (1, 3) for k in range(20)})   # 1, 2, 3, 4, 6, 8, 12, 16, 24, ...
COUNT_LADDER = [100_000, 50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500, 200, 100, 50, 20, 10]
RESOLUTIONS = [512, 256, 128, 64, 32, 28, 16, 8]


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
