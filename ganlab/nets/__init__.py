"""Generator/discriminator families, one file each, registered by name.

    G, D = MODELS.get("dcgan")(model_cfg, sample_shape)

A builder fills in the family's defaults for ``z_dim`` and ``width`` in
``model_cfg`` so the saved config.json records what was really built.
Every generator has a ``z_dim`` attribute and maps ``[B, z_dim]`` noise to a
``[B, *sample_shape]`` batch; every discriminator maps a batch to ``[B]`` logits.
"""
from ..registry import Registry

MODELS: Registry = Registry("model")

from . import dcgan, mlp  # noqa: E402,F401  (register the families)

__all__ = ["MODELS"]
