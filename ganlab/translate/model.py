"""An image-to-image run opened for use: translate inputs, pick held-out ones, prepare uploads.

    tr = Translator.open("models/edges2emoji-pix2pix")     # a run, checkpoint or model folder
    tr.task                        # "paired" | "unpaired" | "sr" | "inpaint"
    x, note = tr.prepare(Image.open("doodle.png"))          # [1, C, h, w] in [-1, 1], resized to what G takes
    y = tr.translate(x)            # [1, C', H, W] on the CPU (cyclegan: direction="AB" or "BA")
    back = tr.translate(y, direction="BA")                  # cyclegan's round trip
    hold = tr.held_out(8)          # HeldOut(inputs, targets, masks) from the set's fixed held-out part
    y = tr.translate(hold.inputs[:1], mask=hold.masks[:1])  # inpaint: the mask (1 = hole) goes with it

Nothing here trains or reads a discriminator: only G (its EMA when the run has one) is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps

from ..config import RunConfig
from ..errors import GanlabError
from ..nets.srgan import bicubic
from ..sampling import load_generator
from .masks import draw_masks
from .trainer import TASKS

DIRECTIONS = ("AB", "BA")
MAX_UPLOAD_PIXELS = 4096 * 4096        # bigger uploads are refused before they are decoded in full


@dataclass
class HeldOut:
    inputs: torch.Tensor               # what G takes: edges, the down-sample, the masked image or domain A
    targets: Optional[torch.Tensor]    # the truth where there is one (not for unpaired sets)
    masks: Optional[torch.Tensor]      # inpaint: 1 in the hole
    note: str = ""
    others: Optional[torch.Tensor] = None   # cyclegan: held-out images of domain B (for B -> A)


def is_translation(cfg: RunConfig) -> bool:
    return cfg.model.name in TASKS


class Translator:
    def __init__(self, G: torch.nn.Module, cfg: RunConfig, step: int, path: Path):
        self.G, self.cfg, self.step, self.path = G, cfg, step, Path(path)
        self.family = cfg.model.name
        self.task = TASKS[self.family]
        self.resolution = G.resolution
        self.out_channels = G.out_channels
        self.in_channels = G.in_channels
        self.scale = getattr(G, "scale", 1)
        self.in_side = self.resolution // self.scale
        self._held: Optional[HeldOut] = None

    @classmethod
    def open(cls, path) -> "Translator":
        G, cfg, step = load_generator(Path(path))
        if not is_translation(cfg):
            raise GanlabError(f"{path} is a {cfg.model.name} model, not an image-to-image one "
                              f"({', '.join(TASKS)}); open it in the Explore tab instead.")
        return cls(G, cfg, step, Path(path))

    # ---- what the model is ----------------------------------------------------------------------------
    @property
    def domains(self) -> Tuple[str, str]:
        names = {"sr": ("low resolution", "high resolution"), "inpaint": ("with a hole", "filled")}
        if self.task in names:
            return names[self.task]
        from ..data.pairs import DOMAINS
        return DOMAINS.get(self.cfg.data.name, ("A", "B"))

    def describe(self) -> str:
        what = {"paired": f"{self.domains[0]} -> {self.domains[1]} (paired, pix2pix)",
                "unpaired": f"{self.domains[0]} <-> {self.domains[1]} (unpaired, CycleGAN)",
                "sr": f"{self.scale}x super-resolution, {self.in_side} -> {self.resolution} px",
                "inpaint": "fills a painted hole"}[self.task]
        return f"{what}; trained on {self.cfg.data.name} at {self.resolution} px for {self.step:,} steps"

    # ---- running G --------------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AB", mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if direction not in DIRECTIONS:
            raise GanlabError(f"The direction is AB or BA (got {direction!r}).")
        if direction == "BA" and self.task != "unpaired":
            raise GanlabError("Only a CycleGAN model goes both ways; this one goes A -> B only.")
        want = self.in_side if self.task == "sr" else self.resolution
        if x.dim() != 4 or x.shape[-1] != want or x.shape[-2] != want:
            raise GanlabError(f"This model takes [B, C, {want}, {want}] inputs (got {list(x.shape)}); "
                              "use prepare() to resize an image.")
        x = self._channels(x, self.input_channels(direction))
        device = next(self.G.parameters()).device
        x = x.to(device)
        if self.task == "inpaint":
            if mask is None:
                raise GanlabError("Inpainting needs a mask: paint over the part to fill.")
            out = self.G(x, mask.to(device).float().clamp(0, 1))
        elif self.task == "unpaired":
            out = self.G.ab(x) if direction == "AB" else self.G.ba(x)
        else:
            out = self.G(x)
        return out.clamp(-1, 1).cpu()

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        """The bicubic up-sample of an SR input, at the output's size: what G must beat."""
        return bicubic(x, self.resolution)

    @staticmethod
    def _channels(x: torch.Tensor, c: int) -> torch.Tensor:
        if x.shape[1] == c:
            return x
        if c == 1:
            from ..data.pairs import luminance
            return luminance(x)
        return x.expand(-1, c, -1, -1)

    # ---- inputs ---------------------------------------------------------------------------------------------
    def input_side(self) -> int:
        return self.in_side if self.task == "sr" else self.resolution

    def input_channels(self, direction: str = "AB") -> int:
        return self.out_channels if direction == "BA" else self.in_channels

    def prepare(self, img: Image.Image, direction: str = "AB", side: Optional[int] = None) -> Tuple[torch.Tensor, str]:
        """A PIL image as G's input: transparency on white, the model's channels, resized (with a note) to the side
        G takes; edge models get the sketch's dark strokes as black on white, as their edge maps are."""
        if img.width * img.height > MAX_UPLOAD_PIXELS:
            raise GanlabError(f"That image is {img.width}x{img.height}; images up to 4096x4096 are accepted.")
        side = side or self.input_side()
        note = ""
        img = ImageOps.exif_transpose(img)
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            white = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, img)
        img = img.convert("RGB")
        if img.size != (side, side):
            note = f"Resized from {img.width}x{img.height} to {side}x{side}, the size this model takes."
            if img.width != img.height:
                img = ImageOps.pad(img, (max(img.size),) * 2, color=(255, 255, 255))
            img = img.resize((side, side), Image.Resampling.LANCZOS if min(img.size) > side else
                             Image.Resampling.BICUBIC)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
        x = self._channels(x, self.input_channels(direction))
        if self.cfg.data.name.startswith("edges2"):                # a drawing: its strokes as the edge maps
            x = torch.where(x < 0.5, -1.0, 1.0)
        return x, note

    def mask_from(self, painted: np.ndarray) -> torch.Tensor:
        """A painted layer (H x W, or H x W x C with alpha last) -> [1, 1, res, res] mask, 1 where painted."""
        a = np.asarray(painted)
        if a.ndim == 3:
            a = a[..., -1] if a.shape[-1] in (2, 4) else a.max(-1)
        m = Image.fromarray((a > 0).astype(np.uint8) * 255).resize((self.resolution,) * 2, Image.Resampling.BOX)
        return torch.from_numpy((np.asarray(m) > 0).astype(np.float32))[None, None]

    # ---- held-out inputs ------------------------------------------------------------------------------------
    def held_out(self, n: Optional[int] = None) -> HeldOut:
        """The first ``n`` items of the set's fixed held-out part (all of them with n=None), with the same
        inputs every time: the down-sample for SR, seeded holes for inpainting."""
        if self._held is None:
            self._held = self._load_held()
        h = self._held

        def cut(t):          # each part on its own: cyclegan's two sides need not be the same size
            return t if t is None or n is None else t[:n]
        return HeldOut(cut(h.inputs), cut(h.targets), cut(h.masks), h.note, cut(h.others))

    def _load_held(self) -> HeldOut:
        from ..data import load_dataset
        from ..data.pairs import held_out_of, pairs_of
        ds = load_dataset(self.cfg.data, seed=self.cfg.train.seed)
        ds = pairs_of(ds) if self.task in ("paired", "unpaired") else held_out_of(ds, self.cfg.data)
        test = ds.test
        if self.task == "paired":
            return HeldOut(test.inputs, test.x, None, f"{len(test):,} held-out pairs of {self.cfg.data.name}")
        if self.task == "unpaired":
            return HeldOut(test.inputs, None, None, f"{len(test.inputs):,} and {len(test):,} held-out images of "
                           f"{self.cfg.data.name}'s two sides", others=test.x)
        if self.task == "sr":
            return HeldOut(bicubic(test.x, self.in_side), test.x, None,
                           f"{len(test):,} held-out images of {self.cfg.data.name}, shrunk {self.scale}x (bicubic)")
        masks = draw_masks(len(test), self.resolution, self.cfg.train.mask, torch.Generator().manual_seed(1234))
        return HeldOut(test.x * (1 - masks), test.x, masks,
                       f"{len(test):,} held-out images of {self.cfg.data.name}, each with a seeded "
                       f"{self.cfg.train.mask} hole")


__all__ = ["Translator", "HeldOut", "DIRECTIONS", "is_translation"]
