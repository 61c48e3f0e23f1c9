"""The latent playground's maths and exports: walks, slerp, truncation, directions, nearest, ONNX/TorchScript."""
import csv
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from ganlab.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from ganlab.engine import Engine
from ganlab.errors import GanlabError
from ganlab.explore import Explorer, interpolate, lerp, nearest, slerp, truncate
from ganlab.export import export_onnx, export_torchscript, save_animation, save_image_folder
from ganlab.nets import MODELS
from ganlab.sampling import export_generator, load_generator


def explorer(model="dcgan", classes=0):
    torch.manual_seed(0)
    G, _ = MODELS.get(model)(ModelConfig(name=model, width=8, z_dim=16), (1, 28, 28), num_classes=classes)
    with torch.no_grad():                                  # as if trained: classes differ
        for m in G.modules():
            if isinstance(m, torch.nn.Embedding):
                m.weight.normal_(1.0, 0.3)
    G.z_dist = "gaussian"
    G.class_names = [f"c{i}" for i in range(classes)]
    cfg = RunConfig(DataConfig(name="tiny"), ModelConfig(name=model), TrainConfig())
    return Explorer(G, cfg, 0)


@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_walk_endpoints_reproduce_the_endpoint_images_exactly(mode):
    ex = explorer()
    a, b = ex.z(1), ex.z(2)
    for t, end in ((0.0, a), (1.0, b)):                    # the slider at either end: the endpoint image
        assert torch.equal(ex.render(interpolate(a, b, t, mode)), ex.render(end))
    frames = ex.walk(a, b, n=7, mode=mode)                 # a batch: equal up to float batching
    assert frames.shape == (7, 1, 28, 28)
    assert torch.allclose(frames[0], ex.render(a)[0], atol=1e-6)
    assert torch.allclose(frames[-1], ex.render(b)[0], atol=1e-6)
    assert not torch.allclose(frames[3], frames[0])


def test_slerp_stays_on_the_shell_and_lerp_cuts_inside():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(512, generator=g), torch.randn(512, generator=g)
    b = b / b.norm() * a.norm()                            # two points on one shell
    for t in np.linspace(0, 1, 11):
        assert slerp(a, b, float(t)).norm() == pytest.approx(float(a.norm()), rel=1e-5)
    assert lerp(a, b, 0.5).norm() < 0.8 * a.norm()         # nearly orthogonal: the chord dips inside
    c = 2 * b / b.norm() * a.norm()                        # different radii: the norm moves linearly
    assert slerp(a, c, 0.25).norm() == pytest.approx(float(a.norm()) * 1.25, rel=1e-5)
    assert torch.allclose(slerp(a, a, 0.3), a)             # parallel vectors do not divide by zero
    with pytest.raises(GanlabError, match="lerp or slerp"):
        interpolate(a, b, 0.5, "cubic")


def test_seeds_are_reproducible_and_truncation_reaches_the_mean():
    ex = explorer()
    assert torch.equal(ex.z(7), ex.z(7)) and not torch.equal(ex.z(7), ex.z(8))
    assert torch.equal(ex.render(ex.z(3), psi=0.0), ex.render(ex.z(4), psi=0.0))   # psi 0: one mean image
    assert torch.equal(truncate(ex.z(3), 1.0), ex.z(3))
    with pytest.raises(GanlabError, match="psi"):
        truncate(ex.z(3), -1)


def test_principal_directions_are_unit_vectors_that_change_the_image():
    ex = explorer()
    d = ex.directions(k=4, n=400)
    assert d.vectors.shape == (4, 16) and torch.allclose(d.vectors.norm(dim=1), torch.ones(4), atol=1e-5)
    assert (d.variance[:-1] >= d.variance[1:]).all() and (d.scales > 0).all()
    z = ex.z(0)
    moved = ex.move(z, [2.0, 0, 0, 0])
    assert torch.allclose(moved - z, 2.0 * d.scales[0] * d.vectors[0])
    assert not torch.allclose(ex.render(moved), ex.render(z))
    assert ex.move(z, [0.0], dims=[0.0, 1.5])[1] == pytest.approx(float(z[1]) + 1.5)


def test_progan_has_directions_and_its_onnx_takes_any_batch(tmp_path):
    """ProGAN's generator is built of equalised-lr layers, not torch's Linear or Conv: the PCA once found
    "no layer to analyse", so its PC sliders failed; and its export baked the tracing batch into a reshape,
    so the page's one-image render failed in onnxruntime-web. The page fell back to the server for both."""
    torch.manual_seed(0)
    G, _ = MODELS.get("progan")(ModelConfig(name="progan", width=8, z_dim=16), (3, 16, 16))
    G.z_dist = "gaussian"
    ex = Explorer(G, RunConfig(DataConfig(name="tiny"), ModelConfig(name="progan"), TrainConfig()), 0)
    d = ex.directions(k=3, n=200)
    assert d.vectors.shape == (3, 16) and torch.allclose(d.vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    z = ex.z(0)
    assert not torch.allclose(ex.render(ex.move(z, [2.0])), ex.render(z))
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(export_onnx(G, tmp_path / "g.onnx")))
    for n in (1, 3):
        zs = torch.randn(n, 16, generator=torch.Generator().manual_seed(n))
        with torch.no_grad():
            want = G(zs)
        (out,) = sess.run(["images"], {"z": zs.numpy()})
        np.testing.assert_allclose(out, want.numpy(), atol=1e-4)


def test_directions_ignore_a_forward_another_thread_makes_meanwhile():
    """G is shared by every handler: a class grid drawn while the PCA's forward is under way must not be
    taken for the PCA's features (the server once failed with "size of tensor a (2000) must match ... (40)")."""
    ex = explorer(classes=3)
    first = next(m for m in ex.G.modules() if type(m).__name__ == "ConditionalBatchNorm2d"
                 or isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)))
    others = []

    def meanwhile(module, inputs):                         # before the PCA's pass reaches G's first block:
        if threading.current_thread() is threading.main_thread() and not others:
            t = threading.Thread(target=lambda: others.append(ex.render(ex.z(5)[None].expand(4, -1).clone())))
            t.start()                                      # another handler draws four images, and is done
            t.join()
    handle = first.register_forward_pre_hook(meanwhile)
    try:
        d = ex.directions(3, n=50)
    finally:
        handle.remove()
    assert others and others[0].shape[0] == 4              # the other forward did run inside the PCA's pass
    assert d.vectors.shape == (3, ex.z_dim) and torch.isfinite(d.vectors).all()
    fresh = explorer(classes=3).directions(3, n=50)        # and the result is the one a quiet G gives
    assert torch.allclose(d.vectors, fresh.vectors, atol=1e-5)


def test_class_grid_and_blend_for_a_conditional_model():
    ex = explorer("projection", classes=4)
    z = ex.z(5)
    rows = ex.render(z, y=torch.arange(4))                 # z held fixed while the class changes
    assert rows.shape == (4, 1, 28, 28) and not torch.allclose(rows[0], rows[1])
    w = ex.blend("c0", "c3", 0.0)
    assert torch.equal(ex.render(z, y=w), ex.render(z, y=torch.tensor(0)))
    mid = ex.render(z, y=ex.blend("c0", "c3", 0.5))
    assert not torch.allclose(mid, rows[0]) and not torch.allclose(mid, rows[3])
    with pytest.raises(GanlabError, match="knows: c0"):
        ex.classes(["c9"])


def test_nearest_finds_a_copied_training_image():
    g = torch.Generator().manual_seed(0)
    data = torch.rand(300, 1, 8, 8, generator=g)
    idx, dist = nearest(data[[17, 250]].clone(), data, k=3, chunk=64)
    assert idx[:, 0].tolist() == [17, 250] and torch.allclose(dist[:, 0], torch.zeros(2), atol=1e-4)
    assert (dist[:, 1:] > 0).all() and (dist[:, 1] <= dist[:, 2]).all()


@pytest.mark.parametrize("model,classes", [("dcgan", 0), ("cgan", 5)])
def test_torchscript_and_onnx_exports_match_pytorch(tmp_path, model, classes):
    ort = pytest.importorskip("onnxruntime")
    ex = explorer(model, classes)
    G = ex.G
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    y = torch.nn.functional.one_hot(torch.tensor([0, 2, 4]), classes).float() if classes else None
    with torch.no_grad():
        want = G(z, y) if classes else G(z)
    ts = torch.jit.load(str(export_torchscript(G, tmp_path / "g.pt")))
    got = ts(z, y) if classes else ts(z)
    assert torch.allclose(got, want, atol=1e-5)
    sess = ort.InferenceSession(str(export_onnx(G, tmp_path / "g.onnx")))
    feeds = {"z": z.numpy()} | ({"y": y.numpy()} if classes else {})
    (out,) = sess.run(["images"], feeds)
    np.testing.assert_allclose(out, want.numpy(), atol=1e-4)


def test_animations_and_image_folders(tmp_path):
    frames = torch.rand(5, 3, 16, 16) * 2 - 1
    gif = save_animation(frames, tmp_path / "walk.gif", fps=10)
    assert gif.stat().st_size > 0
    mp4 = save_animation(frames, tmp_path / "walk.mp4", fps=10)
    assert mp4.stat().st_size > 0
    with pytest.raises(GanlabError, match=".gif or .mp4"):
        save_animation(frames, tmp_path / "walk.avi")
    save_image_folder(frames, tmp_path / "set", torch.tensor([0, 1, 1, 0, 1]), ["cat", "dog"])
    rows = list(csv.DictReader(open(tmp_path / "set" / "labels.csv")))
    assert len(rows) == 5 and rows[1] == {"file": "000001.png", "label": "1", "class": "dog"}
    assert len(list((tmp_path / "set").glob("*.png"))) == 5


def _tiny_run(tmp_path, model="projection"):
    cfg = RunConfig(DataConfig(name="shapes", n=64, resolution=32, label="shape"),
                    ModelConfig(name=model, width=8, z_dim=8),
                    TrainConfig(steps=3, batch_size=16, n_samples=12, log_every=1, ema=0.9))
    e = Engine.new(cfg, tmp_path / "run")
    for _ in range(3):
        e.step_once()
    e.stop()
    return tmp_path / "run"


def test_class_grid_of_a_many_class_model_is_bounded(tmp_path):
    from ganlab.trainer import GRID_CLASSES, grid_classes
    from ganlab.ui.explore import ExploreHandlers
    from ganlab.ui.sessions import Sessions
    cfg = RunConfig(DataConfig(name="shapes", n=64, resolution=32, label="shape+colour+size"),   # 72 classes
                    ModelConfig(name="projection", width=8, z_dim=8, factorised=True),
                    TrainConfig(steps=1, batch_size=16, n_samples=12))
    e = Engine.new(cfg, tmp_path / "runs" / "run")                 # a CLI run under the runs folder
    e.step_once()
    e.stop()
    h = ExploreHandlers(Sessions(tmp_path / "runs", models_root=tmp_path / "models"))
    names = h.select("run", "k").class_names
    assert len(names) == 72
    view = dict(seed_a=1, psi=1.0)
    rows = np.asarray(h.class_grid([], view, "k", per_class=2))   # nothing picked: 32 classes spread over the 72
    spread = [names[i] for i in grid_classes(72).tolist()]
    assert len(spread) == GRID_CLASSES and spread[0] == names[0] and spread[-1] == names[-1]
    assert np.array_equal(rows, np.asarray(h.class_grid(spread, view, "k", per_class=2)))
    with pytest.raises(GanlabError, match="at most 32 classes"):
        h.class_grid(names[:40], view, "k")


def test_model_folders_are_slim_and_load_like_runs(tmp_path):
    run = _tiny_run(tmp_path)
    out = export_generator(run, tmp_path / "models" / "tiny", card="# tiny\n")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "generator.safetensors",
                                                     "state.json"]
    G1, _, _ = load_generator(run)
    G2, cfg, step = load_generator(out)
    z = torch.randn(4, 8)
    y = torch.arange(4) % 3
    assert torch.equal(G1(z, y), G2(z, y)) and step == 3 and G2.class_names == ["circle", "square", "triangle"]
    ex = Explorer.open(out)
    assert "projection on shapes (shape)" in ex.describe()
    with pytest.raises(GanlabError, match="no run, checkpoint or model"):
        load_generator(tmp_path / "nowhere")


def test_cli_sample_by_class_walk_and_folder(tmp_path):
    run = _tiny_run(tmp_path)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ganlab", "sample", "--run", str(run), *args],
                              capture_output=True, text=True, timeout=120)

    r = cli("--class", "square", "--n", "6", "--truncation", "0.7", "--out", str(tmp_path / "sq.png"))
    assert r.returncode == 0, r.stderr
    r = cli("--interpolate", "1", "2", "--frames", "6", "--out", str(tmp_path / "walk.gif"))
    assert r.returncode == 0 and (tmp_path / "walk.gif").stat().st_size > 0, r.stderr
    r = cli("--n", "9", "--out", str(tmp_path / "synthetic") + "/")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "synthetic" / "labels.csv")))
    assert [r["class"] for r in rows[:4]] == ["circle", "square", "triangle", "circle"]
    r = cli("--class", "hexagon", "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "knows: circle, square, triangle" in r.stderr


# ---- the tab's handlers ------------------------------------------------------------------------
def test_explore_handlers_render_strip_grid_nearest_and_exports(tmp_path):
    from ganlab.ui.explore import ExploreHandlers, export_file
    from ganlab.ui.sessions import Sessions
    run = _tiny_run(tmp_path)
    export_generator(run, tmp_path / "models" / "tiny-shapes", card="# tiny\n")
    h = ExploreHandlers(Sessions(tmp_path / "runs", models_root=tmp_path / "models"))
    assert h.default_model() == "models/tiny-shapes" and h.models()[0] == ("shipped: tiny-shapes",
                                                                           "models/tiny-shapes")
    view = dict(seed_a=1, seed_b=2, mode="slerp", t=0.0, psi=1.0, frames=5, dim=0, dim_amount=0,
                class_a="square", class_b="triangle", blend=0.0, directions=[0] * 5)
    img0, cap = h.render(view, "k")
    assert "seed A 1 → seed B 2" in cap and "square" in cap
    img1, _ = h.render(dict(view, t=0.6), "k")
    assert np.asarray(img0).shape == np.asarray(img1).shape and (np.asarray(img0) != np.asarray(img1)).any()
    img2, cap2 = h.render(dict(view, blend=0.5, directions=[1.0, 0, 0, 0, 0]), "k")
    assert "50% square + 50% triangle" in cap2 and "PC1 +1.0σ" in cap2
    assert h.strip(view, "k").width > 4 * h.strip(dict(view, frames=2), "k").width // 2
    grid = h.class_grid(["circle", "triangle"], view, "k")
    assert grid.height > 0
    near, text = h.nearest(view, "k")
    assert "nearest of 64 training images" in text
    for what in ("gif", "png", "onnx", "torchscript"):
        assert export_file(h, what, view, "k").stat().st_size > 0
    with pytest.raises(GanlabError, match="Seed A must be"):
        h.render(dict(view, seed_a="abc"), "k")
    # psi 0, the slider's minimum, is the mean image: every seed draws the same, unlike psi 1 (it read as 1)
    at0 = [np.asarray(h.render(dict(view, psi=0.0, seed_a=a, seed_b=a + 1), "k")[0]) for a in (1, 7)]
    at1 = [np.asarray(h.render(dict(view, psi=1.0, seed_a=a, seed_b=a + 1), "k")[0]) for a in (1, 7)]
    assert (at0[0] == at0[1]).all() and (at1[0] != at1[1]).any()
    assert "ψ 0.00" in h.render(dict(view, psi=0.0), "k")[1]
    assert np.asarray(h.strip(dict(view, psi=0.0), "k")).std(axis=1).max() >= 0          # strips take it too
    with pytest.raises(GanlabError, match="ψ must be from 0 to 1.5"):
        h.render(dict(view, psi=2.0), "k")
    with pytest.raises(GanlabError, match="not a run you may open"):
        h.select(str(tmp_path / "missing"), "k")
    with pytest.raises(GanlabError, match="not a run you may open"):     # a run outside the runs folder
        h.select(str(run), "k")
