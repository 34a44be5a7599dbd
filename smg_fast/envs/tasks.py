"""dm_control task names and cameras (no mujoco / dm_control import at module level); per-task settings
and mode names live in :mod:`smg_fast.tasks`."""
from __future__ import annotations

import difflib

from smg_fast.tasks import DISTRACTING_CS, DMC_MODES, default_action_repeat

MODES = DMC_MODES + (DISTRACTING_CS,)  # every mode a DMC env can be made in

__all__ = ["MODES", "default_action_repeat", "camera_id", "parse_task"]


def camera_id(domain: str) -> int:
    return 2 if domain == "quadruped" else 0  # dmc2gym / DrQ convention


def parse_task(task: str) -> tuple[str, str]:
    """``"ball_in_cup-catch"`` -> ``("ball_in_cup", "catch")``, checked against dm_control's suite.

    Imports dm_control: call only after :func:`smg_fast.envs.ensure_gl_backend`.
    """
    from dm_control import suite

    domain, sep, name = task.partition("-")
    if not sep or (domain, name) not in suite.ALL_TASKS:
        known = [f"{d}-{t}" for d, t in suite.ALL_TASKS]
        close = difflib.get_close_matches(task, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown task {task!r}: expected 'domain-task' naming a dm_control suite task, "
                         f"e.g. 'walker-walk'.{hint}")
    return domain, name
