"""Training: determinism, exact resume after a kill, NaN handling, evaluation."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import pixelbook as pb
from pixelbook.checkpoint import read_weights
from pixelbook.errors import CheckpointError, TrainingDiverged
from pixelbook.train import TrainConfig, Trainer, batch_indices, checkpoints, evaluate, train

REPO = Path(__file__).resolve().parent.parent


def tiny_run(out=None, steps=12, seed=0, **config):
    digits = pb.data.load("digits", "train")
    torch.manual_seed(seed)
    model = pb.models.create("pixelcnn", digits.image_shape, 256, hidden=4, layers=1, output_hidden=8)
    config = TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=2, checkpoint_every=4, seed=seed,
                         log_every=2, **config)
    return model, digits, config


def test_batch_order_is_a_function_of_seed_and_step():
    a = batch_indices(100, 8, seed=1, step=30)
    assert torch.equal(a, batch_indices(100, 8, seed=1, step=30))
    assert not torch.equal(a, batch_indices(100, 8, seed=2, step=30))
    epoch = torch.cat([batch_indices(100, 10, 0, s) for s in range(10)])
    assert sorted(epoch.tolist()) == list(range(100))                     # each image once per epoch


def test_the_papers_exponential_decay_and_flips_are_opt_in_and_deterministic():
    from pixelbook.train import lr_lambda
    factor = lr_lambda(TrainConfig(steps=100, warmup=0, lr_decay=0.99))
    assert [factor(s) for s in (0, 1, 10)] == [1.0, 0.99, 0.99 ** 10]
    model, digits, config = tiny_run(hflip=True)
    flipping, plain = Trainer(model, digits.images, digits.labels, config), Trainer(
        model, digits.images, digits.labels, tiny_run()[2])
    a, b = flipping.batch(3)[0], plain.batch(3)[0]
    mirrored = (a == b.flip(-1)).flatten(1).all(1)
    assert ((a == b).flatten(1).all(1) | mirrored).all() and mirrored.any() and not mirrored.all()
    assert torch.equal(a, flipping.batch(3)[0])                              # a function of (seed, step)
    # options at their defaults stay out of a plan, so older runs keep their hashes
    assert not {"lr_decay", "hflip"} & set(pb.runs.plan("pixelcnn", "smoke")["train"])
    paper = pb.profiles.get("auxiliary", "paper")
    grey = paper.train_config(**paper.train_overrides["grayscale_pixelcnn"])
    pyramid = paper.train_config(**paper.train_overrides["pyramid_pixelcnn"])
    assert (grey.batch_size, grey.lr_decay, grey.hflip) == (64, 0.99999, True)
    assert (pyramid.batch_size, pyramid.lr_decay, pyramid.hflip) == (16, 0.999995, False)


def test_training_is_deterministic_on_cpu():
    runs = []
    for _ in range(2):
        model, digits, config = tiny_run(ema=0.9)
        result, eval_model = train(model, digits, config, progress=False)
        runs.append((result.history, [p.clone() for p in eval_model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


@pytest.mark.parametrize("fast", [{}, {"channels_last": True}, {"compile": True}], ids=["fp32", "channels_last", "compile"])
def test_resume_after_interruption_matches_an_uninterrupted_run(tmp_path, monkeypatch, fast):
    """Exact for plain fp32 and for each CPU fast-path option a profile may choose."""
    model, digits, config = tiny_run(ema=0.9, **fast)
    straight, straight_eval = train(model, digits, config, tmp_path / "a", progress=False)

    model, digits, config = tiny_run(ema=0.9, **fast)
    trainer = Trainer(model, digits.images, digits.labels, config, tmp_path / "b")
    original = Trainer.train_step

    def dies_at_step_10(self, x, y):
        if self.step == 10:
            raise KeyboardInterrupt
        return original(self, x, y)

    monkeypatch.setattr(Trainer, "train_step", dies_at_step_10)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(progress=False)
    monkeypatch.setattr(Trainer, "train_step", original)
    assert [p.name for p in checkpoints(tmp_path / "b")] == ["step-0000004", "step-0000008"]

    torch.manual_seed(123)                                                # a fresh process's RNG
    model, digits, config = tiny_run(ema=0.9, **fast)
    resumed, resumed_eval = train(model, digits, config, tmp_path / "b", resume=True, progress=False)
    assert resumed.history == straight.history
    for a, b in zip(straight_eval.state_dict().values(), resumed_eval.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_other_settings(tmp_path):
    model, digits, config = tiny_run(steps=4)
    train(model, digits, config, tmp_path, progress=False)
    model, digits, config = tiny_run(steps=4, grad_clip=0.5)
    with pytest.raises(CheckpointError, match="other settings .*grad_clip 1.0 -> 0.5"):
        train(model, digits, config, tmp_path, resume=True, progress=False)


def test_nan_loss_stops_with_its_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model, digits, config = tiny_run(steps=12)
    trainer = Trainer(model, digits.images, digits.labels, config, tmp_path)
    original = type(model).log_prob

    def nan_from_step_6(self, x, y=None, per_pixel=False):
        out = original(self, x, y, per_pixel)
        return out * float("nan") if trainer.step >= 6 else out

    monkeypatch.setattr(type(model), "log_prob", nan_from_step_6)
    with pytest.raises(TrainingDiverged) as info:
        trainer.run(progress=False)
    assert str(info.value) == "loss became nan at step 7; training stopped, last good checkpoint: step-0000004"
    assert read_weights(checkpoints(tmp_path)[-1] / "model.safetensors")[1]["step"] == "4"


def test_evaluate_is_log_prob_in_bits():
    model, digits, _ = tiny_run()
    test = pb.data.load("digits", "test").subset(50)
    result = evaluate(model, test, batch_size=7, progress=False, per_pixel=True)
    expected = -model.log_prob(test.images).sum().item() / (50 * 64 * math.log(2))
    assert result["bpd"] == pytest.approx(expected, rel=1e-6)
    assert result["images"] == 50
    assert result["bits_map"].sum().item() / 64 == pytest.approx(expected, rel=1e-6)


def run_cli(*args, **kwargs):
    env = {**os.environ, "PIXELBOOK_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "pixelbook", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_cli_run_killed_mid_way_resumes_to_the_same_numbers(tmp_path):
    """SIGKILL a real training process after its first checkpoint, resume it, and compare the
    final test bpd and sample grid with an uninterrupted run of the same seed."""
    common = ["train", "pixelcnn", "--profile", "smoke", "--steps", "200", "--eval-images", "100"]
    straight = run_cli(*common, "--out", str(tmp_path / "straight"))

    killed_out = tmp_path / "killed"
    victim = run_cli(*common, "--out", str(killed_out))
    deadline = time.time() + 120
    while not checkpoints(killed_out) and time.time() < deadline and victim.poll() is None:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert checkpoints(killed_out), "no checkpoint was written before the kill"
    assert not (killed_out / "metrics.json").exists(), "the run finished before it could be killed"

    resumed = run_cli(*common, "--out", str(killed_out), "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert straight.wait(timeout=300) == 0, straight.stderr.read()
    a = json.loads((tmp_path / "straight" / "metrics.json").read_text())["runs"][0]
    b = json.loads((killed_out / "metrics.json").read_text())["runs"][0]
    assert a["test_bpd"] == b["test_bpd"] and a["history"] == b["history"]
    again = run_cli(*common, "--out", str(killed_out))                  # same plan, finished: reused
    assert again.wait(timeout=120) == 0 and "reused the finished run" in again.stdout.read()
    assert (tmp_path / "straight" / "samples.png").read_bytes() == (killed_out / "samples.png").read_bytes()


def test_a_second_process_on_a_busy_run_folder_stops_with_one_line(tmp_path):
    """Two real processes, one folder: the second (even with --resume, as the chapter runner
    passes) names the folder and the holder's pid and exits non-zero; the first finishes
    untouched, and once it is done the folder is free again."""
    out = tmp_path / "busy"
    common = ["train", "pixelcnn", "--profile", "smoke", "--steps", "200", "--eval-images", "100", "--out", str(out)]
    first = run_cli(*common, "--resume")
    deadline = time.time() + 120
    while not (out / ".lock").is_file() or not (out / ".lock").read_text().strip():
        assert time.time() < deadline and first.poll() is None, "the first process never took the lock"
        time.sleep(0.02)
    first.send_signal(signal.SIGSTOP)                                     # paused mid-run, lock held
    try:
        second = run_cli(*common, "--resume")
        assert second.wait(timeout=120) != 0
    finally:
        first.send_signal(signal.SIGCONT)
    message = second.stderr.read().strip()
    assert message == (f"error: {out} is in use: process {first.pid} is training in it; wait for it to finish "
                       f"or stop it, or choose another --out"), message
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert json.loads((out / "metrics.json").read_text())["runs"][0]["train_steps"] == 200
    again = run_cli(*common, "--resume")                                  # free again: the finished run
    assert again.wait(timeout=120) == 0 and "reused the finished run" in again.stdout.read()


def test_evaluate_reports_the_factors_of_a_bound():
    torch.manual_seed(0)
    model = pb.models.create("multiscale_pixelrnn", (1, 8, 8), 256, hidden=4, layers=1, output_hidden=8,
                             condition_channels=4)
    test = pb.data.load("digits", "test").subset(24)
    result = evaluate(model, test, batch_size=10, progress=False)
    assert set(result["parts"]) == {"coarse", "fine"}
    assert sum(result["parts"].values()) == pytest.approx(result["bpd"], rel=1e-9)
    expected = -model.log_prob(test.images).double().sum().item() / (24 * 64 * math.log(2))
    assert result["bpd"] == pytest.approx(expected, rel=1e-5)


CHAPTER_RUN = ("import sys, json, pixelbook as pb; "
               "ch = pb.book.Chapter('pixelcnn', 'smoke', sys.argv[1], steps=120, eval_images=50); "
               "model, run = ch.train('pixelcnn', progress=False); print(json.dumps(run))")


def test_a_killed_chapter_run_continues_when_run_again(tmp_path):
    """A chapter (what papermill executes) killed after a checkpoint continues from it when run
    again, and ends with the numbers of an uninterrupted chapter run."""
    def chapter(runs, out):
        env = {**os.environ, "PIXELBOOK_RUNS": str(runs), "PIXELBOOK_PROGRESS": "0"}
        return subprocess.Popen([sys.executable, "-c", CHAPTER_RUN, str(out)], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    straight = chapter(tmp_path / "runs-a", tmp_path / "a")
    assert straight.wait(timeout=300) == 0, straight.stderr.read()
    victim = chapter(tmp_path / "runs-b", tmp_path / "b")
    deadline = time.time() + 120
    while not any(checkpoints(f) for f in (tmp_path / "runs-b").glob("smoke/*")) and time.time() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    folder = next((tmp_path / "runs-b").glob("smoke/*"))
    assert checkpoints(folder) and not (folder / "metrics.json").exists(), "not killed mid-way"
    again = chapter(tmp_path / "runs-b", tmp_path / "b")
    assert again.wait(timeout=300) == 0, again.stderr.read()
    a, b = json.loads(straight.stdout.read()), json.loads(again.stdout.read())
    assert a["test_bpd"] == b["test_bpd"] and a["history"] == b["history"]


def test_bf16_is_resolved_for_the_device_before_the_plan_is_hashed(monkeypatch):
    """A CPU fp32 run and a GPU bf16 run never share a plan; CPU plans keep their old hashes."""
    cpu = pb.runs.plan("pixelcnn", "smoke", device="cpu")
    assert "bf16" not in cpu["train"]
    monkeypatch.setattr(pb.runs, "resolve_device", lambda device=None: torch.device("cuda"))
    gpu = pb.runs.plan("pixelcnn", "smoke")
    assert gpu["train"]["bf16"] is True and pb.runs.plan_hash(gpu) != pb.runs.plan_hash(cpu)
    fp32 = pb.runs.plan("pixelcnn", "smoke", fast={"bf16": False})
    assert fp32["train"]["bf16"] is False and pb.runs.plan_hash(fp32) != pb.runs.plan_hash(gpu)


def test_a_run_stopped_at_its_deadline_is_partial_and_resumes_to_the_uninterrupted_result(tmp_path):
    """A device run's deadline: training stops at a checkpoint, the run is recorded as partial and
    never reused as finished; run again, it resumes and ends where a run never stopped ends."""
    from pixelbook.runs import train_and_evaluate
    options = dict(steps=4, eval_images=8, sample=False, progress=False)
    stopped = train_and_evaluate("pixelcnn", "smoke", out=tmp_path / "stopped", deadline=time.monotonic(), **options)
    assert stopped.metrics["partial"] and stopped.metrics["runs"][0]["train_steps"] == 1
    resumed = train_and_evaluate("pixelcnn", "smoke", out=tmp_path / "stopped", resume=True, **options)
    assert not resumed.reused and "partial" not in resumed.metrics and resumed.metrics["runs"][0]["train_steps"] == 4
    whole = train_and_evaluate("pixelcnn", "smoke", out=tmp_path / "whole", **options)
    assert resumed.metrics["runs"][0]["test_bpd"] == whole.metrics["runs"][0]["test_bpd"]
