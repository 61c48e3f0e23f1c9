"""Every model shipped in models/ loads and samples (or classifies, or embeds)."""
from pathlib import Path

import pytest
import torch

from ganlab.sampling import GENERATOR_FILE, is_conditional, load_generator, sample

MODELS = Path(__file__).resolve().parents[1] / "models"
GENERATORS = sorted(p for p in MODELS.iterdir() if (p / GENERATOR_FILE).is_file())


def test_the_shipped_models_are_there():
    names = {p.name for p in GENERATORS}
    assert {"fashion-mnist-dcgan", "fashion-mnist-cgan", "mnist-cgan", "shapes-cgan", "text-captioned",
            "emoji-stylegan", "emoji-progan"} <= names
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
    elif not G.z_dim:                                    # image to image: four held-out inputs through it
        from ganlab.translate.model import Translator
        tr = Translator.open(folder)
        held = tr.held_out(4)
        x = tr.translate(held.inputs, mask=held.masks)
        assert x.shape[-1] == tr.resolution and (held.targets is None or x.shape == held.targets.shape)
        assert (folder / "scores.json").is_file()        # its card's bench figures
    else:
        labels = torch.arange(4) % G.num_classes if is_conditional(G) else None
        x = sample(G, 4, seed=0, labels=labels)
    assert x.dim() == 4 and len(x) == 4 and torch.isfinite(x).all() and x.abs().max() <= 1


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "shapes-shape", "shapes-colour", "fashion-mnist-32px",
                                  "mnist-32px"])
def test_every_shipped_classifier_loads(name):
    from ganlab.metrics.classifier import load_classifier
    clf = load_classifier(name)
    assert clf.cfg.test_accuracy > 0.85 and (MODELS / "classifiers" / name / "README.md").is_file()


def test_the_shipped_embedder_loads():
    from ganlab.text.embedders import load_embedder
    emb = load_embedder("minilm")
    assert emb.encode_text(["a bag"]).shape == (1, emb.dim)


def test_the_32px_judge_reads_resized_images_better_than_the_28px_one():
    """Why the text bench judges 32x32 images with fashion-mnist-32px: the 28x28 judge, resizing them
    back, misreads real coats and shirts (measured on the 28x28 judge: 61% and 41%, against 91% and 77%)."""
    from ganlab.config import DataConfig
    from ganlab.data.images import load_split
    from ganlab.metrics.classifier import classifier_name, load_classifier
    from ganlab.text.embedders import to_rgb
    test = load_split("fashion-mnist", "test", DataConfig(name="fashion-mnist"))
    keep = (test.labels == 4) | (test.labels == 6)                      # coats and shirts
    x, y = to_rgb(test.x[keep][:600], 32), test.labels[keep][:600]       # as the text model's data was made
    small, big = load_classifier("fashion-mnist"), load_classifier(classifier_name("fashion-mnist", side=32))
    acc_small = float((small.predict(x) == y).float().mean())
    acc_big = float((big.predict(x) == y).float().mean())
    assert big.cfg.side == 32 and acc_big > acc_small + 0.15, (acc_small, acc_big)
