"""Where a run's wall time went: the update, waiting for the environment (all of a step in the sequential
loop, only what outlasts the update when the env steps during it), evaluation, checkpoints, and the rest
(acting, storing transitions, logging). Evaluation and checkpoints count what they held the loop: all of them
when they run in it, the snapshot and any wait when they run in the background (``async_eval``,
``async_checkpoint``); what ran beside the loop is recorded as a session's ``background`` seconds. Each
``train`` session (a run and each ``--resume`` of it) adds its
figures to ``run_summary.json`` in the run directory; the run's totals are their sum. A session killed
outright (SIGKILL, power loss) leaves no figures."""
from __future__ import annotations

import json
import os
from pathlib import Path

PHASES = ("update", "environment", "evaluation", "checkpoint")
NAMES = {"update": "update", "environment": "waiting for the environment", "evaluation": "evaluation",
         "checkpoint": "checkpoints", "other": "other"}
SUMMARY = "run_summary.json"


class WallTime:
    """Seconds per phase, added as the loop runs."""

    def __init__(self):
        self.seconds = dict.fromkeys(PHASES, 0.0)

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] += seconds

    def breakdown(self, total: float) -> dict[str, float]:
        """The phases, ``other`` (``total`` less the phases) and ``total``."""
        out = dict(self.seconds)
        out["other"] = max(0.0, total - sum(self.seconds.values()))
        out["total"] = total
        return out


def text(seconds: dict[str, float], steps: int | None = None, background: dict[str, float] | None = None) -> str:
    """One line: the total, then each phase's seconds and share, then what ran beside the loop (``background``:
    seconds of evaluation and checkpoint writing in threads)."""
    total = seconds.get("total", 0.0)
    parts = [f"{NAMES[k]} {seconds[k]:.1f} s ({100 * seconds[k] / total if total > 0 else 0:.0f}%)"
             for k in (*PHASES, "other")]
    per_step = f", {total / steps:.3f} s per step" if steps else ""
    beside = [f"{what} {background[k]:.1f} s" for k, what in (("evaluation", "evaluation"),
                                                              ("checkpoint", "checkpoint writes"))
              if background and background.get(k)]
    tail = f"; beside the loop: {', '.join(beside)}" if beside else ""
    return f"wall time {total:.1f} s{per_step}: " + ", ".join(parts) + tail


def record(run_dir: Path, session: dict) -> dict:
    """Add ``session`` (``from_step``, ``to_step``, ``overlap_env``, ``async_eval``, ``seconds``, ``background``)
    to the run's summary and
    write it (atomically); returns the summary."""
    path = Path(run_dir) / SUMMARY
    try:
        summary = json.loads(path.read_text())
        sessions = list(summary["sessions"])
    except (OSError, ValueError, KeyError, TypeError):
        sessions = []  # none yet, or unreadable: the run's figures start again
    sessions.append(session)
    totals = {k: sum(s["seconds"].get(k, 0.0) for s in sessions) for k in (*PHASES, "other", "total")}
    summary = {"steps": session["to_step"], "seconds": totals, "sessions": sessions}
    tmp = path.with_name(f".{SUMMARY}.tmp-{os.getpid()}")  # a leftover is removed with the run's other temporaries
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    os.replace(tmp, path)
    return summary


def read(run_dir: Path) -> dict | None:
    try:
        return json.loads((Path(run_dir) / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
