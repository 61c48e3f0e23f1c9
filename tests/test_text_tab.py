"""The Text → Image tab's handlers on a tiny text-gan trained for two steps (no shipped model needed).

The model uses an untrained offline embedder, so its images are noise; the
tests check what the tab promises: captions with CLIP scores, the domain
statement, the two-prompt strip, nearest training images, and plain warnings.
"""
import re

import numpy as np
import pytest

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.engine import Engine
from ganlab.errors import GanlabError
from ganlab.sampling import export_generator
from ganlab.text.embedders import MiniLMEmbedder
from ganlab.text.train_embedder import save
from ganlab.ui.sessions import Sessions
from ganlab.ui.text import TextHandlers, strip_picture
from ganlab.ui.train_handlers import guarded


@pytest.fixture(scope="module")
def handlers(tmp_path_factory):
    """TextHandlers over models/text-tiny; the captioned set is built once and shared through the cache."""
    tmp = tmp_path_factory.mktemp("text")
    save(MiniLMEmbedder(64, 8), tmp / "emb", {"x": 0.5}, 1.0, "test", 0)
    cfg = RunConfig(DataConfig(name="captioned", n=300),
                    ModelConfig(name="text-gan", clip=str(tmp / "emb"), width=8, z_dim=8),
                    TrainConfig(loss="hinge", batch_size=16, n_samples=16, steps=2, log_every=1, sample_every=1000))
    sessions = Sessions(tmp / "runs", models_root=tmp / "models")
    data = sessions.data.get(cfg.data, seed=cfg.train.seed)
    run = tmp / "runs" / "t"
    engine = Engine.new(cfg, run, data=data)
    engine.step_once()
    engine.step_once()
    engine.stop()
    export_generator(run, tmp / "models" / "text-tiny")
    return TextHandlers(sessions)


def test_lists_shipped_models_and_runs_but_not_broken_ones(handlers):
    broken = handlers.sessions.root / "broken"
    broken.mkdir(exist_ok=True)
    (broken / "config.json").write_text("{not json")
    (broken / "metrics.jsonl").write_text("")
    assert [label for label, _ in handlers.models()] == ["shipped: text-tiny"]      # before a page says who
    labels = [label for label, _ in handlers.models("k")]
    assert labels == ["shipped: text-tiny", "your run: t"]       # personal mode: the CLI's runs are yours
    assert handlers.default_model() == "models/text-tiny"
    info = handlers.open(handlers.default_model(), "k")
    assert "text-gan on fashion-mnist, mnist, shapes" in info and "understands prompts about" in info


def test_generate_captions_each_image_with_its_clip_score(handlers):
    items, domain, summary = handlers.generate("the digit seven", 5, 1.0, 3, "k")
    assert len(items) == 5
    for i, (picture, caption) in enumerate(items):
        assert picture.width >= 128 and caption.startswith(f"#{i} · seed 3+{i} · CLIP ")
        assert -1.0 <= float(re.search(r"CLIP (-?\d+\.\d+)", caption).group(1)) <= 1.0
    assert "5 images for “the digit seven”" in summary
    assert domain.startswith("In domain") and "understands prompts about" not in domain   # the header says it


def test_a_new_shape_combination_is_pointed_at_the_raw_prompt(tmp_path):
    """On the shipped model, whose readings mean something: "a green triangle" (no training image) is read
    as a seen pair, and the tab says which rule draws it as asked."""
    from ganlab.ui.text import PRIORS, dropped_shape_words
    assert dropped_shape_words("a green triangle", "a green circle") == ["triangle"]
    assert dropped_shape_words("A Red Square", "a small red square at the top") == []
    assert dropped_shape_words("a crimson circle", "a red circle") == []          # no shape or colour lost
    shipped = TextHandlers(Sessions(tmp_path / "runs"))
    hint = f"pick “{PRIORS['none']}”"
    assert hint in shipped.generate("a green triangle", 2, 1.0, 0, "k")[1]
    for prompt in ("a red sports car", "the digit seven", "a red square", "a casual tee"):
        assert hint not in shipped.generate(prompt, 2, 1.0, 0, "k")[1], prompt
    assert hint not in shipped.generate("a green triangle", 2, 1.0, 0, "k", PRIORS["none"])[1]   # no reading


def test_out_of_domain_prompts_are_flagged(handlers):
    _, domain, _ = handlers.generate("a red sports car", 2, 1.0, 0, "k")     # MiniLM: 0.50 to “a red circle”
    assert domain.startswith("⚠️ This prompt is outside what the model learned")
    assert "understands prompts about" in domain


def test_between_at_zero_is_prompt_a(handlers):
    tg = handlers.generator("k")
    strip = np.asarray(handlers.between("the digit seven", "a red circle", 0.0, 6, 0.8, 5, "k"))
    same = np.asarray(strip_picture(tg.generate("the digit seven", n=6, seed=5, psi=0.8)))
    assert strip.shape == same.shape and np.abs(strip.astype(int) - same).max() <= 1
    half = np.asarray(handlers.between("the digit seven", "a red circle", 0.5, 6, 0.8, 5, "k"))
    assert (half != strip).any()


def test_nearest_shows_the_image_beside_training_images(handlers):
    picture, text = handlers.nearest("a tote", 2, 4, 1.0, 0, "k")
    assert picture.width > 5 * picture.height
    assert text.startswith("Left: image #2 (seed 0+2). Then its 5 nearest of") and "training images" in text
    with pytest.raises(GanlabError, match="Click one of the generated images"):
        handlers.nearest("a tote", 4, 4, 1.0, 0, "k")


@pytest.mark.filterwarnings("ignore::UserWarning")          # gr.Warning outside a request: just a warning
@pytest.mark.parametrize("prompt, n, seed, words", [("  ", 8, 0, "Type a prompt first"),
                                                    ("a tote", 0, 0, "from 1 to 64"),
                                                    ("a tote", 8, "x", "seed must be a whole number"),
                                                    ("a tote", 8, -1, "seed must be a whole number")])
def test_bad_input_is_one_plain_sentence(handlers, prompt, n, seed, words):
    with pytest.raises(GanlabError, match=words):
        handlers.generate(prompt, n, 1.0, seed, "k")
    message = guarded(3)(handlers.generate)(prompt, n, 1.0, seed, "k")[0]       # what the tab shows
    assert message.startswith("⚠️") and words in message and not re.search(r"[.!?] [A-Z]", message)


def test_the_prior_radio_changes_what_g_is_given(handlers):
    from ganlab.ui.text import PRIORS
    tg = handlers.generator("k")
    assert tg.prior.rules() == ["image", "caption", "none"]            # the run's checkpoint carries a bank
    _, domain, _ = handlers.generate("the numeral 7 in pen", 3, 1.0, 0, "k")
    assert "Read as the training caption" in domain and "training images like it" in domain
    _, raw, _ = handlers.generate("the numeral 7 in pen", 3, 1.0, 0, "k", PRIORS["none"])
    assert "Read as" not in raw
    _, caption, _ = handlers.generate("the numeral 7 in pen", 3, 1.0, 0, "k", "caption")
    assert "that caption's embedding" in caption
    with pytest.raises(GanlabError, match="one of image, caption, none"):
        handlers.generate("a tote", 3, 1.0, 0, "k", "closest")


def test_close_second_readings_are_offered(handlers, monkeypatch):
    tg = handlers.generator("k")
    monkeypatch.setattr(tg, "readings", lambda prompt: [("a bag", 0.65)] if prompt == "a tote" else [])
    _, domain, _ = handlers.generate("a tote", 2, 1.0, 0, "k")
    assert "Also close: “a bag” (0.65). If you meant one of these, name it more plainly." in domain
    _, domain, _ = handlers.generate("the digit seven", 2, 1.0, 0, "k")
    assert "Also close" not in domain


def test_a_model_without_a_bank_gets_one_from_the_cli(handlers, tmp_path):
    import shutil

    from ganlab.text.prior import PRIOR_FILE, main
    model = tmp_path / "old-model"
    shutil.copytree(handlers.models_root / "text-tiny", model)
    (model / PRIOR_FILE).unlink()                                      # as models made before banks
    from ganlab.text.generate import TextGenerator
    assert TextGenerator.open(model).prior.rules() == ["caption", "none"]
    assert main([str(model)]) == 0 and (model / PRIOR_FILE).is_file()
    assert TextGenerator.open(model).prior.default() == "image"
    assert main([str(tmp_path / "nowhere")]) == 2


def test_the_shape_word_typed_is_the_shape_word_read(tmp_path):
    """Issue 28: "a blue square at the top" (blue squares are held out of training) was read as a blue
    *circle*. The reading keeps the shape, and says exactly which word it had to change."""
    shipped = TextHandlers(Sessions(tmp_path / "runs"))
    tg = shipped.generator("k")
    for prompt in ("a blue square at the top", "a blue square", "a green triangle", "a yellow circle"):
        read = tg.read_as(prompt)
        shape = next(w for w in ("square", "triangle", "circle") if w in prompt)
        assert shape in read.split(), (prompt, read)
        domain = shipped.generate(prompt, 2, 1.0, 0, "k")[1]
        assert f"“{read}”" in domain and "Changed: “" in domain and shape not in domain.split("Changed:")[1][:40]
    assert "Changed:" not in shipped.generate("a red square", 2, 1.0, 0, "k")[1]      # nothing to change


def test_an_out_of_domain_message_quotes_one_similarity_per_caption(tmp_path):
    shipped = TextHandlers(Sessions(tmp_path / "runs"))
    domain = shipped.generate("a cat", 2, 1.0, 0, "k")[1]
    quoted = {}
    for caption, score in re.findall(r"“([^”]+)”[^“]*?(?:similarity |\()(\d\.\d\d)", domain):
        quoted.setdefault(caption, set()).add(score)
    assert quoted and all(len(v) == 1 for v in quoted.values()), domain
