"""The output distributions: exact normalisation, the reference layout, numerical safety."""

import itertools
import math

import pytest
import torch
from scipy.stats import chisquare

from pixelbook.errors import InputError
from pixelbook.likelihoods import (Categorical, DiscretizedLogisticMixture, bits_per_dim,
                                   discretized_logistic_mixture_log_prob)


def random_params(mixtures, channels, seed, spread=2.0):
    g = torch.Generator().manual_seed(seed)
    per_channel = 3 if channels > 1 else 2
    return torch.randn(1, mixtures * (1 + per_channel * channels), 1, 1, generator=g, dtype=torch.float64) * spread


def test_bits_per_dim():
    assert bits_per_dim(torch.tensor(-math.log(2) * 784), 784).item() == pytest.approx(1.0)


def test_categorical_sums_to_one_and_samples():
    lik = Categorical(5)
    params = torch.randn(1, 3 * 5, 1, 1, dtype=torch.float64)
    colours = torch.tensor(list(itertools.product(range(5), repeat=3))).view(-1, 3, 1, 1)
    log_p = lik.sub_pixel_log_prob(params.expand(len(colours), -1, -1, -1), colours).sum(1)
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_mixture_greyscale_sums_to_one(seed):
    params = random_params(10, 1, seed, spread=3.0)
    x = torch.arange(256).view(-1, 1, 1, 1)
    total = discretized_logistic_mixture_log_prob(params.expand(256, -1, -1, -1), x).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_mixture_rgb_sums_to_one_over_all_colours(seed):
    """All 256^3 colours of one RGB pixel, coupling included (about 10 s per parameter set)."""
    params = random_params(3, 3, seed=seed)
    total = torch.zeros((), dtype=torch.float64)
    red_green = torch.tensor(list(itertools.product(range(256), repeat=2)))   # [65536, 2]
    for blue in range(256):
        x = torch.cat([red_green, torch.full((len(red_green), 1), blue)], 1).view(-1, 3, 1, 1)
        total += discretized_logistic_mixture_log_prob(params.expand(len(x), -1, -1, -1), x).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-7)


def reference_log_prob(logit, mean, log_scale, coeff, rgb, levels=256):
    """One component by hand, from the layout's definition (Salimans et al. 2017, eq. 2-3)."""
    sigmoid = lambda t: 1 / (1 + math.exp(-t))
    x = [2 * v / (levels - 1) - 1 for v in rgb]
    mu = [mean[0], mean[1] + coeff[0] * x[0], mean[2] + coeff[1] * x[0] + coeff[2] * x[1]]
    total = 0.0
    for c in range(3):
        s, h = math.exp(log_scale[c]), 1 / (levels - 1)
        upper = 1.0 if rgb[c] == levels - 1 else sigmoid((x[c] + h - mu[c]) / s)
        lower = 0.0 if rgb[c] == 0 else sigmoid((x[c] - h - mu[c]) / s)
        total += math.log(upper - lower)
    return total


def test_mixture_reference_layout():
    """Logits first; then per colour channel: means, log-scales, coefficients (through tanh)."""
    M = 2
    logits = [0.3, -0.2]
    means = [[0.1, -0.4], [0.2, 0.5], [-0.3, 0.0]]          # [channel][component]
    log_scales = [[-1.5, -2.0], [-1.0, -2.5], [-2.0, -1.2]]
    raw = [[0.4, -0.7], [1.1, 0.2], [-0.5, 0.9]]
    blocks = [logits] + [means[c] + log_scales[c] + raw[c] for c in range(3)]
    params = torch.tensor(sum(blocks, []), dtype=torch.float64).view(1, -1, 1, 1)
    rgb = (140, 120, 90)
    got = discretized_logistic_mixture_log_prob(params, torch.tensor(rgb).view(1, 3, 1, 1)).item()
    log_pi = torch.tensor(logits, dtype=torch.float64).log_softmax(0).tolist()
    expected = torch.tensor([
        log_pi[m] + reference_log_prob(None, [means[c][m] for c in range(3)], [log_scales[c][m] for c in range(3)],
                                       [math.tanh(raw[c][m]) for c in range(3)], rgb)
        for m in range(M)], dtype=torch.float64).logsumexp(0).item()
    assert got == pytest.approx(expected, abs=1e-9)


def test_mixture_edges_and_tiny_probabilities_are_finite_with_finite_gradients():
    """Extreme means, log-scales at the clamp (-7) and far beyond: no inf, no NaN gradients."""
    mixtures = 3
    params = torch.zeros(6, mixtures * 10, 1, 1, dtype=torch.float32)
    means, log_scales = slice(mixtures, 2 * mixtures), slice(2 * mixtures, 3 * mixtures)
    params[:, means] = torch.tensor([1.0, -1.0, 5.0, -5.0, 0.0, 0.3]).view(6, 1, 1, 1)
    params[:, log_scales] = torch.tensor([-7.0, -7.0, -30.0, 3.0, -7.0, -10.0]).view(6, 1, 1, 1)
    params.requires_grad_(True)
    x = torch.tensor([0, 255, 128, 0, 255, 17]).view(6, 1, 1, 1).expand(6, 3, 1, 1).contiguous()
    log_p = discretized_logistic_mixture_log_prob(params, x)
    assert torch.isfinite(log_p).all(), log_p.flatten()
    log_p.sum().backward()
    assert torch.isfinite(params.grad).all()
    assert log_p.min() < -100                      # genuinely tiny probabilities, still finite


def test_mixture_rejects_a_wrong_layout():
    with pytest.raises(InputError, match="need 30"):
        discretized_logistic_mixture_log_prob(torch.zeros(1, 31, 1, 1), torch.zeros(1, 3, 1, 1, dtype=torch.long))
    with pytest.raises(InputError, match="1 or 3 colour channels"):
        discretized_logistic_mixture_log_prob(torch.zeros(1, 21, 1, 1), torch.zeros(1, 2, 1, 1, dtype=torch.long))


@pytest.mark.parametrize("channels", [1, 3])
def test_mixture_samples_follow_its_probabilities(channels):
    """20000 draws of one pixel (4 levels) against the exact probabilities of every colour."""
    lik = DiscretizedLogisticMixture(levels=4, mixtures=3)
    params = random_params(3, channels, seed=7, spread=1.5)[:, :, 0, 0]
    colours = torch.tensor(list(itertools.product(range(4), repeat=channels)))
    probs = discretized_logistic_mixture_log_prob(
        params[..., None, None].expand(len(colours), -1, 1, 1), colours.view(-1, channels, 1, 1), levels=4).exp()
    n = 20000
    noise = torch.rand(n, 1 + channels, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    draws = lik.sample(params.expand(n, -1), torch.zeros(n, channels, dtype=torch.long), None, noise)
    index = (draws * 4 ** torch.arange(channels - 1, -1, -1)).sum(1)
    observed = torch.bincount(index, minlength=len(colours)).double()
    expected = probs.flatten() / probs.sum() * n
    assert chisquare(observed.numpy(), expected.numpy()).pvalue > 1e-3


def test_mixture_map_mode_and_temperature():
    lik = DiscretizedLogisticMixture(levels=256, mixtures=1)
    params = torch.tensor([[0.0, 0.2, -3.0]])                    # one component, mean 0.2
    noise = torch.rand(500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x0 = torch.zeros(500, 1, dtype=torch.long)
    mode = lik.sample(params.expand(500, -1), x0, None, noise, map_mode=True)
    assert (mode == round(1.2 * 255 / 2)).all()
    cold = lik.sample(params.expand(500, -1), x0, None, noise, temperature=0.1).double().std()
    warm = lik.sample(params.expand(500, -1), x0, None, noise).double().std()
    assert cold < 0.2 * warm
