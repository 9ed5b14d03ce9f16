"""Per-pixel output distributions: a categorical softmax and the discretized logistic mixture.

Both share one interface, so the models and the sampler never ask which one they hold:

- ``sub_pixel_log_prob(params, x)`` -> ``[B, C, H, W]``: log p(x_c | x_<c, past) for every
  sub-pixel, in nats. Summed over C it is the pixel's log-probability.
- ``noise_channels(C)`` and ``sample(params, x_pixel, channel, noise, temperature)``: sampling by
  inverse CDF from uniform noise drawn up front, so a cached and a naive sampler consume exactly
  the same random numbers and return identical images.
- ``channels_per_pass``: ``1`` when the network must be re-run after each colour channel
  (categorical with R->G->B masking), ``None`` when one pass gives all of a pixel's channels
  (the mixture, whose channel coupling lives inside the likelihood).
"""

import math

import torch
import torch.nn.functional as F

from .errors import InputError


def bits_per_dim(log_prob: torch.Tensor, dims: int) -> torch.Tensor:
    """Negative log-likelihood in nats -> bits per sub-pixel: -log p(x) / (D ln 2)."""
    return -log_prob / (dims * math.log(2.0))


def scale_to_unit(x: torch.Tensor, levels: int, dtype=torch.float32) -> torch.Tensor:
    """Integers in [0, levels) -> floats in [-1, 1] (the scaling every model uses inside)."""
    return x.to(dtype) * (2.0 / (levels - 1)) - 1.0


def _at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 network outputs are upcast for the likelihood; float64 stays float64."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def tempered(logits: torch.Tensor, temperature=1.0, top_k=None) -> torch.Tensor:
    """Sampling logits [..., K]: divided by ``temperature``; with ``top_k`` all but the k largest
    set to -inf (ties at the k-th value kept)."""
    if top_k is not None:
        if not (isinstance(top_k, int) and 1 <= top_k <= logits.shape[-1]):
            raise InputError(f"top_k must be an integer in [1, {logits.shape[-1]}], got {top_k!r}")
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits / temperature


def inverse_cdf(log_probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index k with cdf[k-1] <= u < cdf[k]; log_probs [..., K], u [...] in [0, 1)."""
    cdf = log_probs.double().softmax(-1).cumsum(-1)
    index = torch.searchsorted(cdf, u.double().contiguous().unsqueeze(-1), right=True).squeeze(-1)
    return index.clamp_(max=log_probs.shape[-1] - 1)


class Categorical:
    """A ``levels``-way softmax per sub-pixel (PixelRNN/PixelCNN, van den Oord et al. 2016).

    The network emits ``C * levels`` channels ordered channel-major: R's logits, then G's, then
    B's, matching the channel groups of :class:`pixelbook.layers.MaskedConv2d`.
    """

    channels_per_pass = 1

    def __init__(self, levels: int):
        self.levels = levels

    def param_channels(self, channels: int) -> int:
        return channels * self.levels

    def logits(self, params: torch.Tensor, channels: int) -> torch.Tensor:
        """[B, C*L, ...] -> [B, C, L, ...]."""
        return params.unflatten(1, (channels, self.levels))

    def sub_pixel_log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits = _at_least_float32(self.logits(params, x.shape[1]))     # [B, C, L, H, W]
        return logits.log_softmax(2).gather(2, x.unsqueeze(2)).squeeze(2)  # [B, C, H, W]

    def noise_channels(self, channels: int) -> int:
        return channels

    def sample(self, params, x_pixel, channel, noise, temperature=1.0, top_k=None):
        """Fill ``x_pixel[:, channel]`` from pixel params ``[B, C*L]``; noise ``[B, C]``."""
        logits = self.logits(params, x_pixel.shape[1])[:, channel]     # [B, L]
        x_pixel = x_pixel.clone()
        x_pixel[:, channel] = inverse_cdf(tempered(logits, temperature, top_k), noise[:, channel])
        return x_pixel


def _log_one_minus_exp(d: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(-d)) for d > 0, accurate for small and large d (Maechler 2012)."""
    return torch.where(d < math.log(2.0), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


def logistic_bin_log_prob(x, mean, log_scale, levels):
    """log P(bin x) of a logistic discretised into ``levels`` bins on [-1, 1].

    x and mean are on the [-1, 1] scale; the edge bins integrate to -inf and +inf. The middle
    case uses sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^(b-a)), exact and free of
    cancellation, so tiny probabilities stay finite and gradients never become NaN.
    """
    half_bin = 1.0 / (levels - 1)
    inv_scale = torch.exp(-log_scale)
    upper = inv_scale * (x - mean + half_bin)                          # a
    lower = inv_scale * (x - mean - half_bin)                          # b
    middle = F.logsigmoid(upper) + F.logsigmoid(-lower) + _log_one_minus_exp(2 * half_bin * inv_scale)
    lowest = F.logsigmoid(upper)                                       # P(X <= upper edge)
    highest = F.logsigmoid(-lower)                                     # P(X > lower edge)
    return torch.where(x < -1 + half_bin, lowest, torch.where(x > 1 - half_bin, highest, middle))


def parameters_per_channel(channels: int) -> int:
    """Mean and log-scale per component, plus a coupling coefficient for RGB."""
    if channels not in (1, 3):
        raise InputError(f"the logistic mixture models 1 or 3 colour channels, got {channels}")
    return 3 if channels == 3 else 2


def split_mixture_params(params: torch.Tensor, channels: int, mixtures: int):
    """The reference layout -> logits [B, M, H, W], means/log-scales/coeffs [B, C, M, H, W].

    Layout (openai/pixel-cnn): M mixture logits, then for each colour channel its M means, M
    log-scales (clamped at -7) and, for C = 3, M raw coefficients (through tanh).
    """
    per_channel = parameters_per_channel(channels)
    expected = mixtures * (1 + per_channel * channels)
    if params.shape[1] != expected:
        raise InputError(
            f"mixture params have {params.shape[1]} channels; {mixtures} mixtures over "
            f"{channels} colour channel(s) need {expected}")
    logits = params[:, :mixtures]
    rest = params[:, mixtures:].unflatten(1, (channels, per_channel, mixtures))
    means = rest[:, :, 0]
    log_scales = rest[:, :, 1].clamp(min=-7.0)
    coeffs = torch.tanh(rest[:, :, 2]) if channels > 1 else None
    return logits, means, log_scales, coeffs


def coupled_means(means, coeffs, x_unit):
    """mean_G += c0 R, mean_B += c1 R + c2 G (Salimans et al. 2017, eq. 3), c_k from channel k."""
    if coeffs is None:
        return means
    red, green = x_unit[:, 0], x_unit[:, 1]                            # dim 1 is the colour channel
    return torch.stack([
        means[:, 0],
        means[:, 1] + coeffs[:, 0] * red,
        means[:, 2] + coeffs[:, 1] * red + coeffs[:, 2] * green,
    ], 1)


def discretized_logistic_mixture_log_prob(params, x, levels=256, per_sub_pixel=False):
    """Per-pixel log p(x) under a mixture of discretised logistics (PixelCNN++).

    params: [B, M*(1+3C), H, W] (C = 1: [B, 3M, H, W]) in the reference layout; x: int64
    [B, C, H, W] in [0, levels). Returns [B, H, W] (the mixture is shared by a pixel's channels),
    or with ``per_sub_pixel`` the conditionals log p(x_c | x_<c) as [B, C, H, W].
    """
    channels = x.shape[1]
    mixtures = params.shape[1] // (1 + parameters_per_channel(channels) * channels)
    logits, means, log_scales, coeffs = split_mixture_params(_at_least_float32(params), channels, mixtures)
    x_unit = scale_to_unit(x, levels, means.dtype).unsqueeze(2)         # [B, C, 1, H, W]
    means = coupled_means(means, coeffs, x_unit)
    per_component = logistic_bin_log_prob(x_unit, means, log_scales, levels)  # [B, C, M, H, W]
    # Running joint log p(x_<=c, component m), then marginalise the component.
    joint = logits.log_softmax(1).unsqueeze(1) + per_component.cumsum(1)
    marginal = joint.logsumexp(2)                                      # [B, C, H, W]
    if not per_sub_pixel:
        return marginal[:, -1]
    return torch.cat([marginal[:, :1], marginal[:, 1:] - marginal[:, :-1]], 1)


class DiscretizedLogisticMixture:
    """The PixelCNN++ likelihood (Salimans et al. 2017) with ``mixtures`` components.

    ``temperature`` scales the logistic scales when sampling (< 1 is the variance reduction the
    auxiliary chapter uses); ``map_mode`` takes each channel's bin at the component's mean.
    """

    channels_per_pass = None

    def __init__(self, levels: int, mixtures: int = 10):
        self.levels, self.mixtures = levels, mixtures

    def param_channels(self, channels: int) -> int:
        return self.mixtures * (1 + parameters_per_channel(channels) * channels)

    def sub_pixel_log_prob(self, params, x):
        return discretized_logistic_mixture_log_prob(params, x, self.levels, per_sub_pixel=True)

    def noise_channels(self, channels: int) -> int:
        return 1 + channels                                              # component, then C channels

    def sample(self, params, x_pixel, channel, noise, temperature=1.0, map_mode=False):
        """All channels of one pixel: params [B, P], noise [B, 1+C] -> x_pixel [B, C]."""
        channels = x_pixel.shape[1]
        logits, means, log_scales, coeffs = split_mixture_params(
            _at_least_float32(params)[..., None, None], channels, self.mixtures)
        component = inverse_cdf(logits[..., 0, 0], noise[:, 0])          # [B]
        index = component.view(-1, 1, 1).expand(-1, channels, 1)

        def chosen(t):                                                # [B, C, M, 1, 1] -> [B, C]
            return None if t is None else t[..., 0, 0].gather(2, index)[..., 0]

        means, log_scales, coeffs = chosen(means), chosen(log_scales), chosen(coeffs)
        out = torch.empty_like(x_pixel)
        values = torch.zeros(means.shape, dtype=means.dtype, device=means.device)
        for c in range(channels):
            mean = coupled_means(means, coeffs, values)[:, c]           # uses channels < c only
            if map_mode:
                y = mean
            else:
                u = noise[:, 1 + c].double().clamp(1e-12, 1 - 1e-12)
                y = mean + torch.exp(log_scales[:, c]) * temperature * torch.log(u / (1 - u)).to(mean.dtype)
            # Rounding to the nearest level is exact: bin k covers [k - h, k + h) on [-1, 1].
            out[:, c] = torch.round((y + 1) * ((self.levels - 1) / 2)).clamp(0, self.levels - 1).long()
            values[:, c] = scale_to_unit(out[:, c], self.levels, values.dtype)  # couple on the rounded value
        return out
