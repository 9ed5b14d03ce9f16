"""The prepared device run, rehearsed on the CPU: ``device-run --dry-run`` trains the gpu profile's
runs with toy steps, packs them within the device tool's limits, ``device-import`` brings them
into a results folder, and the chapter at the gpu profile (same toy steps) reuses them instead of
training. A damaged bundle imports nothing."""

import json
import pytest

from pixelbook import book, data, device, profiles, results
from pixelbook.cli import main
from pixelbook.errors import DatasetError, TrainingDiverged


def fashion_mnist_here():
    try:
        data.load("fashion_mnist", "test")
        return True
    except DatasetError:
        return False


pytestmark = pytest.mark.skipif(not fashion_mnist_here(), reason="the gpu profile trains on Fashion-MNIST")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    device.device_run(out, dry_run=True, chapters=["pixelcnn", "gated_pixelcnn"], progress=False)
    return out


def test_the_bundle_fits_what_the_device_tool_brings_back(bundle):
    files = list(bundle.rglob("*"))
    assert all(f.is_file() and f.parent == bundle for f in files)              # flat: DIR/file
    assert len(files) <= device.MAX_FILES and all(f.stat().st_size <= device.FILE_LIMIT for f in files)
    manifest = json.loads((bundle / "manifest.json").read_text())
    planned = profiles.chapter_runs("pixelcnn", "gpu") + profiles.chapter_runs("gated_pixelcnn", "gpu")
    assert [r["spec"] for r in manifest["runs"]] == planned
    assert manifest["dry_run"] and manifest["code"] and manifest["torch"] and manifest["device"].startswith("cpu")
    assert all(r["metrics"]["runs"][0]["train_steps"] == device.TOY["steps"] for r in manifest["runs"])
    assert set(json.loads((bundle / "bench.json").read_text())) == {"train", "sampling", "igpt"}


def test_import_then_the_gpu_chapter_reuses_the_weights_without_training(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(book, "RESULTS", tmp_path / "results")
    written = device.device_import(bundle, tmp_path / "results", progress=False)
    assert {p.name for p in written} == {"pixelcnn", "gated_pixelcnn"}
    imported = json.loads((tmp_path / "results" / "gpu" / "pixelcnn" / book.FINISHED_RUNS).read_text())
    run = next(iter(imported.values()))
    assert run["device_run"]["dry_run"] and abs(run["device_run"]["spot_bpd_here"] - run["device_run"]["spot_bpd_device"]) <= 1e-3
    assert (tmp_path / "results" / "bench" / "sampling_gpu.json").is_file()
    runs_dir = tmp_path / "no-training-here"
    monkeypatch.setenv("PIXELBOOK_RUNS", str(runs_dir))
    book.run_chapter("pixelcnn", "gpu", [f"steps={device.TOY['steps']}", f"eval_images={device.TOY['eval_images']}"],
                     progress=False)
    assert not runs_dir.exists(), "the chapter trained instead of reusing the imported run"
    metrics = json.loads((tmp_path / "results" / "gpu" / "pixelcnn" / "metrics.json").read_text())
    assert metrics["runs"][0]["device_run"]["device"] == run["device_run"]["device"]


def test_a_dry_run_never_imports_into_the_books_results(bundle, capsys):
    assert main(["device-import", str(bundle)]) != 0
    assert "dry run" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncate weights", "flip a byte", "drop manifest", "garble manifest"])
def test_a_damaged_bundle_gives_one_line_and_imports_nothing(bundle, tmp_path, damage, capsys):
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in bundle.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    weights = copy / "weights-0.bin"
    if damage == "truncate weights":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "flip a byte":
        blob = bytearray(weights.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        weights.write_bytes(bytes(blob))
    elif damage == "drop manifest":
        (copy / "manifest.json").unlink()
    else:
        (copy / "manifest.json").write_text((copy / "manifest.json").read_text()[:200])
    target = tmp_path / "results"
    code = main(["device-import", str(copy), "--results", str(target)])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error: ") and err.count("\n") == 1 and "nothing imported" in err
    assert not target.exists()


def test_a_late_run_is_packed_partial_a_failed_one_is_recorded_and_neither_enters_a_table(tmp_path, monkeypatch):
    """A zero budget stops the first run after one step (partial); the second fails (NaN loss)
    and is recorded with its error while the device run goes on and packs the rest."""
    train = device.runs.train_and_evaluate

    def diverging(model_name, profile, **options):
        if options.get("label") == "given y":
            raise TrainingDiverged("loss is nan at step 1; the last good checkpoint is kept")
        return train(model_name, profile, **options)

    monkeypatch.setattr(device.runs, "train_and_evaluate", diverging)
    out = tmp_path / "bundle"
    device.device_run(out, budget_s=0, dry_run=True, chapters=["gated_pixelcnn"], progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    first, second = manifest["runs"]
    assert first["partial"] and first["metrics"]["runs"][0]["train_steps"] < device.TOY["steps"]
    assert "loss is nan" in second["error"] and second["weights"] is None
    device.device_import(out, tmp_path / "results", progress=False)
    folder = tmp_path / "results" / "gpu" / "gated_pixelcnn"
    imported = json.loads((folder / book.FINISHED_RUNS).read_text())
    assert len(imported) == 1 and all(r["partial"] for r in imported.values())
    (folder / "metrics.json").write_text(json.dumps({"runs": list(imported.values())}))
    assert results.collect(tmp_path / "results") == []


def test_the_gpu_plan_estimate_names_every_run():
    rows = device.estimate("gpu", ["pixelcnn"])
    assert [r["model"] for r in rows] == ["pixelcnn"]
    assert rows[0]["gflop_per_step"] > 0 and rows[0]["H200_s"] > 0 and rows[0]["T4_s"] > rows[0]["H200_s"]
