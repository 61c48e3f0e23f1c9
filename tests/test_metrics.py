"""FID, KID, precision/recall, density/coverage, the Inception network and the classifiers."""
import socket

import pytest
import torch

from ganlab.config import DataConfig
from ganlab.data import load_dataset
from ganlab.errors import GanlabError
from ganlab.metrics.inception import InceptionFeatures, find_weights, to_inception_input
from ganlab.metrics.scores import fid, kid, prdc


def gauss(n, d, mean=0.0, std=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return mean + std * torch.randn(n, d, generator=g)


# ---- the scores on features with known answers ----------------------------------------------
def test_fid_matches_the_closed_form_for_1d_gaussians():
    # FID(N(0, 1), N(m, s^2)) = m^2 + 1 + s^2 - 2 s
    a, b = gauss(200_000, 1), gauss(200_000, 1, mean=0.5, std=2.0, seed=1)
    assert fid(a, b) == pytest.approx(0.25 + 1 + 4 - 4, abs=0.03)


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise():
    x = gauss(2000, 32)
    assert abs(fid(x, x)) < 1e-6
    scores = [fid(x, x + gauss(2000, 32, std=s, seed=7)) for s in (0.1, 0.3, 1.0)]
    assert 0 < scores[0] < scores[1] < scores[2]


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    a, b = gauss(1500, 16), gauss(1500, 16, seed=1)
    same = kid(a, b, subsets=20, subset_size=500)["kid"]
    near = kid(a, gauss(1500, 16, mean=0.2, seed=2), subsets=20, subset_size=500)["kid"]
    far = kid(a, gauss(1500, 16, mean=1.0, seed=3), subsets=20, subset_size=500)["kid"]
    assert abs(same) < 0.01 and 0.01 < near < far


def test_precision_recall_density_coverage_on_known_sets():
    real = gauss(600, 8)
    same = prdc(real, real.clone())
    assert same["precision"] == 1 and same["recall"] == 1 and same["coverage"] == 1
    assert same["density"] == pytest.approx(1.0, abs=0.25)
    far = prdc(real, gauss(600, 8, mean=50.0, seed=1))
    assert far["precision"] == 0 and far["recall"] == 0 and far["coverage"] == 0
    # a collapsed generator: every sample near one real point -> precise, but recalls almost nothing
    collapsed = real[:1] + 1e-3 * gauss(600, 8, seed=2)
    c = prdc(real, collapsed)
    assert c["precision"] > 0.95 and c["recall"] < 0.05 and c["coverage"] < 0.05


def test_scores_refuse_mismatched_or_tiny_sets():
    with pytest.raises(GanlabError, match="same D"):
        fid(gauss(10, 4), gauss(10, 5))
    with pytest.raises(GanlabError, match="at least"):
        prdc(gauss(3, 4), gauss(3, 4))


# ---- the Inception network ------------------------------------------------------------------------
def test_inception_input_follows_the_protocol():
    x = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 28, 28)
    v = to_inception_input(x)
    assert v.shape == (2, 3, 299, 299)
    assert v[0].min() == -1.0 and v[1].max() == pytest.approx(127 / 128)       # [-1, 0.9921875]
    assert torch.equal(v[:, 0], v[:, 1]) and torch.equal(v[:, 1], v[:, 2])      # grey tiled to 3 channels
    with pytest.raises(GanlabError, match="shaped"):
        to_inception_input(torch.zeros(2, 2, 8, 8))


@pytest.fixture(scope="module")
def inception():
    return InceptionFeatures.load(download=False)


def test_inception_loads_with_the_network_disabled(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled for this test")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    net = InceptionFeatures.load(download=False)
    f = net(torch.zeros(2, 3, 32, 32))
    assert f.shape == (2, 2048) and torch.isfinite(f).all()


def test_a_wrong_inception_path_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GANLAB_INCEPTION", str(tmp_path / "missing.pt"))
    with pytest.raises(GanlabError, match="not a file"):
        find_weights()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not torchscript")
    monkeypatch.setenv("GANLAB_INCEPTION", str(bad))
    with pytest.raises(GanlabError, match="TorchScript"):
        InceptionFeatures.load()


def test_real_fid_is_zero_for_a_set_and_grows_with_pixel_noise(inception):
    x = load_dataset(DataConfig(name="shapes", n=24, resolution=32)).x
    f = inception.features(x)
    assert f.shape == (24, 2048) and torch.isfinite(f).all()
    assert abs(fid(f, f)) < 1e-3
    g = torch.Generator().manual_seed(0)
    noisy = [inception.features((x + s * torch.randn(x.shape, generator=g)).clamp(-1, 1)) for s in (0.1, 0.5)]
    scores = [fid(f, n) for n in noisy]
    assert 0 < scores[0] < scores[1]


def test_reference_features_are_cached(tmp_path, monkeypatch):
    from ganlab.metrics import reference

    class Counting(torch.nn.Module):
        calls = 0

        def features(self, x, batch_size=50, desc=None):
            Counting.calls += 1
            return x.flatten(1)[:, :8].clone()

    monkeypatch.setenv("GANLAB_CACHE", str(tmp_path))
    cfg = DataConfig(name="shapes", n=40, resolution=32)
    a, note = reference.reference_features(cfg, "test", 30, Counting())
    b, _ = reference.reference_features(cfg, "test", 30, Counting())
    assert Counting.calls == 1 and torch.equal(a, b) and a.shape == (30, 8)
    assert "no test split" in note
    with pytest.raises(GanlabError, match="2-D points"):
        reference.reference_features(DataConfig(name="ring"), "test", 30, Counting())


# ---- classifiers ---------------------------------------------------------------------------------
def test_class_histogram_and_entropy():
    from ganlab.metrics.classifier import Classifier, ClassifierConfig, class_histogram, histogram_entropy

    class Fixed(Classifier):
        def probabilities(self, x, batch_size=500):
            return torch.nn.functional.one_hot(x.flatten(1)[:, 0].long() % 4, 4).float()

    clf = Fixed(ClassifierConfig(class_names=list("abcd")))
    even = torch.arange(400).float().view(400, 1, 1, 1).expand(400, 1, 28, 28)
    h = class_histogram(clf, even)
    assert h == {k: 0.25 for k in "abcd"} and histogram_entropy(h) == pytest.approx(1.0)
    one = torch.zeros(50, 1, 28, 28)
    assert histogram_entropy(class_histogram(clf, one)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist"])
def test_shipped_classifiers_are_accurate(name):
    from ganlab.data.images import load_split
    from ganlab.metrics.classifier import load_classifier
    clf = load_classifier(name)
    test = load_split(name, "test", DataConfig(name=name))
    x, y = test.x[:1000], test.labels[:1000]
    acc = float((clf.predict(x) == y).float().mean())
    assert acc > (0.88 if name == "fashion-mnist" else 0.95), acc
    assert clf.cfg.test_accuracy is not None


@pytest.mark.parametrize("flip", [False, True])
def test_classifier_training_learns_and_flip_mirrors(monkeypatch, flip):
    """Left blob vs right blob: learnable as it is, unlearnable when half of every batch is mirrored."""
    from types import SimpleNamespace

    from ganlab.metrics import classifier as C
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (1200,), generator=g)
    x = torch.full((1200, 1, 8, 8), -1.0)
    x[labels == 0, :, 2:6, 0:3] = 1.0
    x[labels == 1, :, 2:6, 5:8] = 1.0
    ds = SimpleNamespace(x=x, note="toy")
    monkeypatch.setattr(C, "_labelled", lambda data, attribute, split: (ds, labels, ["left", "right"]))
    clf = C.train_classifier("toy", epochs=8, width=4, flip=flip)
    assert clf.cfg.width == 4 and clf.net[0].out_channels == 4
    if flip:                                   # half mirrored: chance, neither learnt nor learnt backwards
        assert 0.25 < clf.cfg.test_accuracy < 0.75, clf.cfg.test_accuracy
    else:
        assert clf.cfg.test_accuracy > 0.95, clf.cfg.test_accuracy


@pytest.mark.parametrize("bad", [["--width", "0"], ["--epochs", "0"]])
def test_classifier_cli_refuses_empty_sizes(bad, capsys):
    from ganlab.metrics.classifier import main
    with pytest.raises(SystemExit) as e:
        main(["--data", "fashion-mnist", *bad])
    assert e.value.code == 2 and "at least 1" in capsys.readouterr().err


def test_unknown_classifier_is_a_clear_error():
    from ganlab.metrics.classifier import load_classifier
    with pytest.raises(GanlabError, match="no classifier"):
        load_classifier("cifar-1000")
