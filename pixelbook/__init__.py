"""pixelbook: the library behind the book on autoregressive pixel models.

``import pixelbook as pb`` gives the core at once (data, layers, likelihoods, models); the rest
(analysis, book, plots, profiles, results, runs, train, ...) is imported on first use, so the
command line starts quickly."""

import importlib

from . import data, layers, likelihoods, models
from .errors import PixelbookError
from .likelihoods import bits_per_dim

__all__ = ["data", "layers", "likelihoods", "models", "bits_per_dim", "PixelbookError"]
__version__ = "0.1.0"

_LAZY = {"analysis", "bench", "book", "checkpoint", "claims", "gpu_run", "papers", "plots", "profiles", "provenance",
         "results", "run_queue", "runs", "sampling", "storage", "train"}


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pixelbook' has no attribute {name!r}")
