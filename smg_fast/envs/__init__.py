"""DMControl pixel environments with DMC-GB's evaluation modes, and a batched multi-process runner.

    >>> from smg_fast import envs
    >>> env = envs.make("walker-walk", mode="video_hard", seed=0)
    >>> obs, info = env.reset()                      # uint8 [9, 84, 84], oldest frame first
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> vec = envs.VectorEnv("walker-walk", "color_hard", num_envs=2, seed=0)
    >>> env = envs.make("cheetah-run", mode="distracting_cs", distracting_cs_intensity=0.2, seed=0)
    >>> env = envs.make("robot-peg-in-box", mode="test3", seed=0)   # SMG's xArm tasks: smg_fast.envs.robot

Nothing here imports mujoco / dm_control at import time: :func:`make` first picks a working headless GL
backend (:func:`ensure_gl_backend`), because dm_control fixes its backend on first import.
"""
from __future__ import annotations

from smg_fast.tasks import is_robot_task, task_spec

from .rendering import RenderingUnavailableError, ensure_gl_backend
from .tasks import MODES, default_action_repeat
from .vector import VectorEnv

__all__ = ["MODES", "VectorEnv", "make", "ensure_gl_backend", "RenderingUnavailableError", "default_action_repeat"]


def make(task: str, mode: str = "train", seed: int = 0, *, frame_stack: int = 3, image_size: int = 84,
         action_repeat: int | None = None, episode_length: int | None = None, background_source: str | None = None,
         data_dir=None, **kwargs):
    """A gymnasium env for dm_control suite task ``task`` (``"domain-task"``) in DMC-GB mode ``mode``,
    or for SMG's robot tasks ``"robot-reach"`` / ``"robot-peg-in-box"`` in mode ``train`` or ``test1`` ..
    ``test5`` (:func:`smg_fast.envs.robot.make_robot`; episode length 50, no action repeat).

    Args:
        task: e.g. ``"walker-walk"``, ``"cartpole-swingup"``, ``"ball_in_cup-catch"``.
        mode: ``train``, ``color_easy``, ``color_hard``, ``video_easy``, ``video_hard`` or ``distracting_cs``
            (with ``distracting_cs_intensity=`` one of 0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5; the
            DAVIS videos of ``smg-fast data download davis``; :mod:`smg_fast.envs.distracting`).
        seed: seeds the task's initial states, the colour draws and (procedural) backgrounds.
        frame_stack, image_size: observation ``uint8 [3·frame_stack, image_size, image_size]``.
        action_repeat: default from the paper's Table 5 (cartpole-swingup 8, finger-spin 2, else 4).
        episode_length: control steps per episode (DMC: 1000); ``ceil(episode_length / action_repeat)`` agent
            steps, then ``truncated``.
        background_source: video modes' backgrounds: ``None`` (DMC-GB videos), ``"procedural"`` or
            ``"folder:PATH"``.
        data_dir: data directory (default ``$SMG_FAST_DATA``, then ``~/.cache/smg-fast``).
        kwargs: passed to :class:`smg_fast.envs.dmc.DMCEnv` (e.g. ``appearance="xml"``).
    """
    if is_robot_task(task):
        from .robot import make_robot

        return make_robot(task, mode, seed, frame_stack=frame_stack, image_size=image_size,
                          action_repeat=action_repeat, episode_length=episode_length,
                          background_source=background_source, data_dir=data_dir, **kwargs)
    ensure_gl_backend()
    from .dmc import DMCEnv

    return DMCEnv(task, mode, seed, frame_stack=frame_stack, image_size=image_size, action_repeat=action_repeat,
                  episode_length=task_spec(task).episode_length if episode_length is None else episode_length,
                  background_source=background_source, data_dir=data_dir, **kwargs)
