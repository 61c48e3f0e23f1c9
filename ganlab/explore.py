"""Latent-space exploration of a trained generator: the sampling API behind the Explore tab and the CLI.

    ex = Explorer.open("models/fashion-mnist-cgan")     # any run folder, checkpoint or model folder
    z_a, z_b = ex.z(seed=1), ex.z(seed=2)                # [z_dim] noise from a seed (reproducible)
    img = ex.render(interpolate(z_a, z_b, 0.3, "slerp"), psi=0.8, y=ex.classes(["Sneaker"]))
    frames = ex.walk(z_a, z_b, n=16, mode="slerp")       # [16, C, H, W]
    dirs = ex.directions(k=5)                            # GANSpace-style principal directions in z
    ws = ex.ws(z_a, psi=0.7)                             # a style model: [1, num_ws, w_dim] (W, truncated)
    img = ex.render_ws(ex.move_ws(ws, [2.0], layers=[0, 1, 2]))   # PC1 in W on the coarse layers only
    near = ex.nearest(img, data, k=5)                     # memorisation check: closest training images

Every function is pure torch on the CPU (or G's device) and returns tensors in
[-1, 1]; the UI turns them into pictures. Nothing here touches the engine.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import torch
from torch import nn

from .errors import GanlabError
from .sampling import class_index, generate, is_conditional, load_generator, noise
from .style.mixing import is_style, latent_ws, render_ws

MODES = ("lerp", "slerp")


# ---- paths between two points of noise ---------------------------------------------------------
def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation: along the great circle from a to b, the norm moving linearly.

    Gaussian noise lives near a shell of radius sqrt(z_dim); lerp cuts through
    the low-density inside of it, slerp stays on it (White 2016).
    """
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    so = torch.sin(omega)
    if float(so.abs().min()) < 1e-6:                      # (anti)parallel: any path is as good; use lerp
        return lerp(a, b, t)
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / so
    return direction * (na + (nb - na) * t)


def interpolate(a: torch.Tensor, b: torch.Tensor, t: float, mode: str = "slerp") -> torch.Tensor:
    """The point a fraction ``t`` of the way from a to b; t = 0 and 1 give a and b bit for bit."""
    if mode not in MODES:
        raise GanlabError(f"Unknown interpolation {mode!r}; use lerp or slerp.")
    if t <= 0:
        return a.clone()
    if t >= 1:
        return b.clone()
    return lerp(a, b, t) if mode == "lerp" else slerp(a, b, t)


def truncate(z: torch.Tensor, psi: float) -> torch.Tensor:
    """The truncation trick: pull noise towards the mean (0) by ``psi``; 1 = unchanged, 0 = the mean image."""
    if not 0 <= psi <= 2:
        raise GanlabError(f"Truncation psi must lie in [0, 2] (got {psi}).")
    return z * psi


@dataclass
class Directions:
    vectors: torch.Tensor          # [k, z_dim], unit length: move z along these
    scales: torch.Tensor           # [k]: the std of the noise along each, so sliders are in "sigmas"
    variance: torch.Tensor         # [k]: share of feature variance each component explains
    space: str                     # where the PCA was done


class Explorer:
    def __init__(self, G: nn.Module, cfg, step: int, source: str = ""):
        self.G, self.cfg, self.step, self.source = G.eval(), cfg, step, source
        self._directions: Optional[Directions] = None
        self._w_directions: Optional[Directions] = None
        # one PCA at a time: the page's meta.json, a slider and a grid can all ask for directions at once
        self._pca_lock = threading.Lock()

    @classmethod
    def open(cls, path) -> "Explorer":
        G, cfg, step = load_generator(Path(path))
        if getattr(G, "cond_dim", 0):
            raise GanlabError(f"{path} is a text-to-image model; open it in the Text → Image tab.")
        if not G.z_dim:
            raise GanlabError(f"{path} is an image-to-image model ({cfg.model.name}); open it in the Image → Image "
                              "tab, or run images through it with `python -m ganlab translate`.")
        if len(cfg_shape(G, cfg)) != 3:
            raise GanlabError(f"{path} makes 2-D points, not images; open it in the 2-D Playground instead.")
        return cls(G, cfg, step, str(path))

    # ---- facts ----------------------------------------------------------------------------
    @property
    def z_dim(self) -> int:
        return self.G.z_dim

    @property
    def conditional(self) -> bool:
        return is_conditional(self.G)

    @property
    def style(self) -> bool:
        """A style-based G: W space, per-layer styles and noise (stylegan)."""
        return is_style(self.G)

    @property
    def class_names(self) -> List[str]:
        return list(getattr(self.G, "class_names", []))

    def describe(self) -> str:
        c = self.cfg
        what = f"{c.model.name} on {c.data.name}" + (f" ({c.data.label})" if c.data.label else "")
        classes = f", {len(self.class_names)} classes" if self.conditional else ""
        styles = f", {self.G.num_ws} styles of {self.G.w_dim}" if self.style else ""
        return f"{what}, step {self.step:,}, z_dim {self.z_dim}{styles}{classes}"

    # ---- noise and classes ------------------------------------------------------------------
    def z(self, seed: int) -> torch.Tensor:
        """The noise vector [z_dim] of a seed: the same seed always gives the same image."""
        return noise(self.G, 1, int(seed))[0]

    def classes(self, names: Sequence) -> torch.Tensor:
        if not self.conditional:
            raise GanlabError("This model is not class-conditioned; pick a cgan, projection, acgan or reacgan model.")
        return torch.tensor([class_index(self.G, n) for n in names])

    def blend(self, a, b, t: float) -> torch.Tensor:
        """Class weights [K] that are (1 - t) of class ``a`` and t of class ``b``."""
        w = torch.zeros(self.G.num_classes)
        ia, ib = class_index(self.G, a), class_index(self.G, b)
        w[ia] += 1 - t
        w[ib] += t
        return w

    # ---- images -------------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, z: torch.Tensor, psi: float = 1.0, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Images for noise ``z`` ([z_dim] or [B, z_dim]) and classes ``y`` ([B] indices or [B, K] weights).

        A style model truncates in W (towards w_avg), not in z, and draws with its fixed noise maps."""
        if self.style:
            return self.render_ws(self.ws(z, psi))
        z = truncate(z if z.dim() == 2 else z[None], psi)
        if self.conditional:
            if y is None:
                y = torch.zeros(len(z), dtype=torch.long)
            if y.dim() == 0 or (y.dim() == 1 and y.dtype.is_floating_point):
                y = y[None]                            # one class index, or one weight vector
            if len(y) == 1 and len(z) > 1:
                y = y.expand(len(z), *y.shape[1:])
            if len(z) == 1 and len(y) > 1:
                z = z.expand(len(y), -1)
        return generate(self.G, z, y if self.conditional else None)

    def walk(self, a: torch.Tensor, b: torch.Tensor, n: int = 16, mode: str = "slerp", psi: float = 1.0,
             y: Optional[torch.Tensor] = None, space: Optional[str] = None) -> torch.Tensor:
        """``n`` frames from noise a to b, endpoints included: [n, C, H, W].

        ``space`` "w" (a style model's default) walks a straight line between the two w's; "z" walks
        between the noises (``mode``: slerp or lerp) and maps every frame."""
        if not 2 <= n <= 240:
            raise GanlabError(f"A walk needs 2 to 240 frames (got {n}).")
        space = space or ("w" if self.style else "z")
        ts = [i / (n - 1) for i in range(n)]
        if space == "w":
            wa, wb = self.ws(a, psi), self.ws(b, psi)
            return self.render_ws(torch.cat([interpolate(wa, wb, t, "lerp") for t in ts]))
        if space != "z":
            raise GanlabError(f"Walk in z or w, not {space!r}.")
        return self.render(torch.stack([interpolate(a, b, t, mode) for t in ts]), psi, y)

    # ---- W space (style models) ---------------------------------------------------------------
    def ws(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """Noise [z_dim] or [B, z_dim] to styles [B, num_ws, w_dim], truncated towards w_avg."""
        self._need_style("W space")
        return latent_ws(self.G, z if z.dim() == 2 else z[None], psi).cpu()

    def render_ws(self, ws: torch.Tensor, noise="const") -> torch.Tensor:
        """Images for styles [B, num_ws, w_dim] (W or W+); ``noise``: a mode or one per conv layer."""
        self._need_style("Drawing from styles")
        if ws.dim() != 3 or tuple(ws.shape[1:]) != (self.G.num_ws, self.G.w_dim):
            raise GanlabError(f"These styles have shape {tuple(ws.shape)}; this model takes "
                              f"[B, {self.G.num_ws}, {self.G.w_dim}].")
        return render_ws(self.G, ws, noise)

    @torch.no_grad()
    def w_directions(self, k: int = 5, n: int = 2000, seed: int = 0) -> Directions:
        """GANSpace on a style model: PCA of w = mapping(z) for ``n`` random z (Härkönen et al. 2020)."""
        self._need_style("Directions in W")
        with self._pca_lock:
            if self._w_directions is None or len(self._w_directions.vectors) < k:
                self._w_directions = self._w_pca(k, n, seed)
        return self._w_directions

    def _w_pca(self, k: int, n: int, seed: int) -> Directions:
        w = self.ws(noise(self.G, n, seed))[:, 0]                      # [n, w_dim]
        centred = w - w.mean(0, keepdim=True)
        _, s, v = _pca(centred, min(k, w.shape[1], n - 1), seed)
        vectors = v.T.contiguous()                                    # [k, w_dim], unit length
        return Directions(vectors, (centred @ v).std(0), s ** 2 / centred.pow(2).sum(), "W")

    def move_ws(self, ws: torch.Tensor, amounts: Sequence[float], layers: Optional[Sequence[int]] = None,
                k: int = 5) -> torch.Tensor:
        """Styles moved ``amounts[i]`` sigmas along W's direction i, on ``layers`` only (default: all),
        as GANSpace's layer-range edits do."""
        if not any(a != 0 for a in amounts):
            return ws
        d = self.w_directions(max(k, len(amounts)))
        step = sum(float(a) * d.scales[i] * d.vectors[i] for i, a in enumerate(amounts))     # [w_dim]
        out = ws.clone()
        idx = list(range(ws.shape[1])) if layers is None else list(layers)
        out[:, idx] = out[:, idx] + step
        return out

    def _need_style(self, what: str) -> None:
        if not self.style:
            raise GanlabError(f"{what} needs a style-based model (stylegan); this is {self.cfg.model.name}.")

    # ---- directions (GANSpace) ----------------------------------------------------------------
    @torch.no_grad()
    def directions(self, k: int = 5, n: int = 2000, seed: int = 0) -> Directions:
        """Principal directions of G's first feature map, carried back into z by least squares.

        GANSpace (Härkönen et al. 2020) for a generator with no mapping network:
        PCA on the activations after G's first layer for ``n`` random z, then a
        linear regression from the PCA coordinates to z gives, for each
        component, the direction in z that moves the image along it.
        """
        with self._pca_lock:
            if self._directions is None or len(self._directions.vectors) < k:
                self._directions = self._z_pca(k, n, seed)
        return self._directions

    def _z_pca(self, k: int, n: int, seed: int) -> Directions:
        z = noise(self.G, n, seed)
        feats = self._first_features(z).flatten(1)                    # [n, F]
        mean = feats.mean(0, keepdim=True)
        k_eff = min(k, feats.shape[1], n - 1)
        _, s, v = _pca(feats - mean, k_eff, seed)
        coords = (feats - mean) @ v                                   # [n, k]
        sol = torch.linalg.lstsq(coords, z).solution                 # [k, z_dim]: z ~ coords @ sol
        vectors = sol / sol.norm(dim=1, keepdim=True).clamp_min(1e-12)
        scales = (z @ vectors.T).std(0)                               # noise std along each direction
        var = s ** 2 / ((feats - mean) ** 2).sum()
        return Directions(vectors, scales, var, "G's first feature map")

    def _first_features(self, z: torch.Tensor) -> torch.Tensor:
        """G's activations after its first block, for the PCA (a forward hook, no change to G).

        G is shared: other threads draw with it meanwhile (a grid, a slider), and the hook sees their
        forwards too, so it keeps only the one this thread makes."""
        first = _first_block(self.G)
        out, me = {}, threading.get_ident()

        def keep(module, inputs, output):
            if threading.get_ident() == me:
                out.setdefault("h", output)
        handle = first.register_forward_hook(keep)
        try:
            y = torch.arange(len(z)) % self.G.num_classes if self.conditional else None
            generate(self.G, z, y)
        finally:
            handle.remove()
        return out["h"]

    def move(self, z: torch.Tensor, amounts: Sequence[float], dims: Sequence[float] = (),
             k: int = 5) -> torch.Tensor:
        """z moved ``amounts[i]`` sigmas along direction i, and ``dims[j]`` units along raw dimension j."""
        z = z.clone()
        if any(a != 0 for a in amounts):
            d = self._directions
            if d is None or len(d.vectors) < len(amounts):
                d = self.directions(max(k, len(amounts)))
            for i, a in enumerate(amounts):
                z = z + float(a) * d.scales[i] * d.vectors[i]
        for j, a in enumerate(dims):
            if a:
                z[j] = z[j] + float(a)
        return z


def _pca(x: torch.Tensor, q: int, seed: int):
    """torch.pca_lowrank of centred ``x`` [n, F] with its random projection drawn from ``seed``: the same
    directions in every process, so a caption's "PC1 +1.5σ" draws the same image after a restart (and in
    the page, which gets the server's directions)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.pca_lowrank(x, q=q, center=False)


def _first_block(G: nn.Module) -> nn.Module:
    """The module whose output is G's first feature map: its first BatchNorm (or first layer)."""
    for m in G.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) or type(m).__name__ == "ConditionalBatchNorm2d":
            return m
    for m in G.modules():   # the first with a weight matrix: torch's Linear/Conv, or ProGAN's EqualLinear
        weight = getattr(m, "weight", None)
        if m is not G and not isinstance(m, nn.Embedding) and isinstance(weight, nn.Parameter) and weight.dim() > 1:
            return m
    raise GanlabError("This generator has no layer to analyse.")


def cfg_shape(G: nn.Module, cfg) -> tuple:
    """The sample shape G makes (from one cheap forward pass)."""
    with torch.no_grad():
        z = noise(G, 2, 0)
        return tuple(generate(G, z).shape[1:])


@torch.no_grad()
def nearest(images: torch.Tensor, data: torch.Tensor, k: int = 5, chunk: int = 8192):
    """Indices [B, k] and distances [B, k] of each image's k nearest training images (pixel L2).

    A GAN that copies shows a near-zero distance; a typical sample sits about as
    far from its nearest neighbour as real test images do.
    """
    q = images.flatten(1).float()
    best_d = torch.full((len(q), k), math.inf)
    best_i = torch.zeros((len(q), k), dtype=torch.long)
    for start in range(0, len(data), chunk):
        block = data[start:start + chunk].flatten(1).float()
        d = torch.cdist(q, block, compute_mode="donot_use_mm_for_euclid_dist")   # [B, chunk], exact
        d_all = torch.cat([best_d, d], 1)
        i_all = torch.cat([best_i, torch.arange(start, start + len(block)).expand(len(q), -1)], 1)
        best_d, pos = d_all.topk(k, dim=1, largest=False)
        best_i = i_all.gather(1, pos)
    return best_i, best_d
