"""What a sweep directory holds (see :mod:`smg_fast.experiments.sweep`): where each run, its log and its lock
are, the driver's state file, and how a run directory is compared with what the grid asks of it. No Ray
needed."""
from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
from pathlib import Path

from smg_fast.experiments.grid import RunSpec
from smg_fast.run import directory as rundir

STATE_FILE = "sweep_state.json"
DRIVER_LOCK = ".driver.lock"
INSTALL_HINT = ("smg-fast sweep runs its grid on Ray, which is not installed here: "
                "pip install 'smg-fast[sweep]' (or: pip install ray)")
LOG_TAIL_LINES = 25
USAGE_ERROR = 2  # argparse's exit status: a bad flag or name fails the same way every time, no retry


class SweepError(RuntimeError):
    pass



def run_path(sweep_dir: Path, spec: RunSpec) -> Path:
    return Path(sweep_dir) / "runs" / spec.run_id


def log_path(sweep_dir: Path, spec: RunSpec) -> Path:
    return Path(sweep_dir) / "logs" / f"{spec.run_id}.log"


def lock_path(sweep_dir: Path, spec: RunSpec) -> Path:
    return Path(sweep_dir) / "locks" / (spec.run_id.replace("/", "__") + ".lock")


def spec_to_dict(spec: RunSpec) -> dict:
    return dataclasses.asdict(spec)


def spec_from_dict(d: dict) -> RunSpec:
    d = dict(d)
    d["sets"] = tuple(tuple(kv) for kv in d.get("sets", ()))
    d["no"], d["args"] = tuple(d.get("no", ())), tuple(d.get("args", ()))
    return RunSpec(**d)


def _same(have, want) -> bool:
    """A config.json value against the grid's (the grid's ``--set`` values are text)."""
    if isinstance(have, list):
        have = ",".join(str(x) for x in have)
    if isinstance(have, bool):
        return have == (str(want).lower() in ("1", "true", "yes", "on"))
    try:
        return math.isclose(float(have), float(want), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(have) == str(want)


def config_mismatch(spec: RunSpec, run: Path) -> list[str]:
    """Settings in which an existing run directory differs from what the grid now asks of that run."""
    cfg = rundir.read_config(run)
    if not cfg:
        return []
    return [f"{k}: run has {cfg[k]!r}, grid says {v!r}" for k, v in spec.expected_config().items()
            if k in cfg and not _same(cfg[k], v)]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


def lock_held(path: Path) -> bool:
    """Whether some process holds the lock file (a run's training process, or a sweep driver)."""
    if not path.is_file():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_state(sweep_dir: Path) -> dict:
    try:
        return json.loads((Path(sweep_dir) / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
