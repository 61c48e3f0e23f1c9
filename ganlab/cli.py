"""Command line: ``python -m ganlab train | sample | eval | project | translate | list``.

    python -m ganlab train --data ring --model mlp --loss ns --steps 2000 --out runs/ring
    python -m ganlab train --resume runs/ring --steps 4000 --lr-g 1e-4   # rates, schedules, device may change
    python -m ganlab sample --run runs/ring --n 64 --seed 0 --out grid.png
    python -m ganlab sample --run models/fashion-mnist-cgan --class Sneaker --truncation 0.8 --out sneakers.png
    python -m ganlab sample --run RUN --interpolate 1 2 --frames 24 --out walk.gif
    python -m ganlab sample --run RUN --n 5000 --out synthetic/        # a folder: PNGs + labels.csv
    python -m ganlab eval --run runs/fmnist --metrics fid,kid,pr --n 10000 --json
    python -m ganlab eval --floor fashion-mnist --n 10000      # real test vs real train: "perfect"
    python -m ganlab eval --run RUN --metrics ppl --ppl-n 2000   # perceptual path length in Z (and W)
    python -m ganlab project --run RUN --image me.png --out me.safetensors --png side.png   # GAN inversion
    python -m ganlab translate --run runs/edges2emoji-pix2pix --input sketches/ --out emoji/  # image-to-image
    python -m ganlab list
    python -m ganlab worker --device cuda:1 --listen 127.0.0.1:7001 --authkey-file worker.key   # a GPU worker

User mistakes print one sentence on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import torch
from tqdm import tqdm

from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .data import list_datasets
from .distributed import World, join
from .engine import Engine
from .errors import GanlabError
from .losses import describe_losses
from .nets import MODELS
from .sampling import load_generator
from .text.prior import RULES
from .trainer import configure_threads
from .viz import samples_image


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a GAN into a run folder")
    d, m, t = DataConfig(), ModelConfig(), TrainConfig()
    p.add_argument("--data", help="dataset name (see `list`); default ring")
    p.add_argument("--model", help="model name (see `list`); default mlp")
    p.add_argument("--loss", help="loss name (see `list`); default ns")
    p.add_argument("--steps", type=int, help=f"generator steps (default {t.steps})")
    p.add_argument("--minutes", type=float, help="time budget: stop after this many minutes of training (a "
                   "checkpoint is saved); with --resume, this many more")
    p.add_argument("--out", type=Path, help="new run folder")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue this run from its last checkpoint; --steps, --device, the rates and the "
                        "schedules (--lr-g, --n-critic, --eval-every, ...) may change, nothing else")
    p.add_argument("--preset", help="start from a named recipe (see `list`); other flags override it")
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr-g", type=float, default=t.lr_g)
    p.add_argument("--lr-d", type=float, default=t.lr_d)
    p.add_argument("--beta1", type=float, default=t.beta1)
    p.add_argument("--beta2", type=float, default=t.beta2)
    p.add_argument("--n-critic", type=int, default=t.n_critic, help="D steps per G step")
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--device", default=t.device, help="auto | cpu | cuda | mps")
    p.add_argument("--precision", default=t.precision, choices=["auto", "fp32", "bf16"],
                   help="bf16 autocast of the training passes (auto: bf16 on a CUDA GPU, fp32 on the CPU; "
                        "bf16 also speeds up CPUs with AVX-512 BF16 or AMX)")
    p.add_argument("--channels-last", dest="channels_last", action="store_const", const=True,
                   default=t.channels_last, help="NHWC memory for the conv nets (default: on for dcgan-style nets)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False)
    p.add_argument("--compile", action="store_true", help="torch.compile G and D (needs a C++ compiler; "
                   "the first steps compile, which takes from seconds to a minute)")
    p.add_argument("--d-norm", default=m.d_norm, choices=["none", "batch"],
                   help="dcgan: BatchNorm in D as pytorch/examples' DCGAN (not with wgan-gp)")
    p.add_argument("--spectral-norm", action="store_true", help="spectral norm on D's layers")
    p.add_argument("--minibatch-std", action="store_true", help="D sees each batch's spread (against collapse)")
    p.add_argument("--label", default=d.label, help="class to condition on where a set has several, "
                   "e.g. shapes: shape, colour or shape+colour")
    p.add_argument("--factorised", action="store_true", help="with a label of parts (shape+colour): learn one "
                   "embedding per part and sum them, so each part is learned from all its classes")
    p.add_argument("--augment", default=t.augment, help="DiffAugment for D: e.g. translation,cutout")
    p.add_argument("--r1", type=float, default=t.r1, help="R1 penalty weight on real images, e.g. 1.0")
    p.add_argument("--clip", default=m.clip, help="text-gan's embedder: minilm (offline) or openclip:MODEL:TAG "
                   "(a number here is read as --weight-clip, its meaning before text-gan)")
    p.add_argument("--condition", default=t.condition, choices=["image", "caption", "mixed"],
                   help="text-gan: perturbed image embeddings (LAFITE), caption embeddings, or both")
    p.add_argument("--clip-noise", type=float, default=t.clip_noise, help="text-gan: LAFITE's perturbation xi")
    p.add_argument("--contrastive", type=float, default=t.contrastive, help="text-gan: contrastive weight")
    p.add_argument("--diversity", type=float, default=t.diversity,
                   help="mode-seeking weight (MSGAN), so one class or prompt does not give one image (e.g. 1.0)")
    p.add_argument("--label-smoothing", type=float, default=t.label_smoothing, help="one-sided, e.g. 0.1")
    p.add_argument("--instance-noise", type=float, default=t.instance_noise, help="std, annealed to 0")
    p.add_argument("--ema", type=float, default=t.ema, help="EMA decay of G for samples, e.g. 0.999")
    p.add_argument("--weight-clip", type=float, default=t.clip, help="weight clip for wgan")
    p.add_argument("--gp-weight", type=float, default=t.gp_weight, help="penalty weight for wgan-gp")
    p.add_argument("--style-mixing", type=float, default=t.style_mixing,
                   help="stylegan: share of batches drawn from two latents (mixing regularisation)")
    p.add_argument("--r1-every", type=int, default=t.r1_every,
                   help="lazy R1: the penalty every N steps (default: 16 for stylegan, else 1)")
    p.add_argument("--mapping-depth", type=int, default=m.mapping_depth, help="stylegan: mapping layers (8)")
    p.add_argument("--grow-every", type=int, default=m.grow_every,
                   help="progan: steps per phase (at 8 px, then each fade-in and each stable stage; 1000)")
    p.add_argument("--sr-scale", type=int, default=m.sr_scale, choices=[2, 4], help="srgan: upscaling factor (4)")
    p.add_argument("--recon", type=float, default=t.recon,
                   help="image-to-image: reconstruction weight (pix2pix L1 100, cyclegan cycle 10, srgan/inpaint 100)")
    p.add_argument("--adversarial", type=float, default=t.adversarial,
                   help="image-to-image: weight of G's adversarial term; 0 trains the L1-only baseline")
    p.add_argument("--identity", type=float, default=t.identity,
                   help="cyclegan: identity loss as a share of the cycle weight (0.5)")
    p.add_argument("--mask", default=t.mask, choices=["rect", "stroke", "mixed"], help="inpaint: the holes drawn")
    p.add_argument("--z-dim", type=int, default=m.z_dim)
    p.add_argument("--width", type=int, default=m.width)
    p.add_argument("--depth", type=int, default=m.depth)
    p.add_argument("--resolution", type=int, default=d.resolution, help="image side in px")
    p.add_argument("--channels", type=int, default=d.channels, choices=[1, 3])
    p.add_argument("--data-root", default=d.root, help="folder for downloaded data")
    p.add_argument("--n", "--items", type=int, default=d.n,
                   help="items in generated sets (toys, shapes); --items under torchrun, which takes --n for its own")
    p.add_argument("--offline", action="store_true", help="never try to download data")
    p.add_argument("--log-every", type=int, default=t.log_every)
    p.add_argument("--sample-every", type=int, default=t.sample_every)
    p.add_argument("--checkpoint-every", type=int, default=t.checkpoint_every)
    p.add_argument("--eval-every", type=int, default=t.eval_every,
                   help="steps between FID/precision/recall estimates (0 = off)")
    p.add_argument("--eval-n", type=int, default=t.eval_n, help="images per estimate")


# flag (argparse dest) -> (config section, field); flags given on the command line override a preset
FIELDS = {
    "data": ("data", "name"), "data_root": ("data", "root"), "resolution": ("data", "resolution"),
    "channels": ("data", "channels"), "n": ("data", "n"), "label": ("data", "label"),
    "model": ("model", "name"), "z_dim": ("model", "z_dim"), "width": ("model", "width"),
    "depth": ("model", "depth"), "spectral_norm": ("model", "spectral_norm"),
    "minibatch_std": ("model", "minibatch_std"), "factorised": ("model", "factorised"),
    "clip": ("model", "clip"), "weight_clip": ("train", "clip"),
    "mapping_depth": ("model", "mapping_depth"), "grow_every": ("model", "grow_every"),
    "sr_scale": ("model", "sr_scale"), "d_norm": ("model", "d_norm"),
    **{k: ("train", k) for k in ("loss", "steps", "batch_size", "lr_g", "lr_d", "beta1", "beta2", "n_critic",
                                 "label_smoothing", "instance_noise", "gp_weight", "ema", "augment", "r1",
                                 "seed", "device", "log_every", "sample_every", "checkpoint_every", "eval_every",
                                 "eval_n", "condition", "clip_noise", "contrastive", "diversity",
                                 "style_mixing", "r1_every", "recon", "adversarial", "identity", "mask",
                                 "precision", "channels_last", "compile", "minutes")},
}


def _config_from_args(a, explicit=None) -> RunConfig:
    """The run's config: a preset (or the defaults) with every flag applied.

    ``explicit`` names the flags typed on the command line; with a preset only
    those override it, so the preset's own values are not reset to the defaults.
    """
    from .presets import dataset_recipe
    recipe = None if a.preset else dataset_recipe(getattr(a, "data", None) or "", getattr(a, "model", None))
    if a.preset or recipe is not None:
        # a preset, or the dataset's own recipe (the one the Train tab picks for it): typed flags override it
        from .presets import preset
        cfg = preset(a.preset) if a.preset else recipe
        chosen = set(explicit or ())
    else:
        cfg = RunConfig(data=DataConfig(name="ring"), model=ModelConfig(name="mlp"),
                        train=TrainConfig(loss="ns", steps=2000))
        chosen = {k for k in FIELDS if getattr(a, k, None) is not None}
    if getattr(a, "clip", None) is not None and _is_number(a.clip):    # the old spelling of --weight-clip
        a.weight_clip, a.clip = float(a.clip), None
        chosen = (chosen - {"clip"}) | {"weight_clip"}
    for dest in chosen & set(FIELDS):
        section, field = FIELDS[dest]
        setattr(getattr(cfg, section), field, getattr(a, dest))
    if a.offline:
        cfg.data.download = False
    return cfg


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _explicit(parser: argparse.ArgumentParser, argv: Optional[List[str]]) -> set:
    """The dests of the options actually typed (a parse where every default is 'not given')."""
    quiet = copy.deepcopy(parser)
    for action in quiet._subparsers._group_actions[0].choices["train"]._actions:
        action.default = argparse.SUPPRESS
    ns = quiet.parse_args(argv)
    return set(vars(ns)) - {"command"}


# what a resumed run may change (argparse dest = TrainConfig field): its length, where it runs, its rates
# and schedules. The nets, data and loss are the checkpoint's; --ema cannot start mid-run (no G_ema to load).
RESUMABLE = ("steps", "device", "lr_g", "lr_d", "n_critic", "eval_every", "eval_n", "sample_every",
             "checkpoint_every", "log_every",
             "precision", "channels_last", "compile", "minutes")


def _open_resumed(a, silent: bool = False) -> Engine:
    """Engine.open with the typed flags a resumed run may change; any other typed flag is refused."""
    refused = [d for d in vars(a) if d in a.explicit and d not in RESUMABLE + ("resume", "offline")]
    if "out" in refused:
        raise GanlabError("Give --resume RUN_DIR to continue a run or --out RUN_DIR for a new one, not both.")
    if refused:
        names = [f"--{d.replace('_', '-')}" for d in refused]    # in the order --help lists them
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        raise GanlabError(f"{listed} cannot change when resuming a run; start a new run with --out instead.")
    chosen = {d: getattr(a, d) for d in RESUMABLE if d in a.explicit}

    def changes(cfg: RunConfig) -> set:              # before the nets are built: the device takes effect
        for field, value in chosen.items():
            setattr(cfg.train, field, value)
        if a.offline:
            cfg.data.download = False
        return set(chosen)                               # what was typed wins over the checkpoint's rates

    return Engine.open(a.resume, changes=changes, silent=silent)


def cmd_train(a) -> int:
    """One run; under torchrun, one process of a data-parallel run (ganlab.distributed): rank 0 writes
    and reports, the others train the same steps silently."""
    world = join(_train_device(a))
    try:
        engine = _train_engine(a, world)
        if not world.is_main:
            return _follow(engine)
        return _report_training(engine, world)
    finally:
        world.close()


def _train_device(a) -> str:
    """The --device the run will use (a resumed run keeps its own unless one is typed)."""
    if a.resume and "device" not in a.explicit:
        from .checkpoint import read_config
        try:
            return read_config(a.resume).train.device
        except GanlabError:
            return a.device                            # no readable run there: _open_resumed says so
    return a.device


def _train_engine(a, world: World) -> Engine:
    """The run's engine; data-parallel, rank 0's writes and the others' are silent, and all ranks stop
    together when any could not build its part (e.g. rank 0 finding --out already holds a run)."""
    failure: Optional[GanlabError] = None
    engine = None
    try:
        if a.resume:
            engine = _open_resumed(a, silent=not world.is_main)
        else:
            if a.out is None:
                raise GanlabError("Say where the run goes with --out RUN_DIR (or continue one with --resume).")
            engine = Engine.new(_config_from_args(a, a.explicit), a.out, silent=not world.is_main)
    except GanlabError as e:
        failure = e
    if not world.agree(failure is None):
        raise failure or GanlabError("Another process of this data-parallel run could not start; see its error.")
    return engine


def _follow(engine: Engine) -> int:
    """Ranks 1..: train until the run ends (at the step count, as rank 0 does); write and print nothing."""
    engine.start()
    cursor = 0
    try:
        while engine.state == "running":
            engine.wait_for_metrics(cursor, timeout=0.5)
            cursor = engine.metrics_since(cursor)[1]
    finally:
        engine.stop()
    if engine.status()["error"]:
        raise GanlabError(engine.status()["error"])
    return 0


def _report_training(engine: Engine, world: World) -> int:
    st = engine.status()
    batch = engine.trainer.cfg.train.batch_size
    ranks = f" in {world.size} processes ({batch // world.size} of each batch of {batch} apiece)" \
            if world.parallel else ""
    print(f"run {st['run_dir']} on {st['device']}{ranks}: {len(engine.trainer.data)} items "
          f"({engine.trainer.data.note or engine.trainer.cfg.data.name})", file=sys.stderr)
    bar = tqdm(total=st["steps"], initial=st["step"], unit="step", dynamic_ncols=True)
    engine.start()
    try:
        cursor = len(engine.metrics_since(0)[0])
        while engine.state == "running":
            engine.wait_for_metrics(cursor, timeout=0.5)
            rows, cursor = engine.metrics_since(cursor)
            st = engine.status()
            bar.update(st["step"] - bar.n)
            train_rows = [r for r in rows if "loss_d" in r]        # the evaluator's FID rows carry no losses
            fid_rows = [r for r in rows if "fid" in r]
            if train_rows:
                r = train_rows[-1]
                bar.set_postfix(loss_d=f"{r['loss_d']:.3f}", loss_g=f"{r['loss_g']:.3f}",
                                img_s=f"{st['images_per_s']:.0f}")
            for r in fid_rows:
                bar.write(f"step {r['step']:,}: FID estimate {r['fid']:.1f} on {r['eval_n']:,} images, "
                          f"precision {r['precision']:.2f}, recall {r['recall']:.2f}")
    except KeyboardInterrupt:
        print("\ninterrupted; saving a checkpoint", file=sys.stderr)
    finally:
        engine.stop()
        bar.update(engine.status()["step"] - bar.n)
        bar.close()
    if engine.evaluation_pending():
        print("waiting for the last FID estimate ...", file=sys.stderr)
        engine.wait_for_evaluation()
    for f in engine.health():
        print(f"health: {f.title} (step {f.step:,}). {f.detail} Try: {f.fix}", file=sys.stderr)
    st = engine.status()
    if st["error"]:
        raise GanlabError(st["error"])
    budget = st.get("budget_s")
    if budget and st["step"] < st["steps"]:
        print(f"the time budget of {budget / 60:g} min is spent: {st['trained_s'] / 60:.1f} min of training reached "
              f"step {st['step']:,} of {st['steps']:,}", file=sys.stderr)
    print(f"step {st['step']}: checkpoint {st['checkpoint']}", file=sys.stderr)
    print(f"continue with: python -m ganlab train --resume {st['run_dir']} --steps N", file=sys.stderr)
    return 0


def cmd_sample(a) -> int:
    from .explore import Explorer, truncate
    from .export import check_picture_path, save_animation, save_image_folder
    from .sampling import class_index, generate, is_conditional, noise
    out_text = str(a.out)                   # a string: Path() would drop the trailing "/" that means "folder"
    a.out = Path(out_text)
    to_folder = out_text.endswith(("/", os.sep)) or a.out.is_dir() or not a.out.suffix
    if not to_folder and not a.interpolate:
        check_picture_path(a.out)
    G, cfg, step = load_generator(a.run)
    if not G.z_dim:
        raise GanlabError(f"{a.run} is an image-to-image model ({cfg.model.name}): it draws from an input, not "
                          f"from noise; use `python -m ganlab translate --run {a.run} --input DIR --out DIR`.")
    labels = None
    if a.classes:
        if not is_conditional(G):
            raise GanlabError(f"{a.run} is not class-conditioned, so --class does not apply.")
        ids = [class_index(G, c) for c in a.classes]
        labels = torch.tensor(ids).repeat(a.n // len(ids) + 1)[:a.n]
    elif is_conditional(G):
        labels = torch.arange(a.n) % G.num_classes
    if a.prompt:
        return _sample_prompt(a, G, cfg, step, to_folder)
    ex = Explorer(G, cfg, step, str(a.run))
    if a.interpolate:
        y = labels[:1] if labels is not None else None
        frames = ex.walk(ex.z(a.interpolate[0]), ex.z(a.interpolate[1]), a.frames, a.mode, a.truncation, y,
                         space=a.space)
        out = save_animation(frames, a.out, fps=a.fps)
        how = "straight line in W" if (a.space or ("w" if ex.style else "z")) == "w" else a.mode
        print(f"{a.frames}-frame walk ({how}) from seed {a.interpolate[0]} to {a.interpolate[1]} -> {out}")
        return 0
    if a.mix:
        return _sample_mix(a, G, to_folder)
    if a.n < 1:
        raise GanlabError(f"The number of samples must be at least 1 (got {a.n}).")
    if ex.style:                                        # truncation in W, and the noise as asked
        from .style.cli import styled_samples
        x = styled_samples(G, a.n, a.seed, a.truncation, a.noise or "const", a.noise_layers or "")
    elif a.noise or a.noise_layers:
        raise GanlabError(f"{a.run} has no noise inputs; --noise needs a style-based model (stylegan).")
    else:
        x = generate(G, truncate(noise(G, a.n, a.seed), a.truncation), labels)
    if to_folder:
        names = getattr(G, "class_names", [])
        save_image_folder(x, a.out, labels, names)
        print(f"{a.n} images from {cfg.model.name} on {cfg.data.name} at step {step} -> {a.out} "
              f"(one PNG each, labels.csv)")
        return 0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    nrow = None
    if labels is not None and not a.classes:
        nrow = max(1, a.n // G.num_classes)
        x = x[torch.argsort(labels[:len(x)], stable=True)]           # one row per class
    samples_image(x, nrow=nrow).save(a.out)
    print(f"{a.n} samples from {cfg.model.name} on {cfg.data.name} at step {step} -> {a.out}")
    return 0


def _sample_mix(a, G, to_folder: bool) -> int:
    """``sample --mix ROWS COLS --layers L``: the style-mixing grid."""
    from .style.cli import mix_picture
    if to_folder:
        raise GanlabError("--mix writes one grid picture; give --out a .png name.")
    x, nrow, words = mix_picture(G, a.mix[0], a.mix[1], a.layers, a.truncation)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    samples_image(x, nrow=nrow).save(a.out)
    print(f"style mixing: {words} -> {a.out}")
    return 0


def _sample_prompt(a, G, cfg, step, to_folder: bool) -> int:
    """``sample --prompt``: images from a text-gan, with their CLIP scores and the domain check."""
    from .export import save_image_folder
    from .text.generate import TextGenerator, changed_words
    tg = TextGenerator.around(G, cfg, step, a.run)
    dom = tg.domain(a.prompt)
    print(dom.sentence(), file=sys.stderr)
    read = tg.read_as(a.prompt, a.prior)
    if read:
        print(f"Read as the training caption “{read}” ({tg.prior.check(a.prior)} prior; --prior none to turn it off).",
              file=sys.stderr)
        changed = changed_words(a.prompt, read)
        if changed:
            print(f"Changed: {changed} (no training caption has what you typed together).", file=sys.stderr)
    also = tg.also_close(a.prompt)
    if also:
        print(also, file=sys.stderr)
    x = tg.generate(a.prompt, a.n, a.seed, a.truncation, prior=a.prior)
    if to_folder:
        save_image_folder(x, a.out, captions=[a.prompt] * len(x))
    else:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        samples_image(x).save(a.out)
    kept = " (one PNG each, labels.csv with the prompt)" if to_folder else ""
    print(f"{a.n} images for “{a.prompt}” (mean CLIP score {float(tg.scores(x, a.prompt).mean()):.3f}) "
          f"-> {a.out}{kept}")
    return 0


def cmd_eval(a) -> int:
    from .metrics.evaluate import evaluate_floor, evaluate_run, format_report, parse_metrics
    names = [m.strip().lower() for m in a.metrics.split(",") if m.strip()]
    want_ppl = "ppl" in names                    # needs no real images, so it is measured apart (style/ppl.py)
    rest = [m for m in names if m != "ppl"]
    metrics = parse_metrics(",".join(rest)) if rest or not want_ppl else []
    if (a.run is None) == (a.floor is None):
        raise GanlabError("Say what to evaluate: --run RUN_DIR, or --floor DATASET for real-vs-real.")
    if a.floor and want_ppl:
        raise GanlabError("Perceptual path length measures a generator; use --run RUN_DIR with --metrics ppl.")
    if a.floor:
        report = evaluate_floor(a.floor, a.n, device=a.device, metrics=metrics)
    else:
        report = evaluate_run(a.run, metrics, a.n, a.split, a.seed, a.device, use_ema=not a.no_ema) if metrics else {}
    ppl = _eval_ppl(a) if want_ppl else None
    if a.json:
        print(json.dumps(dict(report, **(ppl or {})), indent=2))
        return 0
    if report:
        print(format_report(report))
    if ppl:
        from .style.ppl import describe
        print(describe(ppl))
    return 0


def _eval_ppl(a) -> dict:
    from .style.ppl import path_length
    from .trainer import pick_device
    G, _, step = load_generator(a.run, use_ema=not a.no_ema)
    G.to(pick_device(a.device))
    print(f"{a.run} (step {step:,}): perceptual path length on {a.ppl_n:,} pairs", file=sys.stderr)
    return path_length(G, n=a.ppl_n, feature=a.ppl_distance, seed=a.seed, progress=True)


def cmd_project(a) -> int:
    from .export import check_picture_path
    from .style.project import STEPS, check_unconditional, image_shape, load_image, project, save_latent, side_by_side
    if a.out.suffix != ".safetensors":
        raise GanlabError(f"The latent is saved as .safetensors; name --out like latent.safetensors, not {a.out.name}.")
    if a.png:
        check_picture_path(a.png)
    G, cfg, step = load_generator(a.run)
    check_unconditional(G)
    channels, side = image_shape(G)
    x = load_image(a.image, channels, side)
    bar = tqdm(total=a.steps or STEPS[a.feature], unit="step", dynamic_ncols=True)

    def progress(i: int, loss: float, image) -> None:
        bar.update(i - bar.n)
        bar.set_postfix(loss=f"{loss:.4f}")

    try:
        p = project(G, x, steps=a.steps, space=a.space, feature=a.feature, seed=a.seed, progress=progress)
    finally:
        bar.close()
    save_latent(a.out, p, model=cfg.model.name, source=str(a.image))
    print(f"{a.image} in {p.space.upper()} of {cfg.model.name} (step {step:,}): PSNR {p.psnr:.2f} dB, "
          f"SSIM {p.ssim:.3f}, {p.seconds:.1f} s, loss {p.distance} -> {a.out}")
    if a.png:
        Path(a.png).parent.mkdir(parents=True, exist_ok=True)
        side_by_side(p).save(a.png)
        print(f"input | reconstruction -> {a.png}")
    return 0


def cmd_translate(a) -> int:
    from .trainer import pick_device
    from .translate.cli import translate_folder
    from .translate.model import Translator
    tr = Translator.open(a.run)
    if a.direction is not None and tr.task != "unpaired":
        raise GanlabError(f"--direction picks a CycleGAN model's way; {a.run} is a {tr.family} model, which goes "
                          f"{tr.domains[0]} -> {tr.domains[1]} only: leave --direction out.")
    if a.masks is not None and tr.task != "inpaint":
        raise GanlabError(f"--masks is for inpainting models; {a.run} is a {tr.family} model: leave --masks out.")
    tr.G.to(pick_device(a.device))
    direction = a.direction or "AB"
    print(f"{a.run}: {tr.describe()}", file=sys.stderr)
    report = translate_folder(tr, a.input, a.out, direction, a.masks)
    for line in report.lines(tr, direction, a.out):
        print(line, file=sys.stderr if line.startswith(("note", "skipped")) else sys.stdout)
    if not report.written:
        raise GanlabError(f"None of the images in {a.input} could be translated (see above).")
    return 0


def _translate_parser(sub) -> None:
    p = sub.add_parser("translate", help="run a folder of images through an image-to-image model (one PNG each)",
                       description="Every PNG, JPEG and WebP directly in --input goes through the model and is "
                                   "written to --out as <stem>.png. Inputs of another size are padded square with "
                                   "white and resized to the size the model takes (a note says how many). Files "
                                   "that do not decode are skipped and counted.")
    p.add_argument("--run", type=Path, required=True, help="a pix2pix, cyclegan, srgan or inpaint run, "
                   "checkpoint or model folder")
    p.add_argument("--input", type=Path, required=True, help="folder of images (not searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="folder for the outputs (created)")
    p.add_argument("--direction", choices=["AB", "BA"],
                   help="cyclegan only: A -> B (default) or B -> A, e.g. sneaker -> boot is AB")
    p.add_argument("--masks", type=Path, help="inpaint: folder of masks named like the inputs (same name, or same "
                   "stem); light pixels (grey 128 and up) are the hole. Without it, each input's transparent "
                   "pixels (alpha under 128) are the hole, and an input with none is skipped")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")


def cmd_list(a) -> int:
    from .presets import describe_presets
    for title, rows in (("datasets", list_datasets()), ("models", MODELS.describe()),
                        ("losses", describe_losses()), ("presets (train --preset NAME)", describe_presets())):
        print(f"{title}:")
        for name, help in rows:
            name = name + "PATH" if name == "folder:" else name + "NAME" if name.endswith(":") else name
            print(f"  {name:18s} {help}")
    return 0


def cmd_worker(a) -> int:
    import logging

    from .engine.worker import read_authkey, run_worker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    key_file = a.authkey_file or os.environ.get("GANLAB_WORKER_AUTHKEY_FILE", "").strip()
    if not key_file:
        raise GanlabError("A worker needs a shared key: make one with python -c \"import secrets; "
                          "print(secrets.token_hex(32))\" > worker.key, then pass --authkey-file worker.key here "
                          "and --worker-authkey-file worker.key to the app.")
    run_worker(a.device, a.listen, a.slots, read_authkey(key_file), nice=a.nice)
    return 0


def _worker_parser(sub) -> None:
    p = sub.add_parser("worker", help="train the classroom server's runs on this machine's GPU",
                       description="A long-lived process that takes runs from the web app (python app.py --worker "
                                   "HOST:PORT) and trains each in a child process on --device. Run folders must be "
                                   "on a filesystem the app and the worker both see at the same path.")
    p.add_argument("--device", default="auto", help="cpu | cuda | cuda:N | mps | auto: every run trains here")
    p.add_argument("--listen", default="127.0.0.1:7001", metavar="HOST:PORT",
                   help="address to accept the app on (default 127.0.0.1:7001; port 0 picks a free one)")
    p.add_argument("--slots", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--authkey-file", metavar="FILE",
                   help="the shared key the app must prove it holds [GANLAB_WORKER_AUTHKEY_FILE]")
    p.add_argument("--nice", type=int, default=0, choices=range(0, 20), metavar="N",
                   help="niceness of the runs' processes (0-19, default 0)")


def _project_parser(sub) -> None:
    p = sub.add_parser("project", help="find the latent of your own image (GAN inversion), to edit it")
    p.add_argument("--run", type=Path, required=True, help="run, checkpoint or model folder (unconditional)")
    p.add_argument("--image", type=Path, required=True, help="a PNG or JPEG; transparency becomes white")
    p.add_argument("--out", type=Path, required=True, help="the latent, e.g. latent.safetensors")
    p.add_argument("--space", choices=["w", "w+", "z"],
                   help="w: one style for all layers; w+: then one per layer (default for stylegan); z: the noise")
    p.add_argument("--steps", type=int, help="optimiser steps, all phases together (default: 1500 with "
                   "--feature pixel, 600 with inception; ~35 s for 64 px on a CPU)")
    p.add_argument("--feature", default="pixel", choices=["pixel", "inception"],
                   help="MSE alone (default), or MSE + an offline LPIPS-style Inception distance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", type=Path, help="also write input | reconstruction side by side")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlab", description="Train and sample GANs.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    s = sub.add_parser("sample", help="draw a sample grid from a run or checkpoint")
    s.add_argument("--run", type=Path, required=True, help="run folder or checkpoint folder")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="grid.png",
                   help="a .png grid, a .gif/.mp4 walk with --interpolate, or a folder/ of PNGs + labels.csv")
    s.add_argument("--class", dest="classes", action="append", metavar="C",
                   help="class name or index for a conditional model (repeat for several)")
    s.add_argument("--truncation", type=float, default=1.0, help="psi: 1 = as trained, lower = safer, less varied")
    s.add_argument("--interpolate", type=int, nargs=2, metavar=("SEED_A", "SEED_B"), help="walk between two seeds")
    s.add_argument("--prompt", help="a text-gan model: draw images for this prompt")
    s.add_argument("--prior", choices=RULES,
                   help="how the prompt reaches a text-gan: training images near its nearest caption (default "
                        "when the model has an image bank), that caption, or the prompt as it is")
    s.add_argument("--space", choices=["w", "z"], help="--interpolate in W (a style model's default) or in z")
    s.add_argument("--mix", nargs=2, metavar=("ROWS", "COLS"),
                   help="a style model: the mixing grid for seeds ROWS (e.g. 1,2,3) and COLS (e.g. 10,11,12)")
    s.add_argument("--layers", default="coarse",
                   help="--mix: styles taken from COLS: coarse, middle, fine, a range such as 0-3, or 0,2,5")
    s.add_argument("--noise", choices=["const", "zero", "random"],
                   help="a style model's noise inputs: fixed maps (default), none, or fresh draws")
    s.add_argument("--noise-layers", help="--noise on these conv layers only, e.g. 0-3,7 (default: all)")
    s.add_argument("--frames", type=int, default=24)
    s.add_argument("--mode", default="slerp", choices=["slerp", "lerp"])
    s.add_argument("--fps", type=int, default=12)
    e = sub.add_parser("eval", help="FID, KID, precision/recall of a run (paper protocol)")
    e.add_argument("--run", type=Path, help="run folder or checkpoint folder")
    e.add_argument("--floor", metavar="DATASET", help="real test images against real train images instead")
    e.add_argument("--metrics", default="fid,kid,pr", help="comma-separated: fid,kid,pr,dc,classes,ppl")
    e.add_argument("--n", type=int, default=10_000, help="generated images, and real reference images")
    e.add_argument("--split", default="test", choices=["test", "train"], help="real images to compare with")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--device", default="auto")
    e.add_argument("--no-ema", action="store_true", help="score G itself, not its EMA copy")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--ppl-n", type=int, default=2000, help="--metrics ppl: latent pairs (the paper uses 100,000)")
    e.add_argument("--ppl-distance", default="inception", choices=["inception", "pixel"],
                   help="--metrics ppl: the offline LPIPS-style Inception distance, or squared pixels")
    _project_parser(sub)
    _translate_parser(sub)
    _worker_parser(sub)
    sub.add_parser("list", help="datasets, models and losses")
    a = parser.parse_args(argv)
    a.explicit = _explicit(parser, argv) if a.command == "train" else set()
    try:
        configure_threads()
        commands = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "project": cmd_project,
                    "translate": cmd_translate, "list": cmd_list,
                    "worker": cmd_worker}
        return commands[a.command](a)
    except GanlabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
