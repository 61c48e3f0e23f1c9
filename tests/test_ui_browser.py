"""A real browser drives `python app.py`: Start, watch curves and samples move, Pause, Step, Resume, Stop.

Chromium is Debian's (/usr/bin/chromium); the test skips when it is missing.
Curves and samples are compared through the plotly divs' trace data, read
with ``document.querySelector('#ID .js-plotly-plot').data``: robust to
fonts and rendering, and exact about what the user sees.

GANLAB_SCREENSHOT=1 also refreshes docs/*.png (the README's pictures).
"""
import os
import re
import time
from pathlib import Path

import pytest

from ganlab.devtools import CHROMIUM, ROOT, AppFailed, chromium, serve_app, wait_until
from ganlab.ui.text import PRIORS

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture
def app_url(tmp_path):
    """`python app.py` started in tmp_path on a free port, so its runs/ lands there; one torch thread."""
    try:
        with serve_app(tmp_path, env={"OMP_NUM_THREADS": "1"}) as (url, _):
            yield url
    except AppFailed as e:
        pytest.fail(str(e))


@pytest.fixture
def page(app_url):
    pytest.importorskip("playwright.sync_api")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.wait_for_selector("#train-start")
        yield page


def _status(page):
    """(state, step) from the status line."""
    text = page.inner_text("#train-status")
    m = re.search(r"([A-Z]+) · step ([\d,]+) / ([\d,]+)", text)
    return (m.group(1), int(m.group(2).replace(",", ""))) if m else (None, -1)


def _trace(page, elem_id, name):
    """The x and y of the trace called ``name`` in the plotly plot inside #elem_id (None if absent)."""
    return page.evaluate("""([id, name]) => {
        const div = document.querySelector('#' + id + ' .js-plotly-plot');
        if (!div || !div.data) return null;
        const t = div.data.find(t => t.name === name);
        // plotly.py sends numpy arrays as {dtype, bdata: base64}; lists arrive as plain arrays
        const types = {f4: Float32Array, f8: Float64Array, i4: Int32Array, i8: BigInt64Array};
        const arr = v => {
            if (!v || !v.bdata) return Array.from(v || []);
            const bytes = Uint8Array.from(atob(v.bdata), c => c.charCodeAt(0));
            return Array.from(new types[v.dtype](bytes.buffer), Number);
        };
        return t ? [arr(t.x), arr(t.y)] : null;
    }""", [elem_id, name])


def _until(pred, timeout=15.0):
    return wait_until(pred, timeout, every=0.2)


def test_train_tab_start_pause_step_resume_stop(page, tmp_path):
    page.click("#train-start")                                     # ring + mlp + ns, the defaults
    assert _until(lambda: _status(page)[0] == "RUNNING"), page.inner_text("#train-message")
    assert _until(lambda: (_trace(page, "train-curves", "D loss") or [[]])[0]), "no loss curve appeared"
    assert _until(lambda: (_trace(page, "train-points", "G(z)") or [[]])[0]), "no sample scatter appeared"
    curve1, points1 = _trace(page, "train-curves", "D loss"), _trace(page, "train-points", "G(z)")
    assert _until(lambda: _trace(page, "train-curves", "D loss") != curve1
                  and _trace(page, "train-points", "G(z)") != points1, timeout=10), "plots did not update"
    assert len(_trace(page, "train-points", "real data")[0]) == 400    # grey real points under the samples
    assert _until(lambda: "Healthy so far" in page.inner_text("#train-health")), "no health panel"
    shot = ROOT / "docs" / "train_tab.png" if os.environ.get("GANLAB_SCREENSHOT") else tmp_path / "train.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)

    page.click("#train-pause")
    assert _until(lambda: _status(page)[0] == "PAUSED")
    time.sleep(1.5)                                                # one more poll delivers rows logged before the pause
    paused_at = _status(page)[1]
    curve = _trace(page, "train-curves", "D loss")
    time.sleep(3)
    assert _status(page) == ("PAUSED", paused_at)                  # paused: nothing moves
    assert _trace(page, "train-curves", "D loss") == curve

    page.click("#train-step")                                      # exactly one iteration
    assert _until(lambda: _status(page)[1] == paused_at + 1), _status(page)
    assert _until(lambda: f"Step {paused_at + 1:,}:" in page.inner_text("#train-message"))
    time.sleep(1.5)
    assert _status(page) == ("PAUSED", paused_at + 1)

    page.click("#train-resume")
    assert _until(lambda: _status(page)[1] > paused_at + 1 and _status(page)[0] == "RUNNING")
    assert _until(lambda: _trace(page, "train-curves", "D loss") != curve, timeout=10)

    page.click("#train-stop")
    assert _until(lambda: _status(page)[0] == "STOPPED")
    assert "checkpoint" in page.inner_text("#train-message")
    runs = list((tmp_path / "runs" / "ui").glob("*-ring-*"))
    assert len(runs) == 1 and list((runs[0] / "checkpoints").glob("step_*"))


def _title(page, elem_id):
    """The plotly title text of the plot inside #elem_id ('' if none yet)."""
    return page.evaluate("""(id) => {
        const div = document.querySelector('#' + id + ' .js-plotly-plot');
        const t = div && div.layout && div.layout.title;
        return t ? (t.text || '') : '';
    }""", elem_id)


def _meta(page, elem_id, key):
    """``layout.meta[key]`` of the Playground panel #elem_id, flattened (None if not drawn yet).

    The plane is a picture; its figure's meta carries the numbers behind it (G's points, D's grid).
    """
    return page.evaluate("""([id, key]) => {
        const div = document.querySelector('#' + id + ' .js-plotly-plot');
        const v = div && div.layout && div.layout.meta ? div.layout.meta[key] : null;
        if (!v) return null;
        if (!v.bdata) return v.flat ? v.flat(Infinity) : v;
        const bytes = Uint8Array.from(atob(v.bdata), c => c.charCodeAt(0));
        const types = {f4: Float32Array, f8: Float64Array};
        return Array.from(new types[v.dtype](bytes.buffer), Number);
    }""", [elem_id, key])


def _points(page, elem_id):
    return _meta(page, elem_id, "fake")


def _heat(page, elem_id):
    return _meta(page, elem_id, "heat")


def _picture(page, elem_id):
    """The data URI of the plane's picture, as drawn in the page."""
    return page.evaluate("""(id) => {
        const img = document.querySelector('#' + id + ' .imagelayer image');
        return img ? img.getAttribute('href') : null;
    }""", elem_id)


def test_a_reload_shows_the_same_run_still_training(page, tmp_path):
    """Issue 28: a reload used to stop the run and leave the Train tab empty."""
    page.click("#train-start")
    assert _until(lambda: _status(page)[0] == "RUNNING"), page.inner_text("#train-message")
    ref = re.search(r"run folder (\S+)", page.inner_text("#train-status")).group(1)
    before = _status(page)[1]
    page.reload()
    page.wait_for_selector("#train-start")
    assert _until(lambda: _status(page)[0] == "RUNNING" and _status(page)[1] > before, timeout=30), \
        page.inner_text("#train-status")
    assert ref in page.inner_text("#train-status")
    assert _until(lambda: (_trace(page, "train-curves", "D loss") or [[]])[0], timeout=20), "no curves after reload"
    at = _status(page)[1]
    assert _until(lambda: _status(page)[1] > at, timeout=20)            # and it goes on training on screen


def test_no_wrong_warnings_on_a_prompt_not_typed_or_an_unconditional_model(page, tmp_path):
    page.get_by_role("tab", name="Text → Image").click()
    assert _until(lambda: "text-gan on" in page.inner_text("#text-info"), timeout=60), page.inner_text("#text-message")
    page.get_by_label(PRIORS["none"]).check()                   # "G is given" changed before any prompt
    time.sleep(2)
    assert "Type a prompt first" not in page.inner_text("body")
    page.fill("#text-prompt :is(input, textarea)", "a blue square at the top")    # blue squares are held out
    page.get_by_label(PRIORS["image"]).check()
    assert _until(lambda: "Read as the training caption “" in page.inner_text("#text-domain"), timeout=60)
    read = re.search(r"Read as the training caption “([^”]+)”", page.inner_text("#text-domain")).group(1)
    assert "square" in read.split(), read                        # the shape word typed is the shape word read
    assert "Changed: “blue”" in page.inner_text("#text-domain")   # and what changed is said
    page.get_by_role("tab", name="Explore").click()
    for model in ("shapes-cgan", "fashion-mnist-dcgan"):
        page.locator("#explore-model input").click()
        page.get_by_role("option", name=f"shipped: {model}").click()
        page.click("#explore-open")
        assert _until(lambda: f"models/{model}" in page.inner_text("#explore-info"), timeout=60)
    time.sleep(3)
    assert "not class-conditioned" not in page.inner_text("body")


def test_drawing_a_distribution_needs_no_tool_picked_first(page, tmp_path):
    """Issue 28: the sketchpad drew nothing until its tiny brush icon was clicked."""
    page.get_by_role("tab", name="2-D Playground").click()
    page.locator("#play-draw-box").get_by_text("Draw your own distribution").click()
    canvas = page.locator("#play-sketch canvas").first
    canvas.scroll_into_view_if_needed()
    time.sleep(1.0)
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 50, y)
    page.mouse.down()
    for i in range(1, 11):                                     # one stroke across the middle, with no tool picked
        page.mouse.move(x - 50 + 10 * i, y + 3 * (i % 3))
    page.mouse.up()
    time.sleep(1.0)
    page.click("#play-draw")
    assert _until(lambda: "New drawing run" in page.inner_text("#play-message"), timeout=60), \
        page.inner_text("#play-message")
    assert "/" not in page.inner_text("#play-message")           # no server path in what it says


def test_playground_plays_a_preset_and_steps_d_only(page, tmp_path):
    page.get_by_role("tab", name="2-D Playground").click()
    plane = "play-plane-0"
    assert _until(lambda: _points(page, plane), timeout=30), "no playground plot"
    assert "step" in _title(page, plane)
    page.locator("#play-lesson input").click()                  # lesson 1: a vanilla GAN on the ring
    page.get_by_role("option", name="1. Mode collapse").click()
    page.click("#play-load")
    assert _until(lambda: "Lesson loaded, paused" in page.inner_text("#play-message"), timeout=30)
    assert _until(lambda: "Mode collapse" in page.inner_text("#play-lesson-text"))
    assert page.input_value("#play-lr-g input") == "0.0001"      # the lesson's own rate, not the controls' old one
    page.click("#play-play")                                     # loaded paused: Play starts it
    assert _until(lambda: "Playing" in page.inner_text("#play-message"), timeout=20)
    first = _until(lambda: _points(page, plane))
    assert _until(lambda: _points(page, plane) != first, timeout=10), "the points did not move"
    assert _until(lambda: _heat(page, plane))
    shot = ROOT / "docs" / "playground.png" if os.environ.get("GANLAB_SCREENSHOT") else tmp_path / "play.png"
    page.screenshot(path=str(shot), full_page=True)

    page.click("#play-pause")
    assert _until(lambda: "Paused" in page.inner_text("#play-message"))
    def settled():                                              # the polls in flight have landed
        before = _title(page, plane), _points(page, plane)
        time.sleep(1.5)
        return before == (_title(page, plane), _points(page, plane))
    assert _until(settled, timeout=20), "the plane kept changing after pause"
    points, heat, title = _points(page, plane), _heat(page, plane), _title(page, plane)
    picture = _picture(page, plane)
    assert picture and picture.startswith("data:image/jpeg")
    time.sleep(2.0)
    assert _points(page, plane) == points and _title(page, plane) == title     # paused: still

    page.click("#play-step-d")
    assert _until(lambda: "D only" in page.inner_text("#play-message"))
    assert _until(lambda: _heat(page, plane) != heat, timeout=10), "D's heatmap did not change"
    assert _until(lambda: _picture(page, plane) != picture), "the picture on screen did not change"
    assert _points(page, plane) == points                 # G's points did not move
    assert _title(page, plane) == title                          # and no full step was counted

    page.click("#play-step-g")
    assert _until(lambda: _points(page, plane) != points, timeout=10), "G's points did not move"


def _src(page, elem_id):
    """The src of the picture inside #elem_id (a new URL for every new image), or ''."""
    return page.evaluate("(id) => { const i = document.querySelector('#' + id + ' img'); return i ? i.src : ''; }",
                         elem_id)


@pytest.mark.skipif(not (ROOT / "models" / "fashion-mnist-cgan").is_dir(), reason="no shipped conditional model")
def test_explore_slider_moves_the_image_and_classes_change_the_grid(page, tmp_path):
    page.get_by_role("tab", name="Explore").click()
    page.locator("#explore-model input").click()
    page.get_by_role("option", name="shipped: fashion-mnist-cgan").click()
    page.click("#explore-open")
    assert _until(lambda: "proj-reacgan on fashion-mnist" in page.inner_text("#explore-info"), timeout=30)
    first = _until(lambda: _src(page, "explore-image"), timeout=30)
    assert first, "no image"
    before = page.locator("#explore-image").screenshot()
    page.locator("#explore-t input[type=range]").fill("0.7")           # the A -> B slider
    # the page draws it itself (a canvas over the picture) or the server sends a new one: either way it shows
    assert _until(lambda: page.locator("#explore-image").screenshot() != before), "the image did not follow the slider"
    assert _until(lambda: "t 0.70" in page.input_value("#explore-caption textarea"))
    grid = _until(lambda: _src(page, "explore-grid"), timeout=30)      # four classes picked on opening
    assert grid, "no class grid"
    page.locator("#explore-classes input").click()
    page.get_by_role("option", name="Bag").click()
    assert _until(lambda: _src(page, "explore-grid") not in ("", grid)), \
        f"the class grid did not change; the tab says: {page.inner_text('#explore-message')!r}"
    shot = ROOT / "docs" / "explore.png" if os.environ.get("GANLAB_SCREENSHOT") else tmp_path / "explore.png"
    page.screenshot(path=str(shot), full_page=True)


@pytest.mark.skipif(not (ROOT / "models" / "emoji-stylegan").is_dir(), reason="no shipped style model")
def test_explore_style_mixing_and_inversion(page, tmp_path):
    """The shipped StyleGAN, opened: new mixing layers redraw the grid; an upload is projected for a few steps
    and its reconstruction appears."""
    from PIL import Image, ImageDraw
    page.get_by_role("tab", name="Explore").click()
    assert _until(lambda: "models/" in page.inner_text("#explore-info"), timeout=60)   # the default, first
    page.locator("#explore-model input").click()
    page.get_by_role("option", name="shipped: emoji-stylegan").click()
    page.click("#explore-open")
    assert _until(lambda: "stylegan on emoji" in page.inner_text("#explore-info"), timeout=60)
    grid = _until(lambda: _src(page, "explore-mix"), timeout=60)
    assert grid, "no mixing grid"
    page.locator("#explore-mix-preset").get_by_text("fine").click()
    assert _until(lambda: _src(page, "explore-mix") not in ("", grid), timeout=30), "the grid did not change"
    page.locator("#explore-project-box").get_by_text("Edit your own image").click()
    pic = tmp_path / "smile.png"
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((8, 8, 56, 56), fill=(250, 200, 40, 255))
    im.save(pic)
    page.locator("#explore-proj-upload input[type=file]").set_input_files(str(pic))
    page.locator("#explore-proj-steps input[type=number]").fill("20")
    page.locator("#explore-proj-steps input[type=number]").press("Enter")
    page.click("#explore-proj-btn")
    assert _until(lambda: _src(page, "explore-proj-image"), timeout=90), "no reconstruction appeared"
    assert _until(lambda: "PSNR" in page.inner_text("#explore-proj-msg"), timeout=120)
    assert _until(lambda: "from your projected image" in page.input_value("#explore-caption textarea"), timeout=30)
    shot = ROOT / "docs" / "explore-style.png" if os.environ.get("GANLAB_SCREENSHOT") else tmp_path / "style.png"
    page.screenshot(path=str(shot), full_page=True)


@pytest.mark.skipif(not (ROOT / "models" / "text-captioned").is_dir(), reason="no shipped text-gan model")
def test_text_tab_draws_a_prompt(page, tmp_path):
    page.get_by_role("tab", name="Text → Image").click()
    assert _until(lambda: "text-gan on" in page.inner_text("#text-info"), timeout=60), page.inner_text("#text-message")
    page.fill("#text-prompt :is(input, textarea)", "a casual tee")        # wording no training caption uses
    page.click("#text-go")
    count = "(id) => document.querySelectorAll('#' + id + ' img').length"
    assert _until(lambda: page.evaluate(count, "text-gallery") >= 8, timeout=60), page.inner_text("#text-message")
    assert "In domain" in page.inner_text("#text-domain")
    assert "Read as the training caption" in page.inner_text("#text-domain")
    shot = ROOT / "docs" / "text.png" if os.environ.get("GANLAB_SCREENSHOT") else tmp_path / "text.png"
    page.screenshot(path=str(shot), full_page=True)
    first = _src(page, "text-gallery")
    page.get_by_label(PRIORS["none"]).check()          # the raw prompt: new images, no reading
    assert _until(lambda: _src(page, "text-gallery") not in ("", first), timeout=60), page.inner_text("#text-message")
    assert _until(lambda: "Read as" not in page.inner_text("#text-domain"), timeout=30)
    page.locator("#text-gallery img").first.click()                    # is it memorised?
    assert _until(lambda: _src(page, "text-near"), timeout=60), page.inner_text("#text-message")
    page.fill("#text-prompt :is(input, textarea)", "a tote")             # misread as a t-shirt: the bag is offered
    page.click("#text-go")
    assert _until(lambda: "Also close: " in page.inner_text("#text-domain")
                  and "“a bag”" in page.inner_text("#text-domain"), timeout=60), page.inner_text("#text-message")
    page.get_by_label(PRIORS["image"]).check()
    assert _until(lambda: "Read as" in page.inner_text("#text-domain"), timeout=60)
    page.click("#text-example-4")                      # a green triangle: no training image shows one
    assert _until(lambda: page.get_by_label(PRIORS["none"]).is_checked(), timeout=30)
    assert _until(lambda: "green triangle" in page.inner_text("#text-gallery")
                  and "Read as" not in page.inner_text("#text-domain"), timeout=60), page.inner_text("#text-message")
    if os.environ.get("GANLAB_SCREENSHOT"):
        page.locator("#text-gallery").screenshot(path=str(ROOT / "docs" / "text-unseen.png"))
    page.click("#text-example-0")                      # back to the model's default rule
    assert _until(lambda: page.get_by_label(PRIORS["image"]).is_checked(), timeout=30)
    assert _until(lambda: "Read as the training caption “a trainer shoe”" in page.inner_text("#text-domain"),
                  timeout=60), page.inner_text("#text-message")


def test_a_teacher_broadcasts_a_run_and_a_student_watches_it_and_forks_it(tmp_path):
    """Two browsers on a classroom server: the teacher signs in, starts a run and broadcasts it; the student's
    Train tab shows it beside their own, live, and the student forks it into a run of their own."""
    pytest.importorskip("playwright.sync_api")
    env = {"OMP_NUM_THREADS": "1", "GANLAB_CLASSROOM": "1", "GANLAB_TEACHER_PASSWORD": "teach-the-class"}
    try:
        served = serve_app(tmp_path, env=env)
        url, _ = served.__enter__()
    except AppFailed as e:
        pytest.fail(str(e))
    try:
        with chromium() as browser:
            teacher = browser.new_page(viewport={"width": 1400, "height": 1000})
            student = browser.new_page(viewport={"width": 1400, "height": 1000})
            for page in (teacher, student):
                page.goto(url)
                page.wait_for_selector("#train-start")
            assert not teacher.get_by_role("tab", name="Classroom").is_visible()   # nobody is the teacher yet
            student.click("#train-start")
            assert _until(lambda: _status(student)[0] == "RUNNING", timeout=60), student.inner_text("#train-message")
            teacher.click("#teacher-sign-in")
            teacher.fill("#teacher-password input", "teach-the-class")
            teacher.click("#teacher-go")
            assert _until(lambda: teacher.get_by_role("tab", name="Classroom").is_visible(), timeout=20)
            assert not student.get_by_role("tab", name="Classroom").is_visible()   # only on the teacher's page
            teacher.click("#train-start")
            assert _until(lambda: _status(teacher)[0] == "RUNNING", timeout=60)
            ref = re.search(r"run folder (\S+)", teacher.inner_text("#train-status")).group(1)
            teacher.get_by_role("tab", name="Classroom").click()
            assert _until(lambda: teacher.locator("#class-table").inner_text().count("running") >= 2, timeout=30)
            teacher.locator("#class-run input").fill(ref)
            teacher.keyboard.press("Enter")
            teacher.click("#class-broadcast")
            assert _until(lambda: "Broadcasting" in teacher.inner_text("#class-message"), timeout=20)

            assert _until(lambda: student.locator("#train-bc-status").is_visible(), timeout=20), "no broadcast"
            def watched():
                m = re.search(r"step ([\d,]+) /", student.inner_text("#train-bc-status"))
                return int(m.group(1).replace(",", "")) if m else None
            first = _until(watched, timeout=20)
            assert ref in student.inner_text("#train-bc-status")
            assert _until(lambda: (watched() or 0) > first, timeout=30), "the broadcast did not update"
            assert _until(lambda: (_trace(student, "train-bc-curves", "D loss") or [[]])[0], timeout=20)
            assert _status(student)[0] == "RUNNING"                    # the student's own run goes on beside it
            shot = ROOT / "docs" / "classroom-student.png" if os.environ.get("GANLAB_SCREENSHOT") else \
                tmp_path / "student.png"
            student.screenshot(path=str(shot), full_page=True)
            teacher.screenshot(path=str(shot.with_name(shot.name.replace("student", "teacher"))), full_page=True)

            student.click("#train-bc-fork")
            assert _until(lambda: "Forked" in student.inner_text("#train-message"), timeout=60), \
                student.inner_text("#train-message")
            assert _until(lambda: _status(student)[0] == "RUNNING", timeout=60)
            forked = re.search(r"run folder (\S+)", student.inner_text("#train-status")).group(1)
            assert forked != ref and json_owner(tmp_path / "runs" / forked) != json_owner(tmp_path / "runs" / ref)
    finally:
        served.__exit__(None, None, None)


def json_owner(run):
    import json
    return json.loads((run / "owner.json").read_text())["owner"]
