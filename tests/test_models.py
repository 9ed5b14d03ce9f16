"""The model contract, run over every registered family (README.md, "The library in six lines", and pixelbook/models/base.py).

A new family is covered the day it is registered. All exactness checks run in float64, where a
masked-out weight contributes exactly nothing, so "unchanged" means equal to within 4 ulps (the
slack covers the 1-ulp differences between the vectorised and scalar paths of one op).
"""

import inspect
import itertools
import math

import pytest
import torch
from scipy.stats import chisquare

import pixelbook as pb
from pixelbook.errors import InputError, UnknownNameError

NAMES = pb.models.names()
TINY = [((1, 2, 3), 4), ((3, 2, 2), 2)]
ULPS = 4 * torch.finfo(torch.float64).eps             # every image enumerable: 4096 each


def build(name, shape, levels, seed=0, **size):
    torch.manual_seed(seed)
    return pb.models.create(name, shape, levels, **size).double().eval()


def all_images(shape, levels):
    values = torch.tensor(list(itertools.product(range(levels), repeat=math.prod(shape))))
    return values.view(-1, *shape)


def earlier_than(shape, c, i, j):
    """Bool [C, H, W]: sub-pixels strictly before (c, i, j) in raster order, R -> G -> B."""
    C, H, W = shape
    earlier = torch.zeros(shape, dtype=torch.bool)
    earlier.view(C, -1)[:, : i * W + j] = True
    earlier[:c, i, j] = True
    return earlier


def parts(model, seed=0):
    """The autoregressive parts the per-conditional tests run on, each with the fixed condition
    it is given: the model itself, or for a bound (two-stage) model each of its stages."""
    if model.exact:
        return [(model, None)]
    generator = torch.Generator().manual_seed(seed)
    return model.stages(lambda shape, levels: torch.randint(0, levels, (1, *shape), generator=generator))


def given(condition, batch):
    return None if condition is None else condition.expand(batch, *condition.shape[1:])


def dependence(model, bases, condition=None):
    """dep[t, s]: does sub-pixel t's conditional log-prob change when sub-pixel s changes?

    Every sub-pixel s of every base image is set to each other value in turn. Returns a bool
    tensor [C, H, W, C, H, W] (target, source); the diagonal (t = s) is left False."""
    C, H, W = model.image_shape
    L = model.levels
    dep = torch.zeros(C, H, W, C, H, W, dtype=torch.bool)
    with torch.no_grad():
        for x in bases:
            base = model.sub_pixel_log_prob(x[None], condition=given(condition, 1))[0]
            for s in itertools.product(range(C), range(H), range(W)):
                variants = x.repeat(L - 1, 1, 1, 1)
                variants[(slice(None), *s)] = torch.tensor([v for v in range(L) if v != x[s]])
                log_p = model.sub_pixel_log_prob(variants, condition=given(condition, L - 1))
                # float64: a masked-out path changes nothing, but the vectorised and scalar code
                # paths of one op may round the same input an ulp apart, so a few ulps of slack
                changed = ((log_p - base).abs() > ULPS * base.abs().clamp(min=1)).any(0)
                changed[s] = False
                dep[(..., *s)] |= changed
    return dep


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape,levels", TINY)
def test_exact_normalisation(name, shape, levels):
    model = build(name, shape, levels)
    with torch.no_grad():
        log_p = torch.cat([model.log_prob(x) for x in all_images(shape, levels).split(1024)])
    assert torch.isfinite(log_p).all()
    total = log_p.exp().sum().item()
    if model.exact:
        assert abs(total - 1.0) < 1e-5
    else:                                  # log p(x, s(x)) of a two-stage model: a bound on log p(x)
        assert 0 < total <= 1.0 + 1e-9


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape,levels", [((1, 5, 5), 4), ((3, 4, 4), 3), ((1, 12, 12), 2)])
def test_causality_and_context(name, shape, levels):
    """No conditional depends on its own or a later sub-pixel; every sub-pixel the family claims
    to see does change it (and nothing else does), blind spots included."""
    for part, condition in parts(build(name, shape, levels)):
        shape = part.image_shape
        bases = torch.randint(0, levels, (3, *shape), generator=torch.Generator().manual_seed(1))
        dep = dependence(part, bases, condition)
        for t in itertools.product(*map(range, shape)):
            claimed = part.context(*t)
            assert not (claimed & ~earlier_than(shape, *t)).any(), f"{name} claims a later sub-pixel for {t}"
            assert not (dep[t] & ~earlier_than(shape, *t)).any(), f"{name}: {t} depends on a later sub-pixel"
            assert torch.equal(dep[t], claimed), (
                f"{name}: {t} sees {dep[t].nonzero().tolist()} but claims {claimed.nonzero().tolist()}")


@pytest.mark.parametrize("name", NAMES)
def test_conditionals_sum_to_one(name):
    """Every sub-pixel's conditional, and every pixel's joint over its own levels^C colours,
    carries probability exactly 1 whatever the rest of the image holds. (A conditional that
    peeks at its own value fails here: the dependence test cannot see a self-loop.)"""
    levels = 4
    for model, condition in parts(build(name, (3, 3, 3), levels)):
        assert_conditionals_sum_to_one(model, condition, levels)


def assert_conditionals_sum_to_one(model, condition, levels):
    shape = model.image_shape
    x = torch.randint(0, levels, shape, generator=torch.Generator().manual_seed(2))
    colours = torch.tensor(list(itertools.product(range(levels), repeat=shape[0])))  # [L^C, C]
    for i, j in itertools.product(range(shape[1]), range(shape[2])):
        batch = x.repeat(len(colours), 1, 1, 1)
        batch[:, :, i, j] = colours
        with torch.no_grad():
            per_pixel = model.log_prob(batch, per_pixel=True, condition=given(condition, len(batch)))[:, i, j]
            per_sub_pixel = model.sub_pixel_log_prob(batch, condition=given(condition, len(batch)))[:, :, i, j]
        assert abs(per_pixel.exp().sum().item() - 1.0) < 1e-9
        for c in range(shape[0]):
            rest_fixed = (colours[:, :c] == x[:c, i, j]).all(1) & (colours[:, c + 1:] == x[c + 1:, i, j]).all(1)
            assert rest_fixed.sum() == levels
            assert abs(per_sub_pixel[rest_fixed, c].exp().sum().item() - 1.0) < 1e-9


@pytest.mark.parametrize("name", NAMES)
def test_per_pixel_maps_sum_to_log_prob(name):
    model = build(name, (3, 4, 5), 16)
    x = torch.randint(0, 16, (4, 3, 4, 5))
    per_pixel = model.log_prob(x, per_pixel=True)
    assert per_pixel.shape == (4, 4, 5)
    if model.exact:
        torch.testing.assert_close(per_pixel.sum((1, 2)), model.log_prob(x), rtol=0, atol=1e-10)
    else:                                  # the last stage's map; the parts add up to log_prob
        stages = model.log_prob_parts(x)
        torch.testing.assert_close(per_pixel.sum((1, 2)), list(stages.values())[-1], rtol=0, atol=1e-10)
        torch.testing.assert_close(sum(stages.values()), model.log_prob(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(1, 2, 2), (3, 1, 2)])
def test_samples_follow_log_prob(name, shape):
    """Chi-square of 6000 samples against exp(log_prob) over every image of a tiny shape."""
    model = build(name, shape, 2, seed=3)
    with torch.no_grad():
        for p in model.parameters():          # sharpen the random model so the test has power
            p.mul_(3.0)
    for part, condition in parts(model):
        images = all_images(part.image_shape, 2)
        probs = part.log_prob(images, condition=given(condition, len(images))).exp().detach()
        samples = part.sample(6000, generator=torch.Generator().manual_seed(4), condition=given(condition, 6000))
        index = (samples.flatten(1) * (2 ** torch.arange(samples[0].numel() - 1, -1, -1))).sum(1)
        observed = torch.bincount(index, minlength=len(images)).double()
        assert probs.max() > 1.3 * probs.min(), "the model is too uniform for the test to have power"
        expected = probs / probs.sum() * 6000
        rare = expected < 5                   # pooled, as chi-square needs about 5 expected per bin
        if rare.any():
            observed = torch.cat([observed[~rare], observed[rare].sum().view(1)])
            expected = torch.cat([expected[~rare], expected[rare].sum().view(1)])
        assert chisquare(observed.numpy(), expected.numpy()).pvalue > 1e-3


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape,levels", [((3, 4, 4), 4), ((1, 6, 6), 256)])
def test_cached_and_naive_sampling_are_identical(name, shape, levels):
    model = build(name, shape, levels, seed=5)
    cached = model.sample(5, generator=torch.Generator().manual_seed(6))
    naive = model.sample(5, generator=torch.Generator().manual_seed(6), cache=False)
    assert cached.dtype == torch.int64 and cached.shape == (5, *shape)
    assert cached.min() >= 0 and cached.max() < levels
    assert torch.equal(cached, naive)


@pytest.mark.parametrize("name", NAMES)
def test_cached_and_naive_sampling_are_identical_in_float32(name):
    """The precision the CLI and the chapters sample in."""
    torch.manual_seed(7)
    model = pb.models.create(name, (3, 6, 6), 256).eval()
    cached = model.sample(4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(cached, model.sample(4, generator=torch.Generator().manual_seed(8), cache=False))


def labels_for(part, batch):
    return torch.arange(batch) % part.num_classes if part.num_classes else None


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(3, 4, 4), (1, 7, 5)])
def test_every_cached_step_equals_the_whole_network(name, shape):
    """Teacher-forced through the sampler protocol, each step's parameters equal the whole
    network's at that pixel (1e-10 in float64): stronger than equal images, which only need the
    draws not to move. Odd sizes exercise the strided layers' edges. Compared at a pixel's last
    pass, when every slot of its parameters is fresh (iGPT fills one per token)."""
    model = build(name, shape, 4, seed=3)
    generator = torch.Generator().manual_seed(1)
    for part, condition in parts(model):
        C, H, W = part.image_shape
        x = torch.randint(0, part.levels, (2, C, H, W), generator=generator)
        cond, y = given(condition, 2), labels_for(part, 2)
        full = part(x, y, cond)
        sampler = part.sampler(x, y, cache=True, condition=cond)
        passes = list(range(C)) if part.likelihood.channels_per_pass == 1 else [None]
        for i, j in itertools.product(range(H), range(W)):
            for c in passes:
                params = sampler.step(x, i, j, c)
            torch.testing.assert_close(params, full[:, :, i, j], rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(1, 9, 7), (3, 8, 8)])
def test_fast_pixelcnn_pp_reads_no_cache_cell_before_writing_it(shape):
    """Every cache cell starts as NaN: a step that read a cell before its layer wrote it would
    give NaN parameters. By the end every cell of every layer is written, at every resolution."""
    torch.manual_seed(0)
    model = pb.models.create("pixelcnn_pp", shape, 16, filters=4, resnets=1, mixtures=2, downsamples=2).eval()
    C, H, W = shape
    x = torch.randint(0, 16, (2, C, H, W))
    sampler = model.sampler(x)
    sampler.mark_unwritten()
    with torch.no_grad():
        for i, j in itertools.product(range(H), range(W)):
            assert not sampler.step(x, i, j, None).isnan().any(), (i, j)
    assert all(held.all() for _, held in sampler.written())


@pytest.mark.parametrize("name", ["gated_pixelcnn", "pixelcnn_pp"])
def test_class_conditional_cached_steps_equal_the_whole_network(name):
    model = build(name, (3, 4, 5), 4, seed=2, num_classes=3)
    x, y = torch.randint(0, 4, (3, 3, 4, 5)), torch.tensor([0, 2, 1])
    full, sampler = model(x, y), model.sampler(x, y, cache=True)
    passes = list(range(3)) if model.likelihood.channels_per_pass == 1 else [None]
    for i, j in itertools.product(range(4), range(5)):
        for c in passes:
            params = sampler.step(x, i, j, c)
        torch.testing.assert_close(params, full[:, :, i, j], rtol=0, atol=1e-10)
    cached = model.sample(3, y=y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cached, model.sample(3, y=y, generator=torch.Generator().manual_seed(0), cache=False))


@pytest.mark.parametrize("name", NAMES)
def test_completions_and_sampling_options_run_through_the_cached_sampler(name):
    """prefix=, condition=, y=, temperature and top_k (map_mode for the mixture) give the same
    images cached and naive, for every autoregressive part of every family."""
    model = build(name, (3, 4, 4), 4, seed=2)
    generator = torch.Generator().manual_seed(3)
    for part, condition in parts(model):
        C, H, W = part.image_shape
        prefix = torch.randint(0, part.levels, (3, C, min(2, H - 1), W), generator=generator)
        options = dict(temperature=0.7, prefix=prefix, condition=given(condition, 3), y=labels_for(part, 3))
        extra = inspect.signature(part.likelihood.sample).parameters
        options.update({"top_k": 3} if "top_k" in extra else {"map_mode": True} if "map_mode" in extra else {})
        cached = part.sample(3, generator=torch.Generator().manual_seed(4), **options)
        naive = part.sample(3, generator=torch.Generator().manual_seed(4), cache=False, **options)
        assert torch.equal(cached, naive) and torch.equal(cached[:, :, : prefix.shape[2]], prefix)


@pytest.mark.parametrize("name", NAMES)
def test_float32_model_and_gradients(name):
    torch.manual_seed(0)
    model = pb.models.create(name, (3, 6, 6), 256)
    x = torch.randint(0, 256, (2, 3, 6, 6))
    loss = -model.log_prob(x).mean()
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs_give_one_clear_line(name):
    model = build(name, (1, 4, 4), 4)
    cases = [
        (torch.rand(2, 1, 4, 4), "integer pixel values"),
        (torch.full((2, 1, 4, 4), 4), "pixel values must be in [0, 4)"),
        (torch.full((2, 1, 4, 4), -1), "pixel values must be in [0, 4)"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.long), "expects images of shape [B, 1, 4, 4]"),
        (torch.zeros(1, 4, 4, dtype=torch.long), "expects images of shape"),
        ([[0, 1]], "expects a torch.Tensor"),
    ]
    for x, fragment in cases:
        with pytest.raises(InputError) as info:
            model.log_prob(x)
        assert fragment in str(info.value) and "\n" not in str(info.value)
    if model.num_classes is None:
        with pytest.raises(InputError, match="takes no class labels"):
            model.log_prob(torch.zeros(2, 1, 4, 4, dtype=torch.long), y=torch.zeros(2, dtype=torch.long))


def test_registry_errors():
    with pytest.raises(UnknownNameError, match="unknown model 'nope'; known: .*pixelcnn"):
        pb.models.create("nope", (1, 2, 2))
    with pytest.raises(InputError, match="has no size knob widht; its knobs: "):
        pb.models.create("pixelcnn", (1, 2, 2), widht=3)
    with pytest.raises(InputError, match="image_shape must be"):
        pb.models.create("pixelcnn", (2, 2))


def test_pixelcnn_blind_spot():
    """The PixelCNN paper's blind spot: pixel (3, 7) lies before (4, 1) in raster order but is
    outside the cone of 3x3 mask-B layers on a 7x7 mask-A layer, so it never reaches it."""
    model = build("pixelcnn", (1, 8, 8), 4, layers=2)
    bases = torch.randint(0, 4, (2, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    dep = dependence(model, bases)
    assert earlier_than((1, 8, 8), 0, 4, 1)[0, 3, 7]
    assert not dep[0, 4, 1, 0, 3, 7]                     # blind
    assert dep[0, 4, 1, 0, 3, 4]                         # the 7x7 mask-A reach, 3 to the right
    blind = earlier_than((1, 8, 8), 0, 4, 1) & ~dep[0, 4, 1]
    assert blind.sum() > 0


def test_row_lstm_sees_a_triangle():
    """One Row LSTM layer: (4, 6) comes before (5, 1) but lies outside the triangle of states the
    row recurrence reaches (and beyond the 7x7 mask-A reach), so it never changes it."""
    model = build("row_lstm", (1, 8, 8), 2, layers=1)
    bases = torch.randint(0, 2, (2, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    dep = dependence(model, bases)
    assert earlier_than((1, 8, 8), 0, 5, 1)[0, 4, 6] and not dep[0, 5, 1, 0, 4, 6]
    assert dep[0, 5, 1, 0, 4, 4] and dep[0, 5, 1, 0, 0, 6]              # the triangle widens upwards
    assert torch.equal(dep[0, 5, 1], model.context(0, 5, 1))


@pytest.mark.parametrize("layers", [1, 2])
def test_diagonal_bilstm_sees_every_earlier_pixel(layers):
    """Full context for the middle of a 6x6 image, in a single layer and in the default stack;
    and the one exception, at any depth: the first W-4 pixels of a row cannot see the last pixel
    of the row above, whose information the 7x7 mask-A layer only places at later positions."""
    model = build("diagonal_bilstm", (1, 6, 6), 2, layers=layers)
    bases = torch.randint(0, 2, (2, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    dep = dependence(model, bases)
    for target in [(0, 3, 3), (0, 5, 5), (0, 4, 2)]:
        assert torch.equal(dep[target], earlier_than((1, 6, 6), *target)), target
    missed = earlier_than((1, 6, 6), 0, 3, 1) & ~dep[0, 3, 1]
    assert missed.nonzero().tolist() == [[0, 2, 5]]


def test_multiscale_parts_add_up_and_its_coarse_image_is_a_function_of_the_fine():
    from pixelbook.models.staged import halve as coarse_image
    model = build("multiscale_pixelrnn", (1, 6, 6), 4)
    x = torch.randint(0, 4, (3, 1, 6, 6))
    parts_ = model.log_prob_parts(x)
    torch.testing.assert_close(parts_["coarse"] + parts_["fine"], model.log_prob(x))
    coarse = coarse_image(x)
    assert coarse.shape == (3, 1, 3, 3)
    assert torch.equal(coarse[:, :, 0, 0], torch.round(x[:, :, :2, :2].double().mean((2, 3))).long())
    colourised = model.sample(2, condition=coarse[:2], generator=torch.Generator().manual_seed(0))
    assert colourised.shape == (2, 1, 6, 6)


def test_gated_pixelcnn_has_no_blind_spot():
    """With the default depth, every earlier pixel reaches a pixel in the middle of the image,
    the wedge the PixelCNN misses included."""
    model = build("gated_pixelcnn", (1, 9, 9), 2)
    bases = torch.randint(0, 2, (2, 1, 9, 9), generator=torch.Generator().manual_seed(0))
    dep = dependence(model, bases)
    assert torch.equal(dep[0, 4, 4], earlier_than((1, 9, 9), 0, 4, 4))
    pixelcnn = dependence(build("pixelcnn", (1, 9, 9), 2), bases)
    assert (earlier_than((1, 9, 9), 0, 4, 4) & ~pixelcnn[0, 4, 4]).any()        # the PixelCNN's blind spot


@pytest.mark.parametrize("name", ["gated_pixelcnn", "pixelcnn_pp"])
def test_class_conditioning_changes_the_distribution(name):
    model = build(name, (1, 4, 4), 4, num_classes=3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))                 # the class embeddings start at zero for some families
    x = torch.randint(0, 4, (5, 1, 4, 4))
    y0, y1 = torch.zeros(5, dtype=torch.long), torch.ones(5, dtype=torch.long)
    assert not torch.allclose(model.log_prob(x, y0), model.log_prob(x, y1))
    small = build(name, (1, 2, 2), 2, num_classes=3)
    images = all_images((1, 2, 2), 2)
    for y in (None, torch.full((len(images),), 2)):          # p(x | y), and p(x) used unconditionally
        assert abs(small.log_prob(images, y).exp().sum().item() - 1) < 1e-9
    samples = model.sample(3, y=torch.tensor([0, 1, 2]), generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 1, 4, 4)
    with pytest.raises(InputError, match="class labels in"):
        model.log_prob(x, torch.full((5,), 3))


def test_grayscale_pixelcnn_factorises_through_the_4_bit_sketch():
    model = build("grayscale_pixelcnn", (3, 4, 4), 256, filters=4, downsamples=1, embedding=4)
    x = torch.randint(0, 256, (3, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    sketch = pb.data.grayscale(x)
    parts_ = model.log_prob_parts(x)
    torch.testing.assert_close(parts_["sketch"], model.sketch.log_prob(sketch))
    torch.testing.assert_close(parts_["detail"], model.detail.log_prob(x, condition=sketch))
    assert model.sketch.levels == 16 and not model.exact
    assert model.sketch.name == "pixelcnn_pp" and model.sketch.likelihood.param_channels(1) == 16   # a 16-way softmax
    painted = model.sample(3, condition=sketch, generator=torch.Generator().manual_seed(1))
    assert painted.shape == (3, 3, 4, 4)
    with pytest.raises(InputError) as excinfo:                       # a sketch with too many levels
        model.detail.log_prob(x, condition=sketch * 16)
    assert "conditioning pixels must be in [0, 16)" in str(excinfo.value) and "\n" not in str(excinfo.value)
    with pytest.raises(InputError, match="needs a conditioning image"):
        model.detail.log_prob(x)
    with pytest.raises(InputError, match=r"must have shape \[3, 1, 4, 4\]"):
        model.detail.log_prob(x, condition=sketch[:, :, :2])


def test_the_pyramid_halves_down_to_its_base_and_embeds_once_per_level():
    model = build("pyramid_pixelcnn", (1, 16, 16), 8, base=4, filters=4, embedding=4)
    assert [s.image_shape for s in model.stage_models()] == [(1, 4, 4), (1, 8, 8), (1, 16, 16)]
    x = torch.randint(0, 8, (2, 1, 16, 16))
    assert list(model.log_prob_parts(x)) == ["4x4", "8x8", "16x16"]
    calls = []
    for stage in model.upscalers:
        stage.embed.register_forward_hook(lambda *_: calls.append(1))
    cached = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert len(calls) == 2                                            # once per level, not per pixel
    naive = model.sample(2, generator=torch.Generator().manual_seed(0), cache=False)
    assert torch.equal(cached, naive) and len(calls) == 2 + 64 + 256
    sharp = model.sample(2, generator=torch.Generator().manual_seed(0), map_mode=True, temperature=0.5)
    assert sharp.shape == (2, 1, 16, 16)


def test_a_pyramid_on_a_grey_base_runs_the_contract_on_every_stage():
    model = build("pyramid_pixelcnn", (3, 6, 6), 4, base=3, filters=4, embedding=4, grey_base=True)
    assert list(model.log_prob_parts(torch.zeros(1, 3, 6, 6, dtype=torch.long))) == ["3x3 sketch", "3x3 detail", "6x6"]
    shapes = [(part.image_shape, None if c is None else tuple(c.shape)) for part, c in parts(model)]
    assert shapes == [((1, 3, 3), None), ((3, 3, 3), (1, 1, 3, 3)), ((3, 6, 6), (1, 3, 3, 3))]


def assert_sees_every_earlier_pixel(sketch, perturb):
    grey = sketch.image_shape
    dep = None
    if perturb:
        bases = torch.randint(0, sketch.levels, (2, *grey), generator=torch.Generator().manual_seed(0))
        dep = dependence(sketch, bases)
    for t in itertools.product(*map(range, grey)):
        missed = earlier_than(grey, *t) & ~sketch.context(*t)
        assert not missed.any(), f"the sketch claims a blind spot at {t}: {missed.nonzero().tolist()}"
        if dep is not None:
            assert torch.equal(dep[t], earlier_than(grey, *t)), \
                f"the sketch misses {(earlier_than(grey, *t) & ~dep[t]).nonzero().tolist()} at {t}"


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_the_grayscale_sketch_has_no_blind_spot(profile):
    """The sketch p(X^) is a PixelCNN++ (Kolesnikov & Lampert 2017, section 3.3), not a masked
    PixelCNN. At each profile's size it claims every earlier grey pixel; at the smoke size (8x8)
    perturbation confirms that every one reaches it. At 28x28 the claim comes from the wiring,
    which the causality-and-context test checks against perturbation on small images."""
    entry = pb.profiles.get("auxiliary", profile)
    shape = {"smoke": (3, 8, 8)}.get(profile, (3, 28, 28))
    model = build("grayscale_pixelcnn", shape, 256, **entry.models["grayscale_pixelcnn"])
    assert_sees_every_earlier_pixel(model.sketch, perturb=profile == "smoke")


def test_pixelcnn_pps_strided_layers_leave_odd_rows_a_blind_spot_at_small_depth():
    """Why the sketch has its own knobs: with one block per resolution and two downsamplings, the
    coarse paths reach an odd row one row late, so its first pixels are unseen by its last ones."""
    model = build("pixelcnn_pp", (1, 12, 12), 16, filters=4, resnets=1, downsamples=2, likelihood="softmax")
    bases = torch.randint(0, 16, (1, 1, 12, 12), generator=torch.Generator().manual_seed(0))
    missed = earlier_than((1, 12, 12), 0, 11, 11) & ~model.context(0, 11, 11)
    assert missed.any()
    dep = dependence(model, bases)
    assert torch.equal(dep[0, 11, 11], model.context(0, 11, 11))         # the real network agrees


def test_pixelcnn_pp_without_shortcuts_keeps_its_depth_and_resolutions():
    """The paper's shortcut ablation changes one thing: the up pass no longer feeds the down
    pass. Same blocks, same resolutions, and the contract still holds."""
    full = build("pixelcnn_pp", (1, 5, 5), 4, resnets=1, downsamples=1)
    cut = build("pixelcnn_pp", (1, 5, 5), 4, resnets=1, downsamples=1, shortcuts=False)
    blocks = lambda m: sum(isinstance(x, pb.layers.GatedResNet) for x in m.modules())      # noqa: E731
    assert blocks(cut) == blocks(full) and cut.downsamples == full.downsamples
    assert all(b.skip is None for b in cut.dn_u[0]) and all(b.skip is not None for b in full.dn_u[0])
    assert cut.num_params() < full.num_params()
    bases = torch.randint(0, 4, (2, 1, 5, 5), generator=torch.Generator().manual_seed(0))
    dep = dependence(cut, bases)
    for t in itertools.product(range(1), range(5), range(5)):
        assert torch.equal(dep[t], cut.context(*t)), t
        assert not (dep[t] & ~earlier_than((1, 5, 5), *t)).any()


def test_weight_norm_keeps_one_scale_per_output_filter_on_transposed_convolutions():
    """ConvTranspose2d stores [in, out, kh, kw]: the scale runs over dim 1, as the reference deconv2d."""
    deconv = pb.layers.weight_normed(torch.nn.ConvTranspose2d(3, 5, (2, 3), 2))
    conv = pb.layers.weight_normed(torch.nn.Conv2d(3, 5, (2, 3)))
    assert deconv.parametrizations.weight.original0.shape == (1, 5, 1, 1)
    assert conv.parametrizations.weight.original0.shape == (5, 1, 1, 1)
    model = build("pixelcnn_pp", (1, 4, 4), 4, filters=6, downsamples=1)
    g = model.up_sample_u[0].deconv.parametrizations.weight.original0
    assert g.shape == (1, 6, 1, 1)


@pytest.mark.parametrize("shape", [(1, 7, 5), (3, 8, 8)])
def test_the_pyramid_embedding_resamples_where_the_paper_puts_it(shape):
    """f_w of a half-size image: 15 blocks, down after block 3, up after blocks 9 and 12 (the
    paper's positions), back to the image's full size, odd sizes included."""
    model = build("pyramid_pixelcnn", shape, 4, base=2, filters=4, embedding=4, embedding_blocks=15,
                  embedding_down=(3,), embedding_up=(9, 12))
    top = model.upscalers[-1]
    coarse = torch.randint(0, 4, (2, *top.condition_shape))
    h = top.embed(pb.likelihoods.scale_to_unit(coarse, 4, torch.float64), top.image_shape[1:])
    assert h.shape == (2, 4, *top.image_shape[1:])
    assert len(top.embed.blocks) == 15 and len(top.embed.down) == 1 and len(top.embed.up) == 2
    with pytest.raises(InputError, match="more upsamplings than downsamplings"):
        pb.models.create("pyramid_pixelcnn", shape, 4, base=2, embedding_up=())
