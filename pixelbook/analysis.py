"""What a trained model looks at: receptive fields by gradient, and where its bits go."""

import torch


def gradient_receptive_field(model, x, row, col, channel=0, y=None) -> torch.Tensor:
    """|d log p(x[channel, row, col] | past) / d input|, summed over input channels: [H, W].

    Taken through ``model.network`` on the input scaled to [-1, 1], so it works for every
    family whose network reads pixels. Exact zeros are pixels the output cannot see."""
    was_training = model.training
    model.eval()
    try:
        h = model.unit_input(x).detach().requires_grad_(True)          # [B, C, H, W]
        params = model.network(h, y)
        log_p = model.likelihood.sub_pixel_log_prob(params, x)[:, channel, row, col].sum()
        (grad,) = torch.autograd.grad(log_p, h)
    finally:
        model.train(was_training)
    return grad.abs().sum((0, 1))


def pixel_order_map(shape, row, col) -> torch.Tensor:
    """[H, W]: 1 for pixels before (row, col) in raster order, 2 for the pixel itself."""
    H, W = shape
    order = torch.zeros(H * W)
    order[: row * W + col] = 1
    order[row * W + col] = 2
    return order.view(H, W)


def training_cost(models: dict, images, repeats=3) -> list[dict]:
    """Seconds per image of one training step (forward, backward) for each model, measured side
    by side on the same batch after a warm-up step: the PixelRNN paper's speed argument."""
    import time
    rows = []
    for name, model in models.items():
        model.train()
        timings = []
        for k in range(repeats + 1):
            start = time.perf_counter()
            loss = -model.log_prob(images).mean()
            loss.backward()
            model.zero_grad(set_to_none=True)
            if k:                                                      # the first step warms up
                timings.append(time.perf_counter() - start)
        rows.append({"model": name, "ms_per_image": 1000 * min(timings) / len(images),
                     "params": model.num_params()})
        model.eval()
    base = rows[0]["ms_per_image"]
    for row in rows:
        row["relative"] = row["ms_per_image"] / base
    return rows


def sampling_speed(model, n=4, seed=0, **sample_options) -> dict:
    """Cached vs naive sampling of the same images, timed one after the other in one run."""
    import time
    timings, images = {}, {}
    for cache in (True, False):
        start = time.perf_counter()
        images[cache] = model.sample(n, generator=torch.Generator().manual_seed(seed), cache=cache,
                                     **sample_options)
        timings[cache] = time.perf_counter() - start
    return {"model": model.name, "n": n, "cached_s": timings[True], "naive_s": timings[False],
            "speedup": timings[False] / timings[True], "identical": bool(torch.equal(images[True], images[False]))}
