"""An episode's assignment: what an env's ``reset(options=...)`` takes so that an episode plays exactly as
it would in upstream's single, persistent test env, whichever process runs it.

Reset options (all optional; a key left out keeps the env's own sequence, as a standalone env has it):

* ``"episode"``: the episode's place in the test env's sequence, counted from 0 across evaluations. Video
  modes show the video upstream's counter picks at that reset: item ``(episode + 1) mod n_videos``
  (:meth:`~smg_fast.envs.backgrounds.VideoSequence.at`). Other modes only report it.
* ``"color"``: the colour entry (colour modes only), drawn by the evaluator from upstream's one RNG.
* ``"start_state"``: the state of the stream the initial state is drawn from (below); the env then
  reports the state after its draws as ``info["next_start_state"]``.
* ``"distraction_seed"`` (``distracting_cs`` only): the seed of the episode's distraction streams, which
  are seeded with it and the episode's number (:func:`smg_fast.envs.distracting.episode_streams`).

Start states. A reset draws the episode's initial state from one RNG: the dm_control task's
``numpy.random.RandomState`` (``suite.load(..., task_kwargs={"random": seed})``, as dmc2gym seeds it) for
the DMC tasks, the ``numpy.random.Generator`` of :class:`~smg_fast.envs.robot.RobotEnv` (gripper and goal
draws) for the robot tasks. Upstream's test env runs its episodes one after another on that one stream.
To play an episode of that sequence in any worker, the evaluator hands the stream's state to the env
with the reset (``reset(options={"start_state": ...})``) and gets the state after the draws back
(``info["next_start_state"]``), which the next episode starts from. (The DMC tasks cannot be skipped
ahead without their physics: some, e.g. finger and ball_in_cup, draw until a state has no contacts.)

States are plain Python (dicts, lists and ints): they pickle small, cross the worker pipes, and go into
a checkpoint with nothing but builtins.
"""
from __future__ import annotations

import numpy as np

from smg_fast.tasks import is_robot_task

RESET_OPTIONS = ("episode", "color", "start_state", "distraction_seed")


def check_reset_options(options, color_modes: bool, distracting: bool = False) -> dict:
    """``options`` as a dict with known keys and valid values (ValueError naming the key otherwise).
    ``color_modes``: whether the env draws colour entries (``"color"`` is refused otherwise);
    ``distracting``: whether it is a ``distracting_cs`` env (``"distraction_seed"`` is refused otherwise)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"reset options must be a dict with keys from {RESET_OPTIONS}, "
                         f"got {type(options).__name__}")
    unknown = sorted(set(options) - set(RESET_OPTIONS))
    if unknown:
        raise ValueError(f"unknown reset options {unknown}; known: {list(RESET_OPTIONS)}")
    episode = options.get("episode")
    if episode is not None and (isinstance(episode, bool) or int(episode) != episode or episode < 0):
        raise ValueError(f"reset option 'episode' must be an integer >= 0, got {episode!r}")
    color = options.get("color")
    if color is not None:
        if not color_modes:
            raise ValueError("reset option 'color' applies to the colour modes (color_easy, color_hard) only")
        if isinstance(color, bool) or int(color) != color or color < 0:
            raise ValueError(f"reset option 'color' must be a colour entry index >= 0, got {color!r}")
    seed = options.get("distraction_seed")
    if seed is not None:
        if not distracting:
            raise ValueError("reset option 'distraction_seed' applies to the distracting_cs mode only")
        if isinstance(seed, bool) or int(seed) != seed or not 0 <= seed < 2**32:
            raise ValueError(f"reset option 'distraction_seed' must be an integer in [0, 2**32), got {seed!r}")
    return {k: v for k, v in options.items() if v is not None}


def initial_start_state(task: str, seed: int) -> dict:
    """The start-state stream of a fresh ``make(task, mode, seed)``, before its first reset."""
    if is_robot_task(task):
        return np.random.default_rng(int(seed)).bit_generator.state
    return generator_state(np.random.RandomState(int(seed)))


def generator_state(rng) -> dict:
    """``rng``'s state as plain Python (a ``RandomState`` or a ``Generator``)."""
    if isinstance(rng, np.random.RandomState):
        st = rng.get_state(legacy=False)
        key = st["state"]["key"]
        return {"bit_generator": st["bit_generator"],
                "state": {"key": [int(k) for k in key], "pos": int(st["state"]["pos"])},
                "has_gauss": int(st["has_gauss"]), "gauss": float(st["gauss"])}
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator.state
    raise TypeError(f"rng must be a numpy RandomState or Generator, got {type(rng).__name__}")


def set_generator_state(rng, state: dict) -> None:
    """Put ``rng`` in ``state`` (from :func:`generator_state` or :func:`initial_start_state`); ValueError
    when the state is of another kind of generator than ``rng``."""
    if not isinstance(state, dict) or "bit_generator" not in state:
        raise ValueError(f"start_state must be a generator state dict, got {type(state).__name__}")
    if isinstance(rng, np.random.RandomState):
        if state["bit_generator"] != "MT19937":
            raise ValueError(f"start_state is a {state['bit_generator']} state; this env draws its start "
                             f"states from MT19937 (a dm_control task's RandomState)")
        rng.set_state(state)
    elif isinstance(rng, np.random.Generator):
        if state["bit_generator"] != type(rng.bit_generator).__name__:
            raise ValueError(f"start_state is a {state['bit_generator']} state; this env draws its start "
                             f"states from {type(rng.bit_generator).__name__}")
        rng.bit_generator.state = state
    else:
        raise TypeError(f"rng must be a numpy RandomState or Generator, got {type(rng).__name__}")
