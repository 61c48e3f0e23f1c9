"""The emoji sets: shapes, white backgrounds, names and groups, the fixed held-out tenth, the render cache,
and the sentence when Debian's packages are missing. Skipped where the packages are not installed."""
import dataclasses

import numpy as np
import pytest
import torch
from PIL import features

from ganlab.access import Access, Identity
from ganlab.config import DataConfig
from ganlab.data import emoji as E
from ganlab.data import load_dataset, relabel
from ganlab.data.images import load_split
from ganlab.errors import GanlabError

HAVE_NOTO = E.NOTO_FONT.is_file() and E.EMOJI_TEST.is_file()
needs_noto = pytest.mark.skipif(not HAVE_NOTO, reason="needs fonts-noto-color-emoji and unicode-data")


def _have_one() -> bool:
    try:
        return E._gemojione_dir().is_dir() and E.EMOJI_TEST.is_file()
    except GanlabError:
        return False


needs_one = pytest.mark.skipif(not _have_one(), reason="needs ruby-gemojione and unicode-data")


@pytest.fixture(scope="module")
def noto_root(tmp_path_factory):
    return tmp_path_factory.mktemp("emoji-data")


@pytest.fixture(scope="module")
def noto(noto_root):
    """(train, test) of "emoji" at 64 px, rendered once (cold) into a fresh data root."""
    if not HAVE_NOTO:
        pytest.skip("needs fonts-noto-color-emoji and unicode-data")
    cfg = DataConfig(name="emoji", root=str(noto_root))
    return load_dataset(cfg), load_split("emoji", "test", cfg)


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    if not _have_one():
        pytest.skip("needs ruby-gemojione and unicode-data")
    cfg = DataConfig(name="emoji-one", root=str(tmp_path_factory.mktemp("emoji-one-data")))
    return load_dataset(cfg), load_split("emoji-one", "test", cfg)


def _check_set(ds, side: int, white_share: float) -> None:
    x = ds.x
    assert x.shape == (len(ds), 3, side, side) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1
    corners = x[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]                 # [N, 3, 4]
    assert (corners == 1).all(2).all(1).float().mean() >= white_share     # white background
    assert (x.amin((1, 2, 3)) < 0.9).all()               # and something drawn on it (white ones have grey edges)
    assert ds.class_names[0] == "Smileys & Emotion" and "Component" not in ds.class_names
    assert len(ds.class_names) == 9 and 0 <= ds.labels.min() and ds.labels.max() < 9
    assert len(set(ds.labels.tolist())) == 9
    assert len(ds.captions) == len(ds.keys) == len(ds) and all(c and c == c.lower() for c in ds.captions)
    assert len(set(ds.keys)) == len(ds)
    assert ("EmojiOne (CC-BY 4.0)" if ds.name == "emoji-one" else "Noto Color Emoji") in ds.note
    assert "held out" in ds.note


@needs_noto
def test_noto_set(noto):
    train, test = noto
    _check_set(train, 64, white_share=1.0)
    _check_set(test, 64, white_share=1.0)
    # Pillow without raqm (no libfribidi) cannot join sequences, and keeps only single code points.
    assert len(train) + len(test) > (3000 if features.check("raqm") else 1000)
    assert "red apple" in train.captions + test.captions
    assert train.captions[train.keys.index("1F600")] == "grinning face"
    if features.check("raqm"):
        assert "1F468-200D-1F373" in train.keys + test.keys               # a ZWJ sequence: man cook


@needs_one
def test_emoji_one_set(one):
    train, test = one
    _check_set(train, 64, white_share=0.9)       # scenes (mountain, cityscape) fill their square
    _check_set(test, 64, white_share=0.9)
    assert 1500 < len(train) + len(test) < 2000
    assert "cat face" in train.captions + test.captions


@pytest.mark.parametrize("which", ["noto", "one"])
def test_held_out_tenth_is_fixed_and_disjoint(which, request):
    train, test = request.getfixturevalue(which)
    assert not set(train.keys) & set(test.keys)
    assert 0.08 <= len(test) / (len(train) + len(test)) <= 0.12
    assert all(E.held_out(k) for k in test.keys) and not any(E.held_out(k) for k in train.keys)


@needs_noto
@needs_one
def test_both_sets_hold_out_the_same_code_points(noto, one):
    noto_test, one_test = set(noto[1].keys), set(one[1].keys)
    common = set(noto[0].keys + noto[1].keys) & set(one[0].keys + one[1].keys)
    assert len(common) > 1500
    assert all((k in noto_test) == (k in one_test) for k in common)
    assert E.held_out("0023-FE0F-20E3") == E.held_out("0023-20E3")       # EmojiOne's file names drop FE0F


@needs_one
def test_relabel_to_subgroup(one):
    ds = relabel(dataclasses.replace(one[0]), "subgroup")
    names = one[0].attribute_names["subgroup"]
    assert ds.class_names == names and len(names) > 50 and "face-smiling" in names
    assert 0 <= ds.labels.min() and ds.labels.max() < len(names)
    assert ds.class_names[ds.labels[ds.keys.index("1F600")]] == "face-smiling"


@needs_noto
def test_warm_cache_equals_cold_render(noto, noto_root):
    assert (noto_root / "emoji-noto-64.npz").is_file()
    warm = load_dataset(DataConfig(name="emoji", root=str(noto_root)))
    assert torch.equal(warm.x, noto[0].x) and warm.keys == noto[0].keys and warm.captions == noto[0].captions
    with np.load(noto_root / "emoji-noto-64.npz", allow_pickle=False) as z:       # no pickled objects inside
        assert z["pixels"].dtype == np.uint8 and len(z["keys"]) == len(noto[0]) + len(noto[1])


SMALL_TEST = """# group: Smileys & Emotion
# subgroup: face-smiling
1F600 ; fully-qualified # 😀 E1.0 grinning face
1F603 ; fully-qualified # 😃 E0.6 grinning face with big eyes
1F600 200D 1F600 ; fully-qualified # 😀‍😀 E1.0 no such sequence
# group: Component
# subgroup: skin-tone
1F3FB ; component # 🏻 E1.0 light skin tone
# group: Food & Drink
# subgroup: food-fruit
1F34E ; fully-qualified # 🍎 E0.6 red apple
0041 ; fully-qualified # A E0.0 a letter the font lacks
1F34F ; fully-qualified # 🍏 E0.6 green apple
1F34F ; minimally-qualified # 🍏 E0.6 not fully qualified
"""


@needs_noto
def test_small_render_at_32_skips_what_the_font_lacks(tmp_path, monkeypatch):
    listing = tmp_path / "emoji-test.txt"
    listing.write_text(SMALL_TEST, encoding="utf-8")
    monkeypatch.setattr(E, "EMOJI_TEST", listing)
    cfg = DataConfig(name="emoji", root=str(tmp_path), resolution=32)
    train, test = load_dataset(cfg), load_split("emoji", "test", cfg)
    assert sorted(train.keys + test.keys) == ["1F34E", "1F34F", "1F600", "1F603"]
    assert train.x.shape == (len(train), 3, 32, 32)
    assert train.class_names == ["Smileys & Emotion", "Food & Drink"]
    assert (train.x[:, :, 0, 0] == 1).all()
    (tmp_path / "emoji-noto-32.npz").write_bytes(b"not a zip")          # a damaged cache is rendered again
    grey = load_dataset(dataclasses.replace(cfg, channels=1))
    assert grey.x.shape == (len(train), 1, 32, 32) and grey.keys == train.keys


@needs_one
def test_emoji_one_at_32():
    ds = load_dataset(DataConfig(name="emoji-one", resolution=32))
    assert ds.x.shape == (len(ds), 3, 32, 32) and len(ds) > 1300


@needs_one
def test_emoji_one_names_from_the_gem_without_emoji_test(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "EMOJI_TEST", tmp_path / "missing.txt")
    train = load_dataset(DataConfig(name="emoji-one", resolution=16))
    assert len(train) > 1300 and train.captions[train.keys.index("1F600")] == "grinning face"
    assert "Modifier" not in train.class_names and all(train.captions)


def test_missing_packages_name_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "NOTO_FONT", tmp_path / "none" / "NotoColorEmoji.ttf")
    with pytest.raises(GanlabError, match=r"apt-get install fonts-noto-color-emoji unicode-data"):
        load_dataset(DataConfig(name="emoji", root=str(tmp_path)))
    monkeypatch.setattr(E, "GEMS", tmp_path / "none")
    with pytest.raises(GanlabError, match=r"apt-get install ruby-gemojione"):
        load_split("emoji-one", "test", DataConfig(name="emoji-one", root=str(tmp_path)))


def test_a_browser_may_use_both_sets(tmp_path):
    access, who = Access(tmp_path / "runs"), Identity.browser("secret")
    assert access.dataset("emoji", who) == "emoji" and access.dataset("emoji-one", who) == "emoji-one"
