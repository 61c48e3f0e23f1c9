"""What a 2-D GAN looks like over the plane, for the 2-D Playground.

Pure functions of the nets (GAN Lab's views), plus one that gathers them all:

    d_heatmap(D, spec)              D's output on a grid over [-BOX, BOX]^2
    generator_gradients(D, spec, x) where G's loss pushes each fake point
    manifold_lines(G, dist)         G's image of a line (1-D noise) or grid (2-D noise)
    divergences(real, fake)         KL and JS between smoothed 2-D histograms
    plane_view(trainer)             all of the above at one moment, as numpy
    snapshot(trainer)               a frozen copy of the nets, to draw views off the training thread
    Mirror(engine).view()           the same views of a run in another process, from its weights alone

    snap = engine.inspect(snapshot)     # between two steps, a few hundred microseconds
    view = plane_view(snap)             # anywhere, while training goes on

Noise of more than two dimensions varies only in its first two for the
manifold (the rest held at 0).
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .losses import LossSpec, get_loss
from .metrics import mode_coverage
from .trainer import draw_noise
from .viz import BOX

EPS = 1e-10
N_EVAL = 2000              # samples (and real points) behind the divergences and the mode count


def _grid_axis(n: int, box: float = BOX) -> torch.Tensor:
    return torch.linspace(-box, box, n)


def d_output(D: nn.Module, spec: LossSpec, x: torch.Tensor) -> torch.Tensor:
    """D's output as shown to people: P(real) for BCE losses, the raw score otherwise."""
    out = D(x)
    return torch.sigmoid(out) if spec.probability else out


@torch.no_grad()
def d_heatmap(D: nn.Module, spec: LossSpec, n: int = 48, box: float = BOX) -> Tuple[np.ndarray, np.ndarray]:
    """Axis [n] and D's output [n (y), n (x)] at the grid points (x_j, y_i)."""
    axis = _grid_axis(n, box)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)             # [n*n, 2], row-major in y
    device = next(D.parameters()).device
    values = d_output(D, spec, pts.to(device)).cpu().view(n, n)
    return axis.numpy(), values.numpy()


def generator_gradients(D: nn.Module, spec: LossSpec, fake: torch.Tensor) -> np.ndarray:
    """-dL_G/dx for each fake point x: the direction G's update moves it [B, 2].

    L_G is the mean over the batch, so each point's gradient is scaled back up
    by B to be independent of how many points are drawn.
    """
    x = fake.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(spec.g(D(x)), x)
    return (-grad * len(x)).cpu().numpy()


def noise_grid(dist: str, z_dim: int, lines: int = 11, points: int = 41) -> List[torch.Tensor]:
    """Lines in noise space, evenly spaced in probability: equal-mass cells.

    1-D noise: one line [points, 1]. 2-D or more: ``lines`` lines along each of
    the first two axes, each [points, z_dim].
    """
    def quantiles(k: int) -> torch.Tensor:
        u = torch.linspace(0.02, 0.98, k)
        if dist == "uniform":
            return u * 2 - 1
        return math.sqrt(2) * torch.erfinv(2 * u - 1)            # standard-normal quantiles

    along, across = quantiles(points), quantiles(lines)
    if z_dim == 1:
        return [along[:, None]]
    out = []
    for axis in (0, 1):
        for c in across:
            z = torch.zeros(points, z_dim)
            z[:, axis] = along
            z[:, 1 - axis] = c
            out.append(z)
    return out


@torch.no_grad()
def manifold_lines(G: nn.Module, dist: str, lines: int = 11, points: int = 41) -> List[np.ndarray]:
    """G's image of the noise grid: a list of polylines, each [points, 2]."""
    device = next(G.parameters()).device
    grid = noise_grid(dist, G.z_dim, lines, points)
    out = G(torch.cat(grid).to(device)).cpu()                      # one batch: [len(grid) * points, 2]
    return [part.numpy() for part in out.split([len(z) for z in grid])]


def _density(points: torch.Tensor, n: int, box: float, sigma_bins: float) -> torch.Tensor:
    """A 2-D histogram on n x n bins, Gaussian-smoothed and normalised to sum 1."""
    idx = ((points.float() + box) / (2 * box) * n).floor().long()
    inside = ((idx >= 0) & (idx < n)).all(1)
    idx = idx[inside]
    hist = torch.zeros(n * n)
    hist.index_add_(0, idx[:, 1] * n + idx[:, 0], torch.ones(len(idx)))
    r = int(math.ceil(3 * sigma_bins))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1).float() / sigma_bins) ** 2)
    k = k / k.sum()
    h = hist.view(1, 1, n, n)
    h = F.conv2d(F.pad(h, (r, r, 0, 0)), k.view(1, 1, 1, -1))       # separable blur
    h = F.conv2d(F.pad(h, (0, 0, r, r)), k.view(1, 1, -1, 1))
    h = h.flatten() + EPS
    return h / h.sum()


def divergences(real: torch.Tensor, fake: torch.Tensor, n: int = 64, box: float = BOX,
                sigma_bins: float = 1.0) -> Dict[str, float]:
    """KL(real || fake) and JS(real, fake) in nats between smoothed histograms on a grid.

    JS lies in [0, ln 2]; KL is unbounded and blows up where G puts no mass on real data.
    """
    p, q = _density(real, n, box, sigma_bins), _density(fake, n, box, sigma_bins)
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a * (a / b).log()).sum())

    return {"kl": kl(p, q), "js": 0.5 * kl(p, m) + 0.5 * kl(q, m)}


@dataclass
class PlaneView:
    step: int
    real: np.ndarray                 # [R, 2]
    fake: np.ndarray                 # [B, 2] G's points for the run's fixed noise
    grads: np.ndarray                # [B, 2] where G's loss pushes each of them
    axis: np.ndarray                 # [n] heatmap grid coordinates
    heat: np.ndarray                 # [n, n] D's output, rows along y
    heat_is_probability: bool
    manifold: List[np.ndarray]       # polylines [k, 2]
    kl: float
    js: float
    coverage: Optional[Dict[str, float]]   # mixture toys only


@dataclass
class Snapshot:
    """What plane_view needs, copied out of a trainer so that training can go on meanwhile."""
    step: int
    G: nn.Module                     # eval-mode copies on the CPU
    D: nn.Module
    loss: LossSpec
    z_dist: str
    fixed_z: torch.Tensor
    data: object                     # the DataSource (shared, read only)


def snapshot(trainer) -> Snapshot:
    """Copy the nets (CPU, eval mode) and what else the views read. Call between two steps."""
    def frozen(net: nn.Module) -> nn.Module:
        c = copy.deepcopy(net).cpu().eval()
        c.requires_grad_(False)
        return c
    return Snapshot(trainer.step_count, frozen(trainer.G), frozen(trainer.D), trainer.loss,
                    trainer.cfg.model.z_dist, trainer.fixed_z.cpu().clone(), trainer.data)


@contextmanager
def borrowed(trainer) -> Iterator[Snapshot]:
    """The trainer's own nets as a Snapshot for the length of the block: eval mode, no gradients.

    Only between two steps, on the thread that trains (Engine.inspect). It saves
    snapshot()'s two deep copies, a quarter of a view's cost, paid by training.
    Eval mode keeps batch norm, dropout and spectral norm from moving, and both
    the mode and every parameter's requires_grad are put back afterwards, so
    training goes on exactly as if nothing had looked.
    """
    nets = (trainer.G, trainer.D)
    modes = [net.training for net in nets]
    flags = [[q.requires_grad for q in net.parameters()] for net in nets]
    try:
        for net in nets:
            net.eval().requires_grad_(False)
        yield Snapshot(trainer.step_count, trainer.G, trainer.D, trainer.loss, trainer.cfg.model.z_dist,
                       trainer.fixed_z, trainer.data)
    finally:
        for net, mode, flag in zip(nets, modes, flags):
            net.train(mode)
            for q, r in zip(net.parameters(), flag):
                q.requires_grad_(r)


def view_between_steps(trainer, **kw) -> "PlaneView":
    """plane_view of a trainer from its training thread: on the CPU its nets are borrowed, not copied."""
    if next(trainer.G.parameters()).device.type != "cpu":
        return plane_view(trainer, **kw)                   # copies to the CPU
    with borrowed(trainer) as snap:
        return plane_view(snap, **kw)


def plane_view(snap, n_real: int = 500, heat_n: int = 48, n_eval: int = N_EVAL, stats: bool = True) -> PlaneView:
    """Every playground view at one moment, from a Snapshot (or a Trainer, which it copies first).

    Computing from a copy never touches the training nets: no spectral-norm power
    iterations, no gradients left behind. ``stats=False`` skips the divergences and
    the mode coverage (a 2,000-sample draw): NaN and None in the view.
    """
    if not isinstance(snap, Snapshot):
        snap = snapshot(snap)
    G, D, spec = snap.G, snap.D, snap.loss
    with torch.no_grad():
        fake = G(snap.fixed_z)                                      # [B, 2], the run's fixed noise
    grads = generator_gradients(D, spec, fake)
    axis, heat = d_heatmap(D, spec, heat_n)
    lines = manifold_lines(G, snap.z_dist)
    data = snap.data
    div, cov = {"kl": math.nan, "js": math.nan}, None
    if stats:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(12345)              # an evaluation draw apart from training
            eval_fake = G(draw_noise(n_eval, G.z_dim, snap.z_dist, gen))
        div = divergences(data.x[:n_eval], eval_fake)
        if data.modes is not None:
            cov = mode_coverage(eval_fake, data.modes, data.mode_std)
    return PlaneView(snap.step, data.x[:n_real].numpy(), fake.numpy(), grads, axis, heat,
                     spec.probability, lines, div["kl"], div["js"], cov)


def weights_between_steps(trainer) -> tuple:
    """(step, loss name, G's weights, D's weights), copied between two steps: what a Mirror needs each frame."""
    def weights(net: nn.Module) -> Dict[str, np.ndarray]:
        # numpy, not tensors: a pipe sends tensors through shared memory, 5 ms to receive; arrays 0.1 ms
        return {k: v.detach().to("cpu", copy=True).numpy() for k, v in net.state_dict().items()}
    return trainer.step_count, trainer.cfg.train.loss, weights(trainer.G), weights(trainer.D)


def mirror_parts(trainer, n: int = N_EVAL) -> tuple:
    """What a Mirror needs once per run: the config, the first ``n`` data points, the modes, the fixed noise.

    Numpy copies: a tensor sent down a pipe is moved into shared memory in place,
    under the feet of the training thread.
    """
    d = trainer.data
    data = dict(x=d.x[:n].numpy().copy(), modes=None if d.modes is None else d.modes.numpy().copy(),
                mode_std=d.mode_std, sample_shape=d.sample_shape, num_classes=d.num_classes)
    return trainer.cfg, data, trainer.fixed_z.cpu().numpy().copy()


class Mirror:
    """A run's nets rebuilt in this process and kept in step from their weights, for a run in another one.

        mirror = Mirror(remote_engine)      # the config, data and fixed noise come over once
        view = mirror.view(stats=True)      # each frame: the run copies out its weights, the view is drawn here

    A view costs the run as much time as a training step; copying out the weights
    (about 270 KB for the Playground's nets) costs it a tenth of that. The nets are
    built by the same model family from the same config and then loaded with the
    run's weights (spectral norm's vectors included), in eval mode, so the view is
    the one the run would have drawn itself.
    """

    def __init__(self, engine):
        from .nets import MODELS
        self.engine = engine
        self.cfg, data, fixed_z = engine.inspect(mirror_parts)
        self.fixed_z = torch.from_numpy(fixed_z)
        self.data = SimpleNamespace(**dict(data, x=torch.from_numpy(data["x"]),
                                           modes=None if data["modes"] is None else torch.from_numpy(data["modes"])))
        self.G, self.D = MODELS.get(self.cfg.model.name)(self.cfg.model, self.data.sample_shape,
                                                         num_classes=self.data.num_classes)
        for net in (self.G, self.D):
            net.eval().requires_grad_(False)

    def view(self, **kw) -> "PlaneView":
        step, loss, g, d = self.engine.inspect(weights_between_steps)
        self.G.load_state_dict({k: torch.from_numpy(v) for k, v in g.items()})
        self.D.load_state_dict({k: torch.from_numpy(v) for k, v in d.items()})
        snap = Snapshot(step, self.G, self.D, get_loss(loss), self.cfg.model.z_dist, self.fixed_z, self.data)
        threads = torch.get_num_threads()          # per thread in torch: on one, as the run draws them
        torch.set_num_threads(1)                   # (two made the tiny matmuls slower and took both cores)
        try:
            return plane_view(snap, **kw)
        finally:
            torch.set_num_threads(threads)
