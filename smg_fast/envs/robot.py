"""SMG's robotic manipulation tasks (xArm reach and peg-in-box) as gymnasium pixel environments.

    >>> from smg_fast.envs.robot import make_robot
    >>> env = make_robot("robot-peg-in-box", mode="test3", seed=0)
    >>> obs, info = env.reset()                      # uint8 [9, 84, 84], oldest frame first
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> info["is_success"]                           # sticky: any success so far in this episode

One :class:`RobotEnv` is what upstream builds in ``robot_wrappers.make_env`` (reference §6.1): the task
env, ``TimeLimit(50)``, ``SuccessWrapper(any_success=True)``, ``ObservationSpaceWrapper`` (camera
"third_person"), ``ActionSpaceWrapper`` and ``FrameStack(3)``, on the current ``mujoco`` and the same API
and pixel pipeline as :class:`smg_fast.envs.dmc.DMCEnv`:

* scenes: ``mode`` ``train`` or ``test1`` .. ``test5`` loads upstream's ``<task>.xml`` or
  ``<task>_test{N}.xml`` (other colours and table textures), read in memory from the data directory
  (:mod:`smg_fast.envs.robot_assets`: nothing is written; ``shared_test4.xml``'s ``0.8.`` literals are
  rewritten to ``0.8`` on the way);
* pixels: camera "third_person" at ``image_size`` x ``image_size`` (84), rendered through dm_control's
  renderer like the DMC envs (one GL path per process; see "Rendering" below), already upright (upstream
  flipped mujoco-py's bottom-up images: not needed here); uint8 CHW frames stacked oldest first,
  ``[3·k, H, W]``; a reset fills the stack with k copies of the first frame;
* actions: ``action_space`` ``"xy"`` (A=2, reach's default), ``"xyz"`` (A=3, peg-in-box's default, as the
  paper's runs pass it) or ``"xyzw"`` (A=4, gripper too); in [-1, 1] (out of range, NaN or a wrong shape
  raise ValueError); mapped to upstream's (x, y, z or 0, gripper or 1); no action repeat (upstream has
  none: 20 MuJoCo substeps per step);
* episodes: ``episode_length`` steps (50), then ``truncated``; ``terminated`` is always False (upstream's
  ``done`` is False until the time limit);
* reward and success as upstream's dense reward (:mod:`smg_fast.envs.robot_tasks`); ``info["is_success"]``
  is sticky within an episode (upstream's ``SuccessWrapper``), ``info["success"]`` is this step's flag and
  ``info["distance"]`` the success criterion's distance.

Seeds: ``make_robot(seed=s)`` seeds the gripper/goal draws with ``numpy.random.default_rng(s)``;
``reset(seed=s)`` reseeds, so the env then behaves exactly like a fresh one made with ``s``. (Upstream's
test envs use the training seed; the evaluator hands each episode its place in that one stream with
``reset(options={"start_state": ...})``, see :mod:`smg_fast.envs.episodes`.)

Rendering: ``dm_control.mujoco.Physics`` wraps the compiled model, and a persistent ``Camera`` renders each
frame (pixels identical to ``mujoco.Renderer``'s). Going through dm_control rather than ``mujoco.Renderer``
keeps one GL path in a process that also runs DMC envs: with EGL, closing a ``mujoco.Renderer`` corrupts
dm_control's later frames in the same process (``../shared/docs/measurements.md``).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from smg_fast.tasks import ROBOT_MODES, ROBOT_TASKS, is_robot_task, task_spec

from .actions import check_actions
from .episodes import check_reset_options, generator_state, set_generator_state
from .rendering import ensure_gl_backend
from .robot_assets import load_scene, scene_file

__all__ = ["RobotEnv", "make_robot", "ROBOT_TASKS", "ROBOT_MODES", "ACTION_SPACES", "EPISODE_LENGTH",
           "is_robot_task"]

ACTION_SPACES = ("xy", "xyz", "xyzw")
EPISODE_LENGTH = task_spec(ROBOT_TASKS[0]).episode_length  # 50: upstream's TimeLimit (hard-coded in its train.py)
CAMERA = "third_person"


class RobotEnv(gym.Env):
    """One of SMG's xArm tasks in one scene, rendered to stacked pixels (see the module doc)."""

    metadata = {"render_modes": ["rgb_array"]}
    render_mode = "rgb_array"

    def __init__(self, task: str, mode: str = "train", seed: int = 0, *, frame_stack: int = 3,
                 image_size: int = 84, episode_length: int = EPISODE_LENGTH, action_space: str | None = None,
                 data_dir=None, n_substeps: int = 20):
        scene_file(task, mode)  # validates task and mode before any heavy work
        for name, value in (("frame_stack", frame_stack), ("image_size", image_size),
                            ("episode_length", episode_length), ("n_substeps", n_substeps)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        from .robot_tasks import DEFAULT_ACTION_SPACE, TASKS

        action_space = action_space or DEFAULT_ACTION_SPACE[task]
        if action_space not in ACTION_SPACES:
            raise ValueError(f"action_space must be one of {ACTION_SPACES}, got {action_space!r}")

        self.task, self.mode = task, mode
        self.frame_stack = int(frame_stack)
        self.image_size = int(image_size)
        self.episode_length = int(episode_length)
        self.max_episode_steps = self.episode_length
        self.action_repeat = 1
        self.action_space_name = action_space
        self._seed = int(seed)

        self.scene = load_scene(task, mode, data_dir)  # before GL: a missing file fails fast and cheaply
        ensure_gl_backend()
        from dm_control.mujoco import Physics
        from dm_control.mujoco.engine import Camera

        try:
            self.physics = Physics.from_xml_string(self.scene.xml, self.scene.assets)
        except Exception as e:
            raise RuntimeError(f"MuJoCo could not compile the robot scene {self.scene.name} from "
                               f"{self.scene.root}: {e}") from e
        self.scene = dataclasses.replace(self.scene, assets={})  # the compiled model holds what it needs
        use_xyz = "z" in action_space
        self.sim = TASKS[task](self.physics.model.ptr, self.physics.data.ptr, use_xyz=use_xyz,
                               n_substeps=n_substeps)
        self._camera = Camera(self.physics, self.image_size, self.image_size, camera_id=CAMERA)

        self._use_z, self._use_gripper = use_xyz, action_space.endswith("w")
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(len(action_space),), dtype=np.float32,
                                           seed=self._seed)
        size = (self.image_size, self.image_size)
        self.observation_space = gym.spaces.Box(0, 255, shape=(3 * self.frame_stack, *size), dtype=np.uint8,
                                                seed=self._seed)
        self._rng = np.random.default_rng(self._seed)
        self._stack = np.zeros((self.frame_stack, 3, *size), dtype=np.uint8)
        self._steps = 0
        self._any_success = False
        self._needs_reset = True
        self._closed = False

    # -- gymnasium API ----------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``seed`` reseeds the gripper and goal draws (= a fresh env made with it).

        ``options`` (:mod:`smg_fast.envs.episodes`): ``"start_state"`` draws this episode's gripper and goal
        from that generator state (``info["next_start_state"]`` is the state after the draws);
        ``"episode"`` is reported back as ``info["episode"]``. The scenes have no colour entries.
        """
        self._check_open()
        super().reset(seed=seed)
        opts = check_reset_options(options, color_modes=False)
        if seed is not None:
            self._seed = int(seed)
            self._rng = np.random.default_rng(self._seed)
        if "start_state" in opts:
            set_generator_state(self._rng, opts["start_state"])
        self.sim.reset(self._rng)
        info: dict[str, Any] = {"goal": self.sim.goal.copy()}
        if "episode" in opts:
            info["episode"] = int(opts["episode"])
        if "start_state" in opts:
            info["next_start_state"] = generator_state(self._rng)
        self._stack[:] = self._render()
        self._steps = 0
        self._any_success = False
        self._needs_reset = False
        return self._observation(), info

    def rng_state(self) -> dict:
        """The random stream the next reset draws from (see DMCEnv.rng_state)."""
        return {"goal": self._rng.bit_generator.state}

    def set_rng_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state["goal"]

    def step(self, action):
        self._check_open()
        if self._needs_reset:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset() first")
        a = check_actions(action, self.action_space.shape,
                          context=f" for {self.task} with action_space={self.action_space_name!r}")
        full = np.array([a[0], a[1], a[2] if self._use_z else 0.0, a[-1] if self._use_gripper else 1.0],
                        dtype=np.float32)  # upstream ActionSpaceWrapper
        sim = self.sim
        sim.refresh_goal()
        sim.apply_action(full)
        sim.advance()
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = self._render()
        distance = sim.distance()
        success = distance < sim.constants.distance_threshold
        reward = sim.reward()
        self._any_success = self._any_success or success
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        self._needs_reset = truncated
        info: dict[str, Any] = {"is_success": self._any_success, "success": success, "distance": distance}
        return self._observation(), reward, False, truncated, info

    def render(self) -> np.ndarray:
        """The newest frame of the observation, HWC uint8."""
        return self._stack[-1].transpose(1, 2, 0).copy()

    def close(self) -> None:
        """Release the GL context now rather than at garbage collection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._camera = None
            self.physics.free()

    # -- helpers --------------------------------------------------------------------------------------

    @property
    def goal(self) -> np.ndarray:
        return self.sim.goal.copy()

    def privileged_state(self) -> dict:
        """Grasp site, goal and achieved goal (the peg for peg-in-box) in world coordinates: for scripted
        policies and tests, not part of the observation."""
        return self.sim.state()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this environment is closed")

    def _render(self) -> np.ndarray:
        return self._camera.render().transpose(2, 0, 1)  # a view of the camera's buffer: copied by the caller

    def _observation(self) -> np.ndarray:
        return self._stack.reshape(-1, self.image_size, self.image_size).copy()


def make_robot(task: str, mode: str = "train", seed: int = 0, *, frame_stack: int = 3, image_size: int = 84,
               episode_length: int | None = None, action_space: str | None = None, data_dir=None,
               action_repeat: int | None = None, background_source: str | None = None,
               video_offset: int = 0, video_stride: int = 1, n_substeps: int = 20) -> RobotEnv:
    """A gymnasium env for ``"robot-reach"`` or ``"robot-peg-in-box"`` in scene ``mode``.

    Args:
        mode: ``train`` or ``test1`` .. ``test5`` (upstream's test scenes).
        seed: seeds the initial gripper position and the goal draws.
        frame_stack, image_size: observation ``uint8 [3·frame_stack, image_size, image_size]``.
        episode_length: agent steps per episode (default 50, upstream's).
        action_space: ``"xy"`` / ``"xyz"`` / ``"xyzw"``; default ``"xy"`` for reach and ``"xyz"`` for
            peg-in-box (the paper's settings, reference §4.2).
        data_dir: data directory (default ``$SMG_FAST_DATA``, then ``~/.cache/smg-fast``).
        action_repeat: must be None or 1: the robot tasks have no action repeat.
        background_source: must be None (no video modes for the robot tasks).
        video_offset, video_stride: accepted and ignored, so that :class:`~smg_fast.envs.VectorEnv`
            (which passes them to every env it makes) works with robot tasks.
        n_substeps: MuJoCo steps per env step (upstream's default 20).
    """
    if action_repeat not in (None, 1):
        raise ValueError(f"the robot tasks have no action repeat (upstream runs 20 MuJoCo substeps per step); "
                         f"got action_repeat={action_repeat!r}")
    if background_source is not None:
        raise ValueError("background_source applies to DMC video modes only; the robot tasks' test scenes "
                         f"are {ROBOT_MODES[1:]}")
    del video_offset, video_stride
    return RobotEnv(task, mode, seed, frame_stack=frame_stack, image_size=image_size,
                    episode_length=task_spec(task).episode_length if episode_length is None else episode_length,
                    action_space=action_space, data_dir=data_dir, n_substeps=n_substeps)
