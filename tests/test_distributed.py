"""Data-parallel training through torchrun: two gloo processes on the CPU give the test bpd of
one process with the same global batch and seed (issue: reliability and scale)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

COMMON = ["train", "pixelcnn", "--profile", "smoke", "--steps", "6", "--eval-images", "90", "--device", "cpu",
          "--quiet", "--seed", "3"]


def run(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PIXELBOOK_PROGRESS": "0", "PYTHONPATH": str(REPO)}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo, as in CI")
def test_torchrun_with_two_processes_matches_one_process(tmp_path):
    run([sys.executable, "-m", "pixelbook", *COMMON, "--batch-size", "16", "--out", str(tmp_path / "one")], tmp_path)
    two = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "pixelbook", *COMMON, "--batch-size", "8", "--out", str(tmp_path / "two")], tmp_path)
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())["runs"][0]
    both = json.loads((tmp_path / "two" / "metrics.json").read_text())["runs"][0]
    assert both["processes"] == 2 and "processes" not in one
    assert both["train_images"] == one["train_images"] == 6 * 16          # global batch 2 x 8 = 16
    assert both["eval_images"] == one["eval_images"] == 90                  # 45 per rank, all-reduced
    assert both["test_bpd"] == pytest.approx(one["test_bpd"], rel=1e-5)
    assert [s for s, _ in both["history"]] == [s for s, _ in one["history"]]   # the global batch's loss
    assert [v for _, v in both["history"]] == pytest.approx([v for _, v in one["history"]], rel=1e-5)
    assert two.stdout.count("bits/dim") == 1                               # rank 0 reports, once
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
