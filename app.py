"""Start the ganlab web app: ``python app.py`` then open http://localhost:7860.

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address (Docker sets 0.0.0.0);
GANLAB_RUNS is where runs are saved, GANLAB_MAX_RUNS caps runs training at once and
GANLAB_TORCH_THREADS sets torch's CPU threads (default: one per core), and
GANLAB_PLAY_PROCESSES=0 trains the 2-D Playground's runs on threads of this process
instead of one child process per run.

The import lines stay at the top and the rest under ``__main__``: each Playground run's
process imports this file again (as Python's multiprocessing does) and must not start a server.
"""
from ganlab.trainer import configure_threads
from ganlab.ui import build_app

if __name__ == "__main__":
    configure_threads()
    demo = build_app()
    demo.queue(default_concurrency_limit=4)
    demo.launch(max_file_size="500mb")
