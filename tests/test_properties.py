"""Property-based tests (hypothesis): whatever shape, dtype or values reach ``log_prob`` and
``sample``, the answer is a valid result or one clear ``InputError`` (a ``ValueError``), never a
traceback from inside torch and never a silently wrong number."""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pixelbook as pb
from pixelbook.errors import InputError

NAMES = pb.models.names()
MODELS = {}
DTYPES = [torch.int64, torch.int32, torch.int16, torch.uint8, torch.bool, torch.float32, torch.float64]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def model(name, channels):
    """One small model per (family, channels), built once: 4x4 images, 4 levels."""
    if (name, channels) not in MODELS:
        torch.manual_seed(0)
        MODELS[name, channels] = pb.models.create(name, (channels, 4, 4), 4).eval()
    return MODELS[name, channels]


def valid(x, m) -> bool:
    return (x.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8) and x.dim() == 4
            and tuple(x.shape[1:]) == m.image_shape and (x.numel() == 0 or (0 <= int(x.min()) and int(x.max()) < m.levels)))


tensors = st.builds(
    lambda shape, dtype, low, span, seed: (torch.randint(low, low + span, shape, generator=torch.Generator().manual_seed(seed))
                                           .to(dtype)),
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple),
    dtype=st.sampled_from(DTYPES), low=st.integers(-2, 3), span=st.integers(1, 4), seed=st.integers(0, 2**16))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("channels", [1, 3])
@SETTINGS
@given(x=tensors)
def test_log_prob_is_a_valid_answer_or_one_clear_line(name, channels, x):
    m = model(name, channels)
    try:
        with torch.no_grad():
            log_p = m.log_prob(x)
    except InputError as e:
        assert isinstance(e, ValueError) and "\n" not in str(e)
        assert not valid(x, m), f"a valid input was refused: {e}"
        return
    assert valid(x, m), f"an invalid input {x.dtype} {list(x.shape)} was accepted"
    assert log_p.shape == (x.shape[0],) and log_p.dtype == torch.float32
    assert torch.isfinite(log_p).all() and (log_p <= 1e-4).all()      # log-probabilities of discrete images


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(n=st.one_of(st.integers(-2, 3), st.floats(-1, 3), st.none()),
       temperature=st.one_of(st.floats(-1, 3), st.sampled_from([float("nan"), float("inf"), True]), st.integers(-1, 2)))
def test_sample_is_valid_images_or_one_clear_line(name, n, temperature):
    m = model(name, 1)
    ok_n = isinstance(n, int) and n >= 0
    ok_temperature = (not isinstance(temperature, bool) and isinstance(temperature, (int, float)) and temperature > 0
                      and math.isfinite(temperature))
    try:
        x = m.sample(n, temperature=temperature, generator=torch.Generator().manual_seed(0))
    except InputError as e:
        assert "\n" not in str(e)
        assert not (ok_n and ok_temperature), f"a valid request was refused: {e}"
        return
    assert ok_n and ok_temperature, f"sample(n={n!r}, temperature={temperature!r}) was accepted"
    assert x.dtype == torch.int64 and x.shape == (n, *m.image_shape)
    assert x.numel() == 0 or (x.min() >= 0 and x.max() < m.levels)
