"""The command line: a happy path, and one exact line plus a non-zero exit for each bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pixelbook as pb
from pixelbook import book, data
from pixelbook.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "pixelcnn"
    assert main(["train", "pixelcnn", "--profile", "smoke", "--steps", "20", "--out", str(out), "--quiet"]) == 0
    return out


def test_train_writes_the_run_folder(smoke_run):
    for name in ("config.json", "weights.safetensors", "metrics.json", "samples.png", "curve.png"):
        assert (smoke_run / name).is_file(), name
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for key in ("chapter", "profile", "commit", "created", "device", "torch", "runs"):
        assert key in metrics
    run = metrics["runs"][0]
    assert run["model"] == "pixelcnn" and run["dataset"] == "digits" and run["bound"] == "exact"
    assert run["train_steps"] == 20 and run["train_images"] == 20 * 32 and run["eval_images"] == 297
    assert 0 < run["test_bpd"] < 8
    assert run["paper"]["dataset"] == "cifar10"                   # the paper's number, labelled as such


def test_evaluate_and_sample(smoke_run, tmp_path, capsys):
    assert main(["evaluate", str(smoke_run), "--quiet"]) == 0
    line = json.loads(capsys.readouterr().out)
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert line["bpd"] == pytest.approx(metrics["runs"][0]["test_bpd"], abs=1e-5)
    assert main(["sample", str(smoke_run / "weights.safetensors"), "-n", "4", "-o", str(tmp_path / "g.png"),
                 "--quiet"]) == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No system Fashion-MNIST, an empty data root, and downloads that fail at once."""
    monkeypatch.setattr(data, "FASHION_MNIST_SYSTEM_DIRS", ())
    monkeypatch.setenv("PIXELBOOK_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(data, "_download", lambda *a, **k: " (download failed: offline)")


# (argv, exit code, the exact one-line message). "{run}" is a finished smoke run, "{tmp}" an
# empty folder, "{cut}" a truncated weights file, "{file}" a plain file. A message ending in
# "..." is matched on its start, and on any "...middle..." part.
ERRORS = [
    ("train pixelcnn_v2", 2, "error: unknown model 'pixelcnn_v2'; known: {models}"),
    ("train pixelcnn --dataset imagenet --profile smoke", 2, "error: unknown dataset 'imagenet'; known: ..."),
    ("train pixelcnn --profile huge", 2, "error: unknown profile 'huge'; known: smoke, cpu, gpu, paper"),
    ("train pixelcnn --profile smoke --dataset fashion_mnist --out {tmp}/o", 2,
     "error: fashion_mnist: no test IDX files in ...(download failed: offline); apt-get install ..."),
    ("train pixelcnn --profile smoke --out {run}", 2,
     "error: {run} holds a run with another configuration; choose another --out"),
    ("train pixelcnn --profile smoke --steps 5 --out {file}/run", 2, "error: cannot write {file}/run/..."),
    ("evaluate {tmp}/nowhere", 2, "error: no checkpoint at {tmp}/nowhere"),
    ("evaluate {cut}", 2, "error: {cut}: not a readable safetensors file (truncated or corrupt..."),
    ("evaluate {run} --dataset colored_digits", 2,
     "error: colored_digits images are [3, 8, 8] with 256 levels, but this pixelcnn takes [1, 8, 8] with 256"),
    ("evaluate {run} --images 5000", 2, "error: subset(5000) of digits/test: choose n in 0..297"),
    ("sample {tmp}/missing.safetensors", 2, "error: no checkpoint at {tmp}/missing.safetensors"),
    ("train pixelcnn --profile smoke --device quantum --out {tmp}/q", 2,
     "error: unknown device 'quantum'; use cpu, cuda or cuda:N"),
    ("train pixelcnn --profile smoke --device cuda:7 --out {tmp}/q", 2, "error: --device cuda:7: ..."),
    ("train pixelcnn --profile smoke --out {damaged}", 2,
     "error: {damaged}/config.json: not valid JSON (a damaged run folder); choose another --out"),
    ("evaluate {step}", 2, "error: {step} holds training weights without their dataset; pass --dataset"),
    ("run all --profile huge", 2, "error: unknown profile 'huge'; known: smoke, cpu, gpu, paper"),
    ("run pixelcnn -p steps=abc", 2, "error: parameter steps=abc is not int | None"),
    ("run pixelcnn -p output_dir=/tmp", 2, "error: parameter output_dir is set by the runner; use --profile and --retrain"),
    ("run pixelcnm", 2, "error: unknown chapter 'pixelcnm'; known: {chapters}"),
]


@pytest.mark.parametrize("argv,code,expected", ERRORS, ids=[e[0].split(" --out")[0] for e in ERRORS])
def test_bad_input_gives_one_line_and_a_nonzero_exit(argv, code, expected, smoke_run, tmp_path, offline, capsys):
    (tmp_path / "file").write_text("not a folder")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes((smoke_run / "weights.safetensors").read_bytes()[:1000])
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text("{not json")
    step = sorted((smoke_run / "checkpoints").iterdir())[-1]
    places = {"run": smoke_run, "tmp": tmp_path, "cut": cut, "file": tmp_path / "file", "damaged": damaged,
              "step": step, "models": ", ".join(sorted(pb.models.names())), "chapters": ", ".join(book.chapters())}
    argv, expected = argv.format(**places).split(), expected.format(**places)
    assert main(argv + ["--quiet"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    line = err.rstrip("\n")
    if not expected.endswith("..."):
        assert line == expected
    else:
        first, *middles = expected[:-3].split("...")
        assert line.startswith(first), line
        assert all(m in line for m in middles), line


@pytest.mark.parametrize("argv,message", [
    ("train pixelcnn --steps abc", "--steps: expected a whole number, got 'abc'"),
    ("train pixelcnn --lr -1", "--lr: expected a positive number, got -1"),
    ("train pixelcnn --lr nan", "--lr: expected a positive number, got nan"),
    ("train pixelcnn --seed 99999999999", "--seed: expected a seed in 0..4294967295, got 99999999999"),
    ("sample x --temperature 0", "--temperature: expected a positive number, got 0"),
])
def test_argument_errors_exit_nonzero(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv.split())
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_evaluate_a_training_checkpoint_folder(smoke_run, capsys):
    step = sorted((smoke_run / "checkpoints").iterdir())[-1]
    assert main(["evaluate", str(step), "--dataset", "digits", "--images", "10", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 10


def test_no_traceback_reaches_the_user_unless_debug(tmp_path):
    env = {**os.environ, "PIXELBOOK_PROGRESS": "0"}
    plain = subprocess.run([sys.executable, "-m", "pixelbook", "evaluate", str(tmp_path)], cwd=REPO, env=env,
                           capture_output=True, text=True)
    assert plain.returncode == 2 and plain.stderr == f"error: no checkpoint at {tmp_path}/weights.safetensors\n"
    debug = subprocess.run([sys.executable, "-m", "pixelbook", "--debug", "evaluate", str(tmp_path)], cwd=REPO,
                           env=env, capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
def test_train_on_real_fashion_mnist(tmp_path):
    out = tmp_path / "fm"
    assert main(["train", "pixelcnn", "--profile", "smoke", "--dataset", "fashion_mnist", "--steps", "3",
                 "--eval-images", "64", "--out", str(out), "--quiet"]) == 0
    run = json.loads((out / "metrics.json").read_text())["runs"][0]
    assert run["image_shape"] == [1, 28, 28] and run["eval_images"] == 64 and run["train_images"] == 96


def test_sampling_benchmark_scales_a_slow_naive_run_from_its_first_pixels(tmp_path):
    """A naive run over budget draws only its first pixels; its time is scaled up, labelled as
    an estimate, and the images are compared on the pixels both samplers drew. The record keeps
    the profiler summary, and both plots are written."""
    from pixelbook import bench
    rows = bench.sampling(["pixelcnn"], batches=[2], sizes=[5, 6], naive_budget_s=1e-6, progress=False)
    assert [r["size"] for r in rows] == [5, 6]
    for row in rows:
        assert row["naive_estimated"] and row["naive_pixels"] == 2 and row["identical"]
        assert row["naive_ms_per_pixel"] == pytest.approx(1000 * row["naive_s"] / row["size"] ** 2, rel=1e-2)
    full = bench.sampling(["pixelcnn"], batches=[1], sizes=[4], progress=False)[0]
    assert not full["naive_estimated"] and full["naive_pixels"] == 16 and full["identical"]
    for row in rows + [full]:                # timed in rounds: 3 cached, 2 naive, each round's ratio kept
        assert len(row["cached_s_repeats"]) == 3 and len(row["naive_s_repeats"]) == 2 == len(row["speedup_repeats"])
        assert row["cached_s"] == pytest.approx(sorted(row["cached_s_repeats"])[1], abs=1e-4)   # the median
        assert row["speedup_repeats"][0] == pytest.approx(row["naive_s_repeats"][0] / row["cached_s_repeats"][0], rel=0.02)
        assert row["naive_ms_per_pixel_repeats"][1] == pytest.approx(
            1000 * row["naive_s_repeats"][1] / row["size"] ** 2, rel=1e-2)
    summary = bench.profile_steps("pixelcnn", 2, size=4)
    assert summary["steps"] == 16 and summary["ops"] and 0 <= summary["python_share"] < 1
    path = bench.write_sampling(rows, results_dir=tmp_path, profiles=[summary])
    assert json.loads(path.read_text())["profiles"][0]["family"] == "pixelcnn"
    assert path == tmp_path / "bench" / "sampling.json"
    assert (tmp_path / "bench" / "sampling.png").exists() and (tmp_path / "bench" / "sampling_per_pixel.png").exists()
