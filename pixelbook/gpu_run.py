"""One prepared device run, and bringing it home (README, "A GPU run").

A lent GPU comes with about 15 minutes in all, so everything the ``gpu`` profile needs is one
command, and what it brings back is one small folder.

``python -m pixelbook device-run --out DIR`` trains every chapter's ``gpu``-profile runs
(:func:`pixelbook.profiles.chapter_runs`) one after another in one process, then runs the GPU
benchmarks, all within ``--budget-s`` seconds. The benchmarks get :data:`BENCH_RESERVE_S` of it;
the runs share the rest as they go: each gets what is left in proportion to its estimated cost
(:func:`estimate`) among the runs left, so a run quicker than estimated leaves more for the others. A run that has not finished its steps by its deadline stops at a
checkpoint and is packed as ``partial``: shown, labelled, never in a bpd table. Training uses
the fast path that a short side-by-side measurement picks on the device among plain float32 (the
baseline row) and :data:`FAST_CANDIDATES` (bf16 autocast, with or without channels_last;
``torch.compile`` costs more compile time than it saves in runs this short, and is only
benchmarked). Evaluation runs in plain float32 (TF32 off).

DIR receives at most :data:`MAX_FILES` flat files of at most :data:`FILE_LIMIT` bytes:

- ``manifest.json``: the device, torch version, code hash, fast path and budget; every run's
  plan, metrics (training history included) and the bits/dim of its first :data:`SPOT_IMAGES`
  test images under the packed weights; the size and sha256 of every other file;
- ``weights-K.bin``: the runs' evaluation weights (safetensors files, concatenated and cut into
  pieces), in float32, or bf16 for all of them when float32 would not fit;
- ``bench.json``: the ``bench train``, ``bench sampling`` and ``bench igpt`` rows.

Figures are not packed: the chapters draw them here from the weights, histories and rows. Weights
that would not fit are left out, and the manifest (``left_out``), the CLI and the import say so.

``--dry-run`` does all of this on the CPU with :data:`TOY` steps and test images, for CI: the
fast-path choice is measured between the same candidates (at a toy size), and it rehearses both
ways a run ends early, a partial run (the last planned run gets no time) and a failed one
(:data:`REHEARSED_FAILURE`).

``python -m pixelbook device-import DIR`` checks every file against the manifest before it writes
anything, so a corrupt or truncated bundle imports nothing. It requires the bundle to come from
this library code (the same :func:`pixelbook.provenance.code_hash`: a device gets the working tree,
not git). It recomputes every run's plan here, which must equal the device's apart from what
depends on the device: the fast-path options (bf16 is the default on CUDA only) and the numerics
fingerprint, which the device computed under its own torch version. It then re-evaluates each
run's first test images here on the CPU, which must agree with the device's to
:data:`SPOT_TOLERANCE` bits/dim. The bits/dim on the whole test split are the device's evaluation,
kept as measured, with its device, torch version, fast path and wall-clock: re-evaluating every
model on every test image would take this CPU hours, and the spot check shows the weights compute
the same numbers here. Each run's weights and metrics go to ``results/gpu/<chapter>/``, where
``run CHAPTER --profile gpu`` reuses them instead of training.
"""

import datetime
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from . import bench, data, models, plots, profiles, runs
from .checkpoint import load_model, read_weights
from .errors import PixelbookError, UnknownNameError, known
from .provenance import code_hash, device_name, git_commit, resolve_device
from .results import add_finished
from .storage import REPO, write_atomic, write_json
from .train import evaluate

FORMAT = "pixelbook-device-bundle/1"
FILE_LIMIT = 16 * 2**20          # the device tool brings back at most 8 files of 16 MiB, 64 MiB in all
MAX_FILES = 8
TOTAL_LIMIT = 64 * 2**20
TEXT_RESERVE = 2 * 2**20         # of the total, for manifest.json and bench.json
BUDGET_S = 480
BENCH_RESERVE_S = 120            # of the budget, for the benchmarks after the runs
RUN_OVERHEAD_S = 4               # a run's set-up, evaluation and spot check, beyond its training
TRAIN_SHARE = 0.85               # of a run's share, for training; the rest evaluates and spot-checks it
TOY = dict(steps=2, eval_images=16)
SPOT_IMAGES = 16
SPOT_TOLERANCE = 1e-3            # bits/dim, device against this machine, on the same weights
FAST_KEYS = ("bf16", "channels_last", "compile")
REHEARSED_FAILURE = {"why": "(rehearsal: a learning rate of 1e30, so its loss overflows and the run fails)",
                     "overrides": {"lr": 1e30}, "suffix": "-rehearsed-failure", "no_deadline": True}


class BundleError(PixelbookError):
    """A device bundle that cannot be imported (missing, corrupt, truncated, or from other code)."""


def planned(profile="gpu", chapters=None) -> list[tuple[str, dict]]:
    """(chapter, ``Chapter.train`` keywords) of every run the chapters train at ``profile``."""
    available = profiles.chapters()
    for chapter in chapters or ():
        if chapter not in available:
            raise UnknownNameError(f"unknown chapter {chapter!r}; known: {known(available)}")
    return [(chapter, spec) for chapter in (chapters or available) for spec in profiles.chapter_runs(chapter, profile)]


def run_options(chapter, spec, overrides) -> dict:
    """``runs.plan`` / ``train_and_evaluate`` keywords of one declared run, as ``Chapter.train``
    passes them."""
    return dict(dataset=spec.get("dataset"), seed=spec.get("seed", 0), size=spec.get("size"),
                label=spec.get("label"), chapter=chapter, train_options=spec.get("train_options"), **overrides)


def comparable(plan: dict) -> dict:
    """A plan without what depends on the device: the fast-path options and the numerics
    fingerprint (computed under that machine's torch version)."""
    kept = {k: v for k, v in plan.items() if k != "numerics"}
    kept["train"] = {k: v for k, v in plan["train"].items() if k not in FAST_KEYS}
    return kept


def spot_bpd(weights: Path, record: dict, device="cpu") -> float:
    """Bits/dim of the first :data:`SPOT_IMAGES` test images under a weights file, in float32."""
    model, _ = load_model(weights, device=device)
    test = data.load(record["dataset"], "test", levels=record["levels"]).subset(SPOT_IMAGES)
    return evaluate(model, test, progress=False)["bpd"]


FAST_CANDIDATES = {"bf16 autocast": dict(bf16=True), "bf16 + channels_last": dict(bf16=True, channels_last=True)}


def choose_fast_path(device, dry_run=False, progress=True) -> tuple[dict, list]:
    """(training options, the measured rows): the fastest of plain float32 (the baseline row)
    and :data:`FAST_CANDIDATES`, measured side by side on PixelCNN++ on ``device``. A dry run
    measures the same candidates on the CPU at a toy size, so the choice is walked there too."""
    rows = bench.training_at("smoke" if dry_run else "gpu", ["pixelcnn_pp"], "fast_path", device, progress,
                             variants=FAST_CANDIDATES)
    best = max(rows, key=lambda r: r["images_per_s"])
    return {k: v for k, v in best.items() if k in FAST_KEYS}, rows


DRY_BENCH_S = 60                  # a dry run's benchmarks: their own minute (below bench.COMPILE_RESERVE_S)


def device_run(out, budget_s=BUDGET_S, dry_run=False, chapters=None, progress=True) -> Path:
    """Train, benchmark and pack (module docstring). Returns the manifest's path."""
    out = Path(out)
    if (out / "manifest.json").exists():
        raise PixelbookError(f"{out} already holds a bundle; give an empty --out")
    device = torch.device("cpu") if dry_run else resolve_device("cuda")
    start = time.monotonic()
    work = [(chapter, spec, {}) for chapter, spec in planned("gpu", chapters)]
    overrides = dict(TOY) if dry_run else {}
    # A dry run rehearses both ways a run ends early, through the real code: the last planned run
    # gets no time (partial after one step), and a copy of the first diverges (its learning rate
    # 1e30; it runs its two steps whatever the budget, as the loss turns NaN at the second).
    rehearse_partial = len(work) - 1 if dry_run else None
    if dry_run:
        work.append((work[0][0], work[0][1], REHEARSED_FAILURE))
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False   # float32 evaluation
    fast, fast_rows = choose_fast_path(device, dry_run, progress)
    train_until = start + budget_s - (0 if dry_run else BENCH_RESERVE_S)
    # Each run's share of what is left is its estimated cost over the cost of the runs left
    # (equal shares in a dry run, where estimating would cost more than the runs).
    costs = [1.0] * len(work) if dry_run else [r["H200_s"] + RUN_OVERHEAD_S for r in estimate("gpu", chapters)]
    scratch = Path(tempfile.mkdtemp(prefix="pixelbook-device-"))
    packed = []
    # A dry run's toy runs take their steps whatever the clock says (a slow machine must rehearse
    # the same outcomes), except the one rehearsed as partial; its benchmarks get a minute of their
    # own, under COMPILE_RESERVE_S, so the compile variants are skipped as on a short device call.
    untimed = lambda k: dry_run and k != rehearse_partial
    try:
        for k, (chapter, spec, rehearsal) in enumerate(work):
            share = 0.0 if k == rehearse_partial else max(0.0, train_until - time.monotonic()) * costs[k] / sum(costs[k:])
            options = run_options(chapter, spec, {**overrides, **rehearsal.get("overrides", {})})
            if progress:
                print(f"[{k + 1}/{len(work)}] {chapter}: {spec['model']} {spec.get('label') or ''} "
                      f"({share:.0f} s){' ' + rehearsal['why'] if rehearsal else ''}", flush=True)
            entry = {"chapter": chapter, "spec": spec, "overrides": overrides,
                     "name": runs.run_name(spec["model"], spec.get("label"), spec.get("seed")) + rehearsal.get("suffix", ""),
                     **({"rehearsal": rehearsal["why"]} if rehearsal else {})}
            try:
                done = runs.train_and_evaluate(spec["model"], "gpu", out=scratch / f"{k:02d}", device=device,
                                               progress=progress, fast=fast, resume=True, sample=False,
                                               deadline=None if rehearsal.get("no_deadline") or untimed(k) else
                                               time.monotonic() + TRAIN_SHARE * share, **options)
            except (PixelbookError, RuntimeError) as e:                # NaN loss, out of memory: the rest go on
                packed.append({**entry, "error": str(e).splitlines()[0] if str(e) else type(e).__name__})
                continue
            packed.append({**entry, "plan": json.loads((done.out / "config.json").read_text()),
                           "metrics": done.metrics, "partial": bool(done.metrics.get("partial")),
                           "weights_file": done.out / "weights.safetensors"})

        def meta():
            return dict(format=FORMAT, dry_run=dry_run, device=device_name(device), torch=torch.__version__,
                        cuda=torch.version.cuda, code=code_hash(), commit=git_commit()[0], fast=fast,
                        fast_path_rows=fast_rows,
                        budget_s=budget_s, overrides=overrides, trained_s=round(trained_s, 1),
                        wallclock_s=round(time.monotonic() - start, 1),
                        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))

        trained_s = time.monotonic() - start
        pack(out, packed, {}, meta(), device)                          # the runs are safe before the benchmarks
        benches = run_benchmarks(device, dry_run, progress,
                                 until=time.monotonic() + min(budget_s, DRY_BENCH_S) if dry_run else start + budget_s)
        return pack(out, packed, benches, meta(), device)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_benchmarks(device, dry_run, progress, until=None) -> dict:
    """``bench train``, ``bench sampling`` and ``bench igpt`` on the device (toy sizes for a dry
    run), in that order; each checks ``until`` (``time.monotonic()``) before every variant, and
    one that would start after it is left out."""
    profile = "smoke" if dry_run else "gpu"                            # the scales: profiles.BENCH
    sampling, igpt = bench.scale(profile, "sampling"), bench.scale(profile, "igpt")
    jobs = {
        "train": lambda: bench.training_at(profile, ["pixelcnn_pp"], "train", device, progress, until),
        "sampling": lambda: bench.sampling(bench.FAMILIES, sampling["batches"], sampling["sizes"],
                                           sampling["naive_budget_s"], device, progress, until=until),
        "igpt": lambda: bench.igpt(igpt["batches"], (1, igpt["size"], igpt["size"]), profile, device, progress,
                                   until=until),
    }
    return {what: job() for what, job in jobs.items() if until is None or time.monotonic() < until}


def as_bf16(path: Path) -> bytes:
    from safetensors.torch import save
    tensors, metadata = read_weights(path)
    return save({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()},
                metadata={**metadata, "dtype": "bfloat16"})


def pack(out: Path, packed: list, benches: dict, meta: dict, device="cpu") -> Path:
    """Write the bundle: weights cut into ``weights-K.bin``, ``bench.json``, then the manifest."""
    capacity = weights_capacity()
    trained = [p for p in packed if "weights_file" in p]
    dtype = "float32"
    if sum(p["weights_file"].stat().st_size for p in trained) > capacity:
        dtype = "bfloat16"
    stream, entries = bytearray(), []
    with tempfile.TemporaryDirectory() as scratch:
        for p in packed:
            entry = {k: p[k] for k in ("chapter", "spec", "overrides", "name", "rehearsal", "plan", "metrics", "partial",
                                       "error") if k in p}
            entry["weights"] = None                                    # failed, or beyond the capacity
            blob = None if "weights_file" not in p else (
                p["weights_file"].read_bytes() if dtype == "float32" else as_bf16(p["weights_file"]))
            if blob is not None and len(stream) + len(blob) > capacity:
                entry["left_out"] = (f"its {dtype} weights ({len(blob):,} bytes) are over what the bundle had left "
                                     f"({capacity - len(stream):,} of {capacity:,} bytes)")
            elif blob is not None:
                entry["weights"] = {"offset": len(stream), "bytes": len(blob), "sha256": sha256(blob), "dtype": dtype}
                stream += blob
                if p.get("spot", (None, None))[0] != dtype:            # measured once per dtype
                    (Path(scratch) / "w.safetensors").write_bytes(blob)
                    p["spot"] = (dtype, spot_bpd(Path(scratch) / "w.safetensors", p["plan"], device))
                entry["spot_bpd"] = p["spot"][1]
            entries.append(entry)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for k in range(0, len(stream), FILE_LIMIT):
        name = f"weights-{k // FILE_LIMIT}.bin"
        write_atomic(out / name, bytes(stream[k: k + FILE_LIMIT]))
        files[name] = {"bytes": len(stream[k: k + FILE_LIMIT]), "sha256": sha256(stream[k: k + FILE_LIMIT])}
    write_json(out / "bench.json", benches)
    files["bench.json"] = describe(out / "bench.json")
    manifest = {**meta, "weights_dtype": dtype, "files": files, "runs": entries,
                "left_out": [f"{e['chapter']}/{e['name']}" for e in entries if "left_out" in e]}
    write_json(out / "manifest.json", manifest)
    if (out / "manifest.json").stat().st_size > FILE_LIMIT:
        raise PixelbookError(f"{out}/manifest.json is over {FILE_LIMIT} bytes")
    return out / "manifest.json"


def weights_capacity() -> int:
    """Bytes of weights a bundle can bring back: 6 of its 8 files, and the 64 MiB total less
    what the manifest and the benchmarks need."""
    return min((MAX_FILES - 2) * FILE_LIMIT, TOTAL_LIMIT - TEXT_RESERVE)


def sha256(blob) -> str:
    return hashlib.sha256(blob).hexdigest()


def describe(path: Path) -> dict:
    blob = path.read_bytes()
    return {"bytes": len(blob), "sha256": sha256(blob)}


# -- the import ---------------------------------------------------------------------------------

def read_bundle(bundle) -> tuple[dict, bytes, dict]:
    """(manifest, the weights stream, the bench rows), every file checked first."""
    bundle = Path(bundle)
    try:
        manifest = json.loads((bundle / "manifest.json").read_text())
        files, entries = manifest["files"], manifest["runs"]
        if manifest.get("format") != FORMAT:
            raise BundleError(f"{bundle}/manifest.json is not a {FORMAT} manifest; nothing imported")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{bundle}/manifest.json: missing or unreadable ({type(e).__name__}); "
                          f"nothing imported") from None
    blobs = {}
    for name, want in files.items():
        try:
            blob = (bundle / Path(name).name).read_bytes()
        except OSError:
            raise BundleError(f"{bundle}/{name}: missing; nothing imported") from None
        if len(blob) != want["bytes"] or sha256(blob) != want["sha256"]:
            raise BundleError(f"{bundle}/{name}: {len(blob)} bytes, its checksum does not match the manifest "
                              f"(truncated or corrupt); nothing imported")
        blobs[name] = blob
    stream = b"".join(blobs[n] for n in sorted((n for n in blobs if n.startswith("weights-")),
                                                key=lambda n: int(n.removeprefix("weights-").removesuffix(".bin"))))
    for entry in entries:
        w = entry.get("weights")
        if w and sha256(stream[w["offset"]: w["offset"] + w["bytes"]]) != w["sha256"]:
            raise BundleError(f"{bundle}: the weights of {entry['chapter']}/{entry['name']} do not match "
                              f"the manifest; nothing imported")
    return manifest, stream, json.loads(blobs["bench.json"]) if "bench.json" in blobs else {}


def device_import(bundle, results_dir=None, progress=True) -> list[Path]:
    """Check the bundle, then write each run's weights and metrics to
    ``results/gpu/<chapter>/`` and the benchmarks to ``results/bench/*_gpu.json`` (module
    docstring). Returns the chapter folders written."""
    manifest, stream, benches = read_bundle(bundle)
    if manifest["dry_run"] and results_dir is None:
        raise BundleError(f"{bundle} is a dry run (toy steps on a CPU): import it only into another "
                          f"results folder (--results DIR), never the book's; nothing imported")
    results_dir = Path(results_dir or REPO / "results")
    if manifest["code"] != code_hash():
        raise BundleError(f"{bundle} was made by other library code (code hash {manifest['code']}, here "
                          f"{code_hash()}; device commit {manifest.get('commit')}); nothing imported")
    checked = []
    with tempfile.TemporaryDirectory() as scratch:
        for entry in manifest["runs"]:
            spec, chapter = entry["spec"], entry["chapter"]
            if entry["weights"] is None:
                if progress:
                    print(f"not imported: {chapter}/{entry['name']}: {not_imported(entry)}", flush=True)
                continue
            local = runs.plan(spec["model"], "gpu", device="cpu", **run_options(chapter, spec, entry["overrides"]))
            if comparable(local) != comparable(entry["plan"]):
                differ = sorted(k for k in comparable(local) if comparable(local)[k] != comparable(entry["plan"]).get(k))
                raise BundleError(f"{chapter}/{entry['name']}: the device's plan differs from this one's in "
                                  f"{', '.join(differ)}; nothing imported")
            w = entry["weights"]
            weights = Path(scratch) / f"{len(checked)}.safetensors"
            weights.write_bytes(float32_weights(stream[w["offset"]: w["offset"] + w["bytes"]], scratch))
            here = spot_bpd(weights, local)
            if abs(here - entry["spot_bpd"]) > SPOT_TOLERANCE:
                raise BundleError(f"{chapter}/{entry['name']}: its first {SPOT_IMAGES} test images give "
                                  f"{here:.5f} bits/dim here, {entry['spot_bpd']:.5f} on the device; nothing imported")
            if progress:
                print(f"checked {chapter}/{entry['name']}: spot {here:.4f} bits/dim here, "
                      f"{entry['spot_bpd']:.4f} on {manifest['device']}", flush=True)
            checked.append((entry, local, weights, here))
        written = write_runs(manifest, checked, results_dir)
    write_benches(manifest, benches, results_dir)
    return written


def not_imported(entry) -> str:
    """Why a bundle's run has no weights to import."""
    if "error" in entry:
        return f"it failed on the device ({entry['error']})"
    return f"left out of the bundle: {entry.get('left_out', 'no weights')}"


def summary(manifest) -> dict:
    """How a device run's runs ended: {runs, complete, partial, failed, left_out}."""
    entries = manifest["runs"]
    failed = sum("error" in e for e in entries)
    partial = sum(bool(e.get("partial")) for e in entries)
    return {"runs": len(entries), "complete": len(entries) - failed - partial, "partial": partial,
            "failed": failed, "left_out": sum("left_out" in e for e in entries)}


def float32_weights(blob: bytes, scratch) -> bytes:
    """A packed weights file as float32 safetensors (bf16 bundles are widened back)."""
    from safetensors.torch import save
    path = Path(scratch) / "widen.safetensors"
    path.write_bytes(blob)
    tensors, metadata = read_weights(path)
    if metadata.get("dtype") != "bfloat16":
        return blob
    metadata = {k: v for k, v in metadata.items() if k != "dtype"}
    return save({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()},
                metadata={**metadata, "widened_from": "bfloat16"})


def write_runs(manifest, checked, results_dir) -> list[Path]:
    folders = {}
    for entry, local, weights, here in checked:
        out = results_dir / "gpu" / entry["chapter"]
        landed = folders.setdefault(out, [])
        metrics = entry["metrics"]
        run = {**metrics["runs"][0], "plan_hash": runs.plan_hash(local), "numerics": local["numerics"],
               "trained": {k: metrics[k] for k in ("commit", "created", "device", "torch")},
               "device_run": {"device": manifest["device"], "torch": manifest["torch"], "fast": manifest["fast"],
                              "wallclock_s": metrics["runs"][0]["wallclock_s"], "code": manifest["code"],
                              "weights_dtype": manifest["weights_dtype"], "dry_run": manifest["dry_run"],
                              "device_numerics": metrics["runs"][0]["numerics"],
                              "numerics_agree": metrics["runs"][0]["numerics"] == local["numerics"],
                              "spot_images": SPOT_IMAGES, "spot_bpd_device": entry["spot_bpd"], "spot_bpd_here": here,
                              "evaluated_on": manifest["device"]}}
        write_atomic(out / f"{entry['name']}.safetensors", weights.read_bytes())
        landed.append(run)
    for out, landed in folders.items():
        add_finished(out, landed)
    return list(folders)


def write_benches(manifest, benches, results_dir):
    """results/bench/<what>_gpu.json and plots, stamped with the device's provenance."""
    figures = {"train": plots.training_figure, "sampling": plots.SAMPLING_FIGURES, "igpt": plots.igpt_figure}
    stamp = {"chapter": "bench", "commit": manifest["commit"], "code": manifest["code"], "dirty": False,
             "created": manifest.get("created"), "device": manifest["device"], "torch": manifest["torch"],
             "dry_run": manifest["dry_run"]}
    for what, rows in benches.items():
        if rows and what in figures:
            bench.write_bench(what, rows, figures[what], results_dir=results_dir, stamp={**stamp, "profile": what},
                              name=f"{what}_gpu")


# -- sizing the gpu profile -------------------------------------------------------------------------
# Training speed on a GPU, for the estimate: dense bf16 matrix products reach about 790 TFLOP/s
# on an H200, but these models are small convolutions and recurrences, far from that. We assume
# an effective EFFECTIVE_FLOPS on each device and a cost per launched operator (forward, backward
# and optimizer); a step costs whichever is larger. Both are guesses until a device run measures
# them (its manifest records every run's real wall-clock).
EFFECTIVE_FLOPS = {"H200": 40e12, "T4": 6e12}
LAUNCH_S = {"H200": 8e-6, "T4": 12e-6}


def step_cost(model_name, image_shape, levels, size, batch) -> tuple[float, int]:
    """(FLOPs, operators) of one training step (forward and backward) at ``batch``, counted on
    the CPU at batch 2 and scaled (FLOPs grow with the batch, the operator count does not)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode


    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    model = models.create(model_name, image_shape, levels, **size)
    model.prepare(torch.randint(0, levels, (8, *image_shape)))
    x = torch.randint(0, levels, (2, *image_shape))
    y = torch.zeros(2, dtype=torch.long) if model.num_classes else None
    flops = FlopCounterMode(display=False)
    with flops, Count():
        (-model.log_prob(x, y).mean()).backward()
    params = sum(1 for p in model.parameters() if p.requires_grad)
    return flops.get_total_flops() * batch / 2, Count.calls + 4 * params   # + Adam and EMA, per tensor


def estimate(profile="gpu", chapters=None) -> list[dict]:
    """Every planned run's training cost at ``profile``: FLOPs and operators per step, and the
    estimated seconds on an H200 and a T4 (:data:`EFFECTIVE_FLOPS`, :data:`LAUNCH_S`)."""
    rows = []
    for chapter, spec in planned(profile, chapters):
        record = runs.plan(spec["model"], profile, device="cpu", **run_options(chapter, spec, {}))
        test = data.load(record["dataset"], "test", levels=record["levels"])
        flops, ops = step_cost(spec["model"], test.image_shape, test.levels, record["size"], record["train"]["batch_size"])
        steps = record["train"]["steps"]
        row = {"chapter": chapter, "model": spec["model"], "label": spec.get("label"), "seed": spec.get("seed"),
               "steps": steps, "batch": record["train"]["batch_size"], "gflop_per_step": round(flops / 1e9, 2),
               "ops_per_step": ops}
        for gpu in EFFECTIVE_FLOPS:
            row[f"{gpu}_s"] = round(steps * max(flops / EFFECTIVE_FLOPS[gpu], ops * LAUNCH_S[gpu]), 1)
        rows.append(row)
    return rows
