"""Facts about tasks, in one place: the paper's per-task settings (Table 5), the evaluation modes, and the
rule that turns a run's settings into environment arguments. Environments, training, evaluation,
visualisation and the command line all read them from here. Imports nothing heavy.
"""
from __future__ import annotations

from dataclasses import dataclass

DMC_MODES = ("train", "color_easy", "color_hard", "video_easy", "video_hard")  # SMG's five: "all"
# DMC-GB's sixth mode, evaluated only when named (it needs the DAVIS videos and an intensity; the paper
# reports none): see smg_fast.envs.distracting.
DISTRACTING_CS = "distracting_cs"
DISTRACTING_CS_DOMAINS = ("reacher", "cartpole", "finger", "cheetah", "ball_in_cup", "walker")
DISTRACTING_CS_INTENSITIES = (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)  # DMC-GB's src/arguments.py
ROBOT_MODES = ("train", "test1", "test2", "test3", "test4", "test5")  # upstream's train scene + 5 test scenes
ROBOT_TASKS = ("robot-reach", "robot-peg-in-box")


@dataclass(frozen=True)
class TaskSpec:
    """Per-task settings.

    ``episode_length`` is in control steps for DMC (an episode is ``ceil(episode_length /
    action_repeat)`` agent steps) and in agent steps for the robot tasks (no action repeat; upstream's
    ``TimeLimit(50)``). ``train_steps`` counts agent steps, as upstream's loop does. ``mask_ratio`` is SMG's
    ρ. ``quick_modes`` are the evaluation modes of ``--preset quick``.
    """

    action_repeat: int
    train_steps: int
    mask_ratio: float
    episode_length: int = 1000
    modes: tuple[str, ...] = DMC_MODES
    quick_modes: tuple[str, ...] = ("train", "color_hard", "video_hard")

    @property
    def is_robot(self) -> bool:
        return self.modes == ROBOT_MODES


_ROBOT = dict(action_repeat=1, train_steps=250_000, mask_ratio=0.12, episode_length=50, modes=ROBOT_MODES,
              quick_modes=("train", "test1", "test3"))

# Paper Table 5 (reference §4.2). Any other dm_control suite task gets DEFAULT_SPEC (DMC-GB's defaults).
PAPER_TASKS = {
    "cartpole-swingup": TaskSpec(action_repeat=8, train_steps=500_000, mask_ratio=0.04),
    "finger-spin": TaskSpec(action_repeat=2, train_steps=500_000, mask_ratio=0.04),
    "walker-walk": TaskSpec(action_repeat=4, train_steps=500_000, mask_ratio=0.06),
    "walker-stand": TaskSpec(action_repeat=4, train_steps=250_000, mask_ratio=0.06),
    "cheetah-run": TaskSpec(action_repeat=4, train_steps=500_000, mask_ratio=0.06),
    "robot-reach": TaskSpec(**_ROBOT),
    "robot-peg-in-box": TaskSpec(**_ROBOT),
}
DEFAULT_SPEC = TaskSpec(action_repeat=4, train_steps=500_000, mask_ratio=0.06)


def is_robot_task(task: str) -> bool:
    return isinstance(task, str) and task.startswith("robot-")


def task_spec(task: str) -> TaskSpec:
    """The settings of ``task``: the paper's where Table 5 lists it, DMC-GB's defaults otherwise. An unknown
    ``robot-*`` name is an error here; unknown DMC names are checked against dm_control's suite by the
    environment (which needs dm_control) or by :func:`check_task`."""
    if task in PAPER_TASKS:
        return PAPER_TASKS[task]
    if is_robot_task(task):
        raise ValueError(f"unknown robot task {task!r}: choose from {', '.join(ROBOT_TASKS)}")
    return DEFAULT_SPEC


def default_action_repeat(task: str) -> int:
    """Action repeat of ``task`` from the paper's Table 5 (4 for suite tasks it does not list)."""
    return task_spec(task).action_repeat


def modes_of(task: str) -> tuple[str, ...]:
    """The evaluation modes ``all`` stands for: SMG's five DMC-GB modes, or the robot train scene and five test
    scenes. ``distracting_cs`` is left out: it is evaluated only when named (:func:`named_modes_of`)."""
    return task_spec(task).modes


def named_modes_of(task: str) -> tuple[str, ...]:
    """Every mode ``task`` can be evaluated in: :func:`modes_of`, and ``distracting_cs`` for the dm_control
    domains DMC-GB defines it for."""
    if is_robot_task(task) or task.partition("-")[0] not in DISTRACTING_CS_DOMAINS:
        return modes_of(task)
    return modes_of(task) + (DISTRACTING_CS,)


def parse_modes(text: str, task: str) -> tuple[str, ...]:
    """``"all"`` or a comma-separated list of ``task``'s modes; ValueError naming the allowed ones."""
    allowed = modes_of(task)
    if text.strip() == "all":
        return allowed
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    if not modes:
        raise ValueError(f"no evaluation mode given: use 'all' or a comma-separated list of {', '.join(allowed)}")
    check_modes(modes, task)
    return modes


def check_modes(modes, task: str) -> None:
    """ValueError for an empty list, a mode given twice (it would be evaluated twice and its second value
    reported) or a mode ``task`` does not have."""
    allowed = named_modes_of(task)
    if not modes:
        raise ValueError(f"no evaluation mode given: use 'all' or a comma-separated list of {', '.join(allowed)}")
    twice = sorted({m for m in modes if list(modes).count(m) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} {'is' if len(twice) == 1 else 'are'} given twice: list each mode once")
    bad = [m for m in modes if m not in allowed]
    if DISTRACTING_CS in bad and not is_robot_task(task):
        raise ValueError(f"{DISTRACTING_CS} is defined for the domains {', '.join(DISTRACTING_CS_DOMAINS)} only "
                         f"(DMC-GB sets its camera and background per domain), not for {task}")
    if bad:
        raise ValueError(f"unknown eval modes {', '.join(bad)} for {task}: choose from {', '.join(allowed)}")


def mode_label(mode: str, distracting_cs_intensity=None) -> str:
    """How results name an evaluation mode: the mode, with the intensity for ``distracting_cs``
    (``distracting_cs@0.1``): runs at different intensities are different tables."""
    if mode != DISTRACTING_CS or distracting_cs_intensity is None:
        return mode
    return f"{mode}@{float(distracting_cs_intensity):g}"


def parse_mode_label(label: str) -> tuple[str, float | None]:
    """``(mode, intensity)`` of a :func:`mode_label` (intensity None for the other modes)."""
    mode, sep, value = label.partition("@")
    if sep and mode == DISTRACTING_CS:
        try:
            return mode, float(value)
        except ValueError:
            pass
    return label, None


def env_kwargs(run) -> dict:
    """The environment arguments of a run (anything with ``task``, ``frame_stack``, ``image_size``,
    ``action_repeat`` and ``episode_length``, e.g. :class:`smg_fast.config.RunConfig`) for
    :func:`smg_fast.envs.make` / ``VectorEnv``; the robot tasks take no action repeat."""
    kw = dict(frame_stack=run.frame_stack, image_size=run.image_size, episode_length=run.episode_length)
    if not is_robot_task(run.task):
        kw["action_repeat"] = run.action_repeat
        if getattr(run, "distracting_cs_intensity", None) is not None:  # read by distracting_cs envs only
            kw["distracting_cs_intensity"] = run.distracting_cs_intensity
    return kw
