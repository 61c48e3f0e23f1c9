"""Training steps of the image-to-image families: pix2pix, cyclegan, srgan and inpaint.

    trainer = make_trainer(RunConfig(DataConfig("edges2emoji", resolution=32), ModelConfig("pix2pix")))
    trainer.step()            # metrics: loss_d, loss_g, d_real, d_fake, and the family's own (l1, cycle, ...)
    grid = trainer.sample()   # rows of input | output | target from fixed held-out inputs (nrow 3)

Each family's input comes from the data (pix2pix: ``inputs``; cyclegan: the two domains) or is
made here from the targets (srgan: the bicubic down-sample; inpaint: random holes), always
with ``self.gen``, so a run is deterministic and resumes exactly. Every loss in
``ganlab.losses`` applies to D's patch logits, and R1, the gradient penalty, DiffAugment,
spectral norm and the EMA of G work through the usual options. D sees real and fake
through the same augmentation draw; pix2pix's D sees input and output stacked, so
both move together. ``train.adversarial = 0`` trains the same G on its reconstruction
loss alone: the baseline the bench compares against.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Dict, Optional

import torch

from ..augment import augment
from ..data import DataSource, load_dataset
from ..data.pairs import held_out_of, pairs_of
from ..errors import GanlabError
from ..nets.srgan import bicubic, low_resolution
from ..trainer import TRAINERS, Trainer
from .masks import draw_masks

SHOWN = 8                 # held-out rows in the live grid
TASKS = {"pix2pix": "paired", "cyclegan": "unpaired", "srgan": "sr", "inpaint": "inpaint"}


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def as_channels(x: torch.Tensor, c: int) -> torch.Tensor:
    """Grey shown beside colour: repeat its one channel."""
    return x.expand(-1, c, -1, -1) if x.shape[1] == 1 and c == 3 else x


class TranslationTrainer(Trainer):
    CHANNELS_LAST = False        # not measured for these nets; they keep NCHW
    RECON = 100.0           # the family's reconstruction weight (train.recon overrides)
    NEEDS_PAIRS = True

    def __init__(self, cfg, data: Optional[DataSource] = None):
        cfg.validate()
        if cfg.train.eval_every:
            raise GanlabError(f"{cfg.model.name} has no FID-while-training; set eval_every to 0 and score the run "
                              "with `python bench/image_to_image.py --run RUN`.")
        data = data if data is not None else load_dataset(cfg.data, seed=cfg.train.seed)
        data = pairs_of(data) if self.NEEDS_PAIRS else held_out_of(data, cfg.data)
        if not data.is_image:
            raise GanlabError(f"{cfg.model.name} translates images; {data.name} is a set of points.")
        self.prepare(cfg, data)
        super().__init__(cfg, data)
        self.recon_weight = cfg.train.recon if cfg.train.recon is not None else self.RECON
        self.adv_weight = cfg.train.adversarial
        self.sample_nrow = 3
        self.inputs = data.inputs.to(self.device) if data.inputs is not None else None
        self.test = data.test
        g = torch.Generator().manual_seed(cfg.train.seed + 3)
        self.shown = torch.randperm(len(self.test), generator=g)[:SHOWN]

    def prepare(self, cfg, data: DataSource) -> None:
        """Fill in what the builder reads from the data (the input's channels) before the nets are built."""
        if data.inputs is not None:
            if data.inputs.shape[-1] != data.x.shape[-1]:
                raise GanlabError(f"The inputs are {data.inputs.shape[-1]} px but the targets "
                                  f"{data.x.shape[-1]} px; set one resolution for both.")
            cfg.model.in_channels = data.inputs.shape[1]

    def meta_parts(self, s) -> None:
        """The budget's meta-device trainer (ganlab.budget.meta): the tensors __init__ would have made."""
        self.recon_weight, self.adv_weight = self.RECON, self.cfg.train.adversarial
        ch = self.cfg.model.in_channels or s.shape[0]
        self.inputs = torch.empty(s.items, ch, *s.shape[1:]) if self.NEEDS_PAIRS else None
        self.data = DataSource(self.cfg.data.name, self.x, inputs=self.inputs, paired=self.NEEDS_PAIRS)

    def _pair_batch(self):
        n = self.cfg.train.batch_size
        ib = torch.randint(len(self.x), (n,), generator=self.gen).to(self.device)
        if self.data.paired:
            return self.inputs[ib], self.x[ib]
        ia = torch.randint(len(self.inputs), (n,), generator=self.gen).to(self.device)
        return self.inputs[ia], self.x[ib]

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees of a batch: instance noise (annealed) then DiffAugment, as in the plain GAN's step."""
        return augment(self._noisy(x), self.cfg.train.augment, self.gen)

    def _step_d_on(self, real, fake, critic) -> Dict[str, float]:
        """One D update: ``critic(x)`` is D's (augmented) patch logits for a batch of whatever D judges."""
        t = self.cfg.train
        if self._r1_now():
            real.requires_grad_(True)
        d_real, d_fake = critic(real), critic(fake)
        loss = self.loss.d(d_real, d_fake, t.label_smoothing)
        out: Dict[str, float] = {}
        loss = self._penalise_d(loss, out, d_real, real, fake, critic)
        return self._update_d(loss, out, d_real, d_fake)

    @contextmanager
    def _frozen_d(self):
        """G's step: no gradients for D's weights (the backward still runs through D)."""
        self.D.requires_grad_(False)
        try:
            yield
        finally:
            self.D.requires_grad_(True)

    def _g_update(self, loss, out) -> Dict[str, float]:
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        return self._update_g(loss, out)

    # ---- the live grid ------------------------------------------------------------------------------
    def _shown(self):
        idx = self.shown
        a = self.test.inputs[idx] if self.test.inputs is not None else None
        return a, self.test.x[idx]

    def _in_eval(self, fn, use_ema: bool = True):
        G = self.G_ema if (use_ema and self.G_ema is not None) else self.G
        was = G.training
        G.eval()
        try:
            with torch.no_grad():
                return fn(G)
        finally:
            G.train(was)

    @staticmethod
    def _rows(*cols: torch.Tensor) -> torch.Tensor:
        """Columns [n, C, H, W] each -> [3n, C, H, W] read row by row (input | output | target)."""
        c = max(x.shape[1] for x in cols)
        return torch.stack([as_channels(x, c) for x in cols], 1).flatten(0, 1).cpu()


@TRAINERS.register("pix2pix", "adversarial + lambda * L1 on paired images")
class Pix2PixTrainer(TranslationTrainer):
    RECON = 100.0

    def prepare(self, cfg, data) -> None:
        if not data.paired:
            raise GanlabError(f"pix2pix needs paired images and {data.name} is unpaired; use cyclegan for it.")
        super().prepare(cfg, data)

    def _critic(self, a: torch.Tensor):
        return lambda y: self.D.patch(self._aug(torch.cat([a, y], 1)))

    def step_d(self) -> Dict[str, float]:
        a, b = self._pair_batch()
        with torch.no_grad():
            fake = self.G(a)
        return self._step_d_on(b, fake, self._critic(a))

    def step_g(self) -> Dict[str, float]:
        a, b = self._pair_batch()
        with self._frozen_d():
            fake = self.G(a)
            adv = self.loss.g(self._critic(a)(fake))
            rec = l1(fake, b)
            loss = self.adv_weight * adv + self.recon_weight * rec
            out = self._g_update(loss, {"l1": rec.item(), "loss_g_adv": adv.item()})
        return out

    @torch.no_grad()
    def sample(self, z=None, use_ema: bool = True, y=None) -> torch.Tensor:
        a, b = self._shown()
        out = self._in_eval(lambda G: G(a.to(self.device)), use_ema)
        return self._rows(a, out, b)


@TRAINERS.register("cyclegan", "cycle-consistency and identity losses, a history pool for D, linear lr decay")
class CycleGANTrainer(TranslationTrainer):
    RECON = 10.0

    def __init__(self, cfg, data=None):
        super().__init__(cfg, data)
        self.base_lr = (self.lr_g, self.lr_d)
        self.same_channels = self.inputs.shape[1] == self.x.shape[1]
        self._decay()

    def meta_parts(self, s) -> None:
        super().meta_parts(s)
        self.base_lr, self.same_channels = (self.cfg.train.lr_g, self.cfg.train.lr_d), True

    def set_lr(self, lr_g=None, lr_d=None) -> None:
        super().set_lr(lr_g, lr_d)
        factor = self._factor()
        if factor > 0:
            self.base_lr = (self.lr_g / factor, self.lr_d / factor)

    def _factor(self) -> float:
        """Linear decay to zero over the second half of the run (as the paper: 100 epochs flat, 100 down)."""
        steps = self.cfg.train.steps
        if steps <= 0:
            return 1.0
        return max(0.0, min(1.0, 2.0 * (1.0 - self.step_count / steps)))

    def _decay(self) -> None:
        f = self._factor()
        for opt, base in ((self.opt_g, self.base_lr[0]), (self.opt_d, self.base_lr[1])):
            for group in opt.param_groups:
                group["lr"] = base * max(f, 1e-12)

    def step_g(self) -> Dict[str, float]:
        """Both generators: adversarial, cycle and identity terms; keeps the fakes for the D step after it."""
        self._decay()
        t = self.cfg.train
        a, b = self._pair_batch()
        G, D = self.G, self.D
        with self._frozen_d():
            fake_b, fake_a = G.ab(a), G.ba(b)
            adv = self.loss.g(D.b(self._aug(fake_b))) + self.loss.g(D.a(self._aug(fake_a)))
            cycle = l1(G.ba(fake_b), a) + l1(G.ab(fake_a), b)
            loss = self.adv_weight * adv + self.recon_weight * cycle
            out = {"cycle": cycle.item(), "loss_g_adv": adv.item()}
            if t.identity > 0 and self.same_channels:       # G_ab(b) should be b: keeps colours where they are
                ident = l1(G.ab(b), b) + l1(G.ba(a), a)
                loss = loss + self.recon_weight * t.identity * ident
                out["identity"] = ident.item()
            m = self._g_update(loss, out)
        self._fresh = (a, b, fake_a.detach(), fake_b.detach())
        return m

    def step_d(self) -> Dict[str, float]:
        """Both discriminators on the fakes the G step just made (or fresh ones), through the history pools."""
        fresh, self._fresh = getattr(self, "_fresh", None), None
        if fresh is None:
            a, b = self._pair_batch()
            with torch.no_grad():
                fresh = (a, b, self.G.ba(b), self.G.ab(a))
        a, b, fake_a, fake_b = fresh
        return self._step_d_both(a, b, self.D.from_pool("a", fake_a, self.gen),
                                 self.D.from_pool("b", fake_b, self.gen))

    def step(self) -> Dict[str, float]:
        """G first, then D on what G just made, as the paper's loop does (no second pass of G for D)."""
        t0 = time.perf_counter()
        m = self.step_g()
        for _ in range(self.n_critic):
            m.update(self.step_d())
        self.step_count += 1
        m.update(step=self.step_count, lr_g=self.lr_g, lr_d=self.lr_d, n_critic=self.n_critic,
                 images=self.cfg.train.batch_size * self.n_critic, seconds=time.perf_counter() - t0)
        return m

    def _step_d_both(self, a, b, fake_a, fake_b) -> Dict[str, float]:
        t = self.cfg.train
        if self._r1_now():
            a.requires_grad_(True)
            b.requires_grad_(True)
        out: Dict[str, float] = {}
        d_real, d_fake, loss = [], [], 0.0
        for real, fake, net in ((a, fake_a, self.D.a), (b, fake_b, self.D.b)):
            def critic(x, net=net):
                return net(self._aug(x))
            dr, df = critic(real), critic(fake)
            part = 0.5 * self.loss.d(dr, df, t.label_smoothing)      # halved, as the paper slows D down
            loss = loss + self._penalise_d(part, out, dr, real, fake, critic)
            d_real.append(dr.flatten())
            d_fake.append(df.flatten())
        return self._update_d(loss, out, torch.cat(d_real), torch.cat(d_fake))

    @torch.no_grad()
    def sample(self, z=None, use_ema: bool = True, y=None) -> torch.Tensor:
        """A -> B -> A rows for half the shown inputs, then B -> A -> B rows."""
        a, b = self._shown()
        k = max(1, len(a) // 2)
        a, b = a[:k].to(self.device), b[:k].to(self.device)

        def trips(G):
            ab = G.ab(a)
            ba = G.ba(b)
            return ab, G.ba(ab), ba, G.ab(ba)
        ab, aba, ba, bab = self._in_eval(trips, use_ema)
        return torch.cat([self._rows(a, ab, aba), self._rows(b, ba, bab)])


@TRAINERS.register("srgan", "content (pixel + D-feature) and adversarial losses on a bicubic down-sample")
class SRGANTrainer(TranslationTrainer):
    RECON = 100.0
    FEATURE = 10.0            # D-feature content loss weight: the offline stand-in for SRGAN's VGG loss
    NEEDS_PAIRS = False

    def prepare(self, cfg, data) -> None:
        low_resolution(data.x.shape[-1], cfg.model.sr_scale or 4)      # a clear message for a bad size
        cfg.model.in_channels = data.x.shape[1]

    def __init__(self, cfg, data=None):
        super().__init__(cfg, data)
        self.low = self.shrink(self.x)

    def meta_parts(self, s) -> None:
        super().meta_parts(s)
        scale = self.cfg.model.sr_scale or 4
        self.low = torch.empty(s.items, s.shape[0], s.shape[1] // scale, s.shape[2] // scale)

    def shrink(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic(x, x.shape[-1] // self.cfg.model.sr_scale)

    def _batch(self):
        idx = torch.randint(len(self.x), (self.cfg.train.batch_size,), generator=self.gen).to(self.device)
        return self.low[idx], self.x[idx]

    def step_d(self) -> Dict[str, float]:
        lo, hi = self._batch()
        with torch.no_grad():
            fake = self.G(lo)
        return self._step_d_on(hi, fake, lambda x: self.D(self._aug(x)))

    def step_g(self) -> Dict[str, float]:
        lo, hi = self._batch()
        with self._frozen_d():
            fake = self.G(lo)
            _, f_fake = self.D(fake, features=True)
            with torch.no_grad():
                _, f_real = self.D(hi, features=True)
            feat = sum(l1(p, q) for p, q in zip(f_fake, f_real)) / len(f_fake)
            adv = self.loss.g(self.D(self._aug(fake)))
            pix = l1(fake, hi)
            loss = self.adv_weight * adv + self.recon_weight * pix + self.FEATURE * feat
            out = self._g_update(loss, {"l1": pix.item(), "feature": feat.item(), "loss_g_adv": adv.item()})
        return out

    @torch.no_grad()
    def sample(self, z=None, use_ema: bool = True, y=None) -> torch.Tensor:
        """Rows of bicubic up-sample | G's output | the real high-resolution image."""
        _, hi = self._shown()
        lo = self.shrink(hi)
        out = self._in_eval(lambda G: G(lo.to(self.device)), use_ema)
        return self._rows(bicubic(lo, hi.shape[-1]), out.clamp(-1, 1), hi)


@TRAINERS.register("inpaint", "reconstruction inside the hole + adversarial (global and local D)")
class InpaintTrainer(TranslationTrainer):
    RECON = 100.0
    NEEDS_PAIRS = False

    def prepare(self, cfg, data) -> None:
        cfg.model.in_channels = data.x.shape[1]

    def _batch(self):
        idx = torch.randint(len(self.x), (self.cfg.train.batch_size,), generator=self.gen).to(self.device)
        x = self.x[idx]
        mask = draw_masks(len(x), x.shape[-1], self.cfg.train.mask, self.gen).to(self.device)
        return x, mask

    def step_d(self) -> Dict[str, float]:
        x, mask = self._batch()
        with torch.no_grad():
            fake = self.G(x, mask)
        return self._step_d_on(x, fake, lambda z: self.D(self._aug(z), mask))

    def step_g(self) -> Dict[str, float]:
        x, mask = self._batch()
        with self._frozen_d():
            fake = self.G(x, mask)
            adv = self.loss.g(self.D(self._aug(fake), mask))
            rec = hole_l1(fake, x, mask)
            loss = self.adv_weight * adv + self.recon_weight * rec
            out = self._g_update(loss, {"l1_hole": rec.item(), "loss_g_adv": adv.item()})
        return out

    def shown_masks(self) -> torch.Tensor:
        return draw_masks(len(self.shown), self.x.shape[-1], self.cfg.train.mask,
                          torch.Generator().manual_seed(self.cfg.train.seed + 4))

    @torch.no_grad()
    def sample(self, z=None, use_ema: bool = True, y=None) -> torch.Tensor:
        """Rows of the image with its hole (grey) | G's fill | the real image."""
        _, x = self._shown()
        mask = self.shown_masks()
        out = self._in_eval(lambda G: G(x.to(self.device), mask.to(self.device)), use_ema)
        return self._rows(x * (1 - mask), out, x)


def hole_l1(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the hole's pixels only."""
    area = mask.sum() * fake.shape[1]
    return ((fake - real).abs() * mask).sum() / area.clamp(min=1)


__all__ = ["TranslationTrainer", "Pix2PixTrainer", "CycleGANTrainer", "SRGANTrainer", "InpaintTrainer", "TASKS",
           "hole_l1", "l1"]
