"""Start the ganlab web app: ``python app.py`` then open http://localhost:7860.

``python app.py --help`` lists the options (address, runs folder, accounts,
classroom mode, training slots, memory budget, quotas); each also has a
GANLAB_... environment variable. With none, it is a personal server on
127.0.0.1 for one person on a laptop.

The import lines stay at the top and the rest under ``__main__``: each run's
training process imports this file again (as Python's multiprocessing does)
and must not start a server.
"""
import sys

from ganlab.server import main

if __name__ == "__main__":
    sys.exit(main())
