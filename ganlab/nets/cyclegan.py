"""CycleGAN (Zhu et al. 2017): two ResNet generators A -> B and B -> A, two PatchGAN discriminators.

    G, D = MODELS.get("cyclegan")(cfg.model, (1, 28, 28))    # cfg.model.in_channels: domain A's channels
    b = G(a)            # A -> B (G.ab); G.ba(b) goes back
    D.a(x), D.b(x)      # [B, P] patch logits of "real A" and "real B"

Each generator: a 7x7 conv, two stride-2 convs down, residual blocks at a quarter of
the side, two transposed convs up and a 7x7 conv out, with reflection padding and
instance norm as in the paper. The paper uses 6 blocks at 128 px and 9 at 256; this
file uses 6 from 64 px up and 4 below, sized for a CPU.

D also holds the two history pools (Shrivastava et al. 2017): the last 50 fakes of
each domain, so D is trained on G's recent past and not only its latest move. They
are buffers, so a checkpoint keeps them and a resumed run continues exactly.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from ..config import ModelConfig
from . import MODELS
from .pix2pix import DEFAULT_WIDTH, PatchDiscriminator, check_translation_shape, input_channels

POOL_SIZE = 50


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=False), nn.InstanceNorm2d(ch, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, resolution: int, width: int, blocks: int):
        super().__init__()
        self.z_dim = 0
        down = 2 if resolution % 4 == 0 else 1           # 28 px: 28 -> 14 -> 7, with two; odd sides: one
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, width, 7, bias=False),
                  nn.InstanceNorm2d(width, affine=True), nn.ReLU()]
        ch = width
        for _ in range(down):
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1, bias=False), nn.InstanceNorm2d(2 * ch, affine=True), nn.ReLU()]
            ch *= 2
        layers += [ResidualBlock(ch) for _ in range(blocks)]
        for _ in range(down):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=False),
                       nn.InstanceNorm2d(ch // 2, affine=True), nn.ReLU()]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_ch, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CycleGenerators(nn.Module):
    """Both directions as one module (one optimiser, one EMA, one checkpoint entry); ``G(a)`` is A -> B."""

    def __init__(self, a_ch: int, b_ch: int, resolution: int, width: int):
        super().__init__()
        self.z_dim = 0
        self.in_channels, self.out_channels, self.resolution = a_ch, b_ch, resolution
        blocks = 6 if resolution >= 64 else 4
        self.ab = ResnetGenerator(a_ch, b_ch, resolution, width, blocks)
        self.ba = ResnetGenerator(b_ch, a_ch, resolution, width, blocks)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.ab(a)


class CycleDiscriminators(nn.Module):
    def __init__(self, a_ch: int, b_ch: int, resolution: int, width: int, sn: bool):
        super().__init__()
        self.a = PatchDiscriminator(a_ch, resolution, width, sn)
        self.b = PatchDiscriminator(b_ch, resolution, width, sn)
        self.register_buffer("pool_a", torch.zeros(POOL_SIZE, a_ch, resolution, resolution))
        self.register_buffer("pool_b", torch.zeros(POOL_SIZE, b_ch, resolution, resolution))
        self.register_buffer("pool_count", torch.zeros(2, dtype=torch.long))    # filled slots of a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:                  # D(x): "is this a real B?"
        return self.b(x)

    @torch.no_grad()
    def from_pool(self, which: str, fakes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The batch D trains on: while the pool fills, the new fakes (kept); then each one, with
        probability 1/2, swapped for a random older fake that it replaces in the pool."""
        pool, i = (self.pool_a, 0) if which == "a" else (self.pool_b, 1)
        out = fakes.detach().clone()
        for k in range(len(out)):
            n = int(self.pool_count[i])
            if n < len(pool):
                pool[n] = out[k]
                self.pool_count[i] += 1
            elif torch.rand((), generator=gen).item() < 0.5:
                j = int(torch.randint(len(pool), (), generator=gen))
                old = pool[j].clone()
                pool[j] = out[k]
                out[k] = old
        return out


@MODELS.register("cyclegan", "unpaired translation A <-> B: two ResNet Gs, two PatchGAN Ds, cycle + identity loss")
def build_cyclegan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    b_ch, res = check_translation_shape(sample_shape, "cyclegan")
    cfg.width = cfg.width or DEFAULT_WIDTH
    cfg.z_dim = 0
    a_ch = cfg.in_channels = input_channels(cfg, sample_shape)
    return CycleGenerators(a_ch, b_ch, res, cfg.width), CycleDiscriminators(a_ch, b_ch, res, cfg.width,
                                                                             cfg.spectral_norm)
