"""One autoregressive sampler for every family.

All randomness is drawn up front, one block of uniforms per pixel, so the order in which the
network is evaluated cannot change the result: the cached and the naive paths consume the same
numbers and, given the same parameters, return the same integers. Each pixel's values come from
its likelihood by inverse CDF.

``prefix`` completes images: its rows are given, and sampling starts below them. A cached
sampler still visits every given pixel (its caches must hold them); the naive one skips them.
"""

import math
import numbers

import torch

from .errors import InputError
from .progress import progress_bar


def check_request(n, temperature):
    """How many images and how hot: one clear line for anything but a count and a finite T > 0."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise InputError(f"n must be a whole number of images, 0 or more; got {n!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not 0 < temperature < math.inf:
        raise InputError(f"temperature must be a finite positive number, got {temperature!r}")


def autoregressive_sample(model, n, y=None, generator=None, cache=True, temperature=1.0, progress=False,
                          condition=None, prefix=None, **likelihood_options):
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
    params_at = model.sampler(x, y, cache=cache, condition=condition)
    passes = range(C) if likelihood.channels_per_pass == 1 else [None]
    was_training = model.training
    model.eval()
    try:
        for i in progress_bar(range(H), desc=f"sampling {model.name}", unit="row", enable=progress):
            for j in range(W):
                for channel in passes:
                    if i < given_rows:                                # a given pixel: only feed the caches
                        if cache:
                            params_at(x, i, j)
                        continue
                    params = params_at(x, i, j)                       # [n, P]
                    x[:, :, i, j] = likelihood.sample(params, x[:, :, i, j], channel, noise[:, :, i, j],
                                                      temperature, **likelihood_options)
    finally:
        model.train(was_training)
    return x
