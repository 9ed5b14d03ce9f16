"""The run queue: every run of the chosen chapters, trained by worker processes, longest first.

``python -m pixelbook run CHAPTER... --profile P --workers N [--threads T]`` lists every run the
chapters train at ``P`` (:func:`pixelbook.profiles.chapter_runs`, the one list the notebooks and
``device-run`` read too), leaves out those already in the chapter's results folder, and hands
the rest to N worker processes of T threads each (1 by default), the longest estimated first.
A worker is ``run CHAPTER --only K``: it trains run K of the chapter in its own locked run
folder, resuming from its last checkpoint, and lands it in the chapter's ``finished_runs.json``
with its weights the moment it ends (:meth:`pixelbook.book.Chapter.land`), so a stop loses only
the runs in flight. Once every run has landed, the chapters execute and reuse them.

``--list`` prints one such worker command per run instead, so a cluster's job array can run
them on many machines (README, "Running long jobs").

The estimate of a run's seconds is its training images over the images/s that ``bench train``
measured at one thread for the same family on this kind of machine (``results/bench/train.json``),
at the size nearest the run's, scaled by the two models' FLOPs per image; without a
measurement, its FLOPs at a nominal rate. Only the order (and
``--plan``'s estimates) depend on it.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import bench, book, data, models, profiles, runs
from .errors import InputError, PixelbookError, known
from .results import Column, cpu_seconds, read_bench, render
from .storage import REPO, runs_root
from .train import checkpoints

NOMINAL_GFLOP_S = 20.0            # a CPU thread's training rate when nothing was measured
POLL_S = 30                       # seconds between progress lines


@dataclass
class Job:
    chapter: str
    index: int                    # in profiles.chapter_runs(chapter, profile)
    spec: dict
    name: str
    folder: Path                  # the run folder it trains in
    steps: int
    images: int                   # training images: steps x batch
    estimate_s: float
    landed: dict | None = None    # the finished run's entry, once it has landed

    def command(self, profile, threads, parameters=()) -> list[str]:
        """The worker's command line (what ``--list`` prints). It names the run, not its index, so
        a worker started after the chapter's list of runs changed still trains this run."""
        return [sys.executable, "-m", "pixelbook", "run", self.chapter, "--profile", profile, "--only",
                self.name, "--threads", str(threads), *[a for p in parameters for a in ("-p", p)]]


def chapter_for(chapter, profile, parameters=(), retrain=False):
    """A :class:`pixelbook.book.Chapter` writing into ``results/<profile>/<chapter>/`` with the
    chapter's ``-p`` overrides that change its runs (steps, eval_images)."""
    book.check_chapter(chapter)
    values = book.parse_parameters(parameters, book.declared_parameters(book.read_chapter(chapter)))
    overrides = {k: v for k, v in values.items() if k in ("steps", "eval_images")}
    return book.Chapter(chapter, profile, book.RESULTS / profile / chapter, retrain, **overrides)


def jobs(chapters, profile, parameters=(), include_landed=False) -> list[Job]:
    """The runs still to train (with ``include_landed``, every run), longest estimate first."""
    profiles.check_profile(profile)
    measured = measured_rates()
    queue = []
    for chapter in chapters:
        ch = chapter_for(chapter, profile, parameters)
        for index, spec in enumerate(profiles.chapter_runs(chapter, profile)):
            options, record, name = ch.plan(**profiles.spec_keywords(spec))
            finished = ch.previous[runs.plan_hash(record)] if landed(ch, record, name) else None
            if finished and not include_landed:
                continue
            steps, batch = record["train"]["steps"], record["train"]["batch_size"]
            queue.append(Job(chapter, index, spec, name, runs.run_folder(record), steps, steps * batch,
                             estimate_seconds(record, steps * batch, measured), finished))
    return sorted(queue, key=lambda j: -j.estimate_s)


def landed(ch, record, name) -> bool:
    return runs.plan_hash(record) in ch.previous and (ch.out / f"{name}.safetensors").is_file()


def measured_rates() -> dict:
    """{family: [(size knobs, images/s, FLOPs per image)]}: every size ``bench train`` measured at
    one thread (:func:`pixelbook.results.read_bench`); {} without a readable file, when the
    estimates fall back to FLOPs at a nominal rate."""
    try:
        bench = read_bench("train") or {"rows": []}
    except PixelbookError:
        return {}
    rates = {}
    for r in bench["rows"]:
        if isinstance(r, dict) and r.get("threads") == 1 and "images_per_s" in r:
            rates.setdefault(r["family"], []).append((r.get("knobs", {}), r["images_per_s"], r["flops_per_image"]))
    return rates


def estimate_seconds(record, images, measured) -> float:
    """The images over the rate measured at the size nearest the run's (most knobs in common: an
    ablation is timed by its chapter's size), scaled by the two models' FLOPs per image (1 at the
    same size); without a measurement of its family, its FLOPs at a nominal rate."""
    shape, levels = data.shape_and_levels(record["dataset"])
    model = models.create(record["model"], shape, record["levels"] or levels, **record["size"])
    x = torch.zeros(2, *shape, dtype=torch.long)
    y = torch.zeros(2, dtype=torch.long) if model.num_classes else None
    flops = bench.step_flops(model, x, y) / 2
    if record["model"] in measured:
        common = lambda knobs: sum(record["size"].get(k) == v for k, v in knobs.items())
        _, rate, their_flops = max(measured[record["model"]], key=lambda m: common(m[0]))
        return images / rate * flops / their_flops
    return images * flops / (NOMINAL_GFLOP_S * 1e9)


def train_one(chapter, profile, run, parameters=(), progress=True, retrain=False):
    """A worker: train one run of the chapter (``run``: its index K in the chapter's declared runs,
    or its name as ``--list`` prints it), resuming its run folder, and land it; with ``retrain``,
    train it afresh even where it has landed (a run whose measured speed is stale)."""
    ch = chapter_for(chapter, profile, parameters, retrain)
    planned = profiles.chapter_runs(chapter, profile)
    if str(run).isdigit():
        if not 0 <= int(run) < len(planned):
            raise InputError(f"chapter {chapter} has {len(planned)} runs at the {profile!r} profile; "
                             f"--only takes 0..{len(planned) - 1} or a run's name")
        spec = planned[int(run)]
    else:
        names = {ch.plan(**profiles.spec_keywords(spec))[2]: spec for spec in planned}
        if run not in names:
            raise InputError(f"chapter {chapter} declares no run {run!r} at the {profile!r} profile; "
                             f"known: {known(names)}")
        spec = names[run]
    return ch.train(**profiles.spec_keywords(spec), progress=progress)[1]


def describe(job) -> str:
    return f"{job.chapter}/{job.name}"                                # the name holds the seed when one is set


def checkpoint_step(job) -> int:
    found = checkpoints(job.folder)
    return int(found[-1].name[5:]) if found else 0


def progress_line(worker, job, started, first_step=0) -> str:
    """Where a worker is: its last checkpoint, and once it has saved one since it started
    (``first_step`` is where it resumed), the time left at the pace it has kept: the estimate is
    one thread alone on the bench's machine, which another machine, or two workers sharing its
    cores, can miss by a factor of two."""
    step, elapsed = checkpoint_step(job), time.monotonic() - started
    pace = (f", about {(job.steps - step) * elapsed / (step - first_step) / 60:.0f} min to go at this pace"
            if step > first_step else "")
    return (f"worker {worker}: {describe(job)}, step {step:,} of {job.steps:,} (last checkpoint), "
            f"{elapsed / 60:.0f} min{pace} (estimated {job.estimate_s / 60:.0f} min in all)")


def run_queue(chapters, profile, workers=1, threads=1, parameters=(), progress=True, poll_s=POLL_S) -> list[Job]:
    """Train every job over ``workers`` processes, then execute the chapters (module docstring).
    Returns the jobs trained. A worker that fails stops the queue with its chapter, run and the
    end of its log; the runs that landed stay."""
    queue, active, done, log_dir = jobs(chapters, profile, parameters), {}, [], runs_root() / "queue"
    log_dir.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"{len(queue)} runs to train over {workers} worker{'s' * (workers > 1)} of {threads} "
              f"thread{'s' * (threads > 1)}, longest first (about {sum(j.estimate_s for j in queue) / 3600:.1f} "
              f"CPU-hours at one thread each)", flush=True)
    last = time.monotonic()
    try:
        while queue or active:
            while queue and len(active) < workers:
                job = queue.pop(0)
                free = next(k for k in range(1, workers + 1) if k not in {w for w, *_ in active.values()})
                log = open(log_dir / f"{job.chapter}-{job.index}.log", "w")
                env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PIXELBOOK_PROGRESS": "0"}
                process = subprocess.Popen(job.command(profile, threads, parameters) + ["--quiet"], stdout=log,
                                           stderr=subprocess.STDOUT, env=env, cwd=REPO)
                active[process.pid] = (free, job, process, log, time.monotonic(), checkpoint_step(job))
                if progress:
                    print(f"worker {free}: started {describe(job)} ({job.steps:,} steps, estimated "
                          f"{job.estimate_s / 60:.0f} min)", flush=True)
            time.sleep(min(1.0, poll_s))
            for pid, (worker, job, process, log, started, _) in list(active.items()):
                if process.poll() is None:
                    continue
                log.close()
                del active[pid]
                if process.returncode:
                    tail = (log_dir / f"{job.chapter}-{job.index}.log").read_text().strip().splitlines()[-1:]
                    raise PixelbookError(f"worker {worker} failed on {describe(job)} (exit {process.returncode}): "
                                         f"{tail[0] if tail else 'no output'}; the runs that landed are kept")
                done.append(job)
                if progress:
                    print(f"worker {worker}: landed {describe(job)} in {(time.monotonic() - started) / 60:.1f} min "
                          f"({len(done)} done, {len(queue) + len(active)} to go)", flush=True)
            if progress and active and time.monotonic() - last >= poll_s:
                for worker, job, _, _, started, first_step in sorted(active.values(), key=lambda a: a[0]):
                    print(progress_line(worker, job, started, first_step), flush=True)
                last = time.monotonic()
    finally:
        for _, job, process, log, *_ in active.values():                # interrupted: stop the workers
            process.terminate()
            process.wait()
            log.close()
    for chapter in chapters:
        executed = book.run_chapter(chapter, profile, list(parameters), progress=progress)
        if progress:
            print(f"wrote {executed.parent}", flush=True)
    return done


def plan(chapters, profile, parameters=()) -> str:
    """``--plan``: every run of the chapters (landed or not) with its training images, its
    estimated time at one thread and, once landed, what it took (wall-clock x threads), as a
    markdown table with the totals under it."""
    planned = jobs(chapters, profile, parameters, include_landed=True)
    threads = lambda run: run.get("threads") or 1
    status = lambda job: (f"landed: {cpu_seconds(job.landed) / 60:.0f} CPU-min ({threads(job.landed)} thread"
                          f"{'s' * (threads(job.landed) > 1)}), {job.landed['test_bpd']:.4f} bits/dim"
                          if job.landed else "to train")
    columns = [Column("run", describe), Column("training images", lambda j: f"{j.images:,}"),
               Column("estimate at one thread (min)", lambda j: f"{j.estimate_s / 60:.0f}"), Column("status", status)]
    done = [j.landed for j in planned if j.landed]
    return (render(planned, columns) + f"\n{len(planned)} runs, estimated {sum(j.estimate_s for j in planned) / 3600:.1f} "
            f"CPU-hours at one thread; {len(done)} landed ({sum(map(cpu_seconds, done)) / 3600:.1f} CPU-hours spent), "
            f"{len(planned) - len(done)} to train.\n")


def listing(chapters, profile, threads=1, parameters=()) -> list[str]:
    """``--list``: one worker command a line, longest first, for every run not yet landed."""
    import shlex
    return [" ".join(shlex.quote(a) for a in ["python", *job.command(profile, threads, parameters)[1:]])
            for job in jobs(chapters, profile, parameters)]
