"""The NaN guard: roll a trainer back to its last good state when a loss stops being a number.

    guard = NanGuard()
    guard.keep(trainer)                       # after every metrics row: remember this state if it is finite
    finding = guard.recover(trainer, "loss_d", value, step)   # restore, halve both lrs, say what happened
    guard.restore(trainer)                    # just restore (a failed run saves its last good state)

The last good state is an in-memory checkpoint (ganlab.checkpoint.capture_state,
kept where the tensors already live), so a rollback costs no disk and loses at
most one metrics row of steps. After MAX_ROLLBACKS recoveries the run is
declared broken with a sentence that says what to change.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..checkpoint import capture_state, restore_state
from ..errors import GanlabError
from ..metrics.health import Finding

MAX_ROLLBACKS = 5


class NanGuard:
    def __init__(self, max_rollbacks: int = MAX_ROLLBACKS):
        self.max_rollbacks = max_rollbacks
        self.good: Optional[Tuple] = None           # (tensors, state) of the last finite state
        self.rollbacks = 0

    def keep(self, trainer) -> None:
        """Remember the trainer's state as the one to roll back to, if every weight is finite."""
        nets = [n for n in (trainer.G, trainer.D) if n is not None]
        if all(torch.isfinite(p).all() for n in nets for p in n.parameters()):
            self.good = capture_state(trainer, on_cpu=False)

    def restore(self, trainer) -> None:
        """Put the last good state back as it was (rates unchanged): before saving a failed run."""
        tensors, state = self.good
        restore_state(trainer, tensors, state, where="The last good state")

    def recover(self, trainer, key: str, value: float, step: int) -> Finding:
        """Restore the last good state and halve both learning rates; GanlabError once it keeps happening."""
        if self.good is None or self.rollbacks >= self.max_rollbacks:
            raise GanlabError(f"{key} became {value} at step {step} again after {self.rollbacks} recoveries; "
                              "lower the learning rates a lot (or use spectral norm or WGAN-GP) and resume the "
                              "run from its last checkpoint.")
        self.restore(trainer)
        lr_g, lr_d = trainer.lr_g * 0.5, trainer.lr_d * 0.5
        trainer.set_lr(lr_g, lr_d)
        self.rollbacks += 1
        return Finding("nan", "alarm", f"{key} became {value}: rolled back",
                       f"At step {step} {key} was {value}; the run went back to step {trainer.step_count:,} and "
                       f"both learning rates were halved (lr G {lr_g:.2g}, lr D {lr_d:.2g}). Nothing was lost.",
                       "If it happens again, lower the learning rates further, or turn on spectral norm or use "
                       "the WGAN-GP loss.", trainer.step_count)
