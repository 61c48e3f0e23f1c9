"""Named training recipes: the exact configs behind the shipped models, for the CLI and the Train tab.

    python -m ganlab train --preset fashion-mnist-best --out runs/fmnist-best
    python -m ganlab train --preset fashion-mnist-best --steps 60000 --out runs/longer   # any flag overrides

    cfg = preset("mnist-cgan")                   # a RunConfig (a fresh copy each time)

Each recipe says in ``why`` what it is for; ``models/*/README.md`` gives the
command that trained each shipped model and the scores it reached.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .errors import GanlabError


@dataclass(frozen=True)
class Preset:
    cfg: RunConfig
    why: str


def _image_train(**kw) -> TrainConfig:
    # Hinge loss + spectral norm on D + an EMA of G is the SNGAN/BigGAN-style recipe; Adam betas
    # (0, 0.9) as in those papers; a mild DiffAugment keeps D from memorising a small set.
    t = dict(loss="hinge", steps=30_000, batch_size=64, lr_g=2e-4, lr_d=2e-4, beta1=0.0, beta2=0.9,
             ema=0.999, log_every=50, sample_every=1000, checkpoint_every=5000, eval_every=10_000,
             eval_n=1000, n_samples=64)
    t.update(kw)
    return TrainConfig(**t)


def _translate_train(**kw) -> TrainConfig:
    t = dict(loss="ns", batch_size=16, lr_g=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, ema=0.999, log_every=50,
             sample_every=250, checkpoint_every=1000, eval_every=0, n_samples=24)
    t.update(kw)
    return TrainConfig(**t)


PRESETS: Dict[str, Preset] = {
    # What wins at 1 to 5 CPU-minutes (bench/quality_clock.py; bench/recipe_screen.py for the ablations):
    # pytorch/examples' DCGAN (BatchNorm in G and D, BCE, Adam(2e-4, 0.5), batch 64) at width 32 instead of
    # 64: a quarter of the FLOPs, 3.4x the steps per second on a 2-core CPU; FID@2k 109.4, 83.9 and 57.1 after
    # 1, 2 and 5 CPU-minutes against the pytorch/examples loop's 184.0, 128.8 and 76.0. No EMA: at equal steps
    # it changed nothing measurable (classifier distance 158.5 against 155.8 at 4,000 steps).
    "fashion-mnist-fast": Preset(
        RunConfig(DataConfig(name="fashion-mnist"), ModelConfig(name="dcgan", width=32, z_dim=100, d_norm="batch"),
                  TrainConfig(loss="ns", steps=30_000, batch_size=64, lr_g=2e-4, lr_d=2e-4, beta1=0.5,
                              beta2=0.999, log_every=50, sample_every=500, checkpoint_every=5000, eval_every=0,
                              n_samples=64)),
        "the Train tab's Fashion-MNIST default: recognisable clothes within a CPU-minute (bench/quality_clock.py)"),
    "fashion-mnist-best": Preset(
        RunConfig(DataConfig(name="fashion-mnist"), ModelConfig(name="dcgan", width=64, z_dim=128,
                                                                spectral_norm=True), _image_train()),
        "the best unconditional Fashion-MNIST recipe found (see models/fashion-mnist-dcgan/README.md)"),
    # proj-reacgan, not projection: at 10,000 steps 87.5% of its images were judged the class asked for,
    # against 78.9% for projection alone and 74.3% for reacgan (see models/fashion-mnist-cgan/README.md).
    "fashion-mnist-cgan": Preset(
        RunConfig(DataConfig(name="fashion-mnist"), ModelConfig(name="proj-reacgan", width=48, z_dim=128,
                                                                spectral_norm=True), _image_train(steps=20_000)),
        "class-conditioned Fashion-MNIST: projection D with ReACGAN's class loss, conditional BatchNorm in G"),
    # ACGAN, not projection, for MNIST: on the CPU budget we had, a projection model had not
    # learned MNIST's classes by 4,000 steps (22.8% agreement); ACGAN gets them right within 1,000 steps,
    # but alone it draws one image per class (diversity 0.19x of real at 3,000 steps); with the
    # mode-seeking term it reached 96.9% agreement at 3,000 steps and 97.9% (10/10 classes >= 90%) at 6,000.
    "mnist-cgan": Preset(
        RunConfig(DataConfig(name="mnist"), ModelConfig(name="acgan", width=48, z_dim=64, spectral_norm=True),
                  _image_train(steps=6_000, augment="translation,cutout", eval_every=0, diversity=1.0)),
        "class-conditioned MNIST, ACGAN with the mode-seeking term (offline: 5,000 digits, so DiffAugment "
        "keeps D from memorising them)"),
    # Shapes: proj-reacgan with factorised tables (one embedding per shape and per colour). Its 24 joint
    # classes were too many for ACGAN at this budget: 42.3% of images right in shape and colour at 10,000
    # steps, often two shapes or speckled noise per image; projection alone reached 87.8%, with ReACGAN's
    # loss 95.0%. See models/shapes-cgan/README.md.
    "shapes-cgan": Preset(
        RunConfig(DataConfig(name="shapes", label="shape+colour", n=20_000),
                  ModelConfig(name="proj-reacgan", width=48, z_dim=64, spectral_norm=True, factorised=True),
                  _image_train(steps=10_000, eval_every=0, diversity=0.2, instance_noise=0.1)),
        "shapes conditioned on shape and colour together (24 classes): projection D with ReACGAN's class loss, "
        "one embedding per shape and per colour (factorised), a light mode-seeking term and instance noise"),
    "text-captioned": Preset(
        RunConfig(DataConfig(name="captioned"),
                  ModelConfig(name="text-gan", clip="minilm", width=48, z_dim=64, spectral_norm=True),
                  _image_train(steps=5_000, eval_every=0, condition="mixed", clip_noise=0.25, contrastive=4.0,
                               diversity=0.3)),
        "text to image on the captioned built-in sets with the offline embedder (half LAFITE image "
        "embeddings, half caption embeddings; a light mode-seeking term, else one prompt gives one image)"),
    # Emoji: 3,293 training images, so DiffAugment (all three policies) keeps D from memorising them
    # (Zhao et al. 2020 report the same for 100-shot sets). StyleGAN2's recipe shrunk for a CPU: non-saturating
    # loss, lazy R1 (gamma 0.2 ~ 0.0002 * side^2 / batch, the paper's heuristic), lr 2e-3 with betas (0, 0.99),
    # mixing regularisation 0.9, an EMA of G; width 8 (channels 8 at 64 px up to 64 at 4-8 px).
    "emoji-stylegan": Preset(
        RunConfig(DataConfig(name="emoji", resolution=64),
                  ModelConfig(name="stylegan", width=8, z_dim=128, mapping_depth=8),
                  TrainConfig(loss="ns", steps=20_000, batch_size=16, lr_g=2e-3, lr_d=2e-3, beta1=0.0, beta2=0.99,
                              ema=0.999, r1=0.2, augment="translation,color,cutout", style_mixing=0.9,
                              log_every=50, sample_every=500, checkpoint_every=1000, n_samples=64)),
        "colour emoji at 64 px with StyleGAN (mapping network, styles, noise, mixing regularisation, lazy R1, "
        "DiffAugment because the set is small)"),
    # Emoji at 32 px, conditioned on the Unicode group (9 classes: smileys, people, animals, food ...): the
    # class tells G which kind of picture to draw, which a 3,293-image set of everything cannot teach an
    # unconditional G in a few CPU-hours. Projection D with ReACGAN's class loss as for Fashion-MNIST,
    # hinge + spectral norm + EMA, and DiffAugment because the set is small.
    "emoji32-cgan": Preset(
        RunConfig(DataConfig(name="emoji", resolution=32),
                  ModelConfig(name="proj-reacgan", width=48, z_dim=128, spectral_norm=True),
                  _image_train(steps=100_000, batch_size=32, augment="translation,color,cutout", eval_every=0,
                               checkpoint_every=2000, sample_every=1000)),
        "colour emoji at 32 px, one class per Unicode group: projection D with ReACGAN's loss, DiffAugment"),
    "emoji-dcgan": Preset(
        RunConfig(DataConfig(name="emoji", resolution=64), ModelConfig(name="dcgan", width=32, z_dim=128,
                                                                       spectral_norm=True),
                  _image_train(steps=20_000, batch_size=16, augment="translation,color,cutout", eval_every=0,
                               checkpoint_every=1000, sample_every=500)),
        "the DCGAN baseline for emoji at 64 px (hinge, spectral norm, EMA, DiffAugment): bench/style_vs_dcgan.py"),
    # ProGAN: grow 8 -> 16 -> 32 px, 1,500 steps per phase (5 phases: fully grown at step 6,000).
    "emoji-progan": Preset(
        RunConfig(DataConfig(name="emoji", resolution=32), ModelConfig(name="progan", width=16, z_dim=128,
                                                                       grow_every=1500),
                  TrainConfig(loss="ns", steps=9_000, batch_size=16, lr_g=1e-3, lr_d=1e-3, beta1=0.0, beta2=0.99,
                              ema=0.999, r1=0.1, r1_every=4, augment="translation,color,cutout",
                              log_every=50, sample_every=250, checkpoint_every=1500, n_samples=64)),
        "colour emoji grown from 8 to 32 px (equalised lr, pixel norm, minibatch std, fade-in)"),
    # Image to image, sized for a CPU: the papers' recipes (Adam 2e-4, beta1 0.5; pix2pix's lambda 100,
    # CycleGAN's LSGAN, cycle 10 and identity 0.5) with small widths and batches, an EMA of G for the
    # shown outputs, and no FID while training (bench/image_to_image.py scores a run on held-out inputs).
    "edges2emoji-pix2pix": Preset(
        RunConfig(DataConfig(name="edges2emoji", resolution=32), ModelConfig(name="pix2pix", width=16),
                  _translate_train(steps=5_000)),
        "sketch -> emoji: a U-Net from Sobel edge maps to the colour emoji, PatchGAN D, adversarial + 100 L1"),
    "sr-emoji": Preset(
        RunConfig(DataConfig(name="sr-emoji", resolution=64), ModelConfig(name="srgan", width=32, sr_scale=4),
                  _translate_train(steps=1_500)),
        "4x super-resolution of emoji, 16 -> 64 px: residual G over bicubic, pixel + D-feature content loss"),
    "inpaint-emoji": Preset(
        RunConfig(DataConfig(name="inpaint-emoji", resolution=32), ModelConfig(name="inpaint", width=16),
                  _translate_train(steps=5_000, mask="mixed")),
        "hole filling on emoji: U-Net on (masked image, mask), global + local PatchGAN D, rectangles and strokes"),
    # No identity loss: it asks G_ab(boot) to stay the boot, which holds the shape still, and this task is a
    # change of shape. With the usual 0.5 (3,000 steps), 90.1% of held-out sneakers were judged boots but
    # only 52.5% of boots sneakers; with 0 and 6,000 steps, 97.6% and 92.8% (models/sneaker2boot-cyclegan).
    "sneaker2boot-cyclegan": Preset(
        RunConfig(DataConfig(name="sneaker<->boot"), ModelConfig(name="cyclegan", width=16),
                  _translate_train(steps=6_000, loss="lsgan", batch_size=8, identity=0.0)),
        "unpaired Fashion-MNIST sneakers <-> ankle boots: two ResNet Gs, LSGAN, cycle 10, no identity loss, pool 50"),
}


# The recipe a dataset trains with when nothing else is chosen, in the Train tab and in `python -m ganlab train
# --data NAME`: the one that wins at 1 to 5 CPU-minutes (bench/quality_clock.py).
DATASET_RECIPES = {"fashion-mnist": "fashion-mnist-fast", "mnist": "fashion-mnist-fast"}


def dataset_recipe(data: str, model: Optional[str] = None) -> Optional[RunConfig]:
    """The default recipe for the dataset ``data`` (its data name set), or None; with ``model`` given, only
    if the recipe is for that model family."""
    name = DATASET_RECIPES.get((data or "").strip())
    if name is None:
        return None
    cfg = preset(name)
    if model and model != cfg.model.name:
        return None
    cfg.data.name = data.strip()
    return cfg


def preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise GanlabError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return copy.deepcopy(PRESETS[name].cfg)


def describe_presets() -> List[Tuple[str, str]]:
    return [(name, p.why) for name, p in PRESETS.items()]
