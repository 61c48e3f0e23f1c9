"""ganlab: train, watch and explore GANs.

The engine runs headless (``ganlab.engine.Engine``); the Gradio app, the CLI
(``python -m ganlab``) and the tests are its clients.
"""
from .config import DataConfig, ModelConfig, RunConfig, TrainConfig
from .errors import GanlabError

__all__ = ["DataConfig", "ModelConfig", "RunConfig", "TrainConfig", "GanlabError"]
