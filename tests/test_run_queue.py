"""The run queue with real worker processes at the smoke profile: two workers train a chapter's
runs side by side, each run lands in the chapter's finished_runs.json with its weights as it
ends, a killed queue restarts where it stopped (landed runs are not trained again, a run in
flight resumes from its checkpoint), and the chapter then executes on the landed runs."""

import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from pixelbook import book, profiles, results, run_queue
from pixelbook.errors import InputError
from pixelbook.storage import REPO

CHAPTER = "gated_pixelcnn"                    # two runs at two seeds, 150 steps at smoke, a checkpoint every 50


def queue(tmp_path, *extra):
    env = {**os.environ, "PIXELBOOK_RESULTS": str(tmp_path / "results"), "PIXELBOOK_RUNS": str(tmp_path / "runs")}
    return subprocess.Popen([sys.executable, "-m", "pixelbook", "run", CHAPTER, "--profile", "smoke", "--workers", "2",
                             *extra], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finished(tmp_path):
    try:
        return json.loads((tmp_path / "results" / "smoke" / CHAPTER / book.FINISHED_RUNS).read_text())
    except (OSError, ValueError):
        return {}


def checkpoint_steps(tmp_path):
    return sorted(int(p.name[5:]) for p in (tmp_path / "runs").glob("smoke/*/checkpoints/step-*") if p.name[5:].isdigit())


def test_two_workers_a_kill_and_a_restart(tmp_path):
    first = queue(tmp_path, "--quiet")
    deadline = time.monotonic() + 300
    while not checkpoint_steps(tmp_path) and time.monotonic() < deadline:   # training under way in a worker
        time.sleep(0.2)
    assert checkpoint_steps(tmp_path), "no worker wrote a checkpoint"
    os.killpg(first.pid, signal.SIGKILL)                                # the queue and its workers, at once
    first.wait()
    landed_before = set(finished(tmp_path))
    planned = profiles.chapter_runs(CHAPTER, "smoke")
    assert len(landed_before) < len(planned)

    second = queue(tmp_path)
    out, _ = second.communicate(timeout=600)
    assert second.returncode == 0, out
    assert f"{len(planned) - len(landed_before)} runs to train over 2 workers" in out
    landed = finished(tmp_path) or {r["plan_hash"]: r for r in json.loads(
        (tmp_path / "results" / "smoke" / CHAPTER / "metrics.json").read_text())["runs"]}
    assert len(landed) == len(planned) and set(landed_before) <= set(landed)
    folder = tmp_path / "results" / "smoke" / CHAPTER
    assert (folder / "executed.ipynb").is_file() and (folder / "gated_pixelcnn-given-y.safetensors").is_file()
    assert all(r["train_steps"] == profiles.get(CHAPTER, "smoke").steps for r in landed.values())


def test_the_list_prints_one_worker_command_per_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(book, "RESULTS", tmp_path / "results")
    lines = run_queue.listing([CHAPTER], "smoke", threads=1)
    assert len(lines) == len(profiles.chapter_runs(CHAPTER, "smoke"))
    assert all(line.startswith(f"python -m pixelbook run {CHAPTER} --profile smoke --only ") and
               line.endswith("--threads 1") for line in lines)
    assert sorted(line.split("--only ")[1].split()[0] for line in lines) == [               # by name, not index
        "gated_pixelcnn", "gated_pixelcnn-given-y", "gated_pixelcnn-given-y-seed-1", "gated_pixelcnn-seed-1"]


def test_a_worker_names_its_run_and_a_wrong_name_or_index_is_one_line(tmp_path, monkeypatch):
    """A worker's ``--only`` names its run, so a queue started before the chapter's list of runs
    changed (a seed added in the middle) never trains a neighbour instead; an index still works."""
    monkeypatch.setattr(book, "RESULTS", tmp_path / "results")
    trained = []
    monkeypatch.setattr(book.Chapter, "train", lambda self, **kw: trained.append(kw) or (None, {}))
    run_queue.train_one(CHAPTER, "smoke", "gated_pixelcnn-given-y-seed-1")
    run_queue.train_one(CHAPTER, "smoke", "1")
    assert [(kw.get("label"), kw.get("seed", 0)) for kw in trained] == [("given y", 1), (None, 1)]
    with pytest.raises(InputError, match="declares no run 'pixelcnn-seed-1'.*known: gated_pixelcnn, "):
        run_queue.train_one(CHAPTER, "smoke", "pixelcnn-seed-1")
    with pytest.raises(InputError, match=r"has 4 runs at the 'smoke' profile; --only takes 0..3 or a run's name"):
        run_queue.train_one(CHAPTER, "smoke", "4")


def test_the_plan_lists_every_run_with_its_estimate_and_what_the_landed_ones_took():
    """``--plan`` reads the committed smoke results: every run of the chapter is landed there, each
    with its CPU time; the totals count them."""
    text = run_queue.plan([CHAPTER], "smoke")
    planned = profiles.chapter_runs(CHAPTER, "smoke")
    rows = [line for line in text.splitlines() if line.startswith(f"| {CHAPTER}/")]
    assert len(rows) == len(planned)
    assert {row.split(" | ")[0][2:] for row in rows} == {f"{CHAPTER}/gated_pixelcnn", f"{CHAPTER}/gated_pixelcnn-seed-1",
                                                        f"{CHAPTER}/gated_pixelcnn-given-y",
                                                        f"{CHAPTER}/gated_pixelcnn-given-y-seed-1"}
    assert all("landed: " in row and "bits/dim" in row for row in rows)
    assert f"{len(planned)} runs, estimated " in text and f"{len(planned)} landed (" in text and "0 to train" in text


def test_a_workers_line_projects_the_time_left_from_its_own_pace(tmp_path):
    """250 steps in the 10 minutes since the worker resumed at step 250: 500 steps to go take 20."""
    job = SimpleNamespace(chapter="auxiliary", name="grayscale_pixelcnn", folder=tmp_path, steps=1000, estimate_s=600)
    (tmp_path / "checkpoints" / "step-0000250").mkdir(parents=True)
    assert run_queue.progress_line(1, job, time.monotonic() - 300, first_step=250).endswith(
        "step 250 of 1,000 (last checkpoint), 5 min (estimated 10 min in all)")      # no checkpoint since it resumed
    (tmp_path / "checkpoints" / "step-0000500").mkdir()
    assert run_queue.progress_line(1, job, time.monotonic() - 600, first_step=250) == (
        "worker 1: auxiliary/grayscale_pixelcnn, step 500 of 1,000 (last checkpoint), 10 min, "
        "about 20 min to go at this pace (estimated 10 min in all)")


def test_a_worker_landing_late_never_writes_its_stale_copy_over_a_newer_landing(tmp_path):
    """A worker reads the chapter folder when it starts. If another worker lands a newer training
    of some run meanwhile (a --retrain), the first one's landing must keep it: the file is re-read
    under the lock and only the worker's own run is added."""
    out = tmp_path / "results" / "smoke" / CHAPTER
    out.mkdir(parents=True)
    stale = {"model": "gated_pixelcnn", "seed": 0, "plan_hash": "h-retrained", "trained": {"created": "2026-01-01"}}
    (out / book.FINISHED_RUNS).write_text(json.dumps({"h-retrained": stale}))
    late = book.Chapter(CHAPTER, "smoke", out)                      # started before the retrain landed
    newer = {**stale, "trained": {"created": "2026-02-01"}}
    results.add_finished(out, [newer])                              # another worker's retrain lands
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "weights.safetensors").write_bytes(b"not checked here")
    late.land({"model": "gated_pixelcnn", "seed": 1, "plan_hash": "h-own"}, "gated_pixelcnn-seed-1", folder)
    landed = json.loads((out / book.FINISHED_RUNS).read_text())
    assert landed["h-retrained"]["trained"]["created"] == "2026-02-01" and set(landed) == {"h-retrained", "h-own"}
    assert late.previous["h-retrained"]["trained"]["created"] == "2026-02-01"    # and the worker now sees it too


def test_the_rates_read_the_committed_bench_and_fall_back_without_a_readable_one(tmp_path, monkeypatch):
    """The queue's rates come from the one reader of ``bench train``'s file: the committed file gives
    a rate of every family at one thread; a corrupt one leaves the estimates to FLOPs, not a crash."""
    assert {"pixelcnn", "diagonal_bilstm", "row_lstm"} <= set(run_queue.measured_rates())
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "train.json").write_text("{not json")
    monkeypatch.setattr(run_queue, "read_bench", lambda what: results.read_bench(what, tmp_path))
    assert run_queue.measured_rates() == {}
