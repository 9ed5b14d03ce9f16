"""The one contract every family implements (README.md, "The library in six lines").

A family subclasses :class:`AutoregressiveModel`, sets ``self.likelihood`` and writes
``network(h, y, condition)``: pixels scaled to [-1, 1], float ``[B, C, H, W]`` -> distribution
parameters ``[B, P, H, W]`` (a family that reads tokens instead overrides ``forward``).
Everything else (input checks, log-likelihoods, the per-pixel maps, sampling) lives here once.

Three optional inputs run through the contract: ``y``, a class label (families whose paper
conditions on one); ``condition``, an image the model is conditioned on (the coarse image of the
multi-scale PixelRNN, the grey sketch of the auxiliary PixelCNNs); and nothing else.
"""

import contextlib

import torch
import torch.nn as nn

from .. import sampling
from ..errors import InputError
from ..layers import dilate, in_float32
from ..likelihoods import scale_to_unit


class AutoregressiveModel(nn.Module):
    name = "base"

    def __init__(self, image_shape, levels=256, num_classes=None):
        super().__init__()
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise InputError(f"image_shape must be (C, H, W) with positive sizes, got {image_shape}")
        try:
            levels = int(levels)
        except (TypeError, ValueError):
            raise InputError(f"levels must be an integer of at least 2, got {levels!r}") from None
        if levels < 2:
            raise InputError(f"levels must be at least 2, got {levels}")
        self.image_shape, self.levels, self.num_classes = image_shape, int(levels), num_classes

    # -- the contract ------------------------------------------------------------------------
    # Checks that read values (pixel ranges, labels) cost a GPU sync; the training loop checks its
    # images once and turns them off (:func:`values_checked`). Meta tensors have no values.
    check_values = True
    exact = True            # log_prob is log p(x); auxiliary-variable models set False (a bound)

    @property
    def bound(self) -> str:
        """What ``log_prob`` is: "exact" log p(x), or "upper" for a bpd bound (auxiliary models)."""
        return "exact" if self.exact else "upper"

    def prepare(self, images, seed=0):
        """Data-dependent setup before training (ImageGPT's palette); most families have none."""

    def forward(self, x: torch.Tensor, y=None, condition=None) -> torch.Tensor:
        """int64 pixels [B, C, H, W] -> distribution parameters [B, P, H, W]."""
        return self.network(self.unit_input(x), y, condition)

    def network(self, h: torch.Tensor, y=None, condition=None) -> torch.Tensor:
        raise NotImplementedError

    def sub_pixel_log_prob(self, x, y=None, condition=None) -> torch.Tensor:
        """log p(x_c,i,j | every earlier sub-pixel) for every sub-pixel: float [B, C, H, W]."""
        self.check_input(x, y)
        x = x.long()                                                   # int32/uint8 pixels index like int64
        return in_float32(self.likelihood.sub_pixel_log_prob, self(x, y, condition), x)

    def log_prob(self, x, y=None, per_pixel=False, condition=None) -> torch.Tensor:
        """log p(x) in nats, float [B]; with ``per_pixel`` each pixel's conditional, [B, H, W]."""
        per_pixel_map = self.sub_pixel_log_prob(x, y, condition).sum(1)
        return per_pixel_map if per_pixel else per_pixel_map.flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n, y=None, generator=None, cache=True, temperature=1.0, progress=False, condition=None,
               prefix=None, **likelihood_options):
        """n images, int64 [n, C, H, W]. ``cache=False`` runs the whole network for every step and
        must return the identical images for the same generator. ``prefix`` [n, C, r, W] gives
        the first r rows (completions). ``likelihood_options`` go to the likelihood's sampler
        (``top_k`` for a softmax, ``map_mode=True`` for the logistic mixture)."""
        return sampling.autoregressive_sample(self, n, y, generator, cache, temperature, progress,
                                              condition=condition, prefix=prefix, **likelihood_options)

    def sampler(self, x, y=None, cache=True, condition=None) -> sampling.Sampler:
        """The sampling protocol (``pixelbook.sampling``): an object whose ``step(x, i, j, c)``
        gives sub-pixel (c, i, j)'s parameters [B, P]. ``cache=False`` is the naive sampler (the
        whole network every step); families override :meth:`cached_sampler` to reuse work."""
        if cache:
            return self.cached_sampler(x, y, condition)
        return sampling.NaiveSampler(self, x, y, condition)

    def cached_sampler(self, x, y=None, condition=None) -> sampling.Sampler:
        return sampling.NaiveSampler(self, x, y, condition)

    def context(self, channel: int, row: int, col: int) -> torch.Tensor:
        """Bool [C, H, W]: the sub-pixels the architecture claims sub-pixel (channel, row, col)
        sees. The default is every earlier sub-pixel (no blind spot); the context test checks
        the claim by perturbation in both directions."""
        C, H, W = self.image_shape
        earlier = torch.zeros(C, H, W, dtype=torch.bool)
        earlier.view(C, -1)[:, : row * W + col] = True
        earlier[:channel, row, col] = True
        return earlier

    # -- shared plumbing ---------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_input(self, x, y=None):
        """One clear line for every malformed input, before it reaches torch."""
        C, H, W = self.image_shape
        if not isinstance(x, torch.Tensor):
            raise InputError(f"{self.name} expects a torch.Tensor of int64 pixels, got {type(x).__name__}")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise InputError(f"{self.name} expects integer pixel values in [0, {self.levels}), got "
                             f"{x.dtype}; quantise first, e.g. pixelbook.data.quantize")
        if x.dim() != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise InputError(f"{self.name} expects images of shape [B, {C}, {H}, {W}], got {list(x.shape)}")
        if self.reads_values(x) and (x.min() < 0 or x.max() >= self.levels):
            raise InputError(f"pixel values must be in [0, {self.levels}); found min {int(x.min())}, "
                             f"max {int(x.max())}")
        self.check_labels(y, x.shape[0])

    def check_labels(self, y, batch):
        if y is None:
            return
        if self.num_classes is None:
            raise InputError(f"{self.name} was built without num_classes, so it takes no class labels y")
        if (not isinstance(y, torch.Tensor) or y.is_floating_point() or y.shape != (batch,)
                or (self.reads_values(y) and (y.min() < 0 or y.max() >= self.num_classes))):
            raise InputError(f"y must be int64 [{batch}] class labels in [0, {self.num_classes})")

    def reads_values(self, t: torch.Tensor) -> bool:
        """Whether the value checks look at ``t``: it has values, and checking is on."""
        return self.check_values and t.numel() > 0 and not t.is_meta

    def unit_input(self, x: torch.Tensor) -> torch.Tensor:
        """int pixels -> floats in [-1, 1], in the weights' dtype (float64 in the exact tests)."""
        return scale_to_unit(x, self.levels, next(self.parameters()).dtype)


@contextlib.contextmanager
def values_checked(model):
    """Within: ``model`` (and the models inside a staged one) skip the checks that read values,
    which the caller has done once on the whole data set (the training loop)."""
    inner = [m for m in model.modules() if isinstance(m, AutoregressiveModel)]
    saved = [m.check_values for m in inner]
    for m in inner:
        m.check_values = False
    try:
        yield
    finally:
        for m, value in zip(inner, saved):
            m.check_values = value


def sub_pixel_context(model, reach, channel, row, col) -> torch.Tensor:
    """Bool [C, H, W]: every colour of the pixels in ``reach`` (which excludes the pixel itself),
    and the earlier colours of the pixel, read through the R -> G -> B masks at its centre."""
    C, H, W = model.image_shape
    seen = reach.expand(C, H, W).clone()
    seen[:, row, col] = False
    seen[:channel, row, col] = True
    return seen


def spatial_context(model, reach, channel, row, col, first=(7, 7)) -> torch.Tensor:
    """The context from ``reach``, the pixels the layers after the first can read: the first
    layer's mask-A kernel widens it and excludes the pixel itself."""
    return sub_pixel_context(model, dilate(reach, first, "A"), channel, row, col)
