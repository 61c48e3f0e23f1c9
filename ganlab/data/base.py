"""One interface for every data source.

Every loader returns a :class:`DataSource`: all items in memory as one tensor
in [-1, 1] (points ``[N, 2]`` or images ``[N, C, H, W]``), with labels, class
names and captions where the set has them. Loaders register under a name:

    @DATASETS.register("ring", "8 Gaussians on a circle")
    def ring(cfg: DataConfig, arg: str | None) -> DataSource: ...

``arg`` is the part after the colon in names like ``folder:PATH``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch

from ..registry import Registry

DATASETS: Registry = Registry("dataset")


@dataclass
class DataSource:
    name: str
    x: torch.Tensor                                   # [N, 2] points or [N, C, H, W] images, in [-1, 1]
    labels: Optional[torch.Tensor] = None             # [N] int64 class index
    class_names: Optional[List[str]] = None
    label_factors: Optional[List[int]] = None         # values per part of a joined label (shape+colour)
    captions: Optional[List[str]] = None              # one per item, where the set has them
    attributes: Dict[str, torch.Tensor] = field(default_factory=dict)       # extra [N] int64 labels
    attribute_names: Dict[str, List[str]] = field(default_factory=dict)     # value names per attribute
    modes: Optional[torch.Tensor] = None              # [K, 2] mixture centres (2-D toys)
    mode_std: Optional[float] = None                  # std of each mixture component
    skipped: int = 0                                  # unreadable files skipped while loading
    keys: Optional[List[str]] = None                  # one stable id per item, where the set has them
                                                      # (emoji: code points, "1F468-200D-1F373")
    note: str = ""                                    # where the data came from, in words
    # image-to-image sets (see pairs.py): x holds the targets (domain B), inputs the inputs (domain A)
    inputs: Optional[torch.Tensor] = None             # [N, C', H, W]; aligned with x when paired
    paired: bool = False                              # inputs[i] belongs with x[i]
    domains: Optional[Tuple[str, str]] = None         # names of the input and target sides ("edges", "emoji")
    test: Optional["DataSource"] = None               # the fixed held-out part, never trained on

    def __len__(self) -> int:
        return self.x.shape[0]

    def share_memory_(self) -> "DataSource":
        """Move the set's tensors (inputs and held-out part included) to shared memory, so a training
        process started with it maps the same pages instead of receiving a copy."""
        for t in (self.x, self.inputs):
            if t is not None:
                t.share_memory_()
        if self.test is not None:
            self.test.share_memory_()
        return self

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    @property
    def sample_shape(self) -> Tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names) if self.class_names else 0
