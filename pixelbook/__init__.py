"""pixelbook: the library behind the book on autoregressive pixel models."""

from . import data, layers, likelihoods, models
from .errors import PixelbookError
from .likelihoods import bits_per_dim

__all__ = ["data", "layers", "likelihoods", "models", "bits_per_dim", "PixelbookError"]
__version__ = "0.1.0"
