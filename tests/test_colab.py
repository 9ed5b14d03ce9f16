"""A chapter needs only the library: what Colab's install cell installs (``pip install pixelbook``,
no ``[book]`` extra) plus what Colab already has (IPython, torch, numpy, matplotlib, scikit-learn).

A fresh virtual environment gets ``pip install .`` and IPython, nothing else; one chapter at the
smoke profile, its code cells run as one IPython script, must run to its end there, and the
device run's modules must import (the device machine has no book stack either). The book's own stack
(jupyter-book, papermill, jupytext, ipykernel) would break Colab's pinned runtime, so it must not
be needed."""

import os
import shutil
import subprocess
import venv
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(os.environ.get("PIXELBOOK_SKIP_VENV") == "1", reason="PIXELBOOK_SKIP_VENV=1")
def test_a_chapter_runs_with_only_the_library_installed(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    source = tmp_path / "source"                                       # built here, not in the checkout
    shutil.copytree(REPO / "pixelbook", source / "pixelbook", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "-c", REPO / "constraints.txt",
                              str(source), "ipython"], capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        pytest.skip(f"no package index here to build a fresh venv from: {install.stderr.strip().splitlines()[-1:]}")
    absent = subprocess.run([python, "-c", "import papermill"], capture_output=True)
    assert absent.returncode != 0, "the fresh venv must not have the book's stack"
    # The code cells as one IPython script: the install cell's %pip line parses, as on Colab.
    script = tmp_path / "pixelcnn.ipy"
    cells = jupytext.read(REPO / "book" / "pixelcnn.md").cells
    script.write_text("\n\n".join(c.source for c in cells if c.cell_type == "code") + '\nprint("chapter done")\n')
    done = subprocess.run([python, "-m", "IPython", "--no-banner", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900,
                          env={**os.environ, "MPLBACKEND": "Agg", "PIXELBOOK_PROGRESS": "0",
                               "PIXELBOOK_RUNS": str(tmp_path / "runs"), "PYTHONPATH": ""})
    assert done.returncode == 0 and "chapter done" in done.stdout, (done.stdout + done.stderr)[-3000:]
    # The device machine has the same: no papermill, jupytext or ipykernel. Its command must start.
    device = subprocess.run([python, "-m", "pixelbook", "device-run", "--help"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert device.returncode == 0 and "--dry-run" in device.stdout, device.stderr[-2000:]
    imports = subprocess.run([python, "-c", "import pixelbook.gpu_run, pixelbook.bench, pixelbook.runs"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert imports.returncode == 0, imports.stderr[-2000:]
