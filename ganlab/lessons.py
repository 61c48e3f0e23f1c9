"""One-click lessons for the 2-D Playground, and its best presets.

A lesson is one or more runs shown side by side plus a few sentences on what
to watch and why it happens:

    lesson = LESSONS["collapse"]
    for name, cfg in lesson.runs: ...          # (panel title, RunConfig)

Every config here is a plain RunConfig, so a lesson can also be trained from
the CLI with the same numbers.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, List, Tuple

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig

FOREVER = 1_000_000       # playground runs go on until paused or stopped
# torch threads per playground run: the 2-D nets are too small to gain from a second thread
# (best preset on the ring, idle 2-core machine: 106 steps/s on one thread, 93 on two), and a
# thread that does not spin leaves the other core to the browser and the server.
THREADS = 1


def toy(data: str = "ring", loss: str = "ns", model: Dict = None, **train) -> RunConfig:
    """A playground run: the MLP GAN on a 2-D set, 512 fixed-noise points to watch."""
    m = dict(name="mlp", z_dim=2, width=128)
    m.update(model or {})
    t = dict(loss=loss, steps=FOREVER, batch_size=256, lr_g=5e-4, lr_d=5e-4, n_samples=512,
             log_every=10, sample_every=5000, device="cpu")
    t.update(train)
    return RunConfig(DataConfig(name=data), ModelConfig(**m), TrainConfig(**t))


# The best recipe found for the mixtures (bench/playground_modes.py measures it): a small
# noise space, a big batch, an EMA of G and two timescales, D learning twice as fast as G
# (Heusel et al. 2017). With equal rates (5e-4) the grid lost modes for 1 seed in 3 within
# 60 s; with lr_d 1e-3 all 25 modes for 5 seeds in 6, at 93-97% high quality.
BEST = toy(batch_size=512, ema=0.99, lr_d=1e-3)


# The classic setting of Metz et al. 2017 (unrolled GANs), in which a plain GAN collapses:
# non-saturating loss, 64-d noise, lr 1e-4, batch 512. bench/lessons.py measures it.
VANILLA = toy(loss="ns", model=dict(z_dim=64), lr_g=1e-4, lr_d=1e-4, batch_size=512)


def best_preset(data: str) -> RunConfig:
    cfg = copy.deepcopy(BEST)
    cfg.data.name = data
    return cfg


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    text: str
    runs: Tuple[Tuple[str, RunConfig], ...]


LESSONS: Dict[str, Lesson] = {}


def _add(key: str, title: str, text: str, *runs: Tuple[str, RunConfig]) -> None:
    LESSONS[key] = Lesson(key, title, " ".join(text.split()), tuple(runs))


_add("collapse", "1. Mode collapse",
     """A plain GAN on the ring of 8 Gaussians, in the classic setting where it fails
     (Metz et al. 2017: 64-d noise, learning rate 1e-4, batches of 512). Watch the
     purple points: instead of spreading over the eight modes they crowd into one
     clump that wanders from mode to mode, and the mode count stays at 0 or 1 of 8.
     G is rewarded for any point D currently believes, so it chases D's favourite
     spot; D then learns that spot is fake, and G moves on, never covering everything.""",
     ("vanilla GAN", VANILLA))

_add("fixes", "2. Fixing mode collapse",
     """The same ring with three fixes side by side. WGAN-GP gives G useful gradients
     everywhere (its penalty weight is 1 here, not the usual 10, because the plane is
     small), spectral norm with the hinge loss keeps D smooth (with the SNGAN paper's
     five D steps per G step and Adam betas 0 and 0.9), and minibatch std lets D see
     that a batch of near-identical points is fake. All three reach the eight modes;
     compare how quickly, and how differently D's heatmap looks.""",
     ("WGAN-GP", toy(loss="wgan-gp", gp_weight=1.0, lr_g=1e-3, lr_d=1e-3, beta1=0.5, beta2=0.9)),
     ("spectral norm + hinge", toy(loss="hinge", model=dict(spectral_norm=True), n_critic=5, lr_g=1e-4,
                                   lr_d=1e-3, beta1=0.0, beta2=0.9)),
     ("minibatch std", toy(loss="ns", model=dict(minibatch_std=True))))

_add("saturation", "3. Minimax vs non-saturating loss",
     """Both runs face a strong D (five D steps per G step, a faster D), and D soon
     rejects G's points (D(G(z)) near 0.2). With the original minimax loss
     log(1 - D(G(z))), G's gradient is weakest exactly there: the arrows on the left
     are several times shorter (watch the mean |grad G| under the panels) and G
     moves slowly. The non-saturating loss -log D(G(z)) has its steepest gradient
     where D rejects, so the same G gets a much stronger push.""",
     ("minimax", toy(loss="minimax", n_critic=5, lr_d=2e-3, lr_g=2e-4)),
     ("non-saturating", toy(loss="ns", n_critic=5, lr_d=2e-3, lr_g=2e-4)))

_add("imbalance", "4. Learning-rate imbalance",
     """On the left G learns 20 times faster than D (with Adam's beta1 at 0.9): it
     overshoots whatever D currently likes, D cannot keep up, and G's points sweep
     across the plane without ever settling on the ring. On the right the
     two-timescale rule (a faster D, a slower G; Heusel et al. 2017) lets D settle
     first, and G follows it steadily onto all eight modes.""",
     ("G 20x faster", toy(lr_g=4e-3, lr_d=2e-4, beta1=0.9)),
     ("two timescales", toy(lr_g=1e-4, lr_d=4e-4)))

_add("smoothing", "5. Label smoothing and instance noise",
     """Watch D's heatmap. Without help D paints much of the plane flat green or flat
     purple (certain it is real or fake), and where it is flat its gradient is
     zero. Instance noise blurs both distributions so their supports overlap: D's
     map turns into soft gradients almost everywhere and G's arrows grow. One-sided
     label smoothing (real target 0.8) mainly stops D from being over-confident on
     real points: D(x) drops, the map changes little.""",
     ("no regularisation", toy(n_critic=3, lr_d=1e-3)),
     ("label smoothing 0.2", toy(n_critic=3, lr_d=1e-3, label_smoothing=0.2)),
     ("instance noise 0.1", toy(n_critic=3, lr_d=1e-3, instance_noise=0.1)))


def lesson_names() -> List[Tuple[str, str]]:
    return [(lesson.title, key) for key, lesson in LESSONS.items()]
