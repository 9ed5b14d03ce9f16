"""Test-wide settings: no progress bars, and run folders in a temporary place, never the
checkout's runs/ (a stale finished run there would be reused by the same plan).

Under pytest-xdist (``make test`` runs one worker per core) each worker, and every kernel or
subprocess it starts, gets one torch thread: two processes of default threads on two cores slow
each other many times over."""

import os
import tempfile

os.environ.setdefault("PIXELBOOK_PROGRESS", "0")
os.environ["PIXELBOOK_RUNS"] = tempfile.mkdtemp(prefix="pixelbook-test-runs-")


def pytest_configure(config):
    if hasattr(config, "workerinput"):                 # an xdist worker, before any test imports torch
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
        import torch
        torch.set_num_threads(1)
