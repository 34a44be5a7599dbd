"""``smg-fast sweep --status``: each run's state, step and last evaluation, read from the sweep directory's
files only (it works while the sweep runs, on any node that sees the directory)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from smg_fast.experiments.grid import Grid, RunSpec
from smg_fast.experiments.sweep.layout import lock_held, lock_path, read_state, run_path
from smg_fast.run import directory as rundir


def format_steps(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k" if n >= 10_000 else str(n)


def run_status(sweep_dir: Path, spec: RunSpec, saved: dict | None = None, driver_alive: bool = False) -> dict:
    """One run's row of ``--status``: state, step, total, last evaluation."""
    sweep_dir = Path(sweep_dir)
    run = run_path(sweep_dir, spec)
    st = rundir.state(run)
    saved = saved or {}
    if st != "finished":
        if lock_held(lock_path(sweep_dir, spec)):
            st = "running"
        elif saved.get("state") == "failed":
            st = "failed"
        elif saved.get("state") in ("submitted", "running") and driver_alive:
            st = "queued"
        elif st == "partial":
            st = "resumable"
        elif st == "started":
            st = "interrupted"
        else:
            st = "pending"
    step, (eval_step, evals) = rundir.step_reached(run), rundir.last_eval(run)
    total = rundir.total_steps(run) or spec.steps
    return {"run": spec.run_id, "state": st, "step": step, "total": total, "eval_step": eval_step,
            "eval": evals, "attempts": saved.get("attempts"), "returncode": saved.get("returncode")}


def _driver_alive(state: dict) -> bool:
    """Whether the sweep driver that wrote ``state`` still runs (checked by pid on its own host; a
    driver on another host is taken at its word until it records its end)."""
    d = state.get("driver") or {}
    if not d or d.get("ended"):
        return False
    if d.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(d["pid"]), 0)
        return True
    except (ProcessLookupError, PermissionError, ValueError, KeyError, TypeError):
        return False


def status_rows(grid: Grid, sweep_dir: Path) -> list[dict]:
    state = read_state(sweep_dir)
    alive = _driver_alive(state)
    runs = state.get("runs", {})
    return [run_status(sweep_dir, spec, runs.get(spec.run_id), alive) for spec in grid.runs]


def format_status(rows: list[dict]) -> str:
    def evals(r):
        if not r["eval"]:
            return ""
        return f"@{format_steps(r['eval_step'])}: " + ", ".join(f"{m} {v:.1f}" for m, v in r["eval"].items())

    table = [("run", "state", "step / total", "last evaluation")]
    for r in rows:
        state = r["state"] + (f" (exit {r['returncode']})" if r["state"] == "failed" and r["returncode"] is not None
                              else "")
        table.append((r["run"], state, f"{format_steps(r['step']) if r['step'] is not None else '-'} / "
                      f"{format_steps(r['total'])}", evals(r)))
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3] for row in table]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    order = ["finished", "running", "queued", "resumable", "interrupted", "failed", "pending"]
    summary = ", ".join(f"{counts[k]} {k}" for k in order if k in counts)
    return "\n".join(line.rstrip() for line in lines) + f"\n{len(rows)} runs: {summary}"
