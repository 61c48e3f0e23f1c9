"""A plotly figure that redraws in place, for views that change several times a second.

    plot = live_plot(elem_id="play-plane-0")          # inside a gr.Blocks
    ...
    return live_value(fig)                            # from a handler: the new figure

gr.Plot is built for figures that change now and then: every new value goes
through Plotly.react and then Plots.resize, and a figure with WebGL traces gets
a new GL context each time. On a 2-core laptop that kept the 2-D Playground at
about one redraw a second while training ran (bench/playground_refresh.py).
A live plot is a gr.HTML holding one plotly div for its whole life: a new figure
(JSON text) is drawn with a single Plotly.react on that div, and a figure that
arrives while the last one is still drawing replaces it rather than queueing.
A figure should give its height; without a width it takes the page's at first draw.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import orjson
import plotly

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
gr.set_static_paths([str(PLOTLY_JS)])

# Runs once per component, with Gradio's (element, props, watch); see gr.HTML's js_on_load.
_DRAW_JS = """
const box = element.querySelector('.ganlab-liveplot');
let busy = false, shown = null;
async function draw() {
    if (busy || props.value === shown) return;      // a newer value is drawn when this one ends
    busy = true;
    const text = props.value;
    try {
        if (text) {
            const fig = JSON.parse(text);
            await Plotly.react(box, fig.data, fig.layout, {displaylogo: false, responsive: false});
        } else {
            Plotly.purge(box);
        }
        shown = text;
    } catch (err) {
        console.error('ganlab live plot:', err);
        shown = text;                                   // do not retry a figure that failed
    }
    busy = false;
    if (props.value !== shown) requestAnimationFrame(draw);
}
watch('value', draw);
draw();
"""


def live_plot(value: str | None = None, **kw) -> gr.HTML:
    """A gr.HTML that shows ``value`` (a figure as plotly JSON text, see live_value) with plotly."""
    return gr.HTML(value, html_template='<div class="ganlab-liveplot"></div>', js_on_load=_DRAW_JS,
                   head=f'<script src="gradio_api/file={PLOTLY_JS}"></script>', apply_default_css=False,
                   container=False, padding=False, **kw)


def live_value(fig) -> str:
    """A plotly figure, or its plain {"data", "layout"} dict, as the value of a live plot.

    A dict is written by orjson (Gradio's own JSON library), numpy arrays as lists:
    no go.Figure to build and copy, a third of what plotly's to_json costs a frame.
    """
    if isinstance(fig, dict):
        return orjson.dumps(fig, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return fig.to_json()
