"""The one exception type for mistakes a user can make.

Bad hyperparameters, unknown names, missing datasets, broken uploads and
checkpoints that do not fit all raise :class:`GanlabError` with a sentence
that says what went wrong and what to do next. The CLI prints it without a
traceback and the UI shows it as a message; anything else is a bug.
"""


class GanlabError(ValueError):
    """A user-facing error whose message is one plain sentence."""
