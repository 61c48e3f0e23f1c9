"""Training steps of the style-based (``stylegan``) and progressive (``progan``) families.

    trainer = make_trainer(cfg)          # picks StyleGANTrainer for model "stylegan"
    trainer.step()

StyleGANTrainer differs from the plain GAN step in three ways:

* **Mixing regularisation.** With probability ``train.style_mixing`` a batch is drawn from
  two latents: styles before a random cut-off layer come from w1, the rest from w2, so
  no layer can rely on its neighbours' styles being the same (Karras et al. 2019).
* **w_avg.** Every training batch's mean w moves the tracked average (decay 0.995);
  truncation pulls towards it.
* **Lazy R1**, every 16 steps by default (``R1_EVERY``), and noise drawn from the trainer's
  generator so a run stays deterministic and resumable.

ProGANTrainer sets the resolution and fade-in alpha of G, D (and G's EMA) from the step
count before every step (see ganlab.nets.progan.growth_at), so a resumed run, even mid-fade,
continues where it was, and reports both as metrics for the Train tab.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from torch import nn

from ..nets.progan import START, growth_at
from ..trainer import TRAINERS, Trainer

W_AVG_DECAY = 0.995


@TRAINERS.register("stylegan", "mixing regularisation, w_avg tracking, lazy R1")
class StyleGANTrainer(Trainer):
    R1_EVERY = 16
    CHANNELS_LAST = False                                # modulated convs reshape [B, C, H, W] into groups

    def _G(self, z: torch.Tensor, y: Optional[torch.Tensor], G: Optional[nn.Module] = None) -> torch.Tensor:
        G = G or self.G
        if not G.training:                               # sampling: the plain forward, fixed noise
            return G(z)
        with self._amp():
            return self._mixed(G, z)

    def _mixed(self, G: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """A training batch: w from z, w_avg tracked, styles mixed from two latents at a random cut-off."""
        w = G.mapping(z)                                 # [B, w_dim]
        with torch.no_grad():
            G.w_avg.copy_(w.detach().mean(0).lerp(G.w_avg, W_AVG_DECAY))
        ws = G.broadcast(w)                              # [B, num_ws, w_dim]
        mix = torch.rand((), generator=self.gen).item() < self.cfg.train.style_mixing
        cut = int(torch.randint(1, G.num_ws, (), generator=self.gen))
        if mix:                                          # styles from the cut-off on come from a second latent
            w2 = G.mapping(self._z(len(z)))
            layer = torch.arange(G.num_ws, device=ws.device)[None, :, None]
            ws = torch.where(layer < cut, ws, w2[:, None])
        return G.synthesis(ws, "random", gen=self.gen)


@TRAINERS.register("progan", "resolution and fade-in alpha from the step count")
class ProGANTrainer(Trainer):
    CHANNELS_LAST = False                                # not measured for its growing nets
    def __init__(self, cfg, data=None):
        super().__init__(cfg, data)
        self._grow()

    @classmethod
    def peak_step(cls, cfg, sample_shape) -> int:
        """The first step at full resolution, fully faded in: 2 phases per doubling from 8 px."""
        return 2 * int(math.log2(sample_shape[-1] // START)) * cfg.model.grow_every

    def growth(self):
        """(resolution, alpha) for the next step."""
        return growth_at(self.step_count, self.cfg.model.grow_every, self.G.resolution)

    def _grow(self) -> None:
        res, alpha = self.growth()
        for net in (self.G, self.D, self.G_ema):
            if net is not None:
                net.set_growth(res, alpha)

    def status_note(self) -> str:
        res, alpha = self.G.current
        top = self.G.resolution
        if alpha < 1:
            return f"growing: fading in {res} px, α {alpha:.2f} (shown at {top} px)"
        return f"resolution {res} px" + (" (fully grown)" if res == top else f", next {2 * res} px (shown at {top} px)")

    def step(self) -> Dict[str, float]:
        self._grow()
        res, alpha = self.G.current
        m = super().step()
        m.update(resolution=res, alpha=alpha)
        return m
