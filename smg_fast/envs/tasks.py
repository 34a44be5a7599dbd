"""Task names, per-task defaults and mode names (no mujoco / dm_control import at module level)."""
from __future__ import annotations

import difflib

MODES = ("train", "color_easy", "color_hard", "video_easy", "video_hard")

# Paper Table 5 (reference §4.2); any other suite task defaults to 4, DMC-GB's default.
PAPER_ACTION_REPEAT = {
    "cartpole-swingup": 8,
    "walker-walk": 4,
    "walker-stand": 4,
    "cheetah-run": 4,
    "finger-spin": 2,
}
DEFAULT_ACTION_REPEAT = 4


def default_action_repeat(task: str) -> int:
    """Action repeat of ``task`` from the paper's Table 5 (4 for tasks it does not list)."""
    return PAPER_ACTION_REPEAT.get(task, DEFAULT_ACTION_REPEAT)


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
