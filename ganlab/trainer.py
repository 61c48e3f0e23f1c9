"""One GAN training step at a time: no threads, no UI, no files.

    trainer = Trainer(cfg)              # builds data, nets, optimisers
    metrics = trainer.step()            # n_critic D steps, then one G step
    images = trainer.sample()           # fixed-noise samples from G (or its EMA)

Every random draw after construction (batches, noise, labels, interpolates,
augmentations) comes from ``trainer.gen``, a CPU generator seeded from the
config, so a run is deterministic on CPU and a checkpoint that stores
``gen``'s state resumes it exactly. The engine owns the loop; tests and the
CLI drive it directly.

Class-conditioned families (``G.num_classes > 0``) get the real batch's labels
for D and uniformly drawn labels for G's batch; the fixed samples hold one
row per class.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import shutil
import time
from typing import Dict, Optional

import torch
from torch import nn

from .augment import augment
from .config import OPTIMIZERS, RunConfig
from .data import DataSource, load_dataset
from .distributed import SOLO, current, parallelise, routed
from .errors import GanlabError
from .losses import CLASS_LOSSES, get_loss, gradient_penalty, mode_seeking, r1_penalty
from .nets import MODELS
from .registry import Registry

log = logging.getLogger(__name__)

# Families whose training step differs from the plain GAN's register a Trainer subclass here
# (model name -> class); make_trainer picks it.
TRAINERS: Registry = Registry("trainer")
GRID_CLASSES = 32         # a conditional run's sample grid has a row for at most this many classes


def grid_classes(num_classes: int, k: int = GRID_CLASSES) -> torch.Tensor:
    """Which classes a grid shows: all of them, or k spread evenly from the first to the last."""
    return torch.linspace(0, num_classes - 1, min(num_classes, k)).round().long()


def configure_threads(n: Optional[int] = None) -> int:
    """Set torch's CPU thread count from ``n`` or $GANLAB_TORCH_THREADS; returns the count in use.

    Unset means torch's own default (one thread per core).
    """
    value = n if n is not None else os.environ.get("GANLAB_TORCH_THREADS", "").strip()
    if value not in ("", None):
        try:
            count = int(value)
        except ValueError:
            raise GanlabError(f"GANLAB_TORCH_THREADS must be a whole number (got {value!r}).") from None
        if count < 1:
            raise GanlabError(f"The torch thread count must be at least 1 (got {count}).")
        torch.set_num_threads(count)
    return torch.get_num_threads()


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present, then Apple's MPS, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanlabError("CUDA was asked for but no CUDA GPU is visible; use --device auto or cpu.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GanlabError("MPS was asked for but is not available here; use --device auto or cpu.")
    return torch.device(name)


def draw_noise(n: int, z_dim: int, dist: str, gen: torch.Generator) -> torch.Tensor:
    """[n, z_dim] noise: standard normal, or uniform in [-1, 1]."""
    if dist == "uniform":
        return torch.rand(n, z_dim, generator=gen) * 2 - 1
    return torch.randn(n, z_dim, generator=gen)


def make_optimizer(name: str, net: nn.Module, lr: float, t, device: Optional[torch.device] = None
                   ) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(net.parameters(), lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(net.parameters(), lr=lr)
    # on CUDA the fused kernel updates every tensor in one launch; elsewhere foreach (the CPU's default)
    fused = device is not None and device.type == "cuda"
    return torch.optim.Adam(net.parameters(), lr=lr, betas=(t.beta1, t.beta2), fused=fused or None)


def _grad_norm(module: nn.Module) -> torch.Tensor:
    """The norm of all of ``module``'s gradients as one vector, a 0-d tensor (no copy of the gradients)."""
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float())


def _fp32(out):
    """A net's output (a tensor, or a tuple of them) in float32, for the losses."""
    if isinstance(out, tuple):
        return tuple(_fp32(o) for o in out)
    return out.float() if isinstance(out, torch.Tensor) else out


def use_bf16(precision: str, device: torch.device) -> bool:
    """Whether the training passes autocast to bfloat16: asked for, or "auto" on a CUDA GPU that has it."""
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16":
        if device.type == "cuda" and not cuda_bf16:
            raise GanlabError("This GPU has no bfloat16; use --precision fp32.")
        if device.type not in ("cuda", "cpu"):
            raise GanlabError(f"bf16 autocast runs on CUDA or the CPU, not on {device.type}; use --precision fp32.")
        if device.type == "cpu" and not native_bf16_cpu():
            log.warning("This CPU has no native bfloat16 (AVX-512 BF16 or AMX), so bf16 is emulated: on an "
                        "AVX2-only 2-core EPYC it ran 15x slower than fp32 (0.5 against 7.5 steps/s); "
                        "use --precision fp32.")
        return True
    return precision == "auto" and cuda_bf16


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), read from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def check_compiler() -> None:
    """torch.compile writes C++ (CPU) or Triton (CUDA) kernels; on the CPU without a compiler it would fail at
    the first step, so say so before training starts."""
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++", "c++")):
        raise GanlabError("--compile needs a C++ compiler (g++ or clang++) for torch.compile's kernels and none "
                          "was found; install one (apt-get install g++) or train without --compile.")


class Trainer:
    R1_EVERY = 1              # lazy R1's default interval for the family (TrainConfig.r1_every overrides)
    CHANNELS_LAST = True      # channels_last=None turns NHWC on for this family's image nets (measured faster
                              # for DCGAN-style convs; families whose nets reshape features opt out)
    defer_metrics = False     # step() returns 0-d tensors, not floats: no device sync per step (the engine
                              # turns them into numbers once per logged row)
    # Data-parallel (ganlab.distributed): this process's place among the ranks, and the DDP wrappers that
    # the passes whose gradients must be averaged go through; alone, SOLO and None.
    world = SOLO
    _ddp_G: Optional[nn.Module] = None
    _ddp_D: Optional[nn.Module] = None

    def __init__(self, cfg: RunConfig, data: Optional[DataSource] = None):
        self.cfg = cfg.validate()
        t = cfg.train
        self.data = data if data is not None else load_dataset(cfg.data, seed=t.seed)
        if t.batch_size > len(self.data):
            raise GanlabError(f"The batch size {t.batch_size} is larger than the dataset "
                              f"({len(self.data)} items); use at most {len(self.data)}.")
        self.loss = get_loss(t.loss)
        self.device = pick_device(t.device)
        if cfg.model.factorised:                       # the label's parts, for factorised class tables
            cfg.model.class_factors = self.data.label_factors
        with torch.random.fork_rng(devices=[]):        # seeded init without touching the caller's RNG
            torch.manual_seed(t.seed)
            self.G, self.D = MODELS.get(cfg.model.name)(cfg.model, self.data.sample_shape,
                                                        num_classes=self.data.num_classes)
        self.num_classes = getattr(self.G, "num_classes", 0)
        if self.num_classes and self.data.labels is None:
            raise GanlabError(f"{cfg.model.name} is class-conditioned but {self.data.name} has no labels.")
        self.bf16 = use_bf16(t.precision, self.device)
        convs = any(isinstance(m, nn.modules.conv._ConvNd) for m in self.D.modules())
        cl = t.channels_last if t.channels_last is not None else self.CHANNELS_LAST and convs
        self.memory_format = torch.channels_last if cl and len(self.data.sample_shape) == 3 else None
        self.G.to(self.device, memory_format=self.memory_format or torch.preserve_format)
        self.D.to(self.device, memory_format=self.memory_format or torch.preserve_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if t.ema > 0 else None
        self.opt_g = make_optimizer(t.optimizer, self.G, t.lr_g, t, self.device)
        self.opt_d = make_optimizer(t.optimizer, self.D, t.lr_d, t, self.device)
        self.x = self._nhwc(self.data.x.to(self.device))   # [N, *sample_shape], the whole set in memory
        self.y = self.data.labels.to(self.device) if self.num_classes else None     # [N]
        self.gen = torch.Generator().manual_seed(t.seed + 1)
        n, self.sample_nrow, self.fixed_y = t.n_samples, None, None
        if self.num_classes:                           # one row per class, the same noise in every row
            # many classes (shape+colour+size+position: 648): rows for GRID_CLASSES spread over them, or the
            # live grid, redrawn every few seconds, would cost more than training
            shown = grid_classes(self.num_classes)
            self.sample_nrow = max(4, t.n_samples // len(shown))
            self.fixed_y = shown.repeat_interleave(self.sample_nrow)
        z = draw_noise(self.sample_nrow if self.num_classes else n, self.G.z_dim, cfg.model.z_dist,
                       torch.Generator().manual_seed(t.seed + 2))
        self.fixed_z = z.repeat(len(self.fixed_y) // self.sample_nrow, 1) if self.num_classes else z
        self.step_count = 0                            # generator steps taken
        self.n_critic = t.n_critic
        self.world = current()
        if self.world.parallel:                        # every random draw below is for the world's batch
            self._ddp_G, self._ddp_D = parallelise(self, self.world)
        if t.compile:                                  # in place: state_dict keys and checkpoints unchanged
            check_compiler()
            for net in (self.G, self.D):
                net.compile()

    # ---- live knobs -------------------------------------------------------
    def set_lr(self, lr_g: Optional[float] = None, lr_d: Optional[float] = None) -> None:
        for lr, opt, name in ((lr_g, self.opt_g, "lr_g"), (lr_d, self.opt_d, "lr_d")):
            if lr is None:
                continue
            if not lr > 0:
                raise GanlabError(f"The learning rate {name} must be greater than 0 (got {lr}).")
            for group in opt.param_groups:
                group["lr"] = float(lr)

    def set_optimizer(self, name: str) -> None:
        """Swap both optimisers (fresh state, same learning rates)."""
        t = self.cfg.train
        if name not in OPTIMIZERS:
            raise GanlabError(f"Unknown optimizer {name!r}; use one of: {', '.join(OPTIMIZERS)}.")
        lr_g, lr_d = self.lr_g, self.lr_d
        t.optimizer = name
        self.opt_g = make_optimizer(name, self.G, lr_g, t)
        self.opt_d = make_optimizer(name, self.D, lr_d, t)

    def set_loss(self, name: str) -> None:
        self.loss = get_loss(name)
        self.cfg.train.loss = name

    def set_n_critic(self, n: int) -> None:
        if int(n) < 1:
            raise GanlabError(f"n_critic (D steps per G step) must be at least 1 (got {n}).")
        self.n_critic = int(n)

    @property
    def lr_g(self) -> float:
        return self.opt_g.param_groups[0]["lr"]

    @property
    def lr_d(self) -> float:
        return self.opt_d.param_groups[0]["lr"]

    # ---- random draws, all from self.gen ------------------------------------
    # Data-parallel, ``n`` is this rank's rows: each draw is made for the world's batch (n * ranks rows,
    # as one process would draw it) and world.mine keeps this rank's, so every rank's gen stays in step.
    def _z(self, n: int) -> torch.Tensor:
        z = draw_noise(n * self.world.size, self.G.z_dim, self.cfg.model.z_dist, self.gen)
        return self.world.mine(z).to(self.device)

    def _real_batch(self):
        """(images, labels or None) of a random batch (this rank's share of it)."""
        idx = torch.randint(len(self.x), (self.cfg.train.batch_size,), generator=self.gen)
        idx = self.world.mine(idx).to(self.device)
        return self._nhwc(self.x[idx]), (self.y[idx] if self.y is not None else None)

    def _nhwc(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the nets' memory format (channels_last or as it is)."""
        return x.contiguous(memory_format=self.memory_format) if self.memory_format and x.dim() == 4 else x

    def _amp(self):
        """The context of a training pass: bfloat16 autocast, or nothing (fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def _num(self, value):
        """A metric as a float, or as a detached 0-d tensor when the caller reads them later (no sync now)."""
        if not isinstance(value, torch.Tensor):
            return value
        return value.detach() if self.defer_metrics else value.item()

    def _labels(self, n: int) -> Optional[torch.Tensor]:
        """Classes for G's batch: uniform over the classes (None when unconditional)."""
        if not self.num_classes:
            return None
        y = torch.randint(self.num_classes, (n * self.world.size,), generator=self.gen)
        return self.world.mine(y).to(self.device)

    def _G(self, z: torch.Tensor, y: Optional[torch.Tensor], G: Optional[nn.Module] = None) -> torch.Tensor:
        """G's images for ``z`` (and classes ``y``); with no ``G`` given this is a training pass (autocast)."""
        if G is not None:                              # sampling: a given net, full precision
            return G(z, y) if self.num_classes else G(z)
        G = routed(self.G, self._ddp_G)                # its DDP wrapper when this pass trains G
        with self._amp():
            return G(z, y) if self.num_classes else G(z)

    def _D(self, x: torch.Tensor, y: Optional[torch.Tensor], classify: bool = True):
        """D's logits [B] and its class loss (the classifier-based families: ACGAN, ReACGAN), or None
        (for other families, or with ``classify=False``).

        D sees the batch through the configured augmentation (DiffAugment), the
        same for real and fake, so G is never taught to make augmented images.
        """
        x = augment(x, self.cfg.train.augment, self.gen, (self.world.rank, self.world.size))
        D = routed(self.D, self._ddp_D)                # its DDP wrapper in D's step, itself in G's
        with self._amp():
            out = D(x, y) if self.num_classes else D(x)
        if isinstance(out, tuple):                     # (adversarial logits, class output); losses in fp32
            logits, classes = out
            return logits.float(), CLASS_LOSSES[self.D.class_loss](_fp32(classes), y) if classify else None
        return out.float(), None

    def _noisy(self, x: torch.Tensor) -> torch.Tensor:
        # instance noise (Sønderby et al. 2016), annealed linearly to zero over the run
        t = self.cfg.train
        sigma = t.instance_noise * max(0.0, 1.0 - self.step_count / max(t.steps, 1))
        if sigma == 0:
            return x
        noise = torch.randn((len(x) * self.world.size, *x.shape[1:]), generator=self.gen)
        return x + sigma * self.world.mine(noise).to(self.device)

    # ---- the steps ----------------------------------------------------------
    def step_d(self) -> Dict[str, float]:
        """One discriminator update on a real batch and a fresh fake batch."""
        return self._step_d(keep=False)[0]

    def _step_d(self, keep: bool):
        """D's update; with ``keep``, G's pass keeps its graph and (fake, classes) is returned for G's step
        to reuse (one G forward per step, as pytorch/examples' DCGAN), else None."""
        t, spec = self.cfg.train, self.loss
        real, y_real = self._real_batch()
        y_fake = self._labels(len(real))
        z = self._z(len(real))
        if keep:
            made = (self._G(z, y_fake), y_fake)
            fake = made[0].detach()
        else:
            made = None
            with torch.no_grad():
                fake = self._G(z, y_fake)
        real, fake = self._noisy(real), self._noisy(fake)
        if self._r1_now():
            real.requires_grad_(True)
        d_real, aux_real = self._D(real, y_real)
        d_fake, aux_fake = self._D(fake, y_fake, classify=getattr(self.D, "classify_fakes", False))
        loss = spec.d(d_real, d_fake, t.label_smoothing)
        out = {}
        if aux_real is not None:                       # D learns the classes of real (and for ACGAN, fake) images
            parts = [aux_real] if aux_fake is None else [aux_real, aux_fake]
            loss = loss + sum(parts)
            out["class_loss_d"] = self._num(sum(parts).detach() / len(parts))
        loss = self._penalise_d(loss, out, d_real, real, fake, lambda x: self._D(x, y_real)[0])
        return self._update_d(loss, out, d_real, d_fake), made

    def _penalise_d(self, loss, out: Dict[str, float], d_real, real, fake, critic) -> torch.Tensor:
        """D's loss plus R1 and the gradient penalty where the config asks for them (``critic(x)``: D's logits)."""
        t = self.cfg.train
        if self._r1_now():                             # R1 (Mescheder et al. 2018): keep D flat on real data
            r1 = r1_penalty(d_real, real)
            loss = loss + 0.5 * t.r1 * self.r1_every * r1
            out["r1"] = self._num(r1)
        if self.loss.gradient_penalty:
            alpha = self.world.mine(torch.rand(len(real) * self.world.size, generator=self.gen)).to(self.device)
            gp = gradient_penalty(critic, real.detach(), fake, alpha)
            loss = loss + t.gp_weight * gp
            out["gp"] = self._num(gp)
        return loss

    def status_note(self) -> Optional[str]:
        """A family's own line for the Train tab's status (progan: resolution and fade-in), or None."""
        return None

    @classmethod
    def peak_step(cls, cfg: RunConfig, sample_shape) -> int:
        """A step at which one training step needs the most memory (the budget estimate runs that one)."""
        return 0

    def meta_parts(self, s) -> None:
        """The budget's meta-device trainer skips __init__ (ganlab.budget.meta): a family that keeps tensors of
        its own (image-to-image: the inputs) makes them here, from the set's size ``s``, on the meta device."""

    @property
    def r1_every(self) -> int:
        return self.cfg.train.r1_every or self.R1_EVERY

    def _r1_now(self) -> bool:
        # Lazy regularisation (Karras et al. 2020): R1 on one step in r1_every, weighted r1_every times,
        # costs a fraction of the double backward and, they found, trains as well.
        return self.cfg.train.r1 > 0 and self.step_count % self.r1_every == 0

    def _update_d(self, loss, out: Dict[str, float], d_real, d_fake) -> Dict[str, float]:
        """Backward, step (and clip, for WGAN) D; the metrics every D step reports."""
        spec = self.loss
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = _grad_norm(self.D)
        self.opt_d.step()
        if spec.clip_weights:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-self.cfg.train.clip, self.cfg.train.clip)
        show = torch.sigmoid if spec.probability else (lambda v: v)
        out.update(loss_d=self._num(loss), d_real=self._num(show(d_real.detach()).mean()),
                   d_fake=self._num(show(d_fake.detach()).mean()), grad_norm_d=self._num(grad_norm))
        return out

    def step_g(self) -> Dict[str, float]:
        """One generator update against the current discriminator."""
        return self._step_g(None)

    def _step_g(self, made) -> Dict[str, float]:
        """G's update on ``made`` (the D step's (fake, classes), G's graph kept), or on a fresh batch."""
        self.D.requires_grad_(False)                   # no D grads needed; saves the backward through D's weights
        try:
            # this rank's rows of the batch (all of it alone); the draws below are for the world's batch
            n, weight = self.cfg.train.batch_size // self.world.size, self.cfg.train.diversity
            if made is not None:
                (fake, y), z = made, None
            else:
                half = n // 2
                y = self._labels(half if weight > 0 else n)
                if weight > 0 and y is not None:       # pairs: two noises for each class asked for
                    y = torch.cat([y, y])
                z = self._z(2 * half if weight > 0 else n)
                fake = self._G(z, y)
            d_fake, aux = self._D(self._noisy(fake), y)
            loss = self.loss.g(d_fake)
            if aux is not None:                        # G is rewarded for the class it was asked for
                loss = loss + aux
            out: Dict[str, float] = {}
            loss = self._seek_modes(loss, out, fake, z)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        return self._update_g(loss, out)

    def _seek_modes(self, loss, out: Dict[str, float], fake, z) -> torch.Tensor:
        """With ``diversity`` > 0 the batch is pairs (halves share their conditions): add MSGAN's term."""
        weight = self.cfg.train.diversity
        if weight <= 0:
            return loss
        half = len(z) // 2
        ms = mode_seeking(fake[:half], fake[half:], z[:half], z[half:])
        out["mode_seeking"] = self._num(ms)
        return loss + weight * ms

    def _update_g(self, loss, out: Dict[str, float]) -> Dict[str, float]:
        """Step G (its gradients are in place), update the EMA; the metrics every G step reports."""
        grad_norm = _grad_norm(self.G)
        self.opt_g.step()
        self._update_ema()
        out.update(loss_g=self._num(loss), grad_norm_g=self._num(grad_norm))
        return out

    def _reuses_fakes(self) -> bool:
        """Whether G's step can train on the last D step's fakes: the family runs the plain steps, and G's
        batch is not MSGAN's pairs (which need their own noise)."""
        plain = type(self).step_d is Trainer.step_d and type(self).step_g is Trainer.step_g
        return plain and self.cfg.train.diversity <= 0

    def step(self) -> Dict[str, float]:
        """n_critic D steps then one G step; returns the step's metrics."""
        t0 = time.perf_counter()
        if self._reuses_fakes():
            for i in range(self.n_critic):
                m, made = self._step_d(keep=i == self.n_critic - 1)
            m.update(self._step_g(made))
        else:
            for _ in range(self.n_critic):
                m = self.step_d()
            m.update(self.step_g())
        self.step_count += 1
        m.update(step=self.step_count, lr_g=self.lr_g, lr_d=self.lr_d, n_critic=self.n_critic,
                 images=self.cfg.train.batch_size * self.n_critic,   # real images shown to D
                 seconds=time.perf_counter() - t0)
        return m

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        # Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the average
        # follows G closely, so a short run's EMA samples are not mostly the random initial weights
        # (0.999 ** 2000 is still 14%).
        n = self.step_count
        decay = min(self.cfg.train.ema, (1.0 + n) / (10.0 + n))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):   # BatchNorm statistics
            b_ema.copy_(b)

    # ---- sampling -------------------------------------------------------------
    @torch.no_grad()
    def sample(self, z: Optional[torch.Tensor] = None, use_ema: bool = True,
               y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """G (or its EMA) in eval mode on ``z`` (default: the run's fixed noise and classes); CPU tensor.

        A conditional G given ``z`` but no ``y`` draws classes round-robin.
        """
        G = self.G_ema if (use_ema and self.G_ema is not None) else self.G
        if z is None:
            z, y = self.fixed_z, self.fixed_y
        elif self.num_classes and y is None:
            y = torch.arange(len(z)) % self.num_classes
        was_training = G.training
        G.eval()
        try:
            out = self._G(z.to(self.device), y.to(self.device) if y is not None else None, G)
        finally:
            G.train(was_training)
        return out.cpu().contiguous()


def make_trainer(cfg: RunConfig, data: Optional[DataSource] = None) -> Trainer:
    """The Trainer for ``cfg``'s model family: a registered subclass, or the plain one."""
    from .style import trainer as _style  # noqa: F401  (registers the stylegan and progan trainers)
    from .text import trainer as _text  # noqa: F401  (registers the text-gan trainer)
    from .translate import trainer as _translate  # noqa: F401  (registers the image-to-image trainers)
    cls = TRAINERS.get(cfg.model.name) if cfg.model.name in TRAINERS else Trainer
    return cls(cfg, data)
