"""The prepared device run, rehearsed on the CPU: ``device-run --dry-run`` trains the gpu profile's
runs with toy steps, packs them within the device tool's limits, ``device-import`` brings them
into a results folder, and the chapter at the gpu profile (same toy steps) reuses them instead of
training. A damaged bundle imports nothing.

Every machine runs these on the same data: Fashion-MNIST files in the real IDX format, written
here (noise images: the runs are toys), so a fresh machine without the Debian package skips
nothing."""

import json
import time

import pytest

from pixelbook import bench, book, gpu_run, models, profiles, results
from pixelbook.cli import main
from test_data import write_mnist_like

TRAIN_IMAGES, TEST_IMAGES = 256, 1024          # a gpu batch is at most 128; curves read 1,000 test images
BUDGET_S = 90                                  # under bench.COMPILE_RESERVE_S: the compile variants are skipped


@pytest.fixture(scope="module", autouse=True)
def fashion_mnist_files(tmp_path_factory):
    """$PIXELBOOK_DATA (searched before the system folder) holds the four IDX files, for this
    process and the chapter kernels it starts."""
    root = tmp_path_factory.mktemp("data")
    write_mnist_like(root / "fashion-mnist", gz=True, train=TRAIN_IMAGES, test=TEST_IMAGES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIXELBOOK_DATA", str(root))
        yield root


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    gpu_run.device_run(out, budget_s=BUDGET_S, dry_run=True, chapters=["pixelcnn", "gated_pixelcnn"], progress=False)
    return out


def manifest_of(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_the_bundle_fits_what_the_device_tool_brings_back(bundle):
    files = list(bundle.rglob("*"))
    assert all(f.is_file() and f.parent == bundle for f in files)              # flat: DIR/file
    assert len(files) <= gpu_run.MAX_FILES and all(f.stat().st_size <= gpu_run.FILE_LIMIT for f in files)
    manifest = manifest_of(bundle)
    planned = profiles.chapter_runs("pixelcnn", "gpu") + profiles.chapter_runs("gated_pixelcnn", "gpu")
    assert [r["spec"] for r in manifest["runs"]] == planned + planned[:1]         # + the rehearsed failure
    assert manifest["dry_run"] and manifest["code"] and manifest["torch"] and manifest["device"].startswith("cpu")
    assert [r["metrics"]["runs"][0]["train_steps"] for r in manifest["runs"][:2]] == [gpu_run.TOY["steps"]] * 2
    assert set(json.loads((bundle / "bench.json").read_text())) == {"train", "sampling", "igpt"}
    assert manifest["left_out"] == []


def test_the_fast_path_is_measured_against_a_float32_baseline(bundle):
    manifest = manifest_of(bundle)
    rows = manifest["fast_path_rows"]
    assert [r["variant"] for r in rows] == [bench.BASELINE, *gpu_run.FAST_CANDIDATES]
    assert rows[0]["speedup"] == 1.0 and all(r["images_per_s"] > 0 for r in rows)
    best = max(rows, key=lambda r: r["images_per_s"])
    assert manifest["fast"] == {k: v for k, v in best.items() if k in gpu_run.FAST_KEYS}


def test_import_then_the_gpu_chapter_reuses_the_weights_without_training(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(book, "RESULTS", tmp_path / "results")
    written = gpu_run.device_import(bundle, tmp_path / "results", progress=False)
    assert {p.name for p in written} == {"pixelcnn", "gated_pixelcnn"}
    imported = json.loads((tmp_path / "results" / "gpu" / "pixelcnn" / book.FINISHED_RUNS).read_text())
    run = next(iter(imported.values()))
    assert run["device_run"]["dry_run"] and abs(run["device_run"]["spot_bpd_here"] - run["device_run"]["spot_bpd_device"]) <= 1e-3
    assert (tmp_path / "results" / "bench" / "sampling_gpu.json").is_file()
    runs_dir = tmp_path / "no-training-here"                       # its run folders, if it trained
    monkeypatch.setenv("PIXELBOOK_RUNS", str(runs_dir))
    book.run_chapter("pixelcnn", "gpu", [f"steps={gpu_run.TOY['steps']}", f"eval_images={gpu_run.TOY['eval_images']}"],
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


def test_the_dry_run_rehearses_a_partial_run_and_a_failed_one_and_neither_enters_a_table(bundle, tmp_path):
    """The last planned run gets no time (partial after one step); a copy of the first, at a
    learning rate of 1e30, diverges and is recorded with its error while the rest are packed."""
    *_, partial, failed = manifest_of(bundle)["runs"]
    assert partial["partial"] and partial["metrics"]["runs"][0]["train_steps"] < gpu_run.TOY["steps"]
    assert partial["metrics"]["runs"][0]["planned_steps"] == gpu_run.TOY["steps"]
    assert "loss became nan" in failed["error"] and failed["weights"] is None and "rehearsal" in failed
    gpu_run.device_import(bundle, tmp_path / "results", progress=False)
    folder = tmp_path / "results" / "gpu" / "gated_pixelcnn"
    imported = list(json.loads((folder / book.FINISHED_RUNS).read_text()).values())
    assert [bool(r.get("partial")) for r in imported] == [False, True]
    (folder / "metrics.json").write_text(json.dumps({"chapter": "gated_pixelcnn", "profile": "gpu", "runs": imported}))
    rows = results.collect(tmp_path / "results")                     # every imported folder's landed runs
    assert [r["label"] for r in rows if r["chapter"] == "gated_pixelcnn"] == [None]   # the finished one only
    assert results.partial_label(imported[1]) == f" (partial: 1 of {imported[1]['planned_steps']:,} steps)"
    assert results.no_verdict(*imported).startswith("No verdict: gated_pixelcnn (given y) (partial: 1 of")
    assert results.no_verdict(imported[0]) is None and "not finished" in results.left_out_note(imported)


def test_the_cli_names_what_it_left_out_and_counts_how_the_runs_ended(tmp_path, monkeypatch, capsys):
    """Weights over the bundle's capacity (made tiny here) are named by the device run's CLI,
    recorded in the manifest, and named again by the import."""
    monkeypatch.setattr(gpu_run, "FILE_LIMIT", 100_000)
    monkeypatch.setattr(gpu_run, "MAX_FILES", 3)                         # room for 100 kB of weights
    out = tmp_path / "bundle"
    assert main(["device-run", "--dry-run", "--out", str(out), "--chapters", "pixelcnn", "--budget-s", str(BUDGET_S),
                 "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "left out of the bundle (over its capacity): the weights of pixelcnn/pixelcnn"
    assert lines[-1].startswith(f"wrote {out}: 2 runs: 0 complete, 1 partial, 1 failed in ")
    manifest = manifest_of(out)
    assert manifest["left_out"] == ["pixelcnn/pixelcnn"] and "over what the bundle had left" in manifest["runs"][0]["left_out"]
    train = json.loads((out / "bench.json").read_text())["train"]
    assert [r["variant"] for r in train if r.get("skipped")] == ["torch.compile", "all three"]   # the deadline
    assert main(["device-import", str(out), "--results", str(tmp_path / "results")]) == 0
    said = capsys.readouterr().out
    assert "not imported: pixelcnn/pixelcnn: left out of the bundle: its bfloat16 weights (" in said   # bf16: float32 fits less
    assert "not imported: pixelcnn/pixelcnn-rehearsed-failure: it failed on the device (loss became nan" in said
    assert said.strip().splitlines()[-1].startswith("imported 0 of 2 runs: 0 complete, 1 partial, 1 failed, 1 left out")


def test_the_gpu_profiles_weights_fit_the_bundle():
    """Every planned gpu run's evaluation weights, counted from its parameters and buffers,
    fit what the device tool brings back: in float32, or else in bf16 (what ``pack`` picks)."""
    capacity = gpu_run.weights_capacity()
    counts = []
    for chapter, spec in gpu_run.planned("gpu"):
        record = gpu_run.runs.plan(spec["model"], "gpu", device="cpu", **gpu_run.run_options(chapter, spec, {}))
        test = gpu_run.data.load(record["dataset"], "test", levels=record["levels"])
        model = models.create(spec["model"], test.image_shape, test.levels, **record["size"])
        counts.append(sum(t.numel() for t in model.state_dict().values() if t.is_floating_point()))
    float32, bf16 = 4 * sum(counts), 2 * sum(counts)
    print(f"{len(counts)} gpu runs: {sum(counts):,} numbers, {float32:,} bytes in float32, capacity {capacity:,}")
    assert float32 <= capacity or bf16 <= capacity * 0.95                # safetensors headers take a little


def test_every_benchmark_variant_checks_the_deadline():
    gone = time.monotonic()
    train = bench.training(["pixelcnn"], batch=2, image_shape=(1, 4, 4), steps=1, warmup=0, progress=False, until=gone)
    sampling = bench.sampling(["pixelcnn"], [1], [4], progress=False, until=gone)
    igpt = bench.igpt([1], (1, 4, 4), "smoke", progress=False, until=gone)
    assert all(r.get("skipped") == "past the deadline" for r in train + sampling + igpt)
    assert len(train) == len(bench.TRAIN_VARIANTS)


def test_the_gpu_plan_estimate_names_every_run():
    rows = gpu_run.estimate("gpu", ["pixelcnn"])
    assert [r["model"] for r in rows] == ["pixelcnn"]
    assert rows[0]["gflop_per_step"] > 0 and rows[0]["H200_s"] > 0 and rows[0]["T4_s"] > rows[0]["H200_s"]
