"""Files on disk: where the checkout and the run folders are, atomic writes, and the locks
between processes. The ground floor of the package: it imports only ``errors``."""

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

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
