"""StyleGAN2-style generator (Karras et al. 2020) sized for a CPU, and a residual D.

    G = StyleGenerator(z_dim=128, w_dim=128, channels=3, resolution=64, width=16)
    w = G.mapping(z)                         # [B, w_dim]: z through the mapping network
    w = G.truncate(w, psi=0.7)               # towards w_avg, the tracked mean of w
    ws = G.broadcast(w)                      # [B, num_ws, w_dim]: one style per layer
    x = G.synthesis(ws, noise="const")       # [B, 3, 64, 64]
    x = G(z)                                 # the same, with random noise while training

Mapping: ``mapping_depth`` equalised linear layers at a learning-rate multiplier of 0.01,
so W moves slowly and stays a smooth space to walk in. Synthesis starts from a learned
4x4 constant; every layer is a modulated, demodulated 3x3 convolution (the style scales
the weights per sample, then each output channel is renormalised: one grouped
convolution over the batch), plus per-pixel noise with a learned strength. Each
resolution adds its toRGB output to the upsampled picture so far (skip generator).

Style layer ``i`` takes ``ws[:, i]``. Block 0 (4x4) uses styles 0 (conv) and 1 (toRGB);
block ``b`` >= 1 uses ``2b - 1`` (the upsampling conv), ``2b`` (conv) and ``2b + 1`` (toRGB);
so ``num_ws = 2 * blocks`` and :meth:`StyleGenerator.layer_resolutions` names each one's scale.

Noise per layer: "random" (fresh draws, from ``gen`` where given), "const" (a fixed map
drawn at build time, so a seed always gives the same picture), "zero", or a tensor.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import GanlabError
from . import MODELS
from .common import MinibatchStd
from .equalized import SQRT2, EqualConv2d, EqualLinear, lrelu, pixel_norm

Noise = Union[str, torch.Tensor]
NOISE_MODES = ("random", "const", "zero")


def channels_at(res: int, resolution: int, width: int, cap: int = 8) -> int:
    """Feature maps at ``res``: ``width`` at the output, doubling per halving, at most ``cap * width``."""
    return width * min(cap, resolution // res)


def resolutions(resolution: int) -> List[int]:
    if resolution < 8 or resolution & (resolution - 1):
        raise GanlabError(f"StyleGAN works at a power of two from 8 px (8, 16, 32, 64, ...), not {resolution}.")
    return [4 * 2 ** i for i in range(int(math.log2(resolution)) - 1)]


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, depth: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * depth
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, act=True) for a, b in zip(dims, dims[1:])])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(pixel_norm(z))                            # [B, z_dim] -> [B, w_dim]


class ModulatedConv(nn.Module):
    """A k x k convolution whose weights each sample's style scales (and, with demod, renormalises)."""

    def __init__(self, c_in: int, c_out: int, k: int, w_dim: int, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)       # style s = A(w), starts at 1
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.scale, self.demodulate, self.up, self.k = 1.0 / math.sqrt(c_in * k * k), demodulate, up, k

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        B, C = x.shape[:2]
        s = self.affine(w)                                           # [B, C_in]
        wt = self.weight[None] * (self.scale * s[:, None, :, None, None])   # [B, C_out, C_in, k, k]
        if self.demodulate:                                          # each output channel back to unit scale
            wt = wt * torch.rsqrt(wt.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        H, W = x.shape[2:]
        out = F.conv2d(x.reshape(1, B * C, H, W), wt.reshape(-1, C, self.k, self.k),
                       padding=self.k // 2, groups=B)                # one grouped conv for the whole batch
        return out.reshape(B, -1, H, W)                              # [B, C_out, H, W]


class StyleLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, w_dim: int, res: int, up: bool):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros([]))         # learned; starts with no noise
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))
        self.res = res

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: Noise, gen: Optional[torch.Generator]) -> torch.Tensor:
        x = self.conv(x, w)
        n = make_noise(noise, len(x), self.res, self.noise_const, gen)
        if n is not None:
            x = x + self.noise_strength * n
        return lrelu(x + self.bias[None, :, None, None])


def make_noise(noise: Noise, batch: int, res: int, const: torch.Tensor,
               gen: Optional[torch.Generator]) -> Optional[torch.Tensor]:
    """The [B or 1, 1, res, res] noise map a layer adds, or None for "zero"."""
    if isinstance(noise, torch.Tensor):
        return noise.to(const.device)
    if noise == "const":
        return const
    if noise == "zero":
        return None
    if noise == "random":
        return torch.randn(batch, 1, res, res, generator=gen).to(const.device)
    raise GanlabError(f"Unknown noise mode {noise!r}; use one of: {', '.join(NOISE_MODES)}.")


class ToRGB(nn.Module):
    def __init__(self, c_in: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(c_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class StyleGenerator(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, channels: int, resolution: int, width: int, mapping_depth: int = 8):
        super().__init__()
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        res = resolutions(resolution)
        ch = [channels_at(r, resolution, width) for r in res]
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_depth)
        self.register_buffer("w_avg", torch.zeros(w_dim))           # tracked in training (see the trainer)
        self.const = nn.Parameter(torch.randn(1, ch[0], 4, 4))
        self.convs = nn.ModuleList([StyleLayer(ch[0], ch[0], w_dim, 4, up=False)])
        for i in range(1, len(res)):                                 # two layers per block: up, then same size
            self.convs.append(StyleLayer(ch[i - 1], ch[i], w_dim, res[i], up=True))
            self.convs.append(StyleLayer(ch[i], ch[i], w_dim, res[i], up=False))
        self.torgbs = nn.ModuleList([ToRGB(c, channels, w_dim) for c in ch])
        self.num_ws = 2 * len(res)

    # ---- the latent spaces ------------------------------------------------------------------
    def truncate(self, w: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """Pull w (or ws) towards w_avg: psi = 1 unchanged, 0 the average image."""
        return w if psi == 1 else self.w_avg.lerp(w, psi)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """[B, w_dim] -> [B, num_ws, w_dim]: the same style for every layer (W rather than W+)."""
        return w[:, None].expand(-1, self.num_ws, -1)

    def layer_resolutions(self) -> List[int]:
        """The resolution each style in ws drives (the toRGB style of a block counts with the next block)."""
        top = self.resolution
        return [min(top, 4 * 2 ** ((i + 1) // 2)) for i in range(self.num_ws)]

    def layer_group(self, name: str) -> List[int]:
        """Style indices of "coarse" (4-8 px), "middle" (16 px up to below the output) or "fine" (the output's)."""
        res = self.layer_resolutions()
        test = {"coarse": lambda r: r <= 8, "fine": lambda r: r == self.resolution and r > 8,
                "middle": lambda r: 8 < r < self.resolution}
        if name not in test:
            raise GanlabError(f"Unknown layer group {name!r}; use coarse, middle or fine.")
        return [i for i, r in enumerate(res) if test[name](r)]

    # ---- drawing ------------------------------------------------------------------------------
    def synthesis(self, ws: torch.Tensor, noise: Union[Noise, Sequence[Noise]] = "const",
                  gen: Optional[torch.Generator] = None) -> torch.Tensor:
        """Styles [B, num_ws, w_dim] to images [B, C, H, W]; ``noise``: one mode, or one per conv layer."""
        if ws.shape[1] != self.num_ws:
            raise GanlabError(f"This generator takes {self.num_ws} styles per image, not {ws.shape[1]}.")
        per_layer = [noise] * len(self.convs) if isinstance(noise, (str, torch.Tensor)) else list(noise)
        x = self.const.expand(len(ws), -1, -1, -1)
        x = self.convs[0](x, ws[:, 0], per_layer[0], gen)               # [B, ch0, 4, 4]
        img = self.torgbs[0](x, ws[:, 1])
        for b in range(1, len(self.torgbs)):                            # each block doubles the side
            for j in (2 * b - 1, 2 * b):
                x = self.convs[j](x, ws[:, j], per_layer[j], gen)
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
            img = img + self.torgbs[b](x, ws[:, 2 * b + 1])
        # [B, C, R, R]: unbounded while training (as StyleGAN2; no tanh), clamped to the data range for pictures
        return img if self.training else img.clamp(-1, 1)

    def forward(self, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        ws = self.broadcast(self.truncate(self.mapping(z), psi))
        return self.synthesis(ws, "random" if self.training else "const")


class ResBlock(nn.Module):
    """D's block: two 3x3 convs and a 2x average pool, plus a 1x1 skip; the sum scaled back by 1/sqrt(2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = EqualConv2d(c_in, c_in, 3, act=True)
        self.conv2 = EqualConv2d(c_in, c_out, 3, act=True)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = F.avg_pool2d(self.conv2(self.conv1(x)), 2)
        return (main + self.skip(F.avg_pool2d(x, 2))) / SQRT2       # [B, c_out, H/2, W/2]


class ResidualDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int):
        super().__init__()
        res = resolutions(resolution)[::-1]                          # R, R/2, ..., 4
        ch = [channels_at(r, resolution, width) for r in res]
        self.from_rgb = EqualConv2d(channels, ch[0], 1, act=True)   # [B, C, R, R] -> [B, ch0, R, R]
        self.blocks = nn.Sequential(*[ResBlock(a, b) for a, b in zip(ch, ch[1:])])
        self.mbstd = MinibatchStd()
        self.conv = EqualConv2d(ch[-1] + 1, ch[-1], 3, act=True)   # state size. ch x 4 x 4
        self.fc = EqualLinear(ch[-1] * 16, ch[-1], act=True)
        self.out = EqualLinear(ch[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.from_rgb(x))                             # [B, ch, 4, 4]
        h = self.conv(self.mbstd(h))
        return self.out(self.fc(h.flatten(1))).flatten()              # [B] logits


def square_image(sample_shape: Tuple[int, ...], family: str) -> Tuple[int, int]:
    if len(sample_shape) != 3 or sample_shape[1] != sample_shape[2]:
        raise GanlabError(f"{family} needs square images; use the mlp model for 2-D points.")
    return sample_shape[0], sample_shape[1]


@MODELS.register("stylegan", "StyleGAN2-style: mapping network, modulated convs, noise, style mixing (8-256 px)")
def build_stylegan(cfg: ModelConfig, sample_shape: Tuple[int, ...], num_classes: int = 0):
    channels, res = square_image(sample_shape, "StyleGAN")
    resolutions(res)
    cfg.z_dim = cfg.z_dim or 128
    cfg.width = cfg.width or 16
    cfg.mapping_depth = cfg.mapping_depth or 8
    G = StyleGenerator(cfg.z_dim, cfg.z_dim, channels, res, cfg.width, cfg.mapping_depth)
    D = ResidualDiscriminator(channels, res, cfg.width)
    return G, D
