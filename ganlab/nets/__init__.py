"""Generator/discriminator families, one file each, registered by name.

    G, D = MODELS.get("dcgan")(model_cfg, sample_shape)
    G, D = MODELS.get("projection")(model_cfg, sample_shape, num_classes=10)

A builder fills in the family's defaults for ``z_dim`` and ``width`` (and
``num_classes`` for the conditional families) in ``model_cfg`` so the saved
config.json records what was really built. Every generator has a ``z_dim``
attribute and maps ``[B, z_dim]`` noise to a ``[B, *sample_shape]`` batch;
every discriminator maps a batch to ``[B]`` logits.

Class-conditioned families (cgan, projection, acgan, reacgan) have ``G.num_classes > 0``
and take the class as a second argument: ``G(z, y)`` and ``D(x, y)``, where
``y`` is class indices [B] or class weights [B, K] (see conditioning.py).
The classifier-based ones (acgan, reacgan) have a D that returns ``(logits, class
output)``, and names the class loss (``ganlab.losses.CLASS_LOSSES``) that scores that output.
"""
from ..registry import Registry

MODELS: Registry = Registry("model")

from . import acgan, cgan, cyclegan, dcgan, inpaint, mlp, pix2pix, progan, projection, reacgan, srgan, stylegan, textgan  # noqa: E402,F401  (register the families)

__all__ = ["MODELS"]
