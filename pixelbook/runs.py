"""A run: train (or resume, or reuse), evaluate test bits/dim, sample, and record it all.

The CLI's ``train`` and the chapters call :func:`train_and_evaluate`, so a number in the book and
a number from the command line come from the same code. Everything that determines a run's
numbers (model and size, dataset, schedule, seed, evaluation subset) is its *plan*; the plan's
hash names the run folder, so the same plan finds its finished run and reuses it::

    runs/<profile>/<model>-<dataset>-<hash>/
        config.json              the plan
        checkpoints/step-N/      the last two checkpoints (weights, EMA, optimizer, RNG)
        weights.safetensors      the evaluation weights (the EMA average when there is one)
        metrics.json             the numbers and their provenance (README.md, "Results and provenance")
        samples.png, curve.png   figures
"""

import contextlib
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import data, distributed, models, plots, profiles
from .checkpoint import load_model, save_weights
from .errors import CheckpointError, UnknownNameError
from .papers import paper_result
from .provenance import provenance, resolve_device
from .storage import folder_lock, runs_root, write_json
from .train import EMA_RULE, OPTIONAL, TRAINING_VERSION, TrainConfig, checkpoints, evaluate, train

def numerics(model_name, image_shape, levels, size) -> str:
    """A fingerprint of what the model code computes: ``log_prob`` of two fixed images under a
    fixed-seed model of the run's size, in float64 on the CPU, to 9 significant digits.

    The model is ``prepare``d on fixed random images first, so data-dependent setup (ImageGPT's
    palette fit) is covered too. It is part of the plan, so a change to the model code that moves
    any number never reuses an old run, while a refactor that moves nothing keeps its results.
    ``tests/test_results.py`` checks every committed result against the current code this way."""
    with torch.random.fork_rng(devices=[]):                            # leave the caller's RNG alone
        torch.manual_seed(1234)
        model = models.create(model_name, image_shape, levels, **size).double().eval()
        model.prepare(torch.randint(0, levels, (8, *image_shape), generator=torch.Generator().manual_seed(91)))
        x = torch.randint(0, levels, (2, *image_shape), generator=torch.Generator().manual_seed(5678))
        with torch.no_grad():
            log_prob = model.log_prob(x).tolist()
    text = json.dumps([model.config, model.num_params(), [f"{v:.8e}" for v in log_prob]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def plan(model_name, profile="cpu", dataset=None, seed=0, steps=None, batch_size=None, lr=None,
         eval_images=None, size=None, label=None, processes=1, fast=None, device=None, chapter=None,
         train_options=None) -> dict:
    """Everything that determines a run's numbers, as plain JSON-able data. ``size`` overrides
    some of the profile's size knobs (an ablation), and ``label`` names such a variant.
    ``processes`` > 1 (torchrun) multiplies the global batch, so it is part of the plan, as are
    the fast-path options in ``fast`` (bf16 moves the numbers). bf16's default is resolved for
    ``device`` first (on for CUDA, off on the CPU), so a CPU fp32 run and a GPU bf16 run never
    share a plan; fp32, the CPU's default, stays out of the plan as before (a GPU plan records
    ``bf16: true`` now; no GPU run was committed before that change). ``chapter`` picks the
    profile entry when several chapters train the model (the leaderboard); by default, the
    chapter of the model's family. ``train_options`` gives other ``TrainConfig`` fields of a variant's own
    (a second budget: steps, curve and checkpoint intervals); the explicit keywords win over it."""
    if chapter is None:
        chapter, entry = profiles.for_model(model_name, profile)
    else:
        entry = profiles.get(chapter, profile)
        if model_name not in entry.models:
            raise UnknownNameError(f"the {profile!r} profile of chapter {chapter} trains no {model_name}; "
                                   f"it trains: {', '.join(entry.models)}")
    dataset = dataset or entry.dataset
    test_set = data.load(dataset, "test", levels=entry.levels)        # its shape and levels; cached
    size = {**entry.models[model_name], **(size or {})}
    fast = dict(fast or {})
    if fast.get("bf16") is None and resolve_device(device).type == "cuda":
        fast["bf16"] = True                                            # what training would do on this device
    overrides = {k: v for k, v in dict(steps=steps, batch_size=batch_size, lr=lr, **fast).items()
                 if v is not None}
    overrides = {**entry.train_overrides.get(model_name, {}), **(train_options or {}), **overrides}
    train = {k: v for k, v in asdict(entry.train_config(seed=seed, **overrides)).items()
             if not (k in OPTIONAL and v == OPTIONAL[k])}
    variant = {"label": label} if label is not None else {}         # absent for the main runs: stable hashes
    if processes > 1:
        variant["processes"] = processes
    if train["ema"]:
        variant["ema_rule"] = EMA_RULE
    record = {"chapter": chapter, "profile": profile, "model": model_name, **variant, "size": size,
              "numerics": numerics(model_name, test_set.image_shape, test_set.levels, size),
              "training": TRAINING_VERSION, "dataset": dataset, "levels": entry.levels, "train": train,
              "eval_images": eval_images if eval_images is not None else entry.eval_images,
              "samples": entry.samples, **({"curve_images": entry.curve_images} if train.get("curve_every") else {})}
    return json.loads(json.dumps(record))                              # tuples as lists, as config.json reads back


def plan_hash(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:10]


def run_folder(record: dict) -> Path:
    return runs_root() / record["profile"] / f"{record['model']}-{record['dataset']}-{plan_hash(record)}"


def run_name(model_name, label=None, seed=None) -> str:
    """'pixelcnn_pp', 'pixelcnn_pp-no-shortcuts' for a labelled variant, 'pixelcnn-seed-1' for a
    chosen seed: file names in results/."""
    name = model_name if label is None else f"{model_name}-{'-'.join(label.split())}"
    return name if seed is None else f"{name}-seed-{seed}"


def read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise CheckpointError(f"{path}: not valid JSON (a damaged run folder); choose another --out") from None


def finished(out: Path, record: dict) -> dict | None:
    """The metrics of a finished run of this exact plan in ``out``, else None."""
    try:
        metrics = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    done = metrics.get("plan_hash") == plan_hash(record) and (out / "weights.safetensors").is_file()
    return metrics if done and not metrics.get("partial") else None   # a partial run resumes


@dataclass
class Run:
    out: Path
    metrics: dict           # as in out/metrics.json
    reused: bool            # True when a finished run of the same plan was found


def train_and_evaluate(model_name, profile="cpu", dataset=None, out=None, seed=0, resume=False, steps=None,
                       batch_size=None, lr=None, eval_images=None, device=None, progress=True,
                       retrain=False, size=None, label=None, fast=None, chapter=None, deadline=None,
                       sample=True, train_options=None) -> Run:
    """Train, evaluate and sample one model into ``out`` (default: the plan's run folder).
    A finished run of the same plan is reused unless ``retrain``. Past ``deadline``
    (``time.monotonic()``) training stops at a checkpoint, and the run is evaluated and recorded
    as ``partial``: never reused as finished, never put in a bpd table. ``sample=False`` skips
    the sample grid (a device run, whose chapters draw their own). Under ``torchrun`` this is one
    rank of a data-parallel job (``pixelbook.distributed``): ``batch_size`` is per rank, and rank
    0 writes every file."""
    context = distributed.context()
    if not context.main:                                               # rank 0 fetches the data first:
        context.barrier()                                              # downloads are not atomic
    record = plan(model_name, profile, dataset, seed, steps, batch_size, lr, eval_images, size, label, context.world,
                  fast, device, chapter, train_options)
    out = Path(out) if out is not None else run_folder(record)
    done = None if retrain else finished(out, record)
    if done is None:                                                   # a finished run needs no data
        train_set = data.load(record["dataset"], "train", levels=record["levels"])
        full_test = data.load(record["dataset"], "test", levels=record["levels"])
        test_set = full_test.subset(record["eval_images"])
        curve_set = full_test.subset(record["curve_images"]) if record.get("curve_images") else None
    if context.main:
        context.barrier()
    if done is not None:
        return Run(out, done, reused=True)
    # One training process per folder. Rank 0 holds the lock; if it cannot, it exits with one line
    # and torchrun stops the other ranks, which wait at the next collective.
    with folder_lock(out) if context.main else contextlib.nullcontext():
        done = finished(out, record) if context.main and not retrain else None   # finished meanwhile?
        if context.sum(torch.tensor([float(done is not None)])).item():  # rank 0 decides for every rank
            return Run(out, done or {}, reused=True)
        device = context.device(resolve_device(device))
        config_file = out / "config.json"
        if config_file.is_file() and read_config(config_file) != record:
            raise CheckpointError(f"{out} holds a run with another configuration; choose another --out")
        if checkpoints(out) and not resume and not retrain:
            raise CheckpointError(f"{out} already holds a run; pass --resume to continue it or --retrain")
        context.barrier()                                                  # every rank has checked the folder
        if context.main:
            if retrain:
                for old in checkpoints(out):
                    shutil.rmtree(old)
            write_json(config_file, record)
        context.barrier()
        started = provenance(record["chapter"], profile, device)             # the code that trains, not later code
        torch.manual_seed(seed)
        model = models.create(model_name, train_set.image_shape, train_set.levels, **record["size"]).to(device)
        model.prepare(train_set.images, seed)
        result, eval_model = train(model, train_set, TrainConfig(**record["train"]), out, resume=resume,
                                   progress=progress, context=context, curve_set=curve_set, deadline=deadline)
        test = evaluate(eval_model, test_set, progress=progress, context=context)
        run = {
            "model": model_name, "dataset": record["dataset"], "split": "test",
            "image_shape": list(train_set.image_shape), "levels": train_set.levels, "test_bpd": test["bpd"],
            "bound": model.bound, "parts": test["parts"], "eval_images": test["images"],
            "test_split_images": len(full_test),
            "train_steps": result.steps,
            "train_images": result.images, "wallclock_s": round(result.wallclock_s, 1),
            "images_per_s": round(result.images / result.wallclock_s, 1) if result.wallclock_s else None,
            "seed": seed, "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "params": model.num_params(), "size": model.config["size"], "numerics": record["numerics"],
            "history": result.history,
            **({"curve": result.curve, "curve_images": len(curve_set)} if curve_set is not None else {}),
            "label": label, "conditional": model.num_classes is not None,
            "paper": paper_result(model_name) if label is None else None,
            **({"processes": context.world} if context.world > 1 else {}),
        }
        metrics = {**started, "plan_hash": plan_hash(record), "runs": [run]}
        if result.steps < record["train"]["steps"]:                     # stopped at the deadline
            metrics["partial"] = run["partial"] = True
            run["planned_steps"] = record["train"]["steps"]
        if context.main:
            save_weights(eval_model, out / "weights.safetensors",
                         extra={"dataset": record["dataset"], "profile": profile, "step": result.steps, "seed": seed})
            if sample:
                grid = eval_model.sample(record["samples"], generator=torch.Generator(device).manual_seed(seed),
                                         progress=progress)
                plots.save_grid(grid, train_set.levels, out / "samples.png")
            curve = plots.training_curve(result.history, test["bpd"], f"{model_name} on {record['dataset']}")
            plots.save_figure(curve, out / "curve.png")
            plots.plt.close(curve)
            write_json(out / "metrics.json", metrics)                      # the other ranks need none of it
        return Run(out, metrics, reused=False)


def load_run(out, device="cpu"):
    """(evaluation model, metrics) of a finished run folder."""
    model, _ = load_model(Path(out) / "weights.safetensors", device=device)
    return model, json.loads((Path(out) / "metrics.json").read_text())
