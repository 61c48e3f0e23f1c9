"""Style mixing and noise control for style-based generators (the Explore tab's and the CLI's).

    ws_a = latent_ws(G, noise(G, 3, seed=1), psi=0.7)     # [3, num_ws, w_dim]
    layers = parse_layers(G, "coarse")                     # [0, 1, 2] on a 64 px model
    grid, nrow = mix_grid(G, ws_a, ws_b, layers)           # B's images across the top, A's down the side
    noise = noise_modes(G, resample=[3], zero=[7, 8])      # one mode per conv layer, for G.synthesis

A cell of the grid draws with A's styles except on ``layers``, which come from B: coarse
layers (4-8 px) carry pose and silhouette, the fine ones colour and texture, which is
what bench/style_mixing.py measures on the shipped model.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import nn

from ..errors import GanlabError

GROUPS = ("coarse", "middle", "fine")


def is_style(G: nn.Module) -> bool:
    """Whether G has a mapping network and per-layer styles (StyleGenerator)."""
    return hasattr(G, "synthesis") and hasattr(G, "num_ws")


def require_style(G: nn.Module, what: str) -> None:
    if not is_style(G):
        raise GanlabError(f"{what} needs a style-based model (stylegan); this one has no per-layer styles.")


@torch.no_grad()
def latent_ws(G: nn.Module, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
    """Noise [B, z_dim] to styles [B, num_ws, w_dim], truncated towards w_avg by psi."""
    require_style(G, "Styles")
    if not 0 <= psi <= 2:
        raise GanlabError(f"Truncation psi must lie in [0, 2] (got {psi}).")
    device = next(G.parameters()).device
    return G.broadcast(G.truncate(G.mapping(z.to(device)), psi))


def parse_layers(G: nn.Module, spec) -> List[int]:
    """Style indices from "coarse" / "middle" / "fine" (joined by "+"), "0-3", "0,2,5", or a list of ints."""
    require_style(G, "Choosing layers")
    if isinstance(spec, (list, tuple)):
        picked = [int(i) for i in spec]
    else:
        picked = []
        for part in str(spec).replace("+", ",").split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part in GROUPS:
                picked += G.layer_group(part)
            elif index_range(part) is not None:
                picked += index_range(part)
            else:
                raise GanlabError(f"Unknown layers {part!r}: use coarse, middle, fine, a range such as 0-3, "
                                  f"or indices 0 to {G.num_ws - 1}.")
    bad = [i for i in picked if not 0 <= i < G.num_ws]
    if bad:
        raise GanlabError(f"Layer {bad[0]} does not exist; this model has styles 0 to {G.num_ws - 1}.")
    return sorted(set(picked))


def index_range(part: str) -> Optional[List[int]]:
    """"3" -> [3], "0-3" -> [0, 1, 2, 3]; None when ``part`` is neither."""
    lo, sep, hi = part.strip().partition("-")
    if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
        return None
    return list(range(int(lo), int(hi if sep else lo) + 1))


def mix(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """A's styles [B, L, W] with ``layers`` taken from B's (same shape, or one row broadcast)."""
    out = ws_a.clone()
    if layers:
        idx = torch.as_tensor(list(layers), device=ws_a.device)
        out[:, idx] = ws_b.expand_as(ws_a)[:, idx]
    return out


@torch.no_grad()
def render_ws(G: nn.Module, ws: torch.Tensor, noise="const", seed: Optional[int] = None) -> torch.Tensor:
    """Images [B, C, H, W] (CPU, in [-1, 1]) for styles [B, num_ws, w_dim]; ``seed`` feeds "random" noise."""
    require_style(G, "Drawing from styles")
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    return G.eval().synthesis(ws.to(device), noise, gen=gen).clamp(-1, 1).cpu()


@torch.no_grad()
def mix_grid(G: nn.Module, ws_a: torch.Tensor, ws_b: torch.Tensor, layers: Sequence[int], noise="const"):
    """The StyleGAN paper's figure: (images [(na + 1) * (nb + 1), C, H, W], nrow = nb + 1).

    Row 0 is a white corner then B's images; each later row starts with an A image, then that
    image with ``layers`` taken from each B in turn.
    """
    na, nb = len(ws_a), len(ws_b)
    a_img, b_img = render_ws(G, ws_a, noise), render_ws(G, ws_b, noise)
    cells = [torch.ones_like(a_img[:1]), b_img]                   # white corner, then the top row
    for i in range(na):
        mixed = mix(ws_a[i:i + 1].expand(nb, -1, -1), ws_b, layers)
        cells += [a_img[i:i + 1], render_ws(G, mixed, noise)]
    return torch.cat(cells), nb + 1


def conv_layers(G: nn.Module) -> List[int]:
    """The resolution of each noise input (one per conv layer)."""
    require_style(G, "Noise control")
    return [layer.res for layer in G.convs]


def noise_for(G: nn.Module, mode: str, layers: Sequence[int], seed: int = 0, batch: int = 1):
    """G.synthesis's noise for ``mode`` on ``layers`` (conv indices): "const" everywhere, or none ("zero")
    or fresh draws ("random") on those layers and the fixed maps elsewhere."""
    if mode == "const":
        return "const"
    if mode == "zero":
        return noise_modes(G, zero=layers)
    if mode == "random":
        return noise_modes(G, resample=layers, seed=seed, batch=batch)
    raise GanlabError(f"Unknown noise {mode!r}; use const, zero or random.")


def noise_modes(G: nn.Module, resample: Sequence[int] = (), zero: Sequence[int] = (),
                seed: int = 0, batch: int = 1) -> list:
    """One noise entry per conv layer for G.synthesis: the fixed maps, except fresh draws (from ``seed``)
    on ``resample`` and none on ``zero``; shows which details each layer's noise owns."""
    res = conv_layers(G)
    bad = [i for i in list(resample) + list(zero) if not 0 <= i < len(res)]
    if bad:
        raise GanlabError(f"Noise layer {bad[0]} does not exist; this model has noise layers 0 to {len(res) - 1}.")
    gen = torch.Generator().manual_seed(int(seed))
    out: list = ["const"] * len(res)
    for i in resample:
        out[i] = torch.randn(batch, 1, res[i], res[i], generator=gen)
    for i in zero:
        out[i] = "zero"
    return out
