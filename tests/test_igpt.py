"""ImageGPT beyond the shared contract: the KV cache, palette tokens, completions, the probe.

The contract tests (tests/test_models.py) already cover the sub-pixel model: normalisation,
causality and full context, cached = naive sampling."""

import itertools
import re

import pytest
import torch

import pixelbook as pb
from pixelbook.data import ImageSet
from pixelbook.errors import InputError
from pixelbook.models.igpt import fit_palette


def build(shape=(3, 3, 4), levels=8, seed=0, **size):
    torch.manual_seed(seed)
    return pb.models.create("igpt", shape, levels, **size).double().eval()


@pytest.mark.parametrize("palette", [None, 6])
def test_kv_cache_gives_the_full_recompute_logits_at_every_step(palette):
    """Teacher-forced through the cached sampler, every step's logits equal a full forward."""
    model = build(palette=palette)
    C, H, W = model.image_shape
    x = model.palette[torch.randint(0, 6, (2, H, W))].permute(0, 3, 1, 2) if palette else torch.randint(0, 8, (2, C, H, W))
    full = model(x)                                                    # [B, T*V, H, W]
    sampler = model.sampler(x, cache=True)
    V = model.vocabulary
    steps = 0
    for i, j in itertools.product(range(H), range(W)):
        for token in range(model.tokens_per_pixel):
            step = sampler.step(x, i, j, token if model.tokens_per_pixel > 1 else None)[:, token * V:(token + 1) * V]
            torch.testing.assert_close(step, full[:, token * V:(token + 1) * V, i, j], rtol=0, atol=1e-10)
            steps += 1
    assert steps == model.length


def test_the_cache_holds_one_entry_per_token_and_prefill_matches_single_steps():
    from pixelbook.models.igpt import LayerCache
    model = build()
    x = torch.randint(0, 8, (2, 3, 3, 4))
    inputs = model.inputs(x)
    D = model.position_embedding.shape[1]
    one_by_one = [LayerCache(2, model.heads, model.length, D // model.heads, model.position_embedding) for _ in model.blocks]
    steps = torch.cat([model.transformer(inputs[:, t: t + 1], t, one_by_one) for t in range(model.length)], 1)
    chunked = [LayerCache(2, model.heads, model.length, D // model.heads, model.position_embedding) for _ in model.blocks]
    prefill = torch.cat([model.transformer(inputs[:, :10], 0, chunked), model.transformer(inputs[:, 10:], 10, chunked)], 1)
    torch.testing.assert_close(steps, model.transformer(inputs), rtol=0, atol=1e-10)
    torch.testing.assert_close(prefill, model.transformer(inputs), rtol=0, atol=1e-10)
    assert all(cache.size == model.length for cache in one_by_one + chunked)


@pytest.mark.parametrize("palette", [None, 6])
def test_completions_keep_the_given_rows_and_agree_across_samplers(palette):
    model = build(palette=palette)
    real = model.sample(3, generator=torch.Generator().manual_seed(1))
    prefix = real[:, :, :2]
    cached = model.sample(3, generator=torch.Generator().manual_seed(2), prefix=prefix)
    naive = model.sample(3, generator=torch.Generator().manual_seed(2), prefix=prefix, cache=False)
    assert torch.equal(cached, naive)
    assert torch.equal(cached[:, :, :2], prefix)
    assert not torch.equal(cached, real)                              # the rest is drawn anew


def test_a_bad_prefix_is_one_clear_line():
    model = build()
    cases = [(torch.zeros(2, 3, 1, 4, dtype=torch.long), "prefix must be the first rows of 3 images"),
             (torch.zeros(3, 3, 1, 5, dtype=torch.long), "prefix must be"),
             (torch.zeros(3, 3, 5, 4, dtype=torch.long), "prefix must be"),
             (torch.full((3, 3, 1, 4), 8), "pixel values must be in [0, 8)"),
             (torch.zeros(3, 3, 1, 4), "integer pixel values")]
    for prefix, fragment in cases:
        with pytest.raises(InputError) as info:
            model.sample(3, prefix=prefix)
        assert fragment in str(info.value) and "\n" not in str(info.value)


def test_temperature_and_top_k():
    model = build(shape=(1, 3, 3), levels=16)
    with torch.no_grad():
        model.head.weight.mul_(20)                                     # peaked conditionals
    options = dict(temperature=0.7, top_k=3)
    cached = model.sample(20, generator=torch.Generator().manual_seed(3), **options)
    assert torch.equal(cached, model.sample(20, generator=torch.Generator().manual_seed(3), cache=False, **options))
    greedy = model.sample(4, generator=torch.Generator().manual_seed(4), top_k=1)
    logits = model(greedy).unflatten(1, (1, 16))                      # [B, 1, V, H, W]
    assert torch.equal(greedy, logits.argmax(2))                       # top-1: each value is its argmax
    for bad in (0, 17, 2.5):
        with pytest.raises(InputError, match="top_k must be an integer in"):
            model.sample(1, top_k=bad)


def test_palette_tokens_normalise_over_every_palette_image():
    """log p(tokens) is exact in palette space: summed over all K^(H*W) palette images it is 1."""
    model = build(shape=(3, 1, 3), levels=4, palette=5)
    assert model.bound == "palette" and not model.exact
    tokens = torch.tensor(list(itertools.product(range(5), repeat=3))).view(-1, 1, 3)    # [125, H, W]
    images = model.palette[tokens].permute(0, 3, 1, 2)                 # decoded, [125, 3, 1, 3]
    assert torch.equal(model.palette_tokens(images), tokens)           # decode, then encode: the same
    with torch.no_grad():
        total = model.log_prob(images).exp().sum().item()
    assert abs(total - 1.0) < 1e-9


def test_palette_model_is_causal_over_pixels():
    """Pixel t's log-prob changes with earlier pixels and never with itself or later ones."""
    model = build(shape=(3, 2, 3), levels=4, palette=5)
    H, W = 2, 3
    base_tokens = torch.randint(0, 5, (1, H, W), generator=torch.Generator().manual_seed(0))
    image = model.palette[base_tokens].permute(0, 3, 1, 2)
    with torch.no_grad():
        base = model.log_prob(image, per_pixel=True)[0].flatten()
        for s in range(H * W):
            tokens = base_tokens.clone().flatten()
            tokens[s] = (tokens[s] + 1) % 5
            changed = model.log_prob(model.palette[tokens.view(1, H, W)].permute(0, 3, 1, 2), per_pixel=True)[0].flatten()
            moved = (changed - base).abs() > 1e-12
            assert not moved[:s].any(), f"pixel {s} changes an earlier pixel's conditional"
            assert moved[s + 1:].all(), f"a later pixel does not see pixel {s}"


def test_fit_palette_gives_distinct_real_colours():
    generator = torch.Generator().manual_seed(0)
    colours = torch.randint(0, 256, (40, 3), generator=generator)
    images = colours[torch.randint(0, 40, (30, 4, 4), generator=generator)].permute(0, 3, 1, 2)
    palette = fit_palette(images, 12, seed=1)
    assert palette.shape == (12, 3) and palette.dtype == torch.long
    assert len(torch.unique(palette, dim=0)) == 12
    assert all((colours == p).all(1).any() for p in palette)          # each one occurs in the data
    assert torch.equal(palette, fit_palette(images, 12, seed=1))
    with pytest.raises(InputError, match="hold 40 distinct colours; a palette of 50 needs"):
        fit_palette(images, 50)


def test_a_fitted_palette_survives_training_and_the_checkpoint(tmp_path):
    from pixelbook.checkpoint import load_model, save_weights
    from pixelbook.train import TrainConfig, train
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 3, 3), generator=generator)
    train_set = ImageSet(images, torch.zeros(64, dtype=torch.long), 256, None, "fixture", "train")
    torch.manual_seed(0)
    model = pb.models.create("igpt", (3, 3, 3), palette=8)
    model.prepare(images, seed=0)
    fitted = model.palette.clone()
    _, eval_model = train(model, train_set, TrainConfig(steps=3, batch_size=8, ema=0.9, warmup=1), progress=False)
    assert torch.equal(eval_model.palette, fitted)                     # EMA leaves the integer palette alone
    save_weights(eval_model, tmp_path / "w.safetensors")
    loaded, _ = load_model(tmp_path / "w.safetensors")
    assert torch.equal(loaded.palette, fitted)
    x = images[:4]
    torch.testing.assert_close(loaded.log_prob(x), eval_model.log_prob(x))


def test_features_and_the_linear_probe():
    model = build(shape=(1, 4, 4), levels=4).float()
    assert model.features(torch.zeros(5, 1, 4, 4, dtype=torch.long)).shape == (5, 2, 32)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(80) % 2
    images = torch.randint(0, 2, (80, 1, 4, 4), generator=generator) + 2 * labels.view(-1, 1, 1, 1)  # separable
    image_set = ImageSet(images, labels, 4, 2, "fixture", "train")
    rows = pb.analysis.linear_probe(model, image_set.subset(60), ImageSet(images[60:], labels[60:], 4, 2, "fixture", "train"))
    assert [r["features"] for r in rows] == ["pixels", "layer 1", "layer 2"]
    assert rows[0]["dims"] == 16 and rows[1]["dims"] == 32
    assert rows[0]["accuracy"] == 1.0                                  # the pixels separate the classes
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    # A run keeps its probe (run["probe"], which metrics.json records) and is probed again only on other images
    train, test = image_set.subset(60), ImageSet(images[60:], labels[60:], 4, 2, "fixture", "train")
    run = {}
    probe = pb.analysis.probe_run(model, run, train, test)
    assert run["probe"] is probe and probe["rows"] == rows and probe["last"] == rows[2]["accuracy"]
    assert probe["middle"] == rows[1]["accuracy"] and probe["best_layer"] in (1, 2)
    assert (probe["train_images"], probe["test_images"]) == (60, 20)
    run["probe"] = {**probe, "best": -1.0}                              # kept, so not recomputed...
    assert pb.analysis.probe_run(model, run, train, test)["best"] == -1.0
    assert pb.analysis.probe_run(model, run, image_set.subset(40), test)["train_images"] == 40   # ...unless the images differ


def test_bad_sizes_are_one_clear_line():
    for size, fragment in [(dict(width=30, heads=4), "width 30 must be a multiple of heads 4"),
                           (dict(palette=1), "palette must be between 2 and"),
                           (dict(palette=300), "palette must be between 2 and levels^C = 256")]:
        with pytest.raises(InputError, match=re.escape(fragment)):
            pb.models.create("igpt", (1, 2, 2), **size)
