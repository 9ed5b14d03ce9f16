"""What a trained model looks at: receptive fields by gradient, and where its bits go."""

import torch

from .progress import progress_bar
from .sampling import without_tf32


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
    """Cached vs naive sampling of the same images, timed one after the other in one run (TF32
    off on a GPU, so the two differ by float32 rounding only)."""
    import time
    timings, images = {}, {}
    with without_tf32():
        for cache in (True, False):
            start = time.perf_counter()
            images[cache] = model.sample(n, generator=torch.Generator().manual_seed(seed), cache=cache,
                                         **sample_options)
            timings[cache] = time.perf_counter() - start
    return {"model": model.name, "n": n, "cached_s": timings[True], "naive_s": timings[False],
            "speedup": timings[False] / timings[True], "identical": bool(torch.equal(images[True], images[False]))}


@torch.no_grad()
def features(model, image_set, batch_size=128, progress=False) -> torch.Tensor:
    """``model.features`` over a whole image set, in batches: float [N, layers, D] on the CPU."""
    was_training = model.training
    model.eval()
    try:
        out = [model.features(image_set.images[start: start + batch_size].to(model.device)).float().cpu()
               for start in progress_bar(range(0, len(image_set), batch_size), desc="features", unit="batch",
                                         enable=progress)]
    finally:
        model.train(was_training)
    return torch.cat(out)


def linear_probe(model, train_set, test_set, batch_size=128, progress=False) -> list[dict]:
    """iGPT's linear probe: a logistic regression (scikit-learn, on standardised features) from
    each layer's average-pooled features to the class labels, fitted on ``train_set`` and scored
    on ``test_set``. The first row fits the raw pixels, the baseline a layer must beat."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_features = features(model, train_set, batch_size, progress)
    test_features = features(model, test_set, batch_size, progress)
    candidates = [("pixels", train_set.images.flatten(1).float(), test_set.images.flatten(1).float())]
    candidates += [(f"layer {k + 1}", train_features[:, k], test_features[:, k])
                   for k in range(train_features.shape[1])]
    rows = []
    for name, train_x, test_x in candidates:
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        probe.fit(train_x.numpy(), train_set.labels.numpy())
        rows.append({"features": name, "dims": train_x.shape[1],
                     "accuracy": float(probe.score(test_x.numpy(), test_set.labels.numpy()))})
    return rows


def probe_summary(rows, train_images, test_images) -> dict:
    """A :func:`linear_probe` as a run's ``probe`` field, the numbers the claims ledger reads: the
    accuracy of the raw pixels, of each layer, of the best layer, of the best layer before the last
    (``middle``; iGPT's probes peak there) and of the last; with the images it was fitted and scored on."""
    layers = [row["accuracy"] for row in rows[1:]]
    return {"train_images": train_images, "test_images": test_images, "rows": rows, "pixels": rows[0]["accuracy"],
            "best": max(layers), "best_layer": 1 + layers.index(max(layers)),
            "middle": max(layers[:-1], default=None), "last": layers[-1]}


def probe_run(model, run, train_set, test_set, progress=False) -> dict:
    """Probe ``model`` (:func:`linear_probe`) and keep the summary in its run entry (``run["probe"]``),
    which the chapter's metrics.json then records; a run already probed on as many images is not
    probed again. Returns the summary."""
    sizes = {"train_images": len(train_set), "test_images": len(test_set)}
    if any(run.get("probe", {}).get(k) != v for k, v in sizes.items()):
        run["probe"] = probe_summary(linear_probe(model, train_set, test_set, progress=progress), **sizes)
    return run["probe"]
