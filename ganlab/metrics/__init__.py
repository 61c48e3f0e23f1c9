"""Measures of what a GAN learned."""
from .modes import mode_coverage

__all__ = ["mode_coverage"]
