"""The Gradio app: one tab per way of playing with GANs, all thin clients of the engine.

    from ganlab.server import ServerOptions
    from ganlab.ui import build_app
    demo = build_app(options=ServerOptions(runs=Path("runs"), classroom=True, teacher_password="..."))
    demo.queue(default_concurrency_limit=QUEUE_LIMIT).launch()

Adding a tab means writing ``build_<name>_tab(sessions)`` in its own module and
one ``with gr.Tab(...)`` block below. Per-browser state lives in ``Sessions``,
keyed by ``request.session_hash`` and dropped when the browser tab closes.

Who a browser is: the signed-in account under --auth, else a secret the page
keeps in its local storage (gr.BrowserState), sent once when the page loads,
so a browser finds its runs again after a reload or a server restart.
"""
from __future__ import annotations

import gradio as gr

from . import gradio_fixes
from .classroom_tab import build_classroom_tab
from .compare_tab import build_compare_tab
from .explore_client import HEAD as EXPLORE_HEAD
from .explore_tab import build_explore_tab
from .playground_tab import build_playground_tab
from .sessions import Sessions
from .text_tab import build_text_tab
from .train_tab import build_train_tab
from .translate_tab import build_translate_tab

__all__ = ["build_app", "Sessions", "QUEUE_LIMIT", "CSS"]

TITLE = "ganlab"
SUBTITLE = "Train generative adversarial networks and watch them learn, step by step."
# events of a group without a limit of its own run this many at once; interactive groups
# (sliders, prompts, frames) have their own, so training controls never hold them up
QUEUE_LIMIT = 4
# generated images are small and sharp-edged: the page scales them up without blurring
CSS = ("#explore-image img, #train-grid img, #train-bc-grid img, #translate-in img, #translate-bicubic img, "
       "#translate-out img, #translate-trip img, #translate-target img, #translate-slider img, #translate-gallery img "
       "{ image-rendering: pixelated; }")


def build_app(runs_root=None, max_runs=None, options=None) -> gr.Blocks:
    """The whole UI; runs go under ``runs_root`` (default: the options' ``runs``, else ``runs``)."""
    from ..server import ServerOptions
    gradio_fixes.install()                        # skipped outputs cost nothing (see gradio_fixes)
    opts = options or ServerOptions()
    sessions = Sessions(runs_root, max_runs=max_runs, options=opts)
    room = sessions.classroom
    with gr.Blocks(title=TITLE, delete_cache=(3600, 6 * 3600)) as demo:
        token = gr.BrowserState(None, storage_key="ganlab-browser", secret=sessions.browser_secret())
        gr.Markdown(f"# {TITLE}\n{SUBTITLE}", elem_id="app-title")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Train", id="train", elem_id="tab-train"):
                build_train_tab(sessions)
            with gr.Tab("2-D Playground", id="playground", elem_id="tab-playground") as play_tab:
                play = build_playground_tab(sessions, play_tab)
            with gr.Tab("Explore", id="explore", elem_id="tab-explore") as explore_tab:
                explore = build_explore_tab(sessions, explore_tab)
            with gr.Tab("Text → Image", id="text", elem_id="tab-text") as text_tab:
                text = build_text_tab(sessions, text_tab)
            with gr.Tab("Image → Image", id="translate", elem_id="tab-translate") as translate_tab:
                translate = build_translate_tab(sessions, translate_tab)
            with gr.Tab("Compare runs", id="compare", elem_id="tab-compare") as compare_tab:
                build_compare_tab(sessions, compare_tab)
            with gr.Tab("Classroom", id="classroom", elem_id="tab-classroom", visible=False) as class_tab:
                classroom = build_classroom_tab(sessions)
        sign_in = _teacher_sign_in(sessions, classroom, class_tab) if room.enabled and not opts.auth else None

        def on_load(stored, request: gr.Request):
            s = sessions.bind(request)
            kept = sessions.adopt_token(s.key, stored)
            teacher = s.who.teacher
            return (kept, gr.update(visible=teacher), gr.Timer(active=teacher),
                    *([gr.update(visible=not teacher)] if sign_in is not None else []))
        load_out = [token, class_tab, classroom.timer] + ([sign_in] if sign_in is not None else [])
        demo.load(on_load, token, load_out, api_name=False, show_progress="hidden")
        demo.unload(_closer(sessions, play.close, explore.forget, text.forget, translate.forget))
    demo.warm_up = lambda: _warm_up(explore, text)
    # Explore's browser rendering: its script tags, and the routes for onnxruntime-web and each page's G
    demo.ganlab_head, demo.ganlab_routes = EXPLORE_HEAD, explore.browser.routes()
    demo.sessions = sessions                      # for tests and for shutting down cleanly
    return demo


def _warm_up(explore, text) -> None:
    """Load the default models before the first page asks (the text prior encodes every training caption: ~15 s)."""
    for load in (lambda: explore.explorer("warm-up"), lambda: text.generator("warm-up").prior):
        try:
            load()
        except Exception:                                    # no shipped models: the tabs say so when opened
            pass
    explore.forget("warm-up")
    text.forget("warm-up")


def _teacher_sign_in(sessions: Sessions, classroom, class_tab) -> gr.Accordion:
    """In-page sign-in for the teacher when there are no accounts (no --auth)."""
    with gr.Accordion("Teacher? Sign in", open=False, elem_id="teacher-sign-in") as box:
        password = gr.Textbox(type="password", label="teacher password", max_lines=1, elem_id="teacher-password")
        go = gr.Button("Sign in", size="sm", elem_id="teacher-go")
        said = gr.Markdown("", elem_id="teacher-message")

    def sign_in(text, request: gr.Request):
        try:
            key = sessions.bind(request).key
            msg = classroom.sign_in(text, key, client_address(request))
        except Exception as e:                               # GanlabError: wrong password, too many tries
            return f"⚠️ {e}", gr.skip(), gr.skip(), gr.skip(), ""
        return msg, gr.update(visible=True), gr.Timer(active=True), gr.update(visible=False), ""
    outs = [said, class_tab, classroom.timer, box, password]
    go.click(sign_in, password, outs, api_name="teacher_sign_in")
    password.submit(sign_in, password, outs)
    return box


def client_address(request) -> str:
    """The caller's address as the server saw it (Gradio's request.client), for per-address limits."""
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "unknown")


def _closer(sessions: Sessions, *closers):
    def on_unload(request: gr.Request):
        key = request.session_hash
        for close in closers:
            try:
                close(key)
            except Exception:
                pass
        sessions.close(key)
    return on_unload

