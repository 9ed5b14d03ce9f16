"""Provenance: the code that ran (the checkout's commit, or a hash of the library where git
does not travel), the torch device it ran on, and the record every result carries."""

import datetime
import hashlib
import platform
import subprocess
from pathlib import Path

import torch

from .errors import PixelbookError
from .storage import REPO


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


def code_hash() -> str:
    """sha256 (12 hex digits) of the library's source, ``pixelbook/**/*.py`` by path and content:
    names the code that ran where git may not travel (a device machine gets the working tree
    only)."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def resolve_device(device=None) -> torch.device:
    """``None``: the GPU when there is one. A bad or absent device is one clear line."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise PixelbookError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not (torch.cuda.is_available()
                                      and (device.index or 0) < torch.cuda.device_count()):
        raise PixelbookError(f"--device {device}: no such CUDA GPU here "
                             f"({torch.cuda.device_count()} visible); use cpu")
    if device.type not in ("cpu", "cuda"):
        raise PixelbookError(f"unknown device {str(device)!r}; use cpu, cuda or cuda:N")
    return device


def device_name(device=None) -> str:
    device = resolve_device(device)
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
    threads = torch.get_num_threads()
    return f"cpu: {cpu} ({threads} thread{'' if threads == 1 else 's'})"


def provenance(chapter, profile, device=None) -> dict:
    commit, dirty = git_commit()
    return {"chapter": chapter, "profile": profile, "commit": commit, "dirty": dirty,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": device_name(device), "torch": torch.__version__}
