"""dm_control suite tasks as gymnasium pixel environments, with DMC-GB's evaluation modes.

One :class:`DMCEnv` is what upstream builds from ``dmc2gym.make`` + ``VideoWrapper`` + ``FrameStack`` +
``ColorWrapper`` (reference §5.1), on the current ``mujoco`` / ``dm_control`` and the gymnasium API:

* pixels: ``physics.render(H, W, camera_id)``, camera 0 (quadruped: 2), no crop, uint8 CHW; the
  observation stacks the last ``frame_stack`` frames, oldest first: ``[3·k, H, W]``; a reset fills the
  stack with k copies of the first frame;
* actions in [-1, 1] (checked: out of range, NaN or a wrong shape raise ValueError), mapped affinely to
  the task's true bounds as dmc2gym does, repeated ``action_repeat`` times with the rewards summed;
* an episode is ``episode_length`` control steps (1000): ``ceil(episode_length / action_repeat)`` agent
  steps, after which ``truncated`` is True. dm_control's own time limit is switched off (upstream sets
  it to 1e6 s), so ``terminated`` is True only when the task itself ends the episode;
* ``distracting_cs`` (DMC-GB's Distracting Control Suite port) drives its distractions per control step:
  :mod:`smg_fast.envs.distracting`.
"""
from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from smg_fast.tasks import task_spec

from .actions import check_actions
from .appearance import InPlaceAppearance, XmlAppearance, video_settings
from .episodes import check_reset_options, generator_state, set_generator_state
from .tasks import MODES, camera_id, default_action_repeat, parse_task


class DMCEnv(gym.Env):
    """A dm_control suite task rendered to stacked pixels in one of DMC-GB's modes (see module doc).

    ``appearance``: ``"inplace"`` (default; edit the compiled model's colours) or ``"xml"`` (reload the
    physics from edited XML at every reset, as upstream does); both render the same pixels.
    ``video_offset`` / ``video_stride``: without an assigned episode (see :meth:`reset`), the e-th reset
    shows item ``offset + 1 + e·stride`` of the video sequence (upstream: 0 / 1, i.e. videos 1, 2, 3, ...);
    VectorEnv gives env i offset i and stride N. In ``distracting_cs`` the e-th reset is episode
    ``offset + e·stride`` of the distraction streams.
    ``distracting_cs_intensity``: the ``distracting_cs`` intensity (required there, ignored by the other
    modes); ``distracting_upload``: how its skybox reaches the GPU (``"auto"``, ``"copy"`` or upstream's
    ``"mujoco"``; :mod:`smg_fast.envs.distracting.skybox`).
    """

    metadata = {"render_modes": ["rgb_array"]}
    render_mode = "rgb_array"

    def __init__(self, task: str, mode: str = "train", seed: int = 0, *, frame_stack: int = 3,
                 image_size: int = 84, action_repeat: int | None = None, episode_length: int | None = None,
                 background_source: str | None = None, data_dir=None, appearance: str = "inplace",
                 video_offset: int = 0, video_stride: int = 1, distracting_cs_intensity: float | None = None,
                 distracting_upload: str = "auto"):
        if episode_length is None:
            episode_length = task_spec(task).episode_length
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        for name, value in (("frame_stack", frame_stack), ("image_size", image_size),
                            ("episode_length", episode_length)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if action_repeat is not None and (int(action_repeat) != action_repeat or action_repeat < 1):
            raise ValueError(f"action_repeat must be a positive integer, got {action_repeat!r}")
        if appearance not in ("inplace", "xml"):
            raise ValueError(f"appearance must be 'inplace' or 'xml', got {appearance!r}")
        if mode == "distracting_cs":
            from . import distracting

            distracting.check_domain(task.partition("-")[0])
            if distracting_cs_intensity is None:
                raise ValueError(f"distracting_cs needs distracting_cs_intensity, one of "
                                 f"{', '.join(f'{x:g}' for x in distracting.INTENSITIES)}")
            distracting.check_intensity(distracting_cs_intensity)

        from dm_control import suite

        self.task = task
        self.domain, self.task_name = parse_task(task)
        self.mode = mode
        self.frame_stack = int(frame_stack)
        self.image_size = int(image_size)
        self.action_repeat = int(action_repeat or default_action_repeat(task))
        self.episode_length = int(episode_length)
        self.max_episode_steps = math.ceil(self.episode_length / self.action_repeat)
        self.camera_id = camera_id(self.domain)
        self._seed = int(seed)

        self._env = suite.load(self.domain, self.task_name,
                               task_kwargs={"random": self._seed, "time_limit": float("inf")})
        self.physics = self._env.physics

        spec = self._env.action_spec()
        self._true_low = np.broadcast_to(spec.minimum, spec.shape).astype(np.float32)
        self._true_high = np.broadcast_to(spec.maximum, spec.shape).astype(np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=spec.shape, dtype=np.float32, seed=self._seed)
        size = (self.image_size, self.image_size)
        self.observation_space = gym.spaces.Box(0, 255, shape=(3 * self.frame_stack, *size), dtype=np.uint8,
                                                seed=self._seed)

        # Scene appearance and backgrounds (reference §5.2-5.3).
        self._appearance = None
        self._colors = None
        self._videos = None
        self._settings: dict = {}
        if mode.startswith(("color", "video")):
            self._appearance = (InPlaceAppearance(self.physics) if appearance == "inplace"
                                else XmlAppearance(self.physics, self.domain))
        if mode.startswith("color"):
            from smg_fast.data.colors import load_colors
            self._colors = load_colors(mode, data_dir)
        elif mode.startswith("video"):
            from .backgrounds import video_sequence  # imports torch: only the video modes need it

            self._videos = video_sequence(mode, background_source, size, self._seed, data_dir,
                                          offset=video_offset, stride=video_stride)
            self._settings = video_settings(mode)
            self._appearance.apply(self._settings)
        self._color_rng = np.random.RandomState(self._seed)  # upstream ColorWrapper's RNG
        self._distraction = None
        self._episode_offset, self._episode_stride, self._episodes = int(video_offset), int(video_stride), 0
        if mode == "distracting_cs":
            from .distracting import DistractingScene

            self._distraction = DistractingScene(self.physics, self.domain, distracting_cs_intensity, self.camera_id,
                                                 data_dir, upload=distracting_upload)

        self._stack = np.zeros((self.frame_stack, 3, *size), dtype=np.uint8)
        self._background: np.ndarray | None = None  # [T, 3, H, W] video of the current episode
        self._bg_frame = 0
        self._raw_frame: np.ndarray | None = None
        self._steps = 0
        self._needs_reset = True
        self._closed = False

    # -- gymnasium API ----------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode. ``seed`` reseeds the task, the colour draws and the video sequence, so the
        env then behaves exactly like a fresh one made with that seed.

        ``options`` assign the episode instead of the env's own sequences (:mod:`smg_fast.envs.episodes`):
        ``"episode"`` (its place in upstream's test-env sequence: picks the video), ``"color"`` (the colour
        entry), ``"start_state"`` (the task RNG's state; ``info["next_start_state"]`` is its state after
        this reset's draws) and ``"distraction_seed"`` (``distracting_cs``: with the episode, seeds its
        distractions). The evaluator uses them so that results do not depend on its worker count.
        """
        super().reset(seed=seed)
        opts = check_reset_options(options, color_modes=self._colors is not None,
                                   distracting=self._distraction is not None)
        if "color" in opts and opts["color"] >= len(self._colors):  # checked before anything changes
            raise ValueError(f"reset option 'color' is {opts['color']}, but {self.mode} has {len(self._colors)} "
                             f"entries")
        info: dict[str, Any] = {}
        if seed is not None:
            self._seed = int(seed)
            self._env.task.random.seed(self._seed)
            self._color_rng = np.random.RandomState(self._seed)
            if self._videos is not None:
                self._videos.reset(self._seed)
            self._episodes = 0
        if "start_state" in opts:
            set_generator_state(self._env.task.random, opts["start_state"])
        if "episode" in opts:
            info["episode"] = int(opts["episode"])
        if self._colors is not None:
            if "color" in opts:
                index = int(opts["color"])
            else:
                index = int(self._color_rng.randint(len(self._colors)))  # upstream ColorWrapper's draw
            self._settings = self._colors[index]
            info["color_index"] = index
        if self._appearance is not None:
            self._appearance.apply(self._settings)
        if self._videos is not None:
            pick = self._videos.at(opts["episode"]) if "episode" in opts else self._videos.next()
            info["video"], self._background = pick
            self._bg_frame = 0
        self._env.reset()
        if self._distraction is not None:
            if "episode" in opts:
                episode = int(opts["episode"])
            else:
                episode = self._episode_offset + self._episodes * self._episode_stride
                self._episodes += 1
            info.update(self._distraction.reset(opts.get("distraction_seed", self._seed), episode))
        if "start_state" in opts:
            info["next_start_state"] = generator_state(self._env.task.random)
        self._stack[:] = self._render()
        self._steps = 0
        self._needs_reset = False
        return self._observation(), info

    def rng_state(self) -> dict:
        """The random streams the next reset draws from (task initial state, colour entry), so a
        resumed training run starts its next episode exactly where the interrupted one would have."""
        return {"task": self._env.task.random.get_state(), "color": self._color_rng.get_state()}

    def set_rng_state(self, state: dict) -> None:
        self._env.task.random.set_state(state["task"])
        self._color_rng.set_state(state["color"])

    def step(self, action):
        if self._needs_reset:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset() first")
        a = check_actions(action, self.action_space.shape, context=f" for {self.task}")
        # dmc2gym's mapping from [-1, 1] to the true bounds (identity for most suite tasks).
        true = (a + 1.0) / 2.0 * (self._true_high - self._true_low) + self._true_low
        true = true.astype(np.float32)
        reward, terminated, discount = 0.0, False, 1.0
        for _ in range(self.action_repeat):
            ts = self._env.step(true)
            if self._distraction is not None:
                self._distraction.control_step()
            reward += ts.reward or 0.0
            discount = ts.discount
            if ts.last():
                terminated = True
                break
        self._steps += 1
        truncated = not terminated and self._steps >= self.max_episode_steps
        self._needs_reset = terminated or truncated
        self._bg_frame += 1
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = self._render()
        return self._observation(), float(reward), terminated, truncated, {"discount": float(discount)}

    def render(self) -> np.ndarray:
        """The newest frame of the observation, HWC uint8."""
        return self._stack[-1].transpose(1, 2, 0).copy()

    def close(self) -> None:
        """Release the GL context now rather than at garbage collection (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._distraction is not None:
                self._distraction.close()
            self._env.close()
            self.physics.free()

    # -- helpers --------------------------------------------------------------------------------------

    @property
    def raw_frame(self) -> np.ndarray | None:
        """The newest rendered frame before the video background was composited in (CHW uint8)."""
        return self._raw_frame

    @property
    def background_frame(self) -> np.ndarray | None:
        """The background frame composited into the newest observation frame (video modes)."""
        if self._background is None:
            return None
        return self._background[(self._bg_frame) % len(self._background)]

    def _render(self) -> np.ndarray:
        if self._distraction is not None:
            self._distraction.before_render()
        frame = self.physics.render(self.image_size, self.image_size, camera_id=self.camera_id)
        frame = np.ascontiguousarray(frame.transpose(2, 0, 1))
        self._raw_frame = frame
        if self._background is not None:
            from .backgrounds import greenscreen

            frame = greenscreen(frame, self.background_frame)
        return frame

    def _observation(self) -> np.ndarray:
        return self._stack.reshape(-1, self.image_size, self.image_size).copy()
