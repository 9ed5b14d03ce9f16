"""Test-wide settings: no progress bars, and run folders in a temporary place, never the
checkout's runs/ (a stale finished run there would be reused by the same plan)."""

import os
import tempfile

os.environ.setdefault("PIXELBOOK_PROGRESS", "0")
os.environ["PIXELBOOK_RUNS"] = tempfile.mkdtemp(prefix="pixelbook-test-runs-")
