"""Data-parallel training over torch.distributed: one run, several processes, the same steps.

    torchrun --nproc_per_node 2 -m ganlab train --data ring --model mlp --out runs/ring2

    world = join("auto")          # in each process torchrun started: the process group, this rank's GPU
    world.size, world.rank, world.is_main
    trainer = make_trainer(cfg)   # sees current(): SyncBatchNorm, DDP wrappers (parallelise below)
    world.close()

How a step stays the single-process step. Every rank keeps the same seeded
``trainer.gen`` and draws what the whole world's batch needs (its indices, its
noise, its labels, its augmentations), then keeps its own rows
(``world.mine``): rank r of R takes rows [r*B/R, (r+1)*B/R) of the global batch
of B = ``--batch-size``. So the ranks together see exactly the batch one
process would, their generators never drift apart (a checkpoint resumes with
any number of ranks), BatchNorm's statistics are the global batch's
(SyncBatchNorm), and DDP's average of the ranks' gradients of their mean losses
is the gradient of the global mean loss. Parameters stay identical on every
rank, and equal a one-process run's up to float rounding.

NCCL carries the collectives on CUDA (rank i on cuda:LOCAL_RANK), gloo on the
CPU. torch's SyncBatchNorm is CUDA-only, so CPU ranks use WorldBatchNorm below,
which all-reduces the per-channel sums itself.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

from .errors import GanlabError

# metrics that are the same on every rank or describe the step, not the batch: never averaged
NOT_AVERAGED = ("step", "lr_g", "lr_d", "n_critic", "images", "seconds")


@dataclass(frozen=True)
class World:
    """The processes training one run: ``size`` of them, this one is ``rank`` (``local_rank`` on its machine)."""
    size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run folder, prints and evaluates."""
        return self.rank == 0

    def share(self, batch: int) -> int:
        """Rows of a global batch of ``batch`` this rank trains on; GanlabError unless it divides evenly."""
        if batch % self.size:
            lower, upper = batch - batch % self.size, batch + self.size - batch % self.size
            near = f"{lower} or {upper}" if lower else f"{upper}"
            raise GanlabError(f"The batch size {batch} does not divide among {self.size} processes; "
                              f"--batch-size is the global batch, so use a multiple of {self.size} such as {near}.")
        return batch // self.size

    def mine(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a draw for the whole world's batch: [R * b, ...] -> [b, ...]."""
        if not self.parallel:
            return t
        b = len(t) // self.size
        return t[self.rank * b:(self.rank + 1) * b]

    def average(self, metrics: Dict[str, Any], as_tensors: bool = False) -> Dict[str, Any]:
        """The world's mean of each per-batch metric (one all-reduce), so every rank sees the same numbers
        and takes the same decisions (a NaN rollback on one rank alone would leave the others waiting).

        ``as_tensors`` gives 0-d tensors on the device, as the trainer's deferred metrics are: no host sync.
        """
        if not self.parallel:
            return metrics
        keys = sorted(k for k in metrics if k not in NOT_AVERAGED)
        if not keys:
            return metrics
        device = _collective_device()
        values = torch.stack([torch.as_tensor(metrics[k]).detach().to(device, torch.float64) for k in keys])
        dist.all_reduce(values)                         # [K] sums over ranks; NaN anywhere stays NaN
        values = values / self.size
        out = dict(metrics)
        out.update(zip(keys, values.unbind() if as_tensors else values.tolist()))
        return out

    def agree(self, ok: bool) -> bool:
        """True when every rank says ``ok`` (a rank that could not build its run must stop the others too)."""
        if not self.parallel:
            return ok
        flag = torch.tensor([0.0 if ok else 1.0], device=_collective_device())
        dist.all_reduce(flag)
        return flag.item() == 0

    def close(self) -> None:
        if self.parallel and dist.is_initialized():
            dist.destroy_process_group()


SOLO = World()


def _collective_device() -> torch.device:
    # NCCL carries only CUDA tensors; gloo takes CPU ones
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def launched() -> bool:
    """Whether torchrun (or a launcher like it) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current() -> World:
    """The world this process trains in: torch.distributed's process group, or SOLO when there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        return SOLO
    return World(dist.get_world_size(), dist.get_rank(), int(os.environ.get("LOCAL_RANK", "0")))


def join(device: str = "auto") -> World:
    """Join torchrun's process group (NCCL for CUDA, gloo for the CPU); SOLO when started alone.

    ``device`` is the run's --device: in a data-parallel run "cuda" means this
    machine's GPU number LOCAL_RANK, which becomes the current CUDA device.
    """
    if not launched():
        return SOLO
    if dist.is_initialized():
        return current()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if device == "mps":
        raise GanlabError("Data-parallel training runs on CUDA GPUs or on the CPU, not on MPS; "
                          "use --device cuda or cpu.")
    if cuda:
        if ":" in device:
            raise GanlabError(f"In a data-parallel run each process uses the GPU of its local rank; "
                              f"use --device cuda (or auto), not {device}.")
        if not torch.cuda.is_available():
            raise GanlabError("CUDA was asked for but no CUDA GPU is visible; use --device cpu for gloo.")
        if local >= torch.cuda.device_count():
            raise GanlabError(f"This machine has {torch.cuda.device_count()} GPUs but torchrun started a "
                              f"process for GPU {local}; use --nproc_per_node {torch.cuda.device_count()} "
                              "or fewer.")
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if cuda else "gloo")
    return current()


# ---- the trainer's side ----------------------------------------------------------------------------
def check_supported(trainer) -> None:
    """One sentence for what a data-parallel step cannot yet reproduce exactly."""
    from .trainer import Trainer
    cfg = trainer.cfg
    if type(trainer) is not Trainer:                 # stylegan, progan, text-gan, image-to-image
        raise GanlabError(f"{cfg.model.name} is not supported data-parallel yet; run it in one process.")
    if cfg.model.minibatch_std:                      # its std is over the batch, which a rank sees only part of
        raise GanlabError("--minibatch-std is not supported data-parallel yet; run it in one process.")
    if cfg.train.diversity > 0:                      # mode seeking pairs the two halves of the batch
        raise GanlabError("--diversity (mode seeking) is not supported data-parallel yet; run it in one process.")
    if getattr(cfg.train, "compile", False):         # compiled nets inside DDP's wrappers are untested here
        raise GanlabError("--compile is not supported data-parallel yet; leave it out or run in one process.")


def parallelise(trainer, world: World) -> Tuple[nn.Module, nn.Module]:
    """Give ``trainer``'s G and D world-wide BatchNorm statistics in place; return their DDP wrappers.

    The trainer keeps using its plain G and D for everything that must not be
    averaged (sampling, EMA, checkpoints, a pass of a frozen net); only the
    passes whose backward puts gradients into a net's weights go through its wrapper.
    """
    check_supported(trainer)
    world.share(trainer.cfg.train.batch_size)
    cuda = trainer.device.type == "cuda"
    for net in (trainer.G, trainer.D):
        _sync_batchnorm(net, cuda)
    # no buffer sync before each forward: BatchNorm's statistics are already the world's, and the spectral-norm
    # vectors follow identical weights; a broadcast would only cost a collective per forward
    ids = [world.local_rank] if cuda else None
    return tuple(DistributedDataParallel(net, device_ids=ids, forward_sync_buffers=False)
                 for net in (trainer.G, trainer.D))


def _sync_batchnorm(net: nn.Module, cuda: bool) -> None:
    """Replace every BatchNorm in ``net`` by one that normalises with the world's batch (same parameters)."""
    for name, child in list(net.named_children()):
        if isinstance(child, _BatchNorm) and not isinstance(child, (nn.SyncBatchNorm, WorldBatchNorm)):
            swap = nn.SyncBatchNorm if cuda else WorldBatchNorm
            setattr(net, name, _rebuild(child, swap))
        else:
            _sync_batchnorm(child, cuda)


def _rebuild(bn: _BatchNorm, cls) -> nn.Module:
    new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    if bn.affine:                                    # the same Parameter objects: the optimiser still holds them
        new.weight, new.bias = bn.weight, bn.bias
    new.running_mean, new.running_var = bn.running_mean, bn.running_var
    new.num_batches_tracked = bn.num_batches_tracked
    return new.train(bn.training)


class WorldSum(torch.autograd.Function):
    """The sum of a tensor over the ranks, differentiable: each rank's loss depends on every rank's
    part, so the gradient of a part is the sum over the ranks of the gradients of the total."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class WorldBatchNorm(_BatchNorm):
    """BatchNorm over [B, C, ...] whose training statistics are the whole world's batch, for CPU ranks.

    The per-channel sum, then the sum of squared deviations, are all-reduced
    by WorldSum (its backward all-reduces the gradient), so the
    gradient is the single-process one too. Outside training, or alone, it is
    plain BatchNorm; its state dict is BatchNorm's.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"BatchNorm expects [B, C, ...] input, got {x.dim()} dimensions")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dtype, x = x.dtype, x.float()                               # sums in float32, also under bf16 autocast
        dims = [0] + list(range(2, x.dim()))                        # every axis but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)                       # [1, C, 1, 1] for maps, [1, C] for vectors
        # values per channel in the whole world (every rank holds the same share of the batch)
        count = float(x.numel() // x.shape[1] * dist.get_world_size())
        mean = WorldSum.apply(x.sum(dims)) / count                  # [C]
        centred = x - mean.view(shape)
        var = WorldSum.apply(centred.pow(2).sum(dims)) / count      # [C], biased as BatchNorm's
        if self.track_running_stats:
            self._track(mean.detach(), var.detach(), count)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(dtype)

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, var: torch.Tensor, count: float) -> None:
        self.num_batches_tracked.add_(1)
        factor = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked.item()
        self.running_mean.lerp_(mean, factor)
        self.running_var.lerp_(var * count / max(count - 1.0, 1.0), factor)   # unbiased, as BatchNorm keeps


def routed(net: nn.Module, wrapper: Optional[nn.Module]) -> nn.Module:
    """``net``'s DDP wrapper when this pass can put gradients into its weights (they must be averaged over
    the ranks), else ``net`` itself: passes under no_grad, or through a net frozen for the other's step."""
    if wrapper is None or not torch.is_grad_enabled():
        return net
    return wrapper if any(p.requires_grad for p in net.parameters()) else net
