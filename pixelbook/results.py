"""Results with provenance, written atomically (a temporary file, then a rename)."""

import datetime
import json
import os
import platform
import re
import subprocess
import tempfile
from pathlib import Path

import torch

from .errors import PixelbookError

REPO = Path(__file__).resolve().parent.parent


def write_atomic(path, data: bytes | str):
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never half.

    A full disk or a read-only folder raises one clear line and leaves the old file intact."""
    path = Path(path)
    data = data.encode() if isinstance(data, str) else data
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, 0o644)                                           # mkstemp's 0600 is for secrets
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise PixelbookError(f"cannot write {path}: {e.strerror or e}") from None


def write_json(path, obj):
    """Indented JSON whose innermost lists of numbers (shapes, curves) stay on one line each."""
    text = re.sub(r"\[[\s0-9.,eE+-]*\]", lambda m: " ".join(m.group(0).split()).replace("[ ", "[").replace(" ]", "]"),
                  json.dumps(obj, indent=1))
    write_atomic(path, text + "\n")


def git_commit() -> tuple[str, bool]:
    """(HEAD of the checkout the package runs from, whether the library differs from it)."""
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, timeout=10)
        head = run("rev-parse", "--verify", "--quiet", "HEAD")
        sha = head.stdout.strip() if head.returncode == 0 else ""
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", "pixelbook").stdout.strip()
        return (sha or "unknown"), bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return "unknown", False


def device_name(device=None) -> str:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu} ({torch.get_num_threads()} threads)"


def provenance(chapter, profile, device=None) -> dict:
    commit, dirty = git_commit()
    return {"chapter": chapter, "profile": profile, "commit": commit, "dirty": dirty,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": device_name(device), "torch": torch.__version__}
