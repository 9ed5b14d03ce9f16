"""Benchmarks measured side by side in one run, never timed unit tests.

``python -m pixelbook bench sampling`` times the naive sampler (the whole network for every
sub-pixel) against the cached one for each convolutional family at its default size, on 28x28
greyscale images, at batch sizes 1, 16 and 64. Both samplers use the same generator seed, and the
run records whether their images are bit-identical. The result goes to results/bench/sampling.json,
with a plot beside it; both name the device. ``bench pyramid`` (the auxiliary chapter), ``bench
igpt`` (the KV cache) and ``bench train`` (training throughput of fp32 eager against bf16
autocast, channels_last and torch.compile) write their own files the same way.
"""

import time

import torch

from . import models, plots
from .files import REPO, provenance, resolve_device, write_json

FAMILIES = ("pixelcnn", "gated_pixelcnn", "pixelcnn_pp")
TRAIN_FAMILIES = ("pixelcnn", "gated_pixelcnn", "pixelcnn_pp", "igpt")
# Each fast-path option alone, then all of them, against plain fp32 eager (TrainConfig's fields).
TRAIN_VARIANTS = {"fp32 eager": dict(bf16=False), "bf16 autocast": dict(bf16=True),
                  "channels_last": dict(bf16=False, channels_last=True), "torch.compile": dict(bf16=False, compile=True),
                  "all three": dict(bf16=True, channels_last=True, compile=True)}


def synchronize(device):
    """Wait for queued GPU work, so a timer around it measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_sampling(model, batch, seed=0, cache=True, **sample_options):
    generator = torch.Generator(model.device).manual_seed(seed)
    synchronize(model.device)
    start = time.perf_counter()
    images = model.sample(batch, generator=generator, cache=cache, **sample_options)
    synchronize(model.device)
    return time.perf_counter() - start, images


def side_by_side(model, batch, seed=0, **sample_options) -> dict:
    """The cached and the naive sampler on the same generator seed, one after the other."""
    cached_s, cached = time_sampling(model, batch, seed, True, **sample_options)
    naive_s, naive = time_sampling(model, batch, seed, False, **sample_options)
    return {"batch": batch, "params": model.num_params(), "naive_s": round(naive_s, 3),
            "cached_s": round(cached_s, 3), "speedup": round(naive_s / cached_s, 2),
            "identical": bool(torch.equal(cached, naive)), "differing_subpixels": int((cached != naive).sum())}


def sampling(families=FAMILIES, batches=(1, 16, 64), image_shape=(1, 28, 28), device=None, progress=True):
    """Rows of {family, batch, naive_s, cached_s, speedup, identical, params}."""
    device = resolve_device(device)
    rows = []
    for name in families:
        torch.manual_seed(0)
        model = models.create(name, image_shape).to(device).eval()
        for batch in batches:
            rows.append({"family": name, "image_shape": list(image_shape), **side_by_side(model, batch)})
            report(rows[-1], name, progress)
    return rows


def report(row, name, progress):
    if progress:
        print(f"{name:16s} batch {row['batch']:3d}: naive {row['naive_s']:7.2f} s, cached {row['cached_s']:6.2f} s, "
              f"{row['speedup']:6.1f}x, identical: {row['identical']}", flush=True)


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


def pyramid(batches=(1, 16), size=32, profile="cpu", device=None, progress=True):
    """Seconds per generated pixel: the Pyramid PixelCNN against a PixelCNN++ at the same
    resolution and batch, each at its chapter's ``profile`` size, naive and cached, in one run
    (the auxiliary chapter; the paper reports 0.004 against 0.05 s per pixel)."""
    from . import profiles
    device = resolve_device(device)
    rows = []
    for name, chapter in (("pixelcnn_pp", "pixelcnn_pp"), ("pyramid_pixelcnn", "auxiliary")):
        torch.manual_seed(0)
        model = models.create(name, (1, size, size), **profiles.get(chapter, profile).models[name]).to(device).eval()
        for batch in batches:
            row = side_by_side(model, batch)
            rows.append({"model": name, "image_shape": [1, size, size], **row,
                         "naive_s_per_pixel": row["naive_s"] / size**2, "cached_s_per_pixel": row["cached_s"] / size**2})
            report(row, name, progress)
    return rows


def igpt(batches=(1, 8), image_shape=(1, 28, 28), profile="cpu", device=None, progress=True):
    """KV-cache against full-recompute sampling of the ImageGPT chapter's ``profile`` model,
    one token per step (784 at 28x28 grey), at each batch size, in one run."""
    from . import profiles
    device = resolve_device(device)
    torch.manual_seed(0)
    model = models.create("igpt", image_shape, **profiles.get("imagegpt", profile).models["igpt"]).to(device).eval()
    rows = []
    for batch in batches:
        rows.append({"model": "igpt", "image_shape": list(image_shape), "tokens": model.length,
                     **side_by_side(model, batch)})
        report(rows[-1], "igpt", progress)
    return rows


def igpt_figure(rows, device_name):
    fig, ax = plots.plt.subplots(figsize=(5, 3.2))
    labels = [f"batch {r['batch']}" for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["naive_s"] for r in rows], 0.4, label="full recompute")
    ax.bar([i + 0.2 for i in x], [r["cached_s"] for r in rows], 0.4, label="KV cache")
    for i, r in zip(x, rows):
        ax.annotate(f"{r['speedup']:.0f}x", (i, max(r["naive_s"], r["cached_s"])), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), labels)
    ax.set_yscale("log")
    ax.set_ylabel(f"seconds for {rows[0]['tokens']} tokens")
    ax.set_title(f"ImageGPT sampling, {device_name}", fontsize=9)
    ax.legend(fontsize=8)
    return fig


def pyramid_figure(rows, device_name):
    fig, ax = plots.plt.subplots(figsize=(6, 3.2))
    batches = sorted({r["batch"] for r in rows})
    bars = [(r["model"], path) for r in rows if r["batch"] == batches[0] for path in ("naive", "cached")]
    width = 0.8 / len(bars)
    for k, (name, path) in enumerate(bars):
        values = [next(r[f"{path}_s_per_pixel"] for r in rows if r["model"] == name and r["batch"] == b)
                  for b in batches]
        ax.bar([i + k * width for i in range(len(batches))], values, width, label=f"{name}, {path}")
    ax.set_xticks([i + width * (len(bars) - 1) / 2 for i in range(len(batches))], [f"batch {b}" for b in batches])
    ax.set_yscale("log")
    ax.set_ylabel("seconds per generated pixel")
    ax.set_title(f"Pyramid PixelCNN vs PixelCNN++ sampling, {device_name}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def write_bench(what, rows, figure, device=None, out=None):
    """results/bench/<what>.json (``<what>_gpu`` on a GPU) and its plot, both naming the device."""
    out = out or REPO / "results" / "bench"
    record = {**provenance("bench", what, resolve_device(device)), "rows": rows}
    name = what if record["device"].startswith("cpu") else f"{what}_gpu"
    write_json(out / f"{name}.json", record)
    fig = figure(rows, record["device"])
    plots.save_figure(fig, out / f"{name}.png")
    plots.plt.close(fig)
    return out / f"{name}.json"


def write_sampling(rows, device=None, out=None):
    return write_bench("sampling", rows, speedup_figure, device, out)


def training(families=TRAIN_FAMILIES, batch=32, image_shape=(1, 28, 28), steps=5, warmup=2, device=None,
             progress=True, variants=TRAIN_VARIANTS):
    """Training images per second (forward, backward, Adam) of each family at its default size,
    for plain fp32 eager and each fast-path option, on the same batches in one run. The first
    ``warmup`` steps (compilation, allocator) are not timed."""
    from .train import TrainConfig, Trainer
    device = resolve_device(device)
    images = torch.randint(0, 256, (batch * (warmup + steps), *image_shape), generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(len(images), dtype=torch.long)
    rows = []
    for name in families:
        for variant, options in variants.items():
            torch.manual_seed(0)
            model = models.create(name, image_shape).to(device)
            trainer = Trainer(model, images, labels, TrainConfig(steps=warmup + steps, batch_size=batch, **options))
            for step in range(warmup):
                trainer.train_step(*trainer.batch(step))
            synchronize(device)
            start = time.perf_counter()
            for step in range(warmup, warmup + steps):
                trainer.train_step(*trainer.batch(step))
            synchronize(device)
            seconds = time.perf_counter() - start
            rows.append({"family": name, "variant": variant, **options, "batch": batch, "image_shape": list(image_shape),
                         "images_per_s": round(batch * steps / seconds, 1)})
            if progress:
                print(f"{name:15s} {variant:14s}: {rows[-1]['images_per_s']:8.1f} images/s", flush=True)
        base = next(r for r in rows if r["family"] == name and r["variant"] == "fp32 eager")["images_per_s"]
        for row in rows:
            if row["family"] == name:
                row["speedup"] = round(row["images_per_s"] / base, 2)
    return rows


def training_figure(rows, device_name):
    fig, ax = plots.plt.subplots(figsize=(7, 3.2))
    families = list(dict.fromkeys(r["family"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    width = 0.8 / len(variants)
    for k, variant in enumerate(variants):
        values = [next(r["speedup"] for r in rows if r["family"] == f and r["variant"] == variant) for f in families]
        ax.bar([i + k * width for i in range(len(families))], values, width, label=variant)
    ax.axhline(1.0, color="k", linewidth=0.8)
    ax.set_xticks([i + width * (len(variants) - 1) / 2 for i in range(len(families))], families)
    ax.set_ylabel("training images/s vs fp32 eager")
    ax.set_title(f"training throughput, {device_name}", fontsize=9)
    ax.legend(fontsize=7)
    return fig
