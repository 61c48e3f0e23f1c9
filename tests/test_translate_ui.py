"""The Image → Image tab's handlers on tiny runs of each family trained for two steps (no shipped model needed).

Their outputs are noise; the tests check what the tab promises: every task's pictures at the sizes it says,
the true-size PNG, the round trip and the bicubic beside SR, the mask painter's hole, the access rules, and one
plain sentence for each bad input.
"""
import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ganlab.access import Identity
from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.engine import Engine
from ganlab.errors import GanlabError
from ganlab.sampling import export_generator
from ganlab.ui.sessions import Sessions
from ganlab.ui.translate import SHOWN_PX, NothingYet, TranslateHandlers, directions, sources

# family -> (data set, resolution, model extras): the emoji sets load in well under a second from their cache
TINY = {"pix2pix": ("edges2emoji", 16, {}), "cyclegan": ("noto<->emojione", 16, {}),
        "srgan": ("sr-emoji", 32, {"sr_scale": 4}), "inpaint": ("inpaint-emoji", 16, {})}


def tiny_run(family: str, run) -> None:
    """``family`` at width 8 trained two seeded CPU steps into the run folder ``run`` (with its checkpoint)."""
    data, res, extra = TINY[family]
    cfg = RunConfig(DataConfig(name=data, resolution=res), ModelConfig(name=family, width=8, **extra),
                    TrainConfig(batch_size=4, steps=2, seed=0, device="cpu", eval_every=0, n_samples=8,
                                log_every=1, sample_every=1000))
    engine = Engine.new(cfg, run)
    engine.step_once()
    engine.step_once()
    engine.stop()


@pytest.fixture(scope="module")
def handlers(tmp_path_factory):
    """Runs pix2pix, cyclegan, srgan and inpaint (the CLI's: everyone's in personal mode), pix2pix also shipped."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("translate")
    for family in TINY:
        tiny_run(family, tmp / "runs" / family)
    export_generator(tmp / "runs" / "pix2pix", tmp / "models" / "edges-tiny")
    torch.set_num_threads(threads)
    return TranslateHandlers(Sessions(tmp / "runs", models_root=tmp / "models"))


def png(path, size=(40, 30), colour=(200, 30, 30, 255)):
    Image.new("RGBA", size, colour).save(path)
    return str(path)


def canvas(lines=((20, 20, 200, 200),), width=10):
    img = Image.new("RGBA", (256, 256), (255, 255, 255, 255))
    for line in lines:
        ImageDraw.Draw(img).line(line, fill=(0, 0, 0, 255), width=width)
    return {"background": None, "layers": [], "composite": np.asarray(img)}


def true_size(result):
    with Image.open(result.file) as img:
        return img.size


def test_lists_shipped_models_then_runs_and_opens_on_pix2pix(handlers):
    assert handlers.models() == [("shipped: edges-tiny", "models/edges-tiny")]
    labels = [label for label, _ in handlers.models("k")]
    assert labels[0] == "shipped: edges-tiny"
    assert sorted(labels[1:]) == [f"your run: {f}" for f in sorted(TINY)]
    assert handlers.default_model() == "models/edges-tiny"
    tr = handlers.select(handlers.default_model(), "k")
    assert tr.task == "paired" and [v for _, v in sources(tr)] == ["draw", "upload", "pick"]
    assert "edges -> emoji" in handlers.describe(tr) and "Draw" in handlers.describe(tr)


def test_pix2pix_turns_a_drawing_an_upload_and_a_pick_into_pictures(handlers, tmp_path):
    handlers.select("pix2pix", "k")
    r = handlers.from_sketch(canvas(), "k")
    assert true_size(r) == r.size == (16, 16)
    assert r.output.size == r.input.size == (SHOWN_PX, SHOWN_PX) and r.target is None
    assert "256x256 canvas, shrunk to 16x16" in r.text
    r = handlers.from_upload(png(tmp_path / "a.png"), "k")
    assert "Resized from 40x30 to 16x16" in r.text and r.size == (16, 16)
    items, n, note = handlers.gallery("k")
    assert n == 362 and len(items) == 24 and "held-out pairs" in note
    r = handlers.from_pick(5, "k")
    assert r.target is not None and r.target.size == (SHOWN_PX, SHOWN_PX) and "#5" in r.text


def test_cyclegan_goes_both_ways_with_its_round_trip(handlers):
    tr = handlers.select("cyclegan", "k")
    assert directions(tr) == [("Noto → EmojiOne", "AB"), ("EmojiOne → Noto", "BA")]
    ab = handlers.from_pick(0, "k", "AB")
    assert "Noto → EmojiOne → Noto" in ab.trip_label and ab.trip.size == (SHOWN_PX, SHOWN_PX)
    assert ab.bicubic is None and "(Noto)" in ab.text
    ba = handlers.from_pick(0, "k", "BA")
    assert "EmojiOne → Noto → EmojiOne" in ba.trip_label and ba.target is None
    assert np.asarray(ab.input).tolist() != np.asarray(ba.input).tolist()       # B's held-out images, not A's
    assert handlers.gallery("k", "BA")[1] == 193 and handlers.gallery("k", "AB")[1] == 362


def test_super_resolution_is_4x_beside_bicubic_and_the_download_is_true_size(handlers, tmp_path):
    handlers.select("srgan", "k")
    r = handlers.from_upload(png(tmp_path / "small.png", (8, 8)), "k")
    assert r.size == true_size(r) == (32, 32) and "Resized" not in r.text
    assert r.bicubic.size == r.output.size == r.before.size and r.trip is None
    r = handlers.from_pick(3, "k")
    assert r.target is not None and r.size == (32, 32) and "8x8 → G's output, 32x32" in r.text


def test_inpaint_fills_the_painted_hole_and_keeps_the_rest(handlers, tmp_path):
    handlers.select("inpaint", "k")
    value, note = handlers.editor_value("k", pick=2)
    assert "paint over the part to fill" in note and value["background"].size == value["layers"][0].size == (256, 256)
    assert np.asarray(value["layers"][0])[..., 3].max() == 0             # no hole the user did not paint
    from ganlab.ui.translate import painted_layer
    stroke = painted_layer(value["background"].size, handlers.held("k").masks[2:3])    # the user paints that hole
    editor = {"background": np.asarray(value["background"]), "layers": [np.asarray(stroke)], "composite": None}
    r = handlers.from_editor(editor, "k")
    assert r.size == true_size(r) == (16, 16) and r.target_label == "original"
    out = np.asarray(Image.open(r.file)).astype(int)
    held = handlers.held("k")
    truth = ((held.targets[2].permute(1, 2, 0) + 1) * 127.5).round().numpy()
    keep = held.masks[2, 0].numpy() == 0
    assert np.abs(out[keep] - truth[keep]).max() <= 1                   # outside the hole: the picture itself
    value, note = handlers.editor_value("k", upload=png(tmp_path / "b.png"))
    assert "paint over the part to fill" in note and np.asarray(value["layers"][0])[..., 3].max() == 0
    bare = {"background": np.asarray(value["background"]), "layers": [np.asarray(value["layers"][0])],
            "composite": None}
    with pytest.raises(NothingYet, match="Nothing is painted"):
        handlers.from_editor(bare, "k")


def test_another_browsers_run_is_neither_listed_nor_opened(handlers):
    other = handlers.sessions.root / "ui" / "theirs"
    tiny_run("srgan", other)
    handlers.sessions.access.claim(other, Identity.browser("someone-else"))
    assert not [ref for _, ref in handlers.models("k") if "theirs" in ref]
    with pytest.raises(GanlabError, match="not a run you may open"):
        handlers.select("ui/theirs", "k")
    with pytest.raises(GanlabError, match="not a run you may open"):
        handlers.select(str(other), "k")                            # a path typed by hand: the same check


@pytest.mark.parametrize("make, says", [
    (lambda p: None, "Upload an image first"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\nnot really") and str(p), "not a readable"),
    (lambda p: p.write_bytes(b"GIF89a" + bytes(20)) and str(p), "not a readable"),
    (lambda p: _truncated(p), "could not be decoded"),
    (lambda p: _huge(p), "4096x4096"),
    (lambda p: str(p.parent / "gone.png"), "gone"),
])
def test_bad_uploads_get_one_sentence(handlers, tmp_path, make, says):
    handlers.select("pix2pix", "k")
    with pytest.raises(GanlabError, match=says) as e:
        handlers.from_upload(make(tmp_path / "bad.png"), "k")
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def _truncated(p):
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).save(buf, "PNG")
    p.write_bytes(buf.getvalue()[:200])
    return str(p)


def _huge(p):
    """A 5000x5000 PNG header (a few KB): refused before it is decoded."""
    Image.new("1", (5000, 5000)).save(p, "PNG")
    return str(p)


def test_bad_canvases_and_picks_get_one_sentence(handlers):
    handlers.select("pix2pix", "k")
    with pytest.raises(NothingYet, match="canvas is empty"):
        handlers.from_sketch(canvas(lines=()), "k")
    with pytest.raises(GanlabError, match="thicker brush"):
        handlers.from_sketch(canvas(width=1), "k")
    with pytest.raises(GanlabError, match="numbered 0 to 361"):
        handlers.from_pick(400, "k")
    with pytest.raises(GanlabError, match="mask painter is for inpainting"):
        handlers.from_editor({"background": np.zeros((4, 4, 3)), "layers": []}, "k")
    handlers.select("srgan", "k")
    with pytest.raises(GanlabError, match="not trained on edge maps"):
        handlers.from_sketch(canvas(), "k")


def test_a_model_of_another_kind_is_not_listed_and_says_where_it_belongs(handlers, tiny_images):
    cfg = RunConfig(DataConfig(name="tiny28"), ModelConfig(name="dcgan", width=4, z_dim=8),
                    TrainConfig(batch_size=4, steps=1, device="cpu", log_every=1, sample_every=1000))
    engine = Engine.new(cfg, handlers.sessions.root / "dcgan", data=tiny_images(1, 28, 8))
    engine.step_once()
    engine.stop()
    assert not [ref for _, ref in handlers.models("k") if ref == "dcgan"]
    with pytest.raises(GanlabError, match="not an image-to-image one.*Explore tab"):
        handlers.select("dcgan", "k")


def test_held_out_images_of_someone_elses_upload_are_not_shown(handlers):
    """A shared run trained on another browser's uploaded folder: it translates, but its held-out part stays hidden."""
    tr = handlers.select("pix2pix", "k2")
    name = tr.cfg.data.name
    tr.cfg.data.name = "folder:/somewhere/theirs,/somewhere/else"   # as a run on someone's folder:A,B records it
    try:
        items, n, note = handlers.gallery("k2")
        assert (items, n) == ([], 0) and "someone else's uploaded images" in note
        with pytest.raises(GanlabError, match="someone else's uploaded images"):
            handlers.from_pick(0, "k2")
    finally:
        tr.cfg.data.name = name
    handlers.forget("k2")
    assert "k2" not in handlers.opened
