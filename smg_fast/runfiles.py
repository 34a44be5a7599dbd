"""What a run directory says about its run, read from its files only (no checkpoint loading, so it is
cheap and works while the run writes): finished or not, the step reached, the evaluations.

Files (written by ``smg-fast train``): ``config.json`` (the resolved config), ``train.csv`` (a row per
episode, a ``step`` column), ``eval.csv`` (columns step, mode, mean_return, std_return, episodes,
returns: the space-separated episode returns), ``checkpoint.json`` (the checkpoint's manifest), and when
the run has finished its budget ``final_eval.csv`` (mode, seed, mean_return, ...). What a run directory may
hold and who may use it is :mod:`smg_fast.rundir`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict
from pathlib import Path

from smg_fast.rundir import ARTIFACTS, has_checkpoint  # noqa: F401  (the sweep clears ARTIFACTS)

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
