"""Typed configuration, saved as ``config.json`` next to every run and checkpoint.

A run is described by one :class:`RunConfig` made of three parts:

    cfg = RunConfig(data=DataConfig(name="ring"),
                    model=ModelConfig(name="mlp"),
                    train=TrainConfig(loss="ns", steps=2000))
    cfg.validate()                      # GanlabError on bad values
    RunConfig.from_dict(json.loads(text))   # unknown keys are an error

Everything a run needs to be rebuilt from disk lives here; nothing else is
read from globals.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

from .errors import GanlabError

Z_DISTS = ("gaussian", "uniform")
PRECISIONS = ("auto", "fp32", "bf16")
D_NORMS = ("none", "batch")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
MASKS = ("rect", "stroke", "mixed")


@dataclass
class DataConfig:
    name: str = "ring"                 # see `python -m ganlab list`
    root: Optional[str] = None         # where downloads go and files are looked for
    resolution: Optional[int] = None   # image side in px; None = the set's own size
    channels: Optional[int] = None     # force 1 or 3 channels; None = the set's own
    n: Optional[int] = None            # size of generated sets (toys, shapes)
    download: bool = True              # allowed to fetch missing data when online
    label: Optional[str] = None        # the class to condition on where a set has several, e.g.
                                       # shapes: shape | colour | size | position | shape+colour


@dataclass
class ModelConfig:
    name: str = "mlp"                  # see `python -m ganlab list`
    z_dim: Optional[int] = None        # noise dimension; None = the family's default
    width: Optional[int] = None        # hidden units (MLP) or base channels (DCGAN); None = default
    depth: int = 3                     # hidden layers (MLP)
    spectral_norm: bool = False        # spectral norm on every D layer
    minibatch_std: bool = False        # D sees the batch's feature spread (Karras et al. 2018)
    z_dist: str = "gaussian"           # noise distribution: gaussian | uniform (in [-1, 1])
    num_classes: Optional[int] = None  # classes of a conditional family, filled in from the data
    factorised: bool = False           # a label of parts (shape+colour): one embedding per part, summed
    class_factors: Optional[List[int]] = None   # values per label part, filled in from the data
    clip: Optional[str] = None         # text-gan's embedder: minilm | openclip:MODEL:TAG | a folder
    cond_dim: Optional[int] = None     # text-gan's condition size, filled in from the embedder
    mapping_depth: Optional[int] = None  # stylegan: layers of the mapping network z -> w; None = 8
    grow_every: Optional[int] = None   # progan: steps per phase (stable, then each fade-in); None = 1000
    in_channels: Optional[int] = None  # image-to-image: the input's channels, filled in from the data
    sr_scale: Optional[int] = None     # srgan: 2 or 4; None = 4
    d_norm: str = "none"               # dcgan: D's normalisation, none | batch (BatchNorm after every conv but
                                       # the first, as pytorch/examples' DCGAN; it mixes a batch's samples)


@dataclass
class TrainConfig:
    loss: str = "ns"
    optimizer: str = "adam"            # adam | sgd | rmsprop
    steps: int = 2000                  # generator steps
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    n_critic: int = 1                  # D steps per G step
    label_smoothing: float = 0.0       # one-sided: real target becomes 1 - this
    instance_noise: float = 0.0        # std of noise added to D inputs, annealed to 0
    clip: float = 0.01                 # weight clip for the "wgan" loss
    gp_weight: float = 10.0            # gradient penalty weight for "wgan-gp"
    ema: float = 0.0                   # EMA decay of G used for samples; 0 = off
    augment: str = ""                  # DiffAugment for D's inputs: "translation,cutout,color" or ""
    r1: float = 0.0                    # R1 penalty weight (gamma) on real images; 0 = off
    condition: str = "image"           # text-gan: image (LAFITE: perturbed image embeddings), caption, mixed
    clip_noise: float = 0.25           # text-gan: LAFITE's perturbation level xi of image embeddings
    contrastive: float = 1.0           # text-gan: weight of the contrastive terms (D's and the embedder's)
    diversity: float = 0.0             # mode-seeking weight (MSGAN): two noises, one condition, two images
    style_mixing: float = 0.9          # stylegan: share of G's batches drawn from two w's (mixing regularisation)
    r1_every: Optional[int] = None     # lazy R1: the penalty every this many steps, scaled up to match;
                                       # None = the family's default (16 for stylegan, else every step)
    recon: Optional[float] = None      # image-to-image: the reconstruction weight; None = the family's own
                                       # (pix2pix's L1 100, cyclegan's cycle 10, srgan's and inpaint's 100)
    adversarial: float = 1.0           # image-to-image: weight of G's adversarial term; 0 = the L1-only baseline
    identity: float = 0.5              # cyclegan: identity loss, as a share of the cycle weight
    mask: str = "mixed"                # inpaint: holes drawn as rect | stroke | mixed (half each)
    seed: int = 0
    device: str = "auto"               # auto | cpu | cuda | mps
    precision: str = "auto"            # auto | fp32 | bf16: autocast of G's and D's training passes to bfloat16;
                                       # auto = bf16 on a CUDA GPU that has it, fp32 elsewhere
    channels_last: Optional[bool] = None   # NHWC memory for the conv nets; None = on for the plain image families
    compile: bool = False              # torch.compile G and D (needs a C++ compiler); the first steps compile
    log_every: int = 10                # steps averaged into one metrics.jsonl row
    sample_every: int = 100            # steps between saved sample grids
    checkpoint_every: int = 0          # steps between checkpoints; 0 = only at the end
    n_samples: int = 64                # fixed-noise samples per grid
    eval_every: int = 0                # steps between FID/precision/recall estimates; 0 = off
    eval_n: int = 1000                 # generated and real images per estimate
    minutes: float = 0.0               # time budget: each start trains at most this many minutes, then checkpoints
                                       # and stops as finished (0 = no limit; the step count still applies)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "RunConfig":
        parts = {}
        for f in dataclasses.fields(cls):
            sub_cls = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}[f.name]
            parts[f.name] = _build(sub_cls, d.get(f.name, {}), f.name)
        unknown = set(d) - set(parts)
        if unknown:
            raise GanlabError(f"config.json has unknown sections {sorted(unknown)}; is it a ganlab run?")
        return cls(**parts)

    def validate(self) -> "RunConfig":
        t, m = self.train, self.model
        positive = {"lr_g": t.lr_g, "lr_d": t.lr_d}
        for name, v in positive.items():
            if not v > 0:
                raise GanlabError(f"The learning rate {name} must be greater than 0 (got {v}).")
        if t.steps < 0:
            raise GanlabError(f"The number of steps cannot be negative (got {t.steps}).")
        if not (isinstance(t.seed, int) and 0 <= t.seed < 2**63):
            raise GanlabError(f"The seed must be a whole number from 0 to 2**63 - 1 (got {str(t.seed)[:40]}).")
        if t.batch_size < 1:
            raise GanlabError(f"The batch size must be at least 1 (got {t.batch_size}).")
        if t.n_critic < 1:
            raise GanlabError(f"n_critic (D steps per G step) must be at least 1 (got {t.n_critic}).")
        if not (0 <= t.beta1 < 1 and 0 <= t.beta2 < 1):
            raise GanlabError(f"Adam betas must lie in [0, 1) (got {t.beta1}, {t.beta2}).")
        if not 0 <= t.label_smoothing < 0.5:
            raise GanlabError(f"Label smoothing must lie in [0, 0.5) (got {t.label_smoothing}).")
        if t.instance_noise < 0:
            raise GanlabError(f"Instance noise cannot be negative (got {t.instance_noise}).")
        if not 0 <= t.ema < 1:
            raise GanlabError(f"The EMA decay must lie in [0, 1) (got {t.ema}).")
        if t.condition not in ("image", "caption", "mixed"):
            raise GanlabError(f"condition must be image, caption or mixed (got {t.condition!r}).")
        if t.clip_noise < 0 or t.contrastive < 0 or t.diversity < 0:
            raise GanlabError("clip_noise, contrastive and diversity cannot be negative.")
        if t.r1 < 0:
            raise GanlabError(f"The R1 weight cannot be negative (got {t.r1}).")
        from .augment import check_policy
        check_policy(t.augment)
        if t.clip <= 0 or t.gp_weight < 0:
            raise GanlabError("The weight clip must be > 0 and the gradient-penalty weight >= 0.")
        if t.log_every < 1 or t.sample_every < 1 or t.checkpoint_every < 0 or t.n_samples < 1:
            raise GanlabError("log_every, sample_every and n_samples must be >= 1, checkpoint_every >= 0.")
        if not 0 <= t.minutes <= 7 * 24 * 60:
            raise GanlabError(f"The time budget is 0 (none) to 10,080 minutes (a week), not {t.minutes}.")
        if t.eval_every < 0 or t.eval_n < 10:
            raise GanlabError(f"eval_every must be >= 0 (0 = off) and eval_n at least 10 (got {t.eval_every}, "
                              f"{t.eval_n}).")
        if (m.z_dim or 1) < 1 or (m.width or 1) < 1 or m.depth < 1:
            raise GanlabError(f"z_dim, width and depth must be at least 1 (got {m.z_dim}, {m.width}, {m.depth}).")
        if (m.mapping_depth or 1) < 1 or (m.grow_every or 1) < 1 or (t.r1_every or 1) < 1:
            raise GanlabError("mapping_depth, grow_every and r1_every must be at least 1.")
        if not 0 <= t.style_mixing <= 1:
            raise GanlabError(f"style_mixing is a probability, in [0, 1] (got {t.style_mixing}).")
        if (t.recon or 0) < 0 or t.adversarial < 0 or t.identity < 0:
            raise GanlabError("recon, adversarial and identity are weights and cannot be negative.")
        if t.mask not in MASKS:
            raise GanlabError(f"Unknown mask kind {t.mask!r}; use one of: {', '.join(MASKS)}.")
        if m.sr_scale not in (None, 2, 4):
            raise GanlabError(f"sr_scale must be 2 or 4 (got {m.sr_scale}).")
        if t.precision not in PRECISIONS:
            raise GanlabError(f"Unknown precision {t.precision!r}; use one of: {', '.join(PRECISIONS)}.")
        if m.d_norm not in D_NORMS:
            raise GanlabError(f"Unknown d_norm {m.d_norm!r}; use one of: {', '.join(D_NORMS)}.")
        if m.d_norm != "none" and m.name != "dcgan":
            raise GanlabError(f"d_norm applies to the dcgan family only (got it for {m.name}).")
        if m.d_norm == "batch" and t.loss == "wgan-gp":
            raise GanlabError("A BatchNorm D mixes a batch's samples, so the per-sample gradient penalty of "
                              "wgan-gp does not hold; use d_norm none with wgan-gp.")
        if m.z_dist not in Z_DISTS:
            raise GanlabError(f"Unknown noise distribution {m.z_dist!r}; use one of: {', '.join(Z_DISTS)}.")
        if t.optimizer not in OPTIMIZERS:
            raise GanlabError(f"Unknown optimizer {t.optimizer!r}; use one of: {', '.join(OPTIMIZERS)}.")
        if t.device not in ("auto", "cpu", "cuda", "mps") and not t.device.startswith("cuda:"):
            raise GanlabError(f"Unknown device {t.device!r}; use auto, cpu, cuda or mps.")
        return self


def _build(cls, values: Any, section: str):
    if not isinstance(values, dict):
        raise GanlabError(f"config section {section!r} must be a JSON object.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise GanlabError(f"Unknown {section} option(s) {sorted(unknown)}; known: {sorted(names)}.")
    return cls(**values)
