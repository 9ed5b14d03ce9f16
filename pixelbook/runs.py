"""A run: train (or resume), evaluate test bits/dim, sample, and record it all with provenance.

The CLI's ``train`` and the chapters call :func:`train_and_evaluate`, so a number in the book and
a number from the command line come from the same code. A run folder holds::

    config.json              what was asked for (model, size, dataset, profile, schedule, seed)
    checkpoints/step-N/      the last two checkpoints (weights, EMA, optimizer, RNG)
    weights.safetensors      the evaluation weights (the EMA average when there is one)
    metrics.json             the numbers and their provenance (DESIGN.md)
    samples.png, curve.png   figures
"""

import json
from dataclasses import asdict
from pathlib import Path

import torch

from . import data, models, plots, profiles
from .checkpoint import save_weights
from .errors import CheckpointError
from .papers import paper_result
from .results import provenance, write_json
from .train import checkpoints, evaluate, train


def default_out(model, dataset, profile, seed) -> Path:
    return Path("runs") / profile / f"{model}-{dataset}-seed{seed}"


def train_and_evaluate(model_name, profile="cpu", dataset=None, out=None, seed=0, resume=False, steps=None,
                       batch_size=None, lr=None, eval_images=None, device=None, progress=True, samples=None):
    chapter, entry = profiles.for_model(model_name, profile)
    dataset = dataset or entry.dataset
    out = Path(out) if out is not None else default_out(model_name, dataset, profile, seed)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    overrides = {k: v for k, v in dict(steps=steps, batch_size=batch_size, lr=lr).items() if v is not None}
    config = entry.train_config(seed=seed, **overrides)
    eval_images = eval_images if eval_images is not None else entry.eval_images

    train_set = data.load(dataset, "train", levels=entry.levels)
    test_set = data.load(dataset, "test", levels=entry.levels).subset(eval_images)
    torch.manual_seed(seed)
    model = models.create(model_name, train_set.image_shape, train_set.levels, **entry.models[model_name])
    model.to(device)
    record = {"model": model.config, "dataset": dataset, "profile": profile, "chapter": chapter,
              "train": asdict(config), "eval_images": eval_images}
    config_file = out / "config.json"
    if checkpoints(out) and not resume:
        raise CheckpointError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    if resume and config_file.is_file() and json.loads(config_file.read_text()) != record:
        raise CheckpointError(f"{out} holds a run with another configuration; use another --out")
    write_json(config_file, record)

    result, eval_model = train(model, train_set, config, out, resume=resume, progress=progress)
    test = evaluate(eval_model, test_set, progress=progress)
    save_weights(eval_model, out / "weights.safetensors",
                 extra={"dataset": dataset, "profile": profile, "step": result.steps, "seed": seed})
    n_samples = samples if samples is not None else entry.samples
    grid = eval_model.sample(n_samples, generator=torch.Generator(device).manual_seed(seed), progress=progress)
    plots.save_grid(grid, train_set.levels, out / "samples.png")
    plots.save_figure(plots.training_curve(result.history, test["bpd"], f"{model_name} on {dataset}"),
                      out / "curve.png")
    run = {
        "model": model_name, "dataset": dataset, "split": "test", "image_shape": list(train_set.image_shape),
        "levels": train_set.levels, "test_bpd": test["bpd"], "bound": "exact", "parts": {},
        "eval_images": test["images"], "train_steps": result.steps, "train_images": result.images,
        "wallclock_s": round(result.wallclock_s, 1),
        "images_per_s": round(result.images / result.wallclock_s, 1) if result.wallclock_s else None,
        "seed": seed, "params": model.num_params(), "size": model.config["size"],
        "history": result.history, "paper": paper_result(model_name),
    }
    metrics = {**provenance(chapter, profile, device), "runs": [run]}
    write_json(out / "metrics.json", metrics)
    return metrics
