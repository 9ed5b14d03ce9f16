"""Benchmarks measured side by side in one run, never timed unit tests.

``python -m pixelbook bench sampling`` times the naive sampler (the whole network for every
sub-pixel) against the cached one for each convolutional family at its default size (and
PixelCNN++ also at its cpu-profile size), on square greyscale images of 14, 28 and 42 pixels,
at batch sizes 1, 16 and 64. Both samplers use the same generator seed, and the run records
whether their images are bit-identical. Where the naive sampler would take too long it draws
only its first pixels, and its time is scaled up from them (labelled ``naive_estimated``). A
``torch.profiler`` summary of cached steps at batch 1 and 16 goes with it. The result goes to
results/bench/sampling.json, with two plots beside it; all name the device. ``bench pyramid``
(the auxiliary chapter), ``bench igpt`` (the KV cache) and ``bench train`` (training throughput
of fp32 eager against bf16 autocast, channels_last and torch.compile) write their own files the
same way.
"""

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import data, models, plots, profiles
from .claims import PP_CPU
from .errors import InputError, PixelbookError, known
from .sampling import autoregressive_sample, without_tf32
from .train import TrainConfig, Trainer
from .provenance import provenance, resolve_device
from .results import bench_path
from .storage import REPO, write_json

FAMILIES = ("pixelcnn", "gated_pixelcnn", "pixelcnn_pp")
# Each fast-path option alone, then all of them, against plain fp32 eager (TrainConfig's fields).
TRAIN_VARIANTS = {"fp32 eager": dict(bf16=False), "bf16 autocast": dict(bf16=True),
                  "channels_last": dict(bf16=False, channels_last=True), "torch.compile": dict(bf16=False, compile=True),
                  "all three": dict(bf16=True, channels_last=True, compile=True)}


# What a CPU training run may use instead of fp32 eager (bf16 autocast is measured too: CPUs differ).
CPU_VARIANTS = {"channels_last": dict(bf16=False, channels_last=True), "torch.compile": dict(bf16=False, compile=True),
                "bf16 autocast": dict(bf16=True)}


def scale(profile, what) -> dict:
    """Benchmark ``what``'s sizes and batches at ``profile`` (``profiles.BENCH``, their one place)."""
    profiles.check_profile(profile)
    return profiles.BENCH[profile][what]


def training_at(profile, families, options, device=None, progress=True, until=None, variants=TRAIN_VARIANTS):
    """:func:`training` at ``profile``'s ``options`` scale ("train" or "fast_path") on square grey images."""
    s = scale(profile, options)
    return training(families, s["batch"], (1, s["size"], s["size"]), s["steps"], s["warmup"], device, progress,
                    variants, until)


def synchronize(device):
    """Wait for queued GPU work, so a timer around it measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_sampling(model, batch, seed=0, cache=True, pixels=None):
    """Seconds and images of one sampling run; ``pixels`` stops after the first ones."""
    generator = torch.Generator(model.device).manual_seed(seed)
    synchronize(model.device)
    start = time.perf_counter()
    if pixels is None:
        images = model.sample(batch, generator=generator, cache=cache)
    else:
        images = autoregressive_sample(model, batch, generator=generator, cache=cache, pixels=pixels)
    synchronize(model.device)
    return time.perf_counter() - start, images


def side_by_side(model, batch, seed=0, naive_budget_s=None, repeats=1, naive_repeats=1) -> dict:
    """The cached and the naive sampler on the same generator seed, timed in rounds: each round
    runs the cached sampler, then the naive one, the cached in all ``repeats`` rounds and the naive
    (the costly one) in the first ``naive_repeats``. Each keeps its repeats (``cached_s_repeats``,
    ``naive_s_repeats``, and per pixel in ms) and their median; ``speedup_repeats`` divides each
    round's naive time by its cached one. The claims ledger compares repeats as it compares seeds.
    The naive sampler costs the same for every pixel (the whole network each time), so where
    drawing all of them would take over ``naive_budget_s`` it draws only the first ones, and its
    time for the image is scaled up from them (``naive_pixels``, ``naive_estimated``); the images
    are compared on the pixels both drew."""
    C, H, W = model.image_shape
    with without_tf32():                                               # float32 rounding only, on a GPU too
        pixels = H * W
        if naive_budget_s is not None:
            probe_s, _ = time_sampling(model, batch, seed, False, pixels=2)
            pixels = min(pixels, max(2, int(naive_budget_s / (probe_s / 2))))
        times = {"cached": [], "naive": []}
        for round_ in range(max(repeats, naive_repeats)):
            if round_ < repeats:
                seconds, cached = time_sampling(model, batch, seed, True)
                times["cached"].append(seconds)
            if round_ < naive_repeats:
                seconds, naive = time_sampling(model, batch, seed, False, None if pixels == H * W else pixels)
                times["naive"].append(seconds * H * W / pixels)
    cached_s, naive_s = (statistics.median(times[k]) for k in ("cached", "naive"))
    drawn_cached, drawn_naive = cached.flatten(2)[:, :, :pixels], naive.flatten(2)[:, :, :pixels]
    return {"batch": batch, "params": model.num_params(), "naive_s": round(naive_s, 4),
            "cached_s": round(cached_s, 4), "speedup": round(naive_s / cached_s, 2),
            "cached_repeats": repeats, "naive_repeats": naive_repeats,
            **{f"{k}_s_repeats": [round(t, 4) for t in times[k]] for k in times},
            **{f"{k}_ms_per_pixel_repeats": [round(1000 * t / (H * W), 4) for t in times[k]] for k in times},
            "speedup_repeats": [round(n / c, 2) for n, c in zip(times["naive"], times["cached"])],
            "cached_ms_per_pixel": round(1000 * cached_s / (H * W), 4),
            "naive_ms_per_pixel": round(1000 * naive_s / (H * W), 3),
            "naive_pixels": pixels, "naive_estimated": pixels < H * W,
            "identical": bool(torch.equal(drawn_cached, drawn_naive)),
            "differing_subpixels": int((drawn_cached != drawn_naive).sum())}


def sampling_models(families=FAMILIES):
    """The timed models: each family at its default size and, for PixelCNN++, also at the size
    its chapter trains at the cpu profile. {label: (family, size options)}."""
    chosen = {name: (name, {}) for name in families}
    if "pixelcnn_pp" in families:
        chosen[PP_CPU] = ("pixelcnn_pp", profiles.get("pixelcnn_pp", "cpu").models["pixelcnn_pp"])
    return chosen


def sampling(families, batches, sizes, naive_budget_s=None, device=None, progress=True, repeats=3, until=None,
             naive_repeats=2):
    """Rows of {model, family, size, batch, naive_s, cached_s, speedup, ms per pixel, identical,
    params}: every model of :func:`sampling_models` at every square size and batch, the cached
    time the median of ``repeats``, the naive of ``naive_repeats`` (:func:`side_by_side`). Past
    ``until`` the rows not yet started are ``skipped``."""
    device = resolve_device(device)
    rows = []
    for label, (name, options) in sampling_models(families).items():
        for size in sizes:
            torch.manual_seed(0)
            model = models.create(name, (1, size, size), **options).to(device).eval()
            for batch in batches:
                if past(until):
                    rows.append({"model": label, "family": name, "size": size, "batch": batch, "skipped": "past the deadline"})
                    continue
                rows.append({"model": label, "family": name, "size": size, "image_shape": [1, size, size],
                             **side_by_side(model, batch, naive_budget_s=naive_budget_s, repeats=repeats,
                                                 naive_repeats=naive_repeats)})
                report(rows[-1], f"{label} {size}x{size}", progress)
    return rows


def profile_steps(family, batch, size, device=None, top=8):
    """Where one cached step's time goes: ``torch.profiler`` over a whole cached sampling run of
    ``family`` at its default size, the ``top`` operators by their own CPU time, per step. The
    time outside every operator (``python_share``) is the interpreter's: the loop, indexing,
    the sampler's bookkeeping. The profiler adds its own overhead to every call."""
    from torch.profiler import ProfilerActivity, profile
    device = resolve_device(device)
    torch.manual_seed(0)
    model = models.create(family, (1, size, size)).to(device).eval()
    passes = model.image_shape[0] if model.likelihood.channels_per_pass == 1 else 1
    steps = passes * size * size
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    time_sampling(model, batch)                                        # warm: first calls cost more
    with quiet_stderr(), profile(activities=activities) as prof:
        start = time.perf_counter()
        time_sampling(model, batch)
        wall_us = 1e6 * (time.perf_counter() - start)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    in_ops = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return {"family": family, "batch": batch, "size": size, "steps": steps,
            "us_per_step": round(wall_us / steps, 1), "python_share": round(1 - in_ops / wall_us, 3),
            "ops": [{"op": e.key, "calls_per_step": round(e.count / steps, 2),
                     "us_per_call": round(e.self_cpu_time_total / e.count, 2),
                     "share": round(e.self_cpu_time_total / wall_us, 3)} for e in events[:top]]}


@contextlib.contextmanager
def quiet_stderr():
    """The profiler's C++ logger prints status lines straight to file descriptor 2 (a notebook
    shows them as errors): point it at /dev/null meanwhile."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def report(row, name, progress):
    if progress:
        naive = "naive ~" if row.get("naive_estimated") else "naive  "
        print(f"{name:30s} batch {row['batch']:3d}: {naive}{row['naive_s']:8.2f} s, cached {row['cached_s']:6.2f} s, "
              f"{row['speedup']:6.1f}x, identical: {row['identical']}", flush=True)


def pyramid(batches, size, profile, device=None, progress=True, repeats=3, naive_repeats=2):
    """Milliseconds per generated pixel: the Pyramid PixelCNN against a PixelCNN++ at the same
    resolution and batch, each at its chapter's ``profile`` size, naive and cached, in one run,
    each timed in rounds (:func:`side_by_side`; the auxiliary chapter; the paper reports 0.004
    against 0.05 s per pixel)."""
    device = resolve_device(device)
    rows = []
    for name, chapter in (("pixelcnn_pp", "pixelcnn_pp"), ("pyramid_pixelcnn", "auxiliary")):
        torch.manual_seed(0)
        model = models.create(name, (1, size, size), **profiles.get(chapter, profile).models[name]).to(device).eval()
        for batch in batches:
            row = side_by_side(model, batch, repeats=repeats, naive_repeats=naive_repeats)
            rows.append({"model": name, "image_shape": [1, size, size], **row})
            report(row, name, progress)
    return rows


def igpt(batches, image_shape, profile, device=None, progress=True, until=None):
    """KV-cache against full-recompute sampling of the ImageGPT chapter's ``profile`` model,
    one token per step (784 at 28x28 grey), at each batch size, in one run; past ``until`` the
    batches not yet started are ``skipped``."""
    device = resolve_device(device)
    torch.manual_seed(0)
    model = models.create("igpt", image_shape, **profiles.get("imagegpt", profile).models["igpt"]).to(device).eval()
    rows = []
    for batch in batches:
        if past(until):
            rows.append({"model": "igpt", "batch": batch, "skipped": "past the deadline"})
            continue
        rows.append({"model": "igpt", "image_shape": list(image_shape), "tokens": model.length,
                     **side_by_side(model, batch)})
        report(rows[-1], "igpt", progress)
    return rows


def write_bench(what, rows, figures, device=None, results_dir=None, extra=None, stamp=None, name=None):
    """results/bench/<what>.json (``<what>_gpu`` on a GPU; :func:`pixelbook.results.bench_path`)
    and its plots beside it, all naming the device. ``figures`` is one figure function, or
    {file suffix: function}; ``extra`` adds keys. ``stamp`` replaces this machine's provenance
    (rows measured elsewhere: a device run), and ``name`` the file name."""
    record = {**(stamp or provenance("bench", what, resolve_device(device))), **(extra or {}), "rows": rows}
    path = bench_path(name or (what if record["device"].startswith("cpu") else f"{what}_gpu"), results_dir)
    write_json(path, record)
    for suffix, figure in (figures if isinstance(figures, dict) else {"": figures}).items():
        fig = figure(rows, record["device"])
        plots.save_figure(fig, path.with_name(f"{path.stem}{suffix}.png"))
        plots.plt.close(fig)
    return path


def write_sampling(rows, device=None, results_dir=None, profiles=None):
    return write_bench("sampling", rows, plots.SAMPLING_FIGURES, device, results_dir,
                       extra=None if profiles is None else {"profiles": profiles})


BASELINE = "fp32 eager"
COMPILE_RESERVE_S = 90           # torch.compile's first steps cannot be stopped: start one only this far from the end


def past(until, reserve=0.0) -> bool:
    """Is ``until`` (a ``time.monotonic()`` value, or None for no deadline) nearer than ``reserve`` seconds?"""
    return until is not None and time.monotonic() + reserve >= until


def training(families, batch, image_shape, steps, warmup, device=None, progress=True, variants=TRAIN_VARIANTS,
             until=None, knobs=None):
    """Training images per second (forward, backward, Adam) of each family at its default size,
    for plain fp32 eager (always measured: every ``speedup`` divides by it) and each fast-path
    option, on the same batches in one run. The first ``warmup`` steps (compilation, allocator)
    are not timed. Past ``until`` (``time.monotonic()``) a variant not yet started is recorded as
    ``skipped``, a variant under way stops after the step it is in, and a ``torch.compile``
    variant starts only :data:`COMPILE_RESERVE_S` before it. ``knobs`` ({family: size}) replaces
    the default sizes."""
    device = resolve_device(device)
    variants = {BASELINE: TRAIN_VARIANTS[BASELINE], **variants}
    images = torch.randint(0, 256, (batch * (warmup + steps), *image_shape), generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(len(images), dtype=torch.long)
    rows = []
    for name in families:
        for variant, options in variants.items():
            row = {"family": name, "variant": variant, **options, "batch": batch, "image_shape": list(image_shape)}
            if past(until, COMPILE_RESERVE_S if options.get("compile") else 0):
                rows.append({**row, "skipped": "past the deadline"})
                continue
            torch.manual_seed(0)
            model = models.create(name, image_shape, **(knobs or {}).get(name, {})).to(device)
            trainer = Trainer(model, images, labels, TrainConfig(steps=warmup + steps, batch_size=batch, **options))
            for step in range(warmup):
                trainer.train_step(*trainer.batch(step))
            synchronize(device)
            start, timed = time.perf_counter(), 0
            for step in range(warmup, warmup + steps):
                if timed and past(until):
                    break
                trainer.train_step(*trainer.batch(step))
                timed += 1
            synchronize(device)
            seconds = time.perf_counter() - start
            rows.append({**row, "steps_timed": timed, "images_per_s": round(batch * timed / seconds, 1)})
            if progress:
                print(f"{name:15s} {variant:20s}: {rows[-1]['images_per_s']:8.1f} images/s", flush=True)
        base = next((r for r in rows if r["family"] == name and r["variant"] == BASELINE and "images_per_s" in r), None)
        for row in rows:
            if row["family"] == name and "images_per_s" in row and base is not None:
                row["speedup"] = round(row["images_per_s"] / base["images_per_s"], 2)
    return rows


# -- where a training step's time goes (``bench train``) ------------------------------------------

def train_sizes(families=None) -> dict:
    """{label: spec} of the timed training configurations: each of the leaderboard's six exact
    families at its leaderboard size, and every family at the size, dataset shape and batch its
    chapter trains at the cpu profile. A spec is {family, size, knobs, image_shape, levels, batch}."""
    families = list(families or models.names())
    chosen = {}
    board = profiles.get("leaderboard", "cpu")
    for name in families:
        if name in board.models:
            shape, levels = data.shape_and_levels(board.dataset)
            chosen[f"{name}, leaderboard size"] = dict(family=name, size="leaderboard", knobs=board.models[name],
                                                         image_shape=shape, levels=levels, batch=board.batch_size)
    for name in families:
        chapter, entry = profiles.for_model(name, "cpu")
        spec = next(s for s in profiles.chapter_runs(chapter, "cpu") if s["model"] == name)
        shape, levels = data.shape_and_levels(spec.get("dataset") or entry.dataset)
        batch = entry.train_overrides.get(name, {}).get("batch_size", entry.batch_size)
        chosen[f"{name}, {chapter} cpu size"] = dict(family=name, size=f"{chapter} cpu", knobs=entry.models[name],
                                                      image_shape=shape, levels=entry.levels or levels, batch=batch)
    return chosen


def matmul_gflops(threads, n=2048, repeats=5) -> float:
    """This CPU's float32 matrix-product rate at ``threads``: the median of ``repeats`` n x n products."""
    with torch_threads(threads):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b                                                           # warm: first calls cost more
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
    return 2 * n**3 / sorted(times)[repeats // 2] / 1e9


@contextlib.contextmanager
def torch_threads(threads):
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def step_flops(model, x, y=None) -> float:
    """FLOPs of one training step's forward and backward (``torch.utils.flop_counter``: matrix
    products and convolutions, which dominate; elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        (-model.log_prob(x, y).mean()).backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def top_operators(trainer, batches, top=8) -> list[dict]:
    """The ``top`` operators by their own CPU time over training steps on ``batches``, with
    their calls per step and share of the wall-clock (``torch.profiler``)."""
    from torch.profiler import ProfilerActivity, profile
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for x, y in batches:
            trainer.train_step(x, y)
        wall_us = 1e6 * (time.perf_counter() - start)
    events = sorted((e for e in prof.key_averages() if e.self_cpu_time_total > 0),
                    key=lambda e: e.self_cpu_time_total, reverse=True)
    return [{"op": e.key, "calls_per_step": round(e.count / len(batches), 1),
             "ms_per_step": round(e.self_cpu_time_total / 1000 / len(batches), 2),
             "share": round(e.self_cpu_time_total / wall_us, 3)} for e in events[:top]]


def time_training(spec, threads, seconds=8.0, warmup=2, max_steps=10, profile_ops=False, until=None,
                  count_flops=True) -> dict:
    """Images/s of ``Trainer.train_step`` (forward, backward, clipping, Adam) for one
    configuration of :func:`train_sizes` at ``threads``: enough steps for about ``seconds``
    after ``warmup`` untimed ones (2 at least, ``max_steps`` at most)."""
    with torch_threads(threads):
        torch.manual_seed(0)
        shape, batch = tuple(spec["image_shape"]), spec["batch"]
        model = models.create(spec["family"], shape, spec["levels"], **spec["knobs"])
        pool = torch.randint(0, spec["levels"], (8 * batch, *shape), generator=torch.Generator().manual_seed(0))
        model.prepare(pool)
        trainer = Trainer(model, pool, torch.zeros(len(pool), dtype=torch.long),
                          TrainConfig(steps=10**6, batch_size=batch, warmup=10))
        step = 0

        def one():
            nonlocal step
            trainer.train_step(*trainer.batch(step))
            step += 1

        start = time.perf_counter()
        for _ in range(warmup):
            one()
        per_step = (time.perf_counter() - start) / warmup
        steps = max(2, min(max_steps, int(seconds / per_step)))
        start, timed = time.perf_counter(), 0
        while timed < steps and not (timed >= 2 and past(until)):
            one()
            timed += 1
        seconds = time.perf_counter() - start
        row = {"threads": threads, "steps_timed": timed, "images_per_s": round(batch * timed / seconds, 2),
               "params": model.num_params()}
        if profile_ops:
            row["top_ops"] = top_operators(trainer, [trainer.batch(step + k) for k in range(2)])
        if count_flops:
            y = torch.zeros(batch, dtype=torch.long) if model.num_classes else None
            row["flops_per_image"] = step_flops(model, pool[:batch], y) / batch
    return row


def train_profile(families=None, threads=(1, 2), seconds=8.0, progress=True, until=None, repeats=3) -> dict:
    """``bench train``: for every configuration of :func:`train_sizes` and thread count, images/s,
    FLOPs per image, the achieved GFLOP/s and its fraction of this CPU's float32 matmul rate at the
    same threads (measured in the same run), and at 1 thread the top operators of a step.

    Every configuration is timed ``repeats`` times, in rounds that each time them all in turn, so a
    drift in the machine's speed reaches every family alike. A row keeps each round's images/s
    (``images_per_s_repeats``) and their median (``images_per_s``): the claims ledger compares
    families by their repeats, as it compares runs by their seeds."""
    rates = {t: round(matmul_gflops(t), 1) for t in threads}
    if progress:
        print("float32 matmul 2048x2048: " + ", ".join(f"{r} GFLOP/s at {t} thread{'s' * (t > 1)}"
                                                        for t, r in rates.items()), flush=True)
    rows = {(label, t): {"label": label, **spec, "threads": t, "images_per_s_repeats": []}
            for label, spec in train_sizes(families).items() for t in threads}
    for round_ in range(repeats):
        for (label, t), row in rows.items():
            if past(until):
                if not row["images_per_s_repeats"]:
                    row["skipped"] = "past the deadline"
                continue
            first = not row["images_per_s_repeats"]
            timed = time_training(row, t, seconds, profile_ops=first and t == min(threads), until=until, count_flops=first)
            row.update({k: v for k, v in timed.items() if first or k == "steps_timed"})
            row["images_per_s_repeats"].append(timed["images_per_s"])
            if progress:
                print(f"round {round_ + 1} of {repeats}: {label:42s} {t} thread{'s' if t > 1 else ' '}: "
                      f"{timed['images_per_s']:8.1f} images/s", flush=True)
    for (label, t), row in rows.items():
        if row["images_per_s_repeats"]:
            row["images_per_s"] = round(statistics.median(row["images_per_s_repeats"]), 2)
            row["gflop_per_s"] = round(row["flops_per_image"] * row["images_per_s"] / 1e9, 3)
            row["matmul_gflop_per_s"] = rates[t]
            row["fraction_of_matmul"] = round(row["gflop_per_s"] / rates[t], 4)
        else:
            del row["images_per_s_repeats"]
    return {"matmul_gflop_per_s": rates, "repeats": repeats, "rows": list(rows.values())}


BASELINE_SCRIPT = """
import json, sys, time, torch
threads, spec, seconds = int(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(threads)
from pixelbook import models
from pixelbook.train import TrainConfig, Trainer
torch.manual_seed(0)
shape, batch = tuple(spec["image_shape"]), spec["batch"]
model = models.create(spec["family"], shape, spec["levels"], **spec["knobs"])
pool = torch.randint(0, spec["levels"], (8 * batch, *shape), generator=torch.Generator().manual_seed(0))
model.prepare(pool)
trainer = Trainer(model, pool, torch.zeros(len(pool), dtype=torch.long), TrainConfig(steps=10**6, batch_size=batch, warmup=10))
for step in range(2):
    trainer.train_step(*trainer.batch(step))
start, step = time.perf_counter(), 2
while step < 4 or (time.perf_counter() - start < seconds and step < 12):
    trainer.train_step(*trainer.batch(step))
    step += 1
print(json.dumps({"images_per_s": batch * (step - 2) / (time.perf_counter() - start), "code": sys.argv[4]}))
"""


def against(rev, labels, threads=1, rounds=2, seconds=8.0, progress=True) -> list[dict]:
    """Training images/s of the library at git revision ``rev`` against this checkout's, for the
    configurations ``labels`` of :func:`train_sizes`: each in a fresh process, the two codes
    alternating ``rounds`` times, the median of each side kept. The same script, seed, batches
    and threads run both; only the ``pixelbook`` package differs."""
    sizes = train_sizes()
    with tempfile.TemporaryDirectory(prefix="pixelbook-baseline-") as old:
        return timed_against(rev, labels, sizes, Path(old), threads, rounds, seconds, progress)


def timed_against(rev, labels, sizes, old, threads, rounds, seconds, progress) -> list[dict]:
    archive = subprocess.run(["git", "archive", rev, "pixelbook"], cwd=REPO, capture_output=True)
    if archive.returncode:
        raise InputError(f"bench train --against {rev}: not a revision of this checkout "
                         f"({archive.stderr.decode().strip().splitlines()[0] if archive.stderr else 'git failed'})")
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    rows = []
    for label in labels:
        if label not in sizes:
            raise InputError(f"unknown configuration {label!r}; known: {known(sizes)}")
        spec = {k: sizes[label][k] for k in ("family", "knobs", "image_shape", "levels", "batch")}
        measured = {"before": [], "after": []}
        for _ in range(rounds):
            for side, root in (("before", old), ("after", REPO)):
                env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": str(threads)}
                done = subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, str(threads), json.dumps(spec),
                                       str(seconds), side], cwd=root, env=env, capture_output=True, text=True)
                if done.returncode:
                    raise PixelbookError(f"bench train --against: the {side} code failed on {label}: "
                                         f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else '?'}")
                measured[side].append(json.loads(done.stdout.strip().splitlines()[-1])["images_per_s"])
        median = {side: statistics.median(v) for side, v in measured.items()}
        rows.append({"label": label, **spec, "threads": threads, "before_rev": rev, "before_images_per_s": measured["before"],
                     "after_images_per_s": measured["after"], "before": round(median["before"], 2),
                     "after": round(median["after"], 2), "ratio": round(median["after"] / median["before"], 2)})
        if progress:
            print(f"{label:42s}: {median['before']:7.1f} -> {median['after']:7.1f} images/s ({rows[-1]['ratio']:.2f}x), "
                  f"{threads} thread{'s' if threads > 1 else ''}", flush=True)
    return rows
