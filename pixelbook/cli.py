"""``python -m pixelbook``: train, evaluate and sample from the command line.

Every failure a user can cause ends in one line, ``error: ...``, and a non-zero exit; ``--debug``
shows the traceback instead.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from . import bench, book, data, distributed, gpu_run, models, plots, profiles, run_queue
from .checkpoint import load_model
from .claims import write_claims
from .provenance import resolve_device
from .results import REPO, write_tables
from .runs import train_and_evaluate
from .errors import PixelbookError
from .train import evaluate

EPILOG = """examples:
  python -m pixelbook train pixelcnn --dataset fashion_mnist --profile cpu
  python -m pixelbook evaluate runs/cpu/pixelcnn-fashion_mnist-<hash>
  python -m pixelbook sample runs/cpu/pixelcnn-fashion_mnist-<hash> -n 16 -o grid.png
  python -m pixelbook run pixelcnn --profile cpu          # the chapter, into results/cpu/pixelcnn
  python -m pixelbook run all --profile smoke && python -m pixelbook tables"""


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def seed(text):
    value = int(text) if text.lstrip("-").isdigit() else None
    if value is None or not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in 0..{2**32 - 1}, got {text}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pixelbook", epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model, evaluate test bits/dim, sample a grid")
    t.add_argument("model")
    t.add_argument("--dataset", help="default: the profile's dataset")
    t.add_argument("--profile", default="cpu", help="smoke, cpu, gpu or paper (default: cpu)")
    t.add_argument("--steps", type=positive_int)
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--lr", type=positive_float)
    t.add_argument("--eval-images", type=positive_int, help="evaluate on the first N test images")
    t.add_argument("--out", help="run folder (default: runs/PROFILE/MODEL-DATASET-HASH of the settings)")
    t.add_argument("--seed", type=seed, default=0)
    t.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    t.add_argument("--retrain", action="store_true", help="train again even if this exact run has finished")
    t.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--threads", type=positive_int,
                   help="CPU threads for torch (default: torch's, one per core); give each of several runs "
                        "sharing the cores its own share")
    t.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on for CUDA, off on the CPU; see bench train)")
    t.add_argument("--channels-last", action="store_true", default=None, help="channels_last memory format")
    t.add_argument("--compile", action="store_true", default=None, help="torch.compile the training step")

    e = sub.add_parser("evaluate", help="test bits/dim of a checkpoint")
    e.add_argument("checkpoint", help="a run folder or a weights .safetensors file")
    e.add_argument("--dataset", help="default: the dataset it was trained on")
    e.add_argument("--split", default="test")
    e.add_argument("--images", type=positive_int, help="only the first N images")
    e.add_argument("--device")
    e.add_argument("--quiet", action="store_true")

    s = sub.add_parser("sample", help="draw a grid of samples from a checkpoint")
    s.add_argument("checkpoint")
    s.add_argument("-n", type=positive_int, default=16)
    s.add_argument("-o", "--output", default="samples.png")
    s.add_argument("--seed", type=seed, default=0)
    s.add_argument("--temperature", type=positive_float, default=1.0)
    s.add_argument("--naive", action="store_true", help="the uncached sampler (same images, slower)")
    s.add_argument("--device")
    s.add_argument("--quiet", action="store_true")

    r = sub.add_parser("run", help="execute chapters (or 'all') with papermill into results/PROFILE/CHAPTER; "
                                   "with --workers, train their runs in a queue first")
    r.add_argument("chapter", nargs="+", help="chapter slugs, or 'all'")
    r.add_argument("--workers", type=positive_int, help="train every run of the chapters over N worker processes, "
                                                        "longest first, then execute the chapters (the run queue)")
    r.add_argument("--only", metavar="K|NAME", help="train one run of the chapter (index K of its declared runs, or "
                   "its name as --list prints it) and land it; execute nothing")
    r.add_argument("--list", action="store_true", help="print the queue: one worker command per run not yet landed")
    r.add_argument("--plan", action="store_true", help="print every run of the chapters with its estimated time at "
                                                       "one thread and, once landed, the CPU time it took")
    r.add_argument("--profile", default="smoke")
    r.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter of the chapter's parameters cell (repeatable)")
    r.add_argument("--retrain", action="store_true", help="train even where a matching checkpoint exists")
    r.add_argument("--skip-higher", action="store_true",
                   help="with 'all': leave chapters that have results of a higher profile")
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--threads", type=positive_int, help="CPU threads of the chapter's kernel (OMP_NUM_THREADS); "
                                                        "with --workers, of each worker (default 1)")

    sub.add_parser("tables", help="regenerate results/tables/ from the runs results/*/*/ records "
                                          "(metrics.json, and finished_runs.json landed since)")

    b = sub.add_parser("bench", help="side-by-side benchmarks; writes results/bench/")
    b.add_argument("what", choices=["sampling", "pyramid", "igpt", "train"])
    b.add_argument("--batches", type=positive_int, nargs="+", default=None,
                   help="default: the profile's (profiles.BENCH; sampling at cpu: 1 16 64)")
    b.add_argument("--families", nargs="+", default=None)
    b.add_argument("--size", type=positive_int, default=None, help="image height and width (default: the profile's, "
                                                                   "profiles.BENCH)")
    b.add_argument("--profile", default="cpu", help="sampling: the profile's sizes, batches and naive budget; pyramid, igpt: the profile "
                        "whose model sizes are timed (default cpu)")
    b.add_argument("--device")
    b.add_argument("--threads", type=positive_int, nargs="+", help="train: the thread counts timed (default 1 2)")
    b.add_argument("--against", metavar="REV", help="train: also time the leaderboard's families at git revision "
                                                    "REV, side by side with this code")

    d = sub.add_parser("device-run", help="every chapter's gpu runs and the GPU benchmarks in one call, packed "
                                          "for the device tool (README, 'A GPU run')")
    d.add_argument("--out", help="the bundle's folder (the device tool's $OUT)")
    d.add_argument("--budget-s", type=positive_float, default=480, help="seconds for runs and benchmarks (default 480)")
    d.add_argument("--dry-run", action="store_true", help="the same on the CPU with toy steps (CI)")
    d.add_argument("--chapters", nargs="+", help="only these chapters' runs (default: every chapter)")
    d.add_argument("--estimate", action="store_true",
                   help="print each gpu run's FLOPs, operators and estimated seconds on an H200 and a T4; train nothing")
    d.add_argument("--quiet", action="store_true")

    i = sub.add_parser("device-import", help="check a device bundle and put its runs where the gpu chapters reuse them")
    i.add_argument("bundle", help="the folder the device tool brought back")
    i.add_argument("--results", help="a results folder other than the book's (required for a dry run)")
    i.add_argument("--quiet", action="store_true")

    g = sub.add_parser("stage", help="copy one profile's executed chapters to _staged/ for jupyter-book")
    g.add_argument("--profile", help="default: the highest profile with results for every chapter")
    return p


def cmd_run(args):
    chapters = book.chapters() if args.chapter == ["all"] else args.chapter
    for slug in chapters:
        book.check_chapter(slug)
    if args.only is not None or args.list or args.plan or args.workers:
        if args.only is not None:
            if len(chapters) != 1:
                raise PixelbookError("--only trains one run of one chapter: name one chapter")
            if args.threads:
                torch.set_num_threads(args.threads)
            run = run_queue.train_one(chapters[0], args.profile, args.only, args.parameter, not args.quiet, args.retrain)
            print(f"landed {chapters[0]} run {args.only}: {run['model']}{' (' + run['label'] + ')' if run.get('label') else ''}"
                  f" seed {run['seed']}, {run['test_bpd']:.4f} on {run['eval_images']:,} test images")
        elif args.list:
            print("\n".join(run_queue.listing(chapters, args.profile, args.threads or 1, args.parameter)))
        elif args.plan:
            print(run_queue.plan(chapters, args.profile, args.parameter), end="")
        else:
            run_queue.run_queue(chapters, args.profile, args.workers, args.threads or 1, args.parameter, not args.quiet)
        return
    if args.threads:                                                   # the kernel inherits it
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.chapter == ["all"]:
        book.run_all(args.profile, args.skip_higher, args.retrain, not args.quiet, args.parameter)
        return
    for slug in chapters:
        executed = book.run_chapter(slug, args.profile, args.parameter, args.retrain, not args.quiet)
        print(f"wrote {executed.parent}")


def cmd_bench(args):
    if args.what == "train":
        print(f"wrote {train_benchmark(args)}")
        return
    scale = bench.scale(args.profile, args.what)                       # the defaults: profiles.BENCH
    batches, size = args.batches or scale["batches"], args.size
    if args.what == "pyramid":
        rows = bench.pyramid(batches, size or scale["size"], args.profile, args.device)
        print(f"wrote {bench.write_bench('pyramid', rows, plots.pyramid_figure, args.device)}")
        return
    if args.what == "igpt":
        size = size or scale["size"]
        rows = bench.igpt(batches, (1, size, size), args.profile, args.device)
        print(f"wrote {bench.write_bench('igpt', rows, plots.igpt_figure, args.device)}")
        return
    families = args.families or bench.FAMILIES
    for name in families:
        models.family(name)                                           # unknown names: one clear line
    rows = bench.sampling(families, batches, [size] if size else scale["sizes"], scale["naive_budget_s"], args.device)
    summaries = [bench.profile_steps(name, batch, scale["profile_size"], device=args.device)
                 for name in families for batch in scale["profile_batches"]]
    print(f"wrote {bench.write_sampling(rows, args.device, profiles=summaries)}")


def train_benchmark(args):
    """``bench train``: the profile of every family (images/s, operators, GFLOP/s against matmul),
    the CPU fast-path options side by side at the leaderboard's sizes, and, with ``--against REV``,
    the leaderboard's families against that revision's code."""
    families = args.families or models.names()
    for name in families:
        models.family(name)
    threads = args.threads or [1, 2]
    result = bench.train_profile(families, threads)
    board = profiles.get("leaderboard", "cpu")
    exact = [name for name in board.models if name in families]
    extra = {"matmul_gflop_per_s": result["matmul_gflop_per_s"]}
    with bench.torch_threads(threads[0]):
        timed = bench.scale("cpu", "train")
        extra["fast_path"] = bench.training(exact, board.batch_size, data.shape_and_levels(board.dataset)[0],
                                            timed["steps"], timed["warmup"], variants=bench.CPU_VARIANTS,
                                            knobs=board.models)
    if args.against:
        extra["against"] = bench.against(args.against, [f"{name}, leaderboard size" for name in exact], threads[0])
    figure = lambda rows, device: plots.training_profile({**result, "rows": rows}, device)
    return bench.write_bench("train", result["rows"], figure, args.device, extra=extra)


def cmd_device_run(args):
    if args.estimate:
        rows = gpu_run.estimate("gpu", args.chapters)
        print(f"{'chapter':15s} {'run':32s} {'steps':>6s} {'GFLOP/step':>10s} {'ops/step':>8s} {'H200 s':>7s} {'T4 s':>7s}")
        for r in rows:
            name = " ".join(str(v) for v in (r["model"], r["label"] or "", f"seed {r['seed']}" if r["seed"] is not None else "") if v)
            print(f"{r['chapter']:15s} {name:32s} {r['steps']:6d} {r['gflop_per_step']:10.2f} {r['ops_per_step']:8d} "
                  f"{r['H200_s']:7.1f} {r['T4_s']:7.1f}")
        print(f"{'all':15s} {'':32s} {'':6s} {'':10s} {'':8s} {sum(r['H200_s'] for r in rows):7.0f} "
              f"{sum(r['T4_s'] for r in rows):7.0f}")
        return
    if not args.out:
        raise PixelbookError("device-run needs --out DIR (or --estimate)")
    manifest = gpu_run.device_run(args.out, args.budget_s, args.dry_run, args.chapters, not args.quiet)
    packed = json.loads(manifest.read_text())
    if packed["left_out"]:
        print(f"left out of the bundle (over its capacity): the weights of {', '.join(packed['left_out'])}")
    print(f"wrote {manifest.parent}: {ended(gpu_run.summary(packed))} in {packed['wallclock_s']:.0f} s on {packed['device']}")


def ended(counts) -> str:
    """'30 runs: 28 complete, 1 partial, 1 failed'."""
    return (f"{counts['runs']} runs: {counts['complete']} complete, {counts['partial']} partial, "
            f"{counts['failed']} failed")


def cmd_device_import(args):
    written = gpu_run.device_import(args.bundle, args.results, not args.quiet)
    counts = gpu_run.summary(json.loads((Path(args.bundle) / "manifest.json").read_text()))   # checked by the import
    kept = counts["runs"] - counts["failed"] - counts["left_out"]
    left = f", {counts['left_out']} left out of the bundle" if counts["left_out"] else ""
    print(f"imported {kept} of {ended(counts)}{left}; into {', '.join(str(p) for p in written) or 'nothing'}")


def cmd_tables(args):
    rows = write_tables()
    ledgers = write_claims()
    print(f"wrote {len(rows)} rows to {REPO / 'results' / 'tables'}/bpd.{{md,csv,tex}}, the leaderboards, and "
          + ", ".join(f"claims-{p} ({len(r)} claims)" for p, r in ledgers.items()))


def cmd_stage(args):
    shown = book.stage(args.profile)
    print("staged: " + ", ".join(f"{slug} ({profile})" for slug, profile in shown.items()))


def cmd_train(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    done = train_and_evaluate(args.model, args.profile, args.dataset, args.out, args.seed, args.resume,
                              args.steps, args.batch_size, args.lr, args.eval_images, args.device,
                              progress=not args.quiet, retrain=args.retrain,
                              fast=dict(bf16=args.bf16, channels_last=args.channels_last, compile=args.compile))
    # An error above ends this process non-zero, and torchrun then stops the other ranks.
    main_rank = distributed.context().main
    distributed.finish()
    if not main_rank:                                                  # torchrun: rank 0 reports
        return
    run, metrics = done.metrics["runs"][0], done.metrics
    unit = "palette-space bits per sub-pixel" if run["bound"] == "palette" else "bits/dim"
    print(f"{run['model']} on {run['dataset']}: test {run['test_bpd']:.4f} {unit} "
          f"({run['eval_images']} test images), {run['train_images']} training images in "
          f"{run['wallclock_s']:.0f} s ({run['images_per_s']} images/s) on {metrics['device']}")
    print(f"{'reused the finished run in' if done.reused else 'wrote'} {done.out}")


def _load(args):
    return load_model(args.checkpoint, device=resolve_device(args.device))


def cmd_evaluate(args):
    model, metadata = _load(args)
    dataset = args.dataset or metadata.get("dataset")
    if dataset is None:
        raise PixelbookError(f"{args.checkpoint} holds training weights without their dataset; pass --dataset")
    image_set = data.load(dataset, args.split, levels=model.levels).subset(args.images)
    result = evaluate(model, image_set, progress=not args.quiet)
    print(json.dumps({"model": model.name, "dataset": dataset, "split": args.split,
                      "images": result["images"], "bpd": round(result["bpd"], 5)}))


def cmd_sample(args):
    model, _ = _load(args)
    generator = torch.Generator(model.device).manual_seed(args.seed)
    images = model.sample(args.n, generator=generator, cache=not args.naive, temperature=args.temperature,
                          progress=not args.quiet)
    plots.save_grid(images, model.levels, args.output)
    print(f"wrote {args.n} samples of {model.name} to {args.output}")


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample, "run": cmd_run,
            "tables": cmd_tables, "stage": cmd_stage, "bench": cmd_bench, "device-run": cmd_device_run,
            "device-import": cmd_device_import}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except PixelbookError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        hint = {"train": "; rerun with --resume to continue from the last checkpoint",
                "run": "; run it again: it continues from the last checkpoint"}.get(args.command, "")
        print(f"error: interrupted{hint}", file=sys.stderr)
        return 130
    return 0


def entry_point():
    sys.exit(main())
