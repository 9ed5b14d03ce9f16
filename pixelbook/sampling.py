"""One autoregressive sampler for every family, and the protocol its models implement.

All randomness is drawn up front, one block of uniforms per pixel, so the order in which the
network is evaluated cannot change the result: the cached and the naive paths consume the same
numbers and, given the same parameters, return the same integers. Each pixel's values come from
its likelihood by inverse CDF.

**The protocol.** ``model.sampler(x, y, cache, condition)`` returns a :class:`Sampler`: an object
that holds whatever one sampling run keeps between steps (a family's per-layer caches, recurrent
states or keys and values) and exposes one method, ``step(x, i, j, c)``: the distribution
parameters [B, P] of sub-pixel (c, i, j), given ``x``, which holds every earlier sub-pixel. ``c``
is the channel, or None when the likelihood draws a whole pixel in one pass. Steps come in raster
order, channels in turn. :class:`NaiveSampler` is the same interface running the whole network.

``prefix`` completes images: its rows are given, and sampling starts below them. A cached
sampler still visits every given pixel (``visits_given``: its caches must hold them); the naive
one skips them.
"""

import contextlib
import math
import numbers

import torch

from .errors import InputError
from .progress import progress_bar


@contextlib.contextmanager
def without_tf32():
    """Full float32 matrix products and convolutions on CUDA within (TF32 off; PyTorch leaves it
    on for cuDNN convolutions by default, and Colab for matmuls too): wherever cached and naive
    sampling are compared, so they differ by float32 rounding only, not by TF32's 10-bit mantissas."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class Sampler:
    """One incremental sampling run over a batch: its state lives here, between ``step`` calls.

    ``x`` is the batch being filled in (int64 [B, C, H, W]), ``y`` its class labels or None, and
    ``condition`` the conditioning image or None; the model has checked all three."""

    visits_given = True          # the loop must call ``step`` on given (prefix) pixels too

    def __init__(self, model, x, y=None, condition=None):
        self.model, self.y, self.condition = model, y, condition
        self._at = None

    def settled(self, i, j):
        """The pixel before (i, j), the first time (i, j) is stepped: its last colour was drawn
        after its last step, so only now is it final for the caches. Else None."""
        before, self._at = self._at, (i, j)
        return before if before not in (None, (i, j)) else None

    def step(self, x, i, j, c) -> torch.Tensor:
        """The parameters of sub-pixel (c, i, j) (c None: the whole pixel), [B, P]."""
        raise NotImplementedError


class NaiveSampler(Sampler):
    """The whole network for every step: the reference every cached sampler must equal."""

    visits_given = False

    def step(self, x, i, j, c):
        return self.model(x, self.y, self.condition)[:, :, i, j]


def check_request(n, temperature):
    """How many images and how hot: one clear line for anything but a count and a finite T > 0."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise InputError(f"n must be a whole number of images, 0 or more; got {n!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not 0 < temperature < math.inf:
        raise InputError(f"temperature must be a finite positive number, got {temperature!r}")


def autoregressive_sample(model, n, y=None, generator=None, cache=True, temperature=1.0, progress=False,
                          condition=None, prefix=None, pixels=None, **likelihood_options):
    """n images [n, C, H, W] from ``model``; see :meth:`AutoregressiveModel.sample`. ``pixels``
    stops after that many pixels in raster order (the rest stay 0): a benchmark times a slow naive
    run on its first pixels, which cost the same as any others."""
    C, H, W = model.image_shape
    device = model.device
    check_request(n, temperature)
    if y is not None:
        y = torch.as_tensor(y, device=device)
        y = y.expand(n) if y.dim() == 0 else y
    model.check_labels(y, n)
    likelihood = model.likelihood
    noise_device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.rand(n, likelihood.noise_channels(C), H, W, generator=generator,
                       dtype=torch.float64, device=noise_device).to(device)
    x = torch.zeros(n, C, H, W, dtype=torch.long, device=device)
    given_rows = 0
    if prefix is not None:
        if not isinstance(prefix, torch.Tensor) or prefix.dim() != 4 or prefix.shape[0] != n or \
                tuple(prefix.shape[1:2]) + tuple(prefix.shape[3:]) != (C, W) or prefix.shape[2] > H:
            raise InputError(f"prefix must be the first rows of {n} images, [{n}, {C}, rows <= {H}, {W}]")
        model.check_input(torch.cat([prefix.cpu(), x[:, :, prefix.shape[2]:].cpu()], 2))
        given_rows = prefix.shape[2]
        x[:, :, :given_rows] = prefix.to(device)
    passes = range(C) if likelihood.channels_per_pass == 1 else [None]
    was_training = model.training
    model.eval()                                                       # before the sampler freezes anything
    try:
        sampler = model.sampler(x, y, cache=cache, condition=condition)
        stop = H * W if pixels is None else pixels
        for i in progress_bar(range(-(-stop // W)), desc=f"sampling {model.name}", unit="row", enable=progress):
            for j in range(min(W, stop - i * W)):
                for channel in passes:
                    if i < given_rows:                                # a given pixel: only feed the caches
                        if sampler.visits_given:
                            sampler.step(x, i, j, channel)
                        continue
                    params = sampler.step(x, i, j, channel)           # [n, P]
                    x[:, :, i, j] = likelihood.sample(params, x[:, :, i, j], channel, noise[:, :, i, j],
                                                      temperature, **likelihood_options)
    finally:
        model.train(was_training)
    return x


# -- pieces the cached samplers share -------------------------------------------------------
# A cached step touches one position per layer, a few thousand multiply-adds, so its cost is
# the per-operation overhead: a convolution call on a one-pixel window costs about 100 us on a
# CPU, a matrix product a few. The samplers therefore freeze each layer once per run (masks and
# weight normalisation applied) and read windows out of zero-padded maps.

class Frozen:
    """A convolution's effective weight [out, in, kh, kw] (and bias) frozen for one sampling run.
    ``rows`` and ``cols`` keep only the first kernel rows and columns (a causal mask zeroes the
    rest), so windows are shorter. ``at`` computes one output from its window by one matrix product; ``row`` a whole
    output row from ``kh`` input rows by one convolution. Maps are best kept channels-last
    (:func:`cache_map`): a window is then ``kh`` runs of ``kw`` pixels' channels in memory, and
    copies out fast."""

    def __init__(self, weight, bias=None, rows=None, cols=None):
        weight = weight.detach()[:, :, :rows, :cols]
        self.weight, self.bias = weight.contiguous(), None if bias is None else bias.detach()
        self.kh, self.kw = weight.shape[2:]
        self.matrix = self.weight.permute(0, 2, 3, 1).flatten(1)       # [out, kh * kw * in], channels last

    @classmethod
    def of(cls, conv, rows=None, cols=None):
        """From an ``nn.Conv2d`` (weight norm applied) or a masked one (mask applied)."""
        mask = getattr(conv, "mask", None)
        return cls(conv.weight if mask is None else conv.weight * mask, conv.bias, rows, cols)

    def at(self, padded, top, left):
        """The output whose window starts at (top, left) of a padded map [B, in, H', W']: [B, out]."""
        window = padded[:, :, top: top + self.kh, left: left + self.kw].permute(0, 2, 3, 1)
        return torch.nn.functional.linear(window.reshape(len(window), self.matrix.shape[1]), self.matrix, self.bias)

    def vector(self, v):
        """A 1x1 layer on per-position vectors [B, in] -> [B, out]."""
        return torch.nn.functional.linear(v, self.matrix, self.bias)

    def row(self, padded, top, stride=1):
        """One output row from the ``kh`` padded rows starting at ``top``: [B, out, W'']. The
        windows are unfolded and multiplied at once: a convolution call costs more at this size."""
        windows = padded[:, :, top: top + self.kh].unfold(3, self.kw, stride)     # [B, in, kh, W'', kw]
        windows = windows.permute(0, 3, 2, 4, 1).reshape(len(padded), windows.shape[3], self.matrix.shape[1])
        out = windows @ self.matrix.T
        return (out if self.bias is None else out + self.bias).transpose(1, 2)


class FrozenHead:
    """An output head (ReLU, 1x1, ReLU, 1x1: ``layers.OutputHead``) frozen for one sampling run,
    applied to one position's features [B, in] -> [B, parameters]."""

    def __init__(self, head):
        self.first, self.second = Frozen.of(head.first), Frozen.of(head.second)

    def __call__(self, h):
        return self.second.vector(torch.relu(self.first.vector(torch.relu(h))))


def cache_map(batch, channels, rows, cols, like):
    """A zero map [B, channels, rows, cols] in channels-last memory, for :class:`Frozen` windows."""
    return torch.zeros(batch, rows, cols, channels, dtype=like.dtype, device=like.device).permute(0, 3, 1, 2)
