"""GAN inversion on held-out emoji: how close W and W+ projections get, how long they take, and whether
inversion beats simply retrieving the nearest training image.

    python bench/inversion.py                                   # models/emoji-stylegan, 12 held-out emoji
    python bench/inversion.py --run runs/x --images 30 --steps 600 --feature inception --json

For each held-out emoji (code points never trained on, taken evenly through the split), it projects into
W and into W+ with ganlab.style.project (its default loss, MSE on pixels, and its default steps; or
``--feature inception``: MSE plus the FID Inception network's early features) and scores the
reconstruction with torchmetrics' PSNR and SSIM. The retrieval baseline is the
training image nearest in pixels: if inversion is not clearly better than that, the "edit your own image"
panel would be showing a neighbour, not the picture. Seconds are wall time on this machine's threads.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from ganlab.data import load_dataset
from ganlab.data.images import load_split
from ganlab.explore import nearest
from ganlab.sampling import load_generator
from ganlab.style.project import project, quality
from ganlab.trainer import configure_threads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, default=Path("models/emoji-stylegan"))
    p.add_argument("--images", type=int, default=12)
    p.add_argument("--steps", type=int, help="default: ganlab.style.project's (1500 for pixels, 600 with features)")
    p.add_argument("--feature", default="pixel", choices=["pixel", "inception"])
    p.add_argument("--spaces", default="w,w+")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true")
    p.add_argument("--figure", type=Path, help="also draw the first image's edit: input | W+ reconstruction | "
                   "its fine styles from seed 1 | PC1 +2 sigma on the coarse layers (a PNG)")
    a = p.parse_args()
    threads = configure_threads(a.threads)
    G, cfg, step = load_generator(a.run)
    held = load_split(cfg.data.name, "test", cfg.data)
    train = load_dataset(cfg.data).x
    pick = torch.linspace(0, len(held) - 1, a.images).round().long().tolist()
    rows, first = [], None
    for i in pick:
        target = held.x[i]
        name = (held.captions or [str(i)])[i]
        idx, _ = nearest(target[None], train, k=1)
        r_psnr, r_ssim = quality(train[idx[0, 0]], target)
        row = {"image": name, "retrieval_psnr": r_psnr, "retrieval_ssim": r_ssim}
        for space in a.spaces.split(","):
            pr = project(G, target, steps=a.steps, space=space, seed=0, feature=a.feature)
            row[space] = {"psnr": pr.psnr, "ssim": pr.ssim, "seconds": pr.seconds}
            distance = pr.distance
            if space == "w+" and first is None:
                first = pr
        rows.append(row)
        if not a.json:
            parts = " · ".join(f"{s.upper()} {row[s]['psnr']:.1f} dB {row[s]['ssim']:.3f} {row[s]['seconds']:.0f} s"
                               for s in a.spaces.split(","))
            print(f"{name[:32]:32s} {parts} · nearest training image {r_psnr:.1f} dB {r_ssim:.3f}", flush=True)
    summary = {"run": str(a.run), "step": step, "images": len(rows), "steps": pr.steps, "threads": threads,
               "distance": distance, "resolution": held.x.shape[-1]}
    for space in a.spaces.split(","):
        for k in ("psnr", "ssim", "seconds"):
            summary[f"{space}_{k}"] = round(statistics.mean(r[space][k] for r in rows), 3)
        summary[f"{space}_beats_retrieval"] = round(sum(r[space]["psnr"] > r["retrieval_psnr"] for r in rows)
                                                    / len(rows), 3)
    summary["retrieval_psnr"] = round(statistics.mean(r["retrieval_psnr"] for r in rows), 3)
    summary["retrieval_ssim"] = round(statistics.mean(r["retrieval_ssim"] for r in rows), 3)
    if a.figure and first is not None:
        edit_figure(G, cfg, step, a.run, first).save(a.figure)
    if a.json:
        print(json.dumps({"summary": summary, "rows": rows}))
        return
    print(f"\n{len(rows)} held-out emoji at {summary['resolution']} px, {summary['steps']} steps, loss {distance}, "
          f"{threads} threads:")
    for space in a.spaces.split(","):
        print(f"  {space.upper():3s} PSNR {summary[f'{space}_psnr']:.2f} dB · SSIM {summary[f'{space}_ssim']:.3f} · "
              f"{summary[f'{space}_seconds']:.1f} s per image · better than retrieval for "
              f"{summary[f'{space}_beats_retrieval']:.0%}")
    print(f"  nearest training image: PSNR {summary['retrieval_psnr']:.2f} dB · SSIM {summary['retrieval_ssim']:.3f}")


def edit_figure(G, cfg, step, run, pr):
    """input | reconstruction | fine styles from seed 1 | PC1 +2 sigma on the coarse layers."""
    from ganlab.explore import Explorer
    from ganlab.style.mixing import mix, parse_layers
    from ganlab.viz import grid_image
    ex = Explorer(G, cfg, step, str(run))
    ws = pr.latent
    recolour = ex.render_ws(mix(ws, ex.ws(ex.z(1)), parse_layers(G, "fine")))
    moved = ex.render_ws(ex.move_ws(ws, [2.0], parse_layers(G, "coarse")))
    pics = torch.cat([pr.target[None], pr.image[None], recolour, moved])
    return grid_image(pics, nrow=4, scale=max(1, 160 // pics.shape[-1]))


if __name__ == "__main__":
    main()
