"""One training step on torch's meta device, counted by a dispatch mode that plays allocator (for the budget).

The nets are built on the meta device, which has shapes but no storage, and the trainer's own ``step()`` runs
on meta tensors under :class:`_Allocator`: it notes every storage the step creates and when it dies, so the
step's peak of live bytes includes the double backward of the penalties, the mode-seeking pairs and the
optimiser's temporaries. Dispatch modes are thread-local, so runs training on other threads are untouched.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..config import RunConfig
from ..errors import GanlabError
from .sets import _Set

META = torch.device("meta")


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
    from ..losses import get_loss
    from ..nets import MODELS
    from ..style import trainer as _style  # noqa: F401  (registers the family trainers, as make_trainer does)
    from ..text import trainer as _text  # noqa: F401
    from ..trainer import TRAINERS, Trainer, make_optimizer
    from ..translate import trainer as _translate  # noqa: F401
    t, m = cfg.train, cfg.model
    cls = TRAINERS.get(m.name) if m.name in TRAINERS else Trainer
    tr = cls.__new__(cls)
    tr.cfg, tr.loss, tr.device, tr.gen = cfg, get_loss(t.loss), META, torch.Generator()
    tr.step_count, tr.n_critic = 0, 1                    # every D step peaks alike: one is enough
    tr.memory_format, tr.bf16 = None, False              # fp32 and NCHW: bf16 would only need less
    if m.factorised:
        m.class_factors = s.factors
    with torch.random.fork_rng(devices=[]), META:
        if m.name == "text-gan":
            _text_parts(tr, cfg, s)
        if m.in_channels is None and s.in_channels:
            m.in_channels = s.in_channels
        tr.G, tr.D = MODELS.get(m.name)(m, s.shape, num_classes=s.classes)
        tr.num_classes = getattr(tr.G, "num_classes", 0)
        tr.G_ema = copy.deepcopy(tr.G).eval().requires_grad_(False) if t.ema > 0 else None
        tr.x = torch.empty(s.items, *s.shape)
        tr.y = torch.zeros(s.items, dtype=torch.long) if tr.num_classes else None
        tr.meta_parts(s)                                 # a family's own tensors (image-to-image: the inputs)
    tr.opt_g = make_optimizer(t.optimizer, tr.G, t.lr_g, t)
    tr.opt_d = make_optimizer(t.optimizer, tr.D, t.lr_d, t)
    tr.step_count = cls.peak_step(cfg, s.shape)                   # where the family's step costs most (progan: grown)
    with _Allocator():
        tr.step()                                        # warm: gradients and optimiser state now exist
    return tr


def _text_parts(tr, cfg: RunConfig, s: _Set) -> None:
    """text-gan's embedder (weights not read) and its conditions (see TextGANTrainer.__init__)."""
    from ..text.embedders import MODELS_DIR, MiniLMEmbedder
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
