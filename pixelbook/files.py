"""The ground floor's file helpers: atomic writes, the checkout and its commit, the device, and
the provenance every result carries. Every other module may import this one; it imports none of
them but ``errors``, so reporting (``results``) sits above training and data, not under them."""

import contextlib
import datetime
import hashlib
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
IN_CHECKOUT = (REPO / "pyproject.toml").is_file() and (REPO / "book").is_dir()


def runs_root() -> Path:
    """Where run folders go: $PIXELBOOK_RUNS, else runs/ of the checkout, else ./runs."""
    if os.environ.get("PIXELBOOK_RUNS"):
        return Path(os.environ["PIXELBOOK_RUNS"]).expanduser()
    return REPO / "runs" if IN_CHECKOUT else Path.cwd() / "runs"


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


@contextlib.contextmanager
def folder_lock(folder):
    """Hold ``folder/.lock`` while a process trains in ``folder``, so a second process on the same
    folder stops at once with one line naming the holder's pid, and leaves the first's files
    alone. The lock is an ``flock`` on the file, which the kernel drops when its process dies, so
    a killed run leaves no stale lock to block ``--resume``."""
    import fcntl
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".lock", "a+")
    except OSError as e:
        raise PixelbookError(f"cannot write {folder / '.lock'}: {e.strerror or e}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise PixelbookError(f"{folder} is in use: process {holder} is training in it; wait for it to "
                             f"finish or stop it, or choose another --out") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()                                                 # releases the flock


@contextlib.contextmanager
def waiting_lock(path):
    """Hold an ``flock`` on ``path``, waiting for another holder to let go: a short critical
    section (a read-modify-write of a shared JSON file) between processes."""
    import fcntl
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield                                                          # closing the file releases it
