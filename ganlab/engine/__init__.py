"""The engine: the only package that owns threads.

    from ganlab.engine import Engine, Evaluator
    engine = Engine.new(cfg, "runs/ring")        # one run, trained by its own thread (see run.py)
    evaluator = Evaluator()                      # one thread scoring snapshots of G for many engines

Everything else (trainer, nets, metrics, UI, CLI) is single-threaded code that
these two call into or that calls them.
"""
from .evaluator import Evaluator
from .run import Engine

__all__ = ["Engine", "Evaluator"]
