"""Start the ganlab web app: ``python app.py`` then open http://localhost:7860.

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address (Docker sets 0.0.0.0);
GANLAB_RUNS is where runs are saved and GANLAB_MAX_RUNS caps runs training at once.
"""
from ganlab.ui import build_app

if __name__ == "__main__":
    demo = build_app()
    demo.queue(default_concurrency_limit=4)
    demo.launch(max_file_size="500mb")
