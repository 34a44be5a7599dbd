"""What a run directory may hold and who may use it: a fresh run needs a directory without run artifacts, a
resumed one a directory with a checkpoint, and one process at a time holds a directory (an advisory lock
that the kernel releases when the process ends, however it ends).

Errors are :class:`RunDirError` with a message that names the directory and what to do.
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

# Files and folders a run writes; a fresh run refuses a directory holding any of them (and the sweep clears
# them before starting a run afresh).
ARTIFACTS = ("config.json", "train.csv", "eval.csv", "checkpoint.json", "checkpoint_nonfinite.json", "checkpoint.pt",
             "checkpoint", "replay.frames", "final_eval.md", "final_eval.csv", "curves.png", "tb", "pictures",
             "eval_table.md", "eval_table.csv")
LOCK = "run.lock"


class RunDirError(Exception):
    """A run directory cannot be used as asked."""


def artifacts(run_dir: Path) -> list[str]:
    run_dir = Path(run_dir)
    return [a for a in ARTIFACTS if (run_dir / a).exists()]


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def has_checkpoint(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    return (run_dir / "checkpoint.json").is_file() or (run_dir / "checkpoint.pt").is_file()


def check_writable(run_dir: Path) -> None:
    """RunDirError if ``run_dir`` (or, when absent, the folder it would be created in) cannot be written.
    Creates nothing."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} exists and is not a directory")
    where = _nearest_existing(run_dir)
    if not os.access(where, os.W_OK | os.X_OK):
        raise RunDirError(f"run directory {run_dir}: {where} is not writable (choose another --run-dir)")


def check_fresh(run_dir: Path) -> None:
    """A new run may use ``run_dir`` only if it holds no run artifacts (another run's logs would mix with
    its own) and can be written."""
    run_dir = Path(run_dir)
    found = artifacts(run_dir)
    if found:
        hint = (f"continue it with --resume {run_dir}" if {"checkpoint.json", "checkpoint.pt"} & set(found)
                else "delete them")
        raise RunDirError(f"{run_dir} already holds run files ({', '.join(found)}): {hint}, or choose another "
                          "--run-dir")
    check_writable(run_dir)


def check_resumable(run_dir: Path) -> None:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"--resume {run_dir}: no such directory")
    if not (run_dir / "config.json").is_file():
        raise RunDirError(f"--resume {run_dir}: it holds no config.json, so it is not an smg-fast run directory")
    if not has_checkpoint(run_dir):
        raise RunDirError(f"--resume {run_dir}: it holds no checkpoint yet (a run writes one every "
                          "--checkpoint-every steps and at the end); start it again without --resume after "
                          "deleting the directory")
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise RunDirError(f"--resume {run_dir}: the directory is not writable")


class RunLock:
    """An exclusive advisory lock on ``run_dir/run.lock`` holding the owner's pid: a second process trying
    to use the directory fails at once, naming the holder. Released on :meth:`release` or process exit."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunDirError(f"{self.path.parent} is in use by another smg-fast process (pid {holder}); "
                                  "wait for it to finish or stop it first") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
