"""Progressive growing of GANs (Karras et al. 2018): train at 8x8, then double the side on a schedule.

    G, D = MODELS.get("progan")(ModelConfig(name="progan", grow_every=2000), (3, 64, 64))
    G.set_growth(16, 0.5)                # halfway through fading in the 16x16 block
    x = G(z)                             # [B, 3, 64, 64] whatever the current resolution

Every block exists from the start; the current resolution and the fade-in weight
``alpha`` are buffers of G and D, so a checkpoint holds them and sampling a saved
model draws at the resolution it had reached. :func:`growth_at` turns a step count
into (resolution, alpha): ``grow_every`` steps at 8x8, then for each doubling
``grow_every`` steps fading the new block in (alpha 0 -> 1) and ``grow_every`` steps
stable. Resuming at any step, mid-fade included, gives the same (resolution, alpha).

G always returns the dataset's full size: the picture at the current resolution is
upsampled (nearest), so grids keep one display size and growth shows as detail
appearing. D average-pools its input to the current resolution, which undoes that
upsampling exactly; while a block fades in, D's new block counts by alpha against the
previous fromRGB on the half-size picture.

Equalised learning rate and pixel norm in G, minibatch std in D, as in the paper.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanlabError
from . import MODELS
from .common import MinibatchStd
from .equalized import EqualConv2d, EqualLinear, pixel_norm
from .stylegan import channels_at, square_image

START = 8                # the first resolution trained


def growth_at(step: int, grow_every: int, resolution: int, start: int = START) -> Tuple[int, float]:
    """(resolution, alpha) at generator step ``step``: stable at ``start``, then fade + stable per doubling."""
    phase = step // grow_every                          # 0: start stable; 1: fade 2*start; 2: stable; ...
    doublings = min((phase + 1) // 2, int(math.log2(resolution // start)))
    res = start * 2 ** doublings
    fading = phase % 2 == 1 and (phase + 1) // 2 == doublings
    alpha = (step % grow_every) / grow_every if fading else 1.0
    return res, alpha


def _sides(resolution: int) -> List[int]:
    if resolution < START or resolution & (resolution - 1):
        raise GanlabError(f"progan grows from {START} px by doubling: use 8, 16, 32, 64 or 128 px, not {resolution}.")
    return [START * 2 ** i for i in range(int(math.log2(resolution // START)) + 1)]


class _Growing(nn.Module):
    """(resolution, alpha), kept as Python numbers for the forward pass and as a buffer for checkpoints."""

    def _init_growth(self, resolution: int) -> None:
        self.resolution, self._growth = resolution, (START, 1.0)
        self.register_buffer("growth", torch.tensor([float(START), 1.0]))
        self.register_load_state_dict_post_hook(lambda module, keys: module._sync_growth())

    def set_growth(self, res: int, alpha: float) -> None:
        if res not in self.sides:
            raise GanlabError(f"This model grows through {self.sides} px, not {res}.")
        self._growth = (int(res), float(alpha))
        if self.growth.device.type != "meta":             # the memory estimate builds nets without storage
            self.growth.copy_(torch.tensor([float(res), float(alpha)]))

    def _sync_growth(self) -> None:
        if self.growth.device.type != "meta":
            self._growth = (int(self.growth[0]), float(self.growth[1]))

    @property
    def current(self) -> Tuple[int, float]:
        return self._growth


class ProGenerator(_Growing):
    def __init__(self, z_dim: int, channels: int, resolution: int, width: int):
        super().__init__()
        self.z_dim, self.sides = z_dim, _sides(resolution)
        self._init_growth(resolution)
        ch = [channels_at(s, resolution, width) for s in [4] + self.sides]
        # state size. z_dim -> ch0 x 4 x 4 -> ch1 x 8 x 8 (the first trained picture)
        self.dense = EqualLinear(z_dim, ch[0] * 16, act=True)
        self.base = nn.Sequential(EqualConv2d(ch[0], ch[0], 3, act=True))
        self.blocks = nn.ModuleList([self._block(a, b) for a, b in zip(ch, ch[1:])])   # each doubles the side
        self.to_rgb = nn.ModuleList([EqualConv2d(c, channels, 1) for c in ch[1:]])     # one per side

    @staticmethod
    def _block(c_in: int, c_out: int) -> nn.Module:
        return nn.ModuleList([EqualConv2d(c_in, c_out, 3, act=True), EqualConv2d(c_out, c_out, 3, act=True)])

    def _run_block(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        for conv in self.blocks[i]:
            x = pixel_norm(conv(x))
        return x

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        res, alpha = self.current
        n = self.sides.index(res)                               # blocks after the first (8x8) one
        x = pixel_norm(self.dense(pixel_norm(z)).view(z.shape[0], -1, 4, 4))   # shape[0]: traced, not a constant
        x = pixel_norm(self.base(x))                            # [B, ch0, 4, 4]
        prev = None
        for i in range(n + 1):
            if i == n:
                prev = x
            x = self._run_block(i, x)                           # [B, ch, 8 * 2^i, 8 * 2^i]
        img = self.to_rgb[n](x)
        if alpha < 1 and n > 0:                                 # fade in: lerp from the last block's picture
            low = F.interpolate(self.to_rgb[n - 1](prev), scale_factor=2, mode="nearest")
            img = low.lerp(img, alpha)
        if not self.training:                                   # linear out (as the paper): clamp for pictures
            img = img.clamp(-1, 1)
        return F.interpolate(img, size=self.resolution, mode="nearest") if res < self.resolution else img


class ProDiscriminator(_Growing):
    def __init__(self, channels: int, resolution: int, width: int):
        super().__init__()
        self.sides = _sides(resolution)
        self._init_growth(resolution)
        ch = [channels_at(s, resolution, width) for s in self.sides]     # at 8, 16, ..., R
        self.from_rgb = nn.ModuleList([EqualConv2d(channels, c, 1, act=True) for c in ch])
        # block i: side 8*2^i -> half of it, ch[i] -> ch[i-1]; block 0 has no pooling (8x8 -> 4x4 below)
        self.blocks = nn.ModuleList([nn.Sequential(EqualConv2d(ch[i], ch[i], 3, act=True),
                                                   EqualConv2d(ch[i], ch[i - 1], 3, act=True))
                                     for i in range(1, len(ch))])
        c0 = ch[0]
        self.head = nn.Sequential(MinibatchStd(), EqualConv2d(c0 + 1, c0, 3, act=True))   # c0 x 8 x 8
        self.fc = EqualLinear(c0 * 16, c0, act=True)
        self.out = EqualLinear(c0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res, alpha = self.current
        n = self.sides.index(res)
        x = F.adaptive_avg_pool2d(x, res) if x.shape[-1] != res else x     # undoes G's nearest upsampling
        h = self.from_rgb[n](x)
        if n > 0:
            h = F.avg_pool2d(self.blocks[n - 1](h), 2)
            if alpha < 1:                                       # fade in: the new block's path counts by alpha
                low = self.from_rgb[n - 1](F.avg_pool2d(x, 2))
                h = low.lerp(h, alpha)
        for i in range(n - 1, 0, -1):
            h = F.avg_pool2d(self.blocks[i - 1](h), 2)
        h = F.avg_pool2d(self.head(h), 2)                       # [B, c0, 4, 4]
        return self.out(self.fc(h.flatten(1))).flatten()        # [B] logits


@MODELS.register("progan", "progressive growing from 8 px (equalised lr, pixel norm, fade-in); 16-128 px")
def build_progan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    channels, res = square_image(sample_shape, "progan")
    _sides(res)
    cfg.z_dim = cfg.z_dim or 128
    cfg.width = cfg.width or 16
    cfg.grow_every = cfg.grow_every or 1000
    return ProGenerator(cfg.z_dim, channels, res, cfg.width), ProDiscriminator(channels, res, cfg.width)
