"""Files out of a generator: walk animations, image folders with labels, ONNX and TorchScript.

    save_animation(frames, "walk.gif", fps=12)          # [N, C, H, W] in [-1, 1]; .gif or .mp4
    save_image_folder(images, "out/", labels, names)    # 000000.png ... + labels.csv: a synthetic dataset
    save_image_folder(images, "out/", captions=[prompt] * len(images))   # labels.csv with a prompt column
    check_picture_path("grid.png")                      # GanlabError for a file type we do not write
    export_torchscript(G, "g.pt"); export_onnx(G, "g.onnx")
    mapping, synthesis = export_style_onnx(G, "folder/")   # a style G in two parts, for the browser

The exported generator takes ``z`` [B, z_dim] (and, for a conditional model,
class weights [B, K]: one-hot for one class, a mix to blend) and returns images
in [-1, 1]; the weights never leave safetensors inside ganlab itself, these
formats are for running the generator elsewhere.
"""
from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple

import imageio.v3 as iio
import numpy as np
import torch
from torch import nn

from .errors import GanlabError
from .sampling import is_conditional
from .viz import grid_image


def to_uint8(x: torch.Tensor, scale: int = 1) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> [N, H*scale, W*scale, 3] uint8 (grey repeated to RGB)."""
    u8 = ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte()
    if u8.shape[1] == 1:
        u8 = u8.expand(-1, 3, -1, -1)
    if scale > 1:
        u8 = u8.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    return u8.permute(0, 2, 3, 1).contiguous().numpy()


def save_animation(frames: torch.Tensor, path, fps: int = 12, scale: int = 4, bounce: bool = True) -> Path:
    """A GIF or MP4 of the frames (there and back again when ``bounce``), each enlarged ``scale`` times."""
    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise GanlabError(f"Save walks as .gif or .mp4, not {path.suffix or 'no extension'}.")
    arr = to_uint8(frames, scale)
    if bounce and len(arr) > 2:
        arr = np.concatenate([arr, arr[-2:0:-1]])
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        iio.imwrite(path, arr, duration=int(1000 / fps), loop=0)
    else:
        h, w = arr.shape[1:3]                                  # H.264 wants even sides
        arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
        try:
            iio.imwrite(path, arr, fps=fps, codec="libx264", plugin="pyav")
        except Exception as e:                                 # no PyAV / codec: say what to install
            raise GanlabError(f"Writing MP4 needs PyAV (`pip install av`); save a .gif instead ({e}).") from None
    return path


PICTURE_TYPES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def check_picture_path(path) -> Path:
    """``path`` if it names a picture type we write; checked before any sampling, so a typo costs nothing."""
    path = Path(path)
    if path.suffix.lower() not in PICTURE_TYPES:
        raise GanlabError(f"Cannot save a picture as {path.suffix or 'a file with no extension'}; "
                          f"use .png (or {', '.join(PICTURE_TYPES[1:])}), or end --out with / for a folder.")
    return path


def save_grid(x: torch.Tensor, path, nrow: Optional[int] = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(x, nrow=nrow).save(path)
    return path


def save_image_folder(images: torch.Tensor, folder, labels: Optional[torch.Tensor] = None,
                      class_names: Sequence[str] = (), captions: Optional[Sequence[str]] = None) -> Path:
    """One PNG per image and labels.csv: a synthetic dataset.

    labels.csv has the columns file, label (class index), class (its name), and a
    fourth, prompt, when ``captions`` (one per image, e.g. a text-gan's prompt) are given.
    """
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"{len(captions)} captions for {len(images)} images")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = to_uint8(images)
    rows = []
    for i, a in enumerate(arr):
        name = f"{i:06d}.png"
        iio.imwrite(folder / name, a[:, :, 0] if images.shape[1] == 1 else a)
        if labels is not None:
            k = int(labels[i])
            rows.append([name, k, class_names[k] if k < len(class_names) else str(k)])
        else:
            rows.append([name, "", ""])
        if captions is not None:
            rows[-1].append(captions[i])
    _write_csv(folder / "labels.csv", ["file", "label", "class"] + (["prompt"] if captions is not None else []),
               rows)
    return folder


def _write_csv(path: Path, header: Sequence[str], rows) -> None:
    tmp = path.with_name(f".{path.name}.tmp")          # renamed into place: a reader never sees half a file
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)


class _Portable(nn.Module):
    """G with a fixed signature for export: (z) or (z, class weights [B, K])."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G
        self.conditional = is_conditional(G)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.G(z, y) if self.conditional else self.G(z)


def example_inputs(G: nn.Module, batch: int = 2):
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0))
    if is_conditional(G):
        y = torch.nn.functional.one_hot(torch.arange(batch) % G.num_classes, G.num_classes).float()
        return (z, y)
    return (z,)


def export_torchscript(G: nn.Module, path) -> Path:
    """A traced TorchScript file: ``torch.jit.load(path)(z[, y])`` runs it without ganlab."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = _Portable(G.cpu().eval())
    with torch.no_grad(), warnings.catch_warnings():      # "trace is deprecated": still the portable format
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example_inputs(G), check_trace=False)
    traced.save(str(path))
    return path


def export_onnx(G: nn.Module, path) -> Path:
    """An ONNX file with a dynamic batch axis; inputs ``z`` (and ``y``), output ``images``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the wrapper in eval mode too: torch.onnx.export puts the module it is given back into the mode it
    # found it in, recursively, and a fresh wrapper's train mode would leave G training (its BatchNorm
    # statistics then drift with every later render)
    model = _Portable(G.cpu().eval()).eval()
    names = ["z", "y"] if is_conditional(G) else ["z"]
    axes = {n: {0: "batch"} for n in names + ["images"]}
    try:
        with torch.no_grad():
            torch.onnx.export(model, example_inputs(G), str(path), input_names=names, output_names=["images"],
                              dynamic_axes=axes, opset_version=17, dynamo=False)
    except ImportError as e:
        raise GanlabError(f"ONNX export needs the onnx package (`pip install onnx`): {e}") from None
    return path


class _Mapping(nn.Module):
    """A style G's mapping network alone: z [B, z_dim] -> w [B, w_dim], before truncation."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G.mapping(z)


class _Synthesis(nn.Module):
    """A style G's synthesis with its fixed noise maps: ws [1, num_ws, w_dim] -> images [1, C, H, W] in [-1, 1]."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.G.synthesis(ws, "const").clamp(-1, 1)


def export_style_onnx(G: nn.Module, folder) -> Tuple[Path, Path]:
    """A style G as two ONNX files in ``folder``: mapping.onnx (``z`` -> ``w``, dynamic batch) and
    synthesis.onnx (``ws`` -> ``images``, batch 1: its modulated convs are one grouped conv whose
    group count is the batch, which ONNX fixes at export). Truncation and W-space edits are a few
    vector sums, left to the caller, so one export serves every ψ."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    G = G.cpu().eval()
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    ws = G.broadcast(G.mapping(z[:1]))
    try:
        with torch.no_grad(), warnings.catch_warnings():     # tracer warnings about len(ws): batch 1 is meant
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(_Mapping(G).eval(), (z,), str(folder / "mapping.onnx"), input_names=["z"],
                              output_names=["w"], dynamic_axes={"z": {0: "batch"}, "w": {0: "batch"}},
                              opset_version=17, dynamo=False)
            torch.onnx.export(_Synthesis(G).eval(), (ws.contiguous(),), str(folder / "synthesis.onnx"),
                              input_names=["ws"], output_names=["images"], opset_version=17, dynamo=False)
    except ImportError as e:
        raise GanlabError(f"ONNX export needs the onnx package (`pip install onnx`): {e}") from None
    return folder / "mapping.onnx", folder / "synthesis.onnx"
