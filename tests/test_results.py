"""Committed results come from code that computes what the current code computes.

Every run in results/*/*/metrics.json carries the numerics fingerprint of its model (log_prob of
fixed images under a fixed-seed model, see pixelbook.runs.numerics). If a change to the model
code moves the numbers, this test names the chapter to rerun."""

import json
from pathlib import Path

import pytest

from pixelbook import results, runs
from pixelbook.errors import PixelbookError

REPO = Path(__file__).resolve().parent.parent
RUNS = [(path, run) for path in sorted((REPO / "results").glob("*/*/metrics.json"))
        for run in json.loads(path.read_text()).get("runs", [])]


@pytest.mark.parametrize("path,run", RUNS, ids=[f"{p.parent.parent.name}/{p.parent.name}/{r['model']}" for p, r in RUNS])
def test_committed_run_matches_the_current_model_code(path, run):
    current = runs.numerics(run["model"], run["image_shape"], run["levels"], run["size"])
    chapter = path.parent.name
    assert run.get("numerics") == current, (
        f"{path.relative_to(REPO)}: {run['model']} was produced by model code that computes different "
        f"numbers; rerun: python -m pixelbook run {chapter} --profile {path.parent.parent.name}")


def test_committed_runs_record_their_provenance():
    for path, run in RUNS:
        metrics = json.loads(path.read_text())
        assert metrics["dirty"] is False, f"{path}: produced from uncommitted code"
        assert len(metrics["commit"]) == 40
        assert run["bound"] in ("exact", "upper", "palette")


def test_a_full_disk_leaves_the_previous_metrics_intact(tmp_path, monkeypatch):
    """ENOSPC in the middle of a write (simulated at fsync): one clear line, the old
    metrics.json byte for byte, and no temporary file left behind."""
    import errno
    import os

    from pixelbook.errors import PixelbookError
    from pixelbook.storage import write_json

    path = tmp_path / "metrics.json"
    write_json(path, {"runs": [{"test_bpd": 3.0}]})
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(PixelbookError) as info:
        write_json(path, {"runs": [{"test_bpd": 2.0}] * 1000})
    assert str(info.value) == f"cannot write {path}: No space left on device"
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("chapter", sorted({p.parent.name for p in (REPO / "results" / "smoke").glob("*/metrics.json")}))
def test_declared_chapter_runs_are_the_runs_the_chapter_trained(chapter):
    """``profiles.chapter_runs`` (what a device run trains ahead of the chapters) lists exactly
    the plans the chapter's committed smoke run trained (in the notebook's order or another: a
    notebook may name a run again)."""
    from pixelbook import profiles
    declared = [runs.plan_hash(runs.plan(spec["model"], "smoke", spec.get("dataset"), spec.get("seed", 0),
                                         size=spec.get("size"), label=spec.get("label"), chapter=chapter,
                                         train_options=spec.get("train_options")))
                for spec in profiles.chapter_runs(chapter, "smoke")]
    trained = [run["plan_hash"] for run in json.loads((REPO / "results" / "smoke" / chapter / "metrics.json").read_text())["runs"]]
    assert sorted(declared) == sorted(trained)


def test_every_committed_weights_file_belongs_to_a_run_its_chapter_cites():
    """No orphan weights in the clone: each results/<profile>/<chapter>/<name>.safetensors is the
    weights of a run in that chapter's metrics.json or finished_runs.json (a landed queue run)."""
    from pixelbook import runs as run_names
    orphans = []
    for weights in sorted((REPO / "results").glob("*/*/*.safetensors")):
        cited = set()
        for name in ("metrics.json", "finished_runs.json"):
            path = weights.parent / name
            if path.is_file():
                found = json.loads(path.read_text())
                for run in found["runs"] if name == "metrics.json" else found.values():
                    cited.add(run_names.run_name(run["model"], run.get("label"), run.get("seed")))
                    cited.add(run_names.run_name(run["model"], run.get("label")))
        if weights.stem not in cited:
            orphans.append(str(weights.relative_to(REPO)))
    assert not orphans, f"weights no table cites: {orphans}"


def test_a_bench_file_reads_back_and_a_missing_or_corrupt_one_says_so(tmp_path):
    assert results.read_bench("train", tmp_path) is None
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "train.json").write_text(json.dumps({"device": "cpu: X", "rows": [{"family": "pixelcnn"}]}))
    assert results.read_bench("train", tmp_path)["rows"] == [{"family": "pixelcnn"}]
    for corrupt in ("{not json", "[1, 2]", '{"rows": 3}'):
        (tmp_path / "bench" / "train.json").write_text(corrupt)
        with pytest.raises(PixelbookError, match=r"train.json: not a readable bench train file.*bench train`"):
            results.read_bench("train", tmp_path)
