"""Does style mixing mean something? Silhouettes and colours of mixed emoji over random seed pairs.

    python bench/style_mixing.py                                  # models/emoji-stylegan, 200 pairs
    python bench/style_mixing.py --run runs/my-stylegan --pairs 500 --json

For each pair of seeds (A, B), three images: A, B, and two mixes of them:

* **coarse from B**: A's styles with the coarse layers' (4-8 px) taken from B. If the coarse styles hold the
  layout, its silhouette (the foreground mask against the white background) overlaps B's more than A's
  (IoU), and if the finer styles hold colour, its colour histogram is closer to A's than to B's;
* **fine from B**: only the output resolution's styles from B: the silhouette should stay A's (IoU >= 0.95).

It prints the share of pairs that behave so, and the mean IoUs and histogram distances.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ganlab.explore import Explorer
from ganlab.style.mixing import mix, parse_layers
from ganlab.trainer import configure_threads

WHITE_TOL = 0.12      # a pixel is foreground when a channel is this far below white (in [0, 1])
BINS = 8              # per channel: 8 x 8 x 8 colour histogram of the foreground


def foreground(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] in [-1, 1] -> [B, H, W] bool: not white."""
    return ((1 - (x + 1) / 2).amax(dim=1)) > WHITE_TOL


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    inter, union = (a & b).flatten(1).sum(1).float(), (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def colour_hist(x: torch.Tensor) -> torch.Tensor:
    """[B, BINS^3] normalised joint colour histograms of each image's foreground (all pixels if it has none)."""
    q = ((x + 1) / 2).clamp(0, 1 - 1e-6).mul(BINS).long()               # [B, 3, H, W] bin per channel
    idx = (q[:, 0] * BINS + q[:, 1]) * BINS + q[:, 2]                    # [B, H, W]
    fg = foreground(x)
    fg = torch.where(fg.flatten(1).any(1)[:, None, None], fg, torch.ones_like(fg))
    h = torch.zeros(len(x), BINS ** 3)
    h.scatter_add_(1, idx.flatten(1), fg.flatten(1).float())
    return h / h.sum(1, keepdim=True)


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().sum(1)


@torch.no_grad()
def measure(ex: Explorer, pairs: int, psi: float, seed: int, batch: int = 50) -> dict:
    G = ex.G
    coarse, fine = parse_layers(G, "coarse"), parse_layers(G, "fine")
    gen = torch.Generator().manual_seed(seed)
    rates = {"coarse_silhouette_from_b": [], "coarse_colour_from_a": [], "fine_keeps_a_silhouette": []}
    stats = {"iou_coarse_b": [], "iou_coarse_a": [], "iou_fine_a": [], "hist_coarse_a": [], "hist_coarse_b": []}
    for start in range(0, pairs, batch):
        m = min(batch, pairs - start)
        za, zb = torch.randn(m, G.z_dim, generator=gen), torch.randn(m, G.z_dim, generator=gen)
        wa, wb = ex.ws(za, psi), ex.ws(zb, psi)
        xa, xb = ex.render_ws(wa), ex.render_ws(wb)
        xc, xf = ex.render_ws(mix(wa, wb, coarse)), ex.render_ws(mix(wa, wb, fine))
        fa, fb, fc, ff = (foreground(x) for x in (xa, xb, xc, xf))
        ha, hb, hc = colour_hist(xa), colour_hist(xb), colour_hist(xc)
        i_cb, i_ca, i_fa = iou(fc, fb), iou(fc, fa), iou(ff, fa)
        d_ca, d_cb = l1(hc, ha), l1(hc, hb)
        rates["coarse_silhouette_from_b"].append(i_cb > i_ca)
        rates["coarse_colour_from_a"].append(d_ca < d_cb)
        rates["fine_keeps_a_silhouette"].append(i_fa >= 0.95)
        for k, v in zip(stats, (i_cb, i_ca, i_fa, d_ca, d_cb)):
            stats[k].append(v)
    out = {k: round(float(torch.cat(v).float().mean()), 3) for k, v in rates.items()}
    out.update({f"mean_{k}": round(float(torch.cat(v).mean()), 3) for k, v in stats.items()})
    out.update(pairs=pairs, psi=psi, seed=seed, coarse_layers=coarse, fine_layers=fine,
               layer_resolutions=G.layer_resolutions(), model=ex.source, step=ex.step)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=Path("models/emoji-stylegan"))
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--psi", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    configure_threads()
    ex = Explorer.open(a.run)
    r = measure(ex, a.pairs, a.psi, a.seed)
    if a.json:
        print(json.dumps(r))
        return
    print(f"{ex.describe()}; {a.pairs} random pairs, psi {a.psi:g}; coarse = styles {r['coarse_layers']}, "
          f"fine = styles {r['fine_layers']} (of {r['layer_resolutions']} px)")
    print(f"  coarse from B: silhouette closer to B than to A (IoU)   {r['coarse_silhouette_from_b']:6.1%}  "
          f"(mean IoU with B {r['mean_iou_coarse_b']:.3f}, with A {r['mean_iou_coarse_a']:.3f})")
    print(f"  coarse from B: colours closer to A than to B (hist L1)  {r['coarse_colour_from_a']:6.1%}  "
          f"(mean L1 to A {r['mean_hist_coarse_a']:.3f}, to B {r['mean_hist_coarse_b']:.3f})")
    print(f"  fine from B:   silhouette still A's (IoU >= 0.95)       {r['fine_keeps_a_silhouette']:6.1%}  "
          f"(mean IoU with A {r['mean_iou_fine_a']:.3f})")


if __name__ == "__main__":
    main()
