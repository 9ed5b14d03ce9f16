"""The CUDA paths, proven without a GPU: every family on PyTorch's ``meta`` device.

A meta tensor has a shape, a dtype and a device but no values. Any tensor the code makes on the
CPU by default (``torch.tensor([...])`` without ``device=``) then meets a meta tensor and raises
"not on the expected device", exactly as it would meet a CUDA tensor. The checks that must read
values (pixel ranges, labels, a finite loss) are skipped for meta tensors and nothing else is.

What ``meta`` cannot reach, and is covered by review instead (the closing note of the issue
lists them): bf16 autocast (``torch.autocast`` knows no meta device), the numerical agreement
of cached and naive sampling under TF32, cuDNN kernels, sampling itself (drawing needs values),
DDP and CUDA RNG state in checkpoints.
"""

import pytest
import torch

from pixelbook import data, models
from pixelbook.errors import InputError
from pixelbook.models.staged import StagedModel
from pixelbook.train import TrainConfig, Trainer

META = torch.device("meta")
SHAPES = [(1, 8, 8), (3, 8, 8)]


def on_meta(name, shape):
    torch.manual_seed(0)
    model = models.create(name, shape, 256)
    model.prepare(torch.randint(0, 256, (8, *shape), generator=torch.Generator().manual_seed(0)))   # a palette fit
    return model.to(META)


def meta_images(n, shape):
    return torch.zeros(n, *shape, dtype=torch.long, device=META)


def labels_for(model, n):
    return torch.zeros(n, dtype=torch.long, device=META) if model.num_classes else None


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", models.names())
def test_log_prob_and_backward_on_meta(name, shape):
    model = on_meta(name, shape)
    log_p = model.log_prob(meta_images(2, shape), labels_for(model, 2))
    assert log_p.shape == (2,) and log_p.is_meta
    log_p.sum().backward()
    assert all(p.grad is not None and p.grad.is_meta for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", models.names())
def test_one_cached_sampler_step_on_meta(name):
    """The first step of every cached sampler (each stage of a staged model, with its
    conditioning image on the device too)."""
    shape = (3, 8, 8)
    model = on_meta(name, shape)
    stages = (model.stages(lambda s, levels: meta_images(2, s)) if isinstance(model, StagedModel)
              else [(model, None)])
    for stage, condition in stages:
        x = meta_images(2, stage.image_shape)
        with torch.no_grad():
            params = stage.sampler(x, labels_for(stage, 2), cache=True, condition=condition).step(x, 0, 0, 0)
        assert params.is_meta and params.shape[0] == 2


@pytest.mark.parametrize("name", models.names())
def test_a_training_step_on_meta_with_ema_and_clipping(name):
    """``Trainer.train_step``: the loss, backward, clipping, Adam, the scheduler and the EMA
    update, with the model on the device and the batch moved there by ``Trainer.batch``."""
    shape = (1, 8, 8)
    model = on_meta(name, shape)
    images = torch.randint(0, 256, (4, *shape), generator=torch.Generator().manual_seed(1))
    trainer = Trainer(model, images, torch.zeros(4, dtype=torch.long),
                      TrainConfig(steps=2, batch_size=2, ema=0.99, grad_clip=1.0))
    x, y = trainer.batch(0)
    assert x.is_meta
    assert trainer.train_step(x, y).is_meta
    assert all(p.is_meta for p in trainer.eval_model.parameters())


def test_grayscale_builds_its_weights_on_the_images_device():
    """The luminance weights follow the images (they were made on the CPU: a crash on CUDA)."""
    grey = data.grayscale(meta_images(2, (3, 4, 4)))
    assert grey.is_meta and grey.shape == (2, 1, 4, 4) and grey.dtype == torch.long


def test_the_value_checks_still_run_off_meta():
    """Skipping them is for meta tensors (and the training loop, which checks its data once)."""
    model = models.create("pixelcnn", (1, 4, 4), 4)
    with pytest.raises(InputError, match="pixel values must be in"):
        model.log_prob(torch.full((1, 1, 4, 4), 4))
    with pytest.raises(InputError, match="pixel values must be in"):
        Trainer(model, torch.full((2, 1, 4, 4), 9), torch.zeros(2, dtype=torch.long), TrainConfig(steps=1, batch_size=1))


# -- bf16 autocast (the GPU's default fast path), on the CPU ------------------------------------

@pytest.mark.parametrize("name", ["pixelcnn", "pixelcnn_pp", "igpt"])
def test_the_head_and_the_likelihood_run_in_float32_under_autocast(name):
    model = models.create(name, (1, 8, 8), 256)
    x = torch.randint(0, 256, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        params, log_p = model(x), model.log_prob(x)
    assert params.dtype == torch.float32 and log_p.dtype == torch.float32
    assert (log_p - model.log_prob(x)).abs().max() / 64 < 1e-3               # bits-scale agreement, nats per sub-pixel


def test_a_tiny_pixelcnn_pp_trains_alike_with_and_without_autocast():
    """The same seed, data and steps in fp32 and under bf16 autocast: the first loss agrees to
    1e-3 bits/dim (only the body runs in bf16), and after 8 steps both have fallen by about as much."""
    images = torch.randint(0, 4, (64, 1, 8, 8), generator=torch.Generator().manual_seed(0)) * 64   # 4 levels used
    losses = {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = models.create("pixelcnn_pp", (1, 8, 8), 256)
        trainer = Trainer(model, images, torch.zeros(64, dtype=torch.long),
                          TrainConfig(steps=8, batch_size=16, lr=2e-3, warmup=1, bf16=bf16))
        losses[bf16] = [trainer.train_step(*trainer.batch(step)).item() for step in range(8)]
    fp32, bf16 = losses[False], losses[True]
    assert abs(fp32[0] - bf16[0]) < 1e-3
    assert fp32[-1] < fp32[0] - 0.2 and bf16[-1] < bf16[0] - 0.2
    assert max(abs(a - b) for a, b in zip(fp32, bf16)) < 0.05
