"""The Classroom tab's layout and wiring (teacher only); what the controls do is in classroom.py.

Hidden until the teacher signs in: with --auth as the account ``teacher``
(with the teacher password), or in the page with the teacher password. Every
control has a stable ``elem_id`` (``class-...``) and an API name
(``classroom_...``) so tests can check that students are refused.
"""
from __future__ import annotations

from typing import Dict

import gradio as gr

from ..lessons import LESSONS
from .classroom import HEADERS, ClassroomHandlers
from .common import guarded, keyed
from .sessions import Sessions

REFRESH_SECONDS = 3.0
INTRO = ("Every run in the class, live. Pick one to pause or stop it, or **broadcast** it: every student's Train "
         "tab then shows it beside their own run, read-only, with a button to fork it. **Push a lesson** to load "
         "it in everyone's 2-D Playground. The gallery shows each student's latest samples, so the class can "
         "compare settings.")


def build_classroom_tab(sessions: Sessions) -> ClassroomHandlers:
    h = ClassroomHandlers(sessions)
    c: Dict[str, gr.components.Component] = {}
    gr.Markdown(INTRO, elem_id="class-intro")
    c["table"] = gr.Dataframe(headers=HEADERS, value=[], interactive=False, wrap=True, elem_id="class-table",
                              label="runs")
    with gr.Row():
        c["run"] = gr.Dropdown([], label="run", allow_custom_value=True, elem_id="class-run", scale=3)
        c["pause"] = gr.Button("Pause", elem_id="class-pause", min_width=70)
        c["stop"] = gr.Button("Stop", variant="stop", elem_id="class-stop", min_width=70)
        c["broadcast"] = gr.Button("Broadcast to the class", variant="primary", elem_id="class-broadcast")
        c["end"] = gr.Button("End broadcast", elem_id="class-end")
    with gr.Row():
        c["lesson"] = gr.Dropdown([(v.title, k) for k, v in LESSONS.items()], value=None,
                                  label="Playground lesson", elem_id="class-lesson", scale=3)
        c["push"] = gr.Button("Push to everyone", elem_id="class-push")
    c["message"] = gr.Markdown("", elem_id="class-message")
    c["gallery"] = gr.Gallery(label="each student's latest samples (click one to enlarge it)", columns=6,
                              height=340, object_fit="contain", allow_preview=True, preview=False,
                              elem_id="class-gallery")
    _wire(h, sessions, c)
    return h


def _wire(h: ClassroomHandlers, sessions: Sessions, c: Dict) -> None:
    msg = c["message"]

    def act(fn, n_inputs: int = 1):
        return guarded(1)(keyed(fn, sessions, n_inputs))

    def refresh(request: gr.Request):
        """Table, run list and gallery: nothing at all for a student."""
        key = sessions.bind(request).key
        if not sessions.is_teacher(key):
            return gr.skip(), gr.skip(), gr.skip()
        rows = h.runs(key)
        runs = sorted({r[-1] for r in rows if r[-1]})
        return rows, gr.update(choices=runs), h.gallery(key)

    c["pause"].click(act(h.pause_run), c["run"], msg, api_name="classroom_pause")
    c["stop"].click(act(h.stop_run), c["run"], msg, api_name="classroom_stop")
    c["broadcast"].click(act(h.broadcast), c["run"], msg, api_name="classroom_broadcast")
    c["end"].click(act(h.end_broadcast, 0), None, msg, api_name="classroom_end_broadcast")
    c["push"].click(act(h.push_lesson), c["lesson"], msg, api_name="classroom_push_lesson")

    def pick_row(evt: gr.SelectData, request: gr.Request):
        """Clicking a row of the table picks its run."""
        if not sessions.is_teacher(sessions.bind(request).key):
            return gr.skip()
        row = evt.row_value if isinstance(evt.row_value, list) else []
        return row[-1] if row else gr.skip()
    c["table"].select(pick_row, None, c["run"], show_progress="hidden")
    # off until a teacher signs in, so students' pages do not poll it
    timer = h.timer = gr.Timer(REFRESH_SECONDS, active=False)
    timer.tick(refresh, None, [c["table"], c["run"], c["gallery"]], show_progress="hidden",
               concurrency_id="classroom", concurrency_limit=2, api_name="classroom_runs")
