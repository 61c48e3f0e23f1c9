"""``python -m ganlab sample`` for style-based models: mixing grids and noise control.

    python -m ganlab sample --run models/emoji-stylegan --mix 1,2,3 10,11,12,13 --layers coarse --out mix.png
    python -m ganlab sample --run models/emoji-stylegan --noise random --noise-layers 5-8 --out texture.png
    python -m ganlab sample --run models/emoji-stylegan --interpolate 1 2 --space w --out walk.gif
"""
from __future__ import annotations

from typing import List

import torch

from ..errors import GanlabError
from ..sampling import noise
from .mixing import index_range, latent_ws, mix_grid, noise_for, parse_layers, render_ws, require_style


def seeds(text: str, what: str) -> List[int]:
    try:
        out = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise GanlabError(f"{what} must be seeds separated by commas, e.g. 1,2,3 (got {text!r}).") from None
    if not out or len(out) > 16 or any(not 0 <= s < 2 ** 31 for s in out):
        raise GanlabError(f"{what} must be 1 to 16 seeds from 0 to 2,147,483,647 (got {text!r}).")
    return out


def _ws_of(G, seed_list: List[int], psi: float) -> torch.Tensor:
    return torch.cat([latent_ws(G, noise(G, 1, s), psi) for s in seed_list])


def mix_picture(G, rows: str, cols: str, layers: str, psi: float):
    """(images, nrow, words) of the mixing grid for the seeds in ``rows`` (A) and ``cols`` (B)."""
    require_style(G, "--mix")
    a, b = seeds(rows, "The rows (seeds A)"), seeds(cols, "The columns (seeds B)")
    picked = parse_layers(G, layers)
    x, nrow = mix_grid(G, _ws_of(G, a, psi), _ws_of(G, b, psi), picked)
    res = G.layer_resolutions()
    words = f"styles {picked} ({sorted({res[i] for i in picked})} px) from the top row, the rest from the left column"
    return x, nrow, words


def styled_samples(G, n: int, seed: int, psi: float, noise_mode: str = "const", noise_layers: str = "") -> torch.Tensor:
    """``n`` images, truncated in W; ``noise_mode`` on ``noise_layers`` (conv indices; default all)."""
    require_style(G, "--noise")
    ws = latent_ws(G, noise(G, n, seed), psi)
    count = len(G.convs)
    layers = list(range(count)) if not noise_layers else _conv_layers(noise_layers, count)
    return render_ws(G, ws, noise_for(G, noise_mode, layers, seed=seed + 1, batch=n))


def _conv_layers(text: str, count: int) -> List[int]:
    out: List[int] = []
    for part in text.split(","):
        picked = index_range(part)
        if picked is None:
            raise GanlabError(f"--noise-layers takes indices or ranges such as 0-3,7 (got {text!r}).")
        out += picked
    if any(not 0 <= i < count for i in out):
        raise GanlabError(f"This model has noise layers 0 to {count - 1}.")
    return out
