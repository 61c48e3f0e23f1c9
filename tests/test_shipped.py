"""Every model shipped in models/ loads and samples (or classifies, or embeds)."""
from pathlib import Path

import pytest
import torch

from ganlab.sampling import GENERATOR_FILE, is_conditional, load_generator, sample

MODELS = Path(__file__).resolve().parents[1] / "models"
GENERATORS = sorted(p for p in MODELS.iterdir() if (p / GENERATOR_FILE).is_file())


def test_the_shipped_models_are_there():
    names = {p.name for p in GENERATORS}
    assert {"fashion-mnist-dcgan", "fashion-mnist-cgan", "mnist-cgan", "shapes-cgan", "text-captioned"} <= names
    for p in GENERATORS:
        card = (p / "README.md").read_text()
        assert "Command:" in card and "Training:" in card, p
        assert (p / GENERATOR_FILE).stat().st_size < 8 * 2**20, f"{p} is more than a few MB"


@pytest.mark.parametrize("folder", GENERATORS, ids=lambda p: p.name)
def test_every_shipped_generator_loads_and_samples(folder):
    G, cfg, step = load_generator(folder)
    assert step > 0
    if getattr(G, "cond_dim", 0):
        from ganlab.text.generate import TextGenerator
        x = TextGenerator.open(folder).generate("the digit seven", n=4, seed=0)
    else:
        labels = torch.arange(4) % G.num_classes if is_conditional(G) else None
        x = sample(G, 4, seed=0, labels=labels)
    assert x.dim() == 4 and len(x) == 4 and torch.isfinite(x).all() and x.abs().max() <= 1


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "shapes-shape", "shapes-colour"])
def test_every_shipped_classifier_loads(name):
    from ganlab.metrics.classifier import load_classifier
    clf = load_classifier(name)
    assert clf.cfg.test_accuracy > 0.85 and (MODELS / "classifiers" / name / "README.md").is_file()


def test_the_shipped_embedder_loads():
    from ganlab.text.embedders import load_embedder
    emb = load_embedder("minilm")
    assert emb.encode_text(["a bag"]).shape == (1, emb.dim)
