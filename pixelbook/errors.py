"""One exception family, so every bad input ends in one clear line.

The CLI prints ``error: <message>`` for any :class:`PixelbookError` and exits non-zero; the
traceback is shown only with ``--debug``. Messages are one line and say what to do next.
"""


class PixelbookError(Exception):
    """Base class: a user-facing error whose message is a single line."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


class UnknownNameError(PixelbookError, KeyError):
    """An unknown model, dataset, profile or chapter name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DatasetError(PixelbookError):
    """A dataset that is missing, truncated, corrupt or not an image array."""


class InputError(PixelbookError, ValueError):
    """A tensor of the wrong dtype, shape or value range reached the model contract."""


class CheckpointError(PixelbookError):
    """A checkpoint of another model or shape, or a truncated/corrupt one."""


class TrainingDiverged(PixelbookError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    exit_code = 3


def known(names) -> str:
    """'a, b, c' for 'known: ...' hints."""
    return ", ".join(sorted(names))
