"""Benchmarks measured side by side in one run, never timed unit tests.

``python -m pixelbook bench sampling`` times the naive sampler (the whole network for every
sub-pixel) against the cached one for each convolutional family at its default size, on 28x28
greyscale images, at batch sizes 1, 16 and 64. Both samplers use the same generator seed, and the
run records whether their images are bit-identical. The result goes to results/bench/sampling.json,
with a plot beside it; both name the device.
"""

import time

import torch

from . import models, plots
from .results import REPO, provenance, resolve_device, write_json

FAMILIES = ("pixelcnn", "gated_pixelcnn", "pixelcnn_pp")


def time_sampling(model, batch, seed=0, cache=True):
    generator = torch.Generator(model.device).manual_seed(seed)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    images = model.sample(batch, generator=generator, cache=cache)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, images


def sampling(families=FAMILIES, batches=(1, 16, 64), image_shape=(1, 28, 28), device=None, progress=True):
    """Rows of {family, batch, naive_s, cached_s, speedup, identical, params}."""
    device = resolve_device(device)
    rows = []
    for name in families:
        torch.manual_seed(0)
        model = models.create(name, image_shape).to(device).eval()
        for batch in batches:
            cached_s, cached = time_sampling(model, batch, cache=True)
            naive_s, naive = time_sampling(model, batch, cache=False)
            rows.append({"family": name, "batch": batch, "image_shape": list(image_shape),
                         "params": model.num_params(), "naive_s": round(naive_s, 3), "cached_s": round(cached_s, 3),
                         "speedup": round(naive_s / cached_s, 2), "identical": bool(torch.equal(cached, naive)),
                         "differing_subpixels": int((cached != naive).sum())})
            if progress:
                print(f"{name:15s} batch {batch:3d}: naive {naive_s:7.2f} s, cached {cached_s:6.2f} s, "
                      f"{naive_s / cached_s:6.1f}x, identical: {rows[-1]['identical']}", flush=True)
    return rows


def speedup_figure(rows, device_name):
    fig, ax = plots.plt.subplots(figsize=(6, 3.2))
    families = list(dict.fromkeys(r["family"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    width = 0.8 / len(batches)
    for k, batch in enumerate(batches):
        values = [next(r["speedup"] for r in rows if r["family"] == f and r["batch"] == batch) for f in families]
        ax.bar([i + k * width for i in range(len(families))], values, width, label=f"batch {batch}")
    ax.set_xticks([i + width * (len(batches) - 1) / 2 for i in range(len(families))], families)
    ax.set_yscale("log")
    ax.set_ylabel("naive time / cached time")
    ax.set_title(f"cached sampling speed-up, {device_name}", fontsize=9)
    ax.legend()
    return fig


def write_sampling(rows, device=None, out=None):
    out = out or REPO / "results" / "bench"
    record = {**provenance("bench", "sampling", resolve_device(device)), "rows": rows}
    name = "sampling" if record["device"].startswith("cpu") else "sampling_gpu"
    write_json(out / f"{name}.json", record)
    fig = speedup_figure(rows, record["device"])
    plots.save_figure(fig, out / f"{name}.png")
    plots.plt.close(fig)
    return out / f"{name}.json"
