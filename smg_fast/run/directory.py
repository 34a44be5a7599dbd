"""A run directory: what it may hold, who may use it, and what its files say about the run.

Who may use it: a fresh run needs a directory without run artifacts, a resumed one a directory with a
checkpoint, and one process at a time holds a directory (an advisory lock that the kernel releases when
the process ends, however it ends). Errors are :class:`RunDirError` with a message that names the
directory and what to do.

What it says, read from its files only (no checkpoint loading, so it is cheap and works while the run
writes): finished or not, the step reached, the evaluations. Files (written by ``smg-fast train``):
``config.json`` (the resolved config), ``train.csv`` (a row per episode, a ``step`` column), ``eval.csv``
(columns step, mode, mean_return, std_return, episodes, returns: the space-separated episode returns),
``checkpoint.json`` (the checkpoint's manifest), and when the run has finished its budget
``final_eval.csv`` (mode, seed, mean_return, ...).
"""
from __future__ import annotations

import csv
import errno
import fcntl
import io
import json
import math
import os
from collections import defaultdict
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
    """A manifest, a single-file checkpoint of earlier versions, or a manifest copy (from which a missing
    checkpoint.json is rebuilt)."""
    run_dir = Path(run_dir)
    return ((run_dir / "checkpoint.json").is_file() or (run_dir / "checkpoint.pt").is_file()
            or any((run_dir / "checkpoint").glob("manifest-*.json")))


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
    if not has_checkpoint(run_dir) and any((run_dir / "checkpoint").glob("state-*.pt")):
        from smg_fast.run.checkpoint import recover_manifest

        recover_manifest(run_dir, "is missing")  # raises, saying what is there and what can be done
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

FINISHED_MARK = "final_eval.csv"
CONFIG = "config.json"
TRAIN_CSV, EVAL_CSV = "train.csv", "eval.csv"


def is_finished(run: Path) -> bool:
    return (Path(run) / FINISHED_MARK).is_file()


def state(run: Path) -> str:
    """finished | partial (a checkpoint to resume) | started (files but no checkpoint) | new."""
    run = Path(run)
    if is_finished(run):
        return "finished"
    if has_checkpoint(run):
        return "partial"
    if run.is_dir() and any(run.iterdir()):
        return "started"
    return "new"


def read_config(run: Path) -> dict:
    path = Path(run) / CONFIG
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):  # being rewritten: treat as unknown for now
        return {}


def _float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def last_row(path: Path, tail_bytes: int = 65536) -> dict | None:
    """The last complete row of a CSV as a dict, reading only the header and the file's tail (a
    500k-step run's train.csv is a few MB)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            header = f.readline().decode("utf-8", "replace").strip()
            size = os.fstat(f.fileno()).st_size
            f.seek(max(len(header) + 1, size - tail_bytes))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [ln for ln in tail.split("\n") if ln.strip()]
    if not header or not lines:
        return None
    if not tail.endswith("\n") and len(lines) > 1:  # a row being written: take the one before
        lines = lines[:-1]
    rows = list(csv.DictReader(io.StringIO(header + "\n" + lines[-1] + "\n")))
    return rows[0] if rows else None


def step_reached(run: Path) -> int | None:
    """The step of train.csv's last row (the run logs a row per episode)."""
    row = last_row(Path(run) / TRAIN_CSV)
    step = _float(row.get("step")) if row else math.nan
    return int(step) if math.isfinite(step) else None


def total_steps(run: Path) -> int | None:
    steps = read_config(run).get("train_steps")
    return int(steps) if isinstance(steps, (int, float)) else None


def _eval_rows(run: Path) -> list[dict]:
    path = Path(run) / EVAL_CSV
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _row_value(row: dict) -> float:
    """A seed's value from one evaluation row: the mean of its episode returns, i.e. ``mean_return``
    (full precision), else the mean of ``returns`` (written rounded to 2 decimals)."""
    value = _float(row.get("mean_return"))
    if math.isfinite(value):
        return value
    returns = [_float(x) for x in (row.get("returns") or "").split()]
    returns = [r for r in returns if math.isfinite(r)]
    return sum(returns) / len(returns) if returns else math.nan


def eval_curves(run: Path) -> dict[str, dict[int, float]]:
    """``{mode: {step: mean return of that evaluation}}`` from eval.csv."""
    acc: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in _eval_rows(run):
        step, value = _float(row.get("step")), _row_value(row)
        if math.isfinite(step) and math.isfinite(value):
            acc[row.get("mode") or "eval"][int(step)].append(value)
    return {m: {s: sum(v) / len(v) for s, v in sorted(by.items())} for m, by in acc.items()}


def last_eval(run: Path) -> tuple[int | None, dict[str, float]]:
    """(step, {mode: mean return}) of the latest evaluation in eval.csv."""
    curves = eval_curves(run)
    steps = [s for c in curves.values() for s in c]
    if not steps:
        return None, {}
    last = max(steps)
    return last, {m: c[last] for m, c in curves.items() if last in c}


def final_returns(run: Path) -> tuple[dict[str, float], str]:
    """Each mode's value for this seed: the mean of its final evaluation's episodes. Read from
    ``final_eval.csv`` (the run's own final table) when it has per-mode means, else from eval.csv's
    last step. Returns ({mode: value}, the file it came from)."""
    run = Path(run)
    path = run / FINISHED_MARK
    if path.is_file():
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        out = {}
        for r in rows:
            if r.get("seed", "") == "all" or not r.get("mode"):
                continue
            value = _float(r.get("mean_return"))
            if math.isfinite(value):
                out[r["mode"]] = value
        if out:
            return out, FINISHED_MARK
    _, values = last_eval(run)
    return values, EVAL_CSV


def find_runs(root: Path) -> list[Path]:
    """Run directories (holding config.json) at or under ``root``, sorted."""
    root = Path(root)
    if (root / CONFIG).is_file():
        return [root]
    return sorted(p.parent for p in root.rglob(CONFIG) if p.parent.name != "tb")
