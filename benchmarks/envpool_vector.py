"""envpool behind :class:`~smg_fast.envs.VectorEnv`'s API: the comparison ``test_bench_envs.py`` measures
(``pip install '.[envpool]'``). Not part of the package: at the paper's action repeats (2, 4, 8) it is
0.3-0.6x as fast as ``VectorEnv`` and only on par at action repeat 1 (docs/environments.md, "Speed"), and it
cannot take the evaluator's per-episode assignments (start states, colours, videos are seeded once per
env at construction), so no training or evaluation path would use it.

:class:`EnvpoolVectorEnv` has :class:`~smg_fast.envs.VectorEnv`'s API (``reset``, ``step``,
``send`` / ``recv``, ``close``, the same ``info`` keys, same-step auto-reset with ``final_obs``) over
one envpool pool of DMC pixel envs. envpool only has the plain (train) scene, so DMC-GB's test modes
stay on ``VectorEnv``.

Semantics kept equal to :func:`smg_fast.envs.make`: envpool's ``frame_skip`` is the number of physics
substeps of *one control step* (its reward is that step's reward), so action repeat is done here: each
agent step sends the action ``action_repeat`` times, sums the rewards and keeps the frame of the last
control step (every control step renders in envpool, which is why this backend is slower than
``VectorEnv`` on a small CPU machine; see the table in docs/environments.md). Frames are stacked here per agent step
(envpool's own ``frame_stack`` would stack control steps). Camera as upstream (0; quadruped 2).
Env ``i`` is seeded ``seed + i``; episodes last ``episode_length`` control steps.

envpool bundles its own libEGL, which hides GL from MuJoCo unless ``mujoco`` is imported first with
the rendering backend chosen: this module does that before ``import envpool``.
"""
from __future__ import annotations

import numpy as np

from smg_fast.envs.rendering import ensure_gl_backend
from smg_fast.envs.tasks import camera_id, default_action_repeat
from smg_fast.envs.vector import check_step_request


def envpool_task_id(task: str) -> str:
    """``"walker-walk"`` -> ``"WalkerWalk-v1"``, ``"ball_in_cup-catch"`` -> ``"BallInCupCatch-v1"``."""
    domain, sep, name = task.partition("-")
    if not sep or not domain or not name:
        raise ValueError(f"task must be 'domain-task', e.g. 'walker-walk', got {task!r}")
    camel = "".join(part.capitalize() for part in (*domain.split("_"), *name.split("_")))
    return f"{camel}-v1"


def import_envpool():
    ensure_gl_backend()
    import mujoco  # noqa: F401  (before envpool: its bundled libEGL must not win, see the module doc)

    try:
        import envpool
    except ImportError as e:
        raise ImportError("the envpool backend needs envpool: pip install '.[envpool]' (or envpool==1.2.5)") from e
    return envpool


class EnvpoolVectorEnv:
    """``num_envs`` DMC pixel envs of ``task`` (train scene) in one envpool pool.

    Args mirror :class:`~smg_fast.envs.VectorEnv` / :func:`~smg_fast.envs.make`; ``num_threads`` is
    envpool's worker thread count (0: one per env)."""

    def __init__(self, task: str, mode: str = "train", num_envs: int = 2, seed: int = 0, *,
                 frame_stack: int = 3, image_size: int = 84, action_repeat: int | None = None,
                 episode_length: int = 1000, num_threads: int = 0):
        if mode != "train":
            raise ValueError(f"the envpool backend renders the train scene only, got mode {mode!r}; "
                             f"use VectorEnv for DMC-GB's test modes")
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        envpool = import_envpool()
        self.task, self.mode, self.num_envs = task, mode, int(num_envs)
        self.action_repeat = default_action_repeat(task) if action_repeat is None else int(action_repeat)
        if self.action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat!r}")
        self.frame_stack, self.image_size = int(frame_stack), int(image_size)
        self.obs_shape = (3 * self.frame_stack, self.image_size, self.image_size)
        self.max_episode_steps = -(-int(episode_length) // self.action_repeat)  # agent steps
        self._pool = envpool.make_gymnasium(
            # batch_size 1 + one recv per env: a subset step must not wait for a full batch.
            envpool_task_id(task), num_envs=self.num_envs, batch_size=1, num_threads=num_threads,
            env_seed=[seed + i for i in range(self.num_envs)], seed=seed, from_pixels=True,
            render_width=self.image_size, render_height=self.image_size,
            render_camera_id=camera_id(task.partition("-")[0]), frame_stack=1,
            max_episode_steps=int(episode_length))
        self.action_space = self.single_action_space = self._pool.action_space
        self._stack = np.zeros((self.num_envs, *self.obs_shape), np.uint8)
        self._return = np.zeros(self.num_envs)
        self._length = np.zeros(self.num_envs, np.int64)
        self._pending: list[int] = []
        self._actions: dict[int, np.ndarray] = {}
        self._needs_reset, self._closed = True, False

    # -- API (as VectorEnv) ---------------------------------------------------------------------

    def reset(self, seed: int | None = None):
        self._check_open()
        if seed is not None:
            raise ValueError("the envpool backend is seeded at construction (env i: seed + i); "
                             "make a new EnvpoolVectorEnv to reseed")
        if self._pending:
            raise RuntimeError(f"reset() with results pending for envs {self._pending}; recv() them first")
        self._pool.async_reset()
        for i, (frame, *_) in self._collect(self.num_envs).items():
            self._stack[i] = np.tile(frame, (self.frame_stack, 1, 1))
        self._return[:], self._length[:] = 0.0, 0
        self._needs_reset = False
        ids = np.arange(self.num_envs)
        return self._stack.copy(), {"env_id": ids, "env_infos": [{} for _ in ids]}

    def send(self, actions, env_ids=None) -> None:
        """Queue a step of envs ``env_ids`` (default all); it runs in :meth:`recv`."""
        self._check_open()
        if self._needs_reset:
            raise RuntimeError("call reset() before the first send()/step()")
        ids, a = check_step_request(actions, env_ids, self.num_envs, self._pending, self.action_space.shape)
        for j, i in enumerate(ids.tolist()):
            self._actions[i] = a[j]
            self._pending.append(i)

    def recv(self, batch_size: int | None = None):
        """Run the queued steps (all of them, or the first ``batch_size`` queued) and return their results."""
        self._check_open()
        if not self._pending:
            raise RuntimeError("recv() without a step in flight; send() first")
        want = len(self._pending) if batch_size is None else max(1, min(int(batch_size), len(self._pending)))
        ids = np.array(sorted(self._pending[:want]), dtype=np.int64)
        self._pending = self._pending[want:]
        actions = np.stack([self._actions.pop(i) for i in ids.tolist()])
        reward, terminated, truncated, frame = self._repeat(ids, actions)
        n = len(ids)
        done = terminated | truncated
        self._stack[ids] = np.concatenate([self._stack[ids, 3:], frame], axis=1)
        self._return[ids] += reward
        self._length[ids] += 1
        final_obs = self._stack[ids].copy()
        episode_return = np.where(done, self._return[ids], np.nan)
        episode_length = np.where(done, self._length[ids], 0)
        if done.any():
            # Same-step auto-reset, as VectorEnv: envpool resets a finished env on its next step call
            # (the action is ignored) and returns the first frame of the new episode.
            ended = ids[done]
            self._pool.send(np.zeros((len(ended), *self.action_space.shape)), ended)
            for i, (frame, *_) in self._collect(len(ended)).items():
                self._stack[i] = np.tile(frame, (self.frame_stack, 1, 1))
            self._return[ended], self._length[ended] = 0.0, 0
        info = {"env_id": ids, "final_obs": final_obs, "episode_return": episode_return,
                "episode_length": episode_length, "env_infos": [{} for _ in range(n)]}
        return self._stack[ids].copy(), reward, terminated, truncated, info

    def step(self, actions):
        self.send(actions)
        return self.recv()

    def close(self) -> None:
        self._closed, self._pending = True, []
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None and hasattr(pool, "close"):
            pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self) -> int:
        return self.num_envs

    # -- internals --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this EnvpoolVectorEnv is closed")

    def _collect(self, count: int) -> dict:
        """``count`` single-env results from the pool: {env id: (frame [3, H, W], reward, term, trunc)}."""
        out = {}
        for _ in range(count):
            obs, rew, term, trunc, info = self._pool.recv()
            i = int(np.asarray(info["env_id"]).reshape(-1)[0])
            out[i] = (np.asarray(obs).reshape(3, self.image_size, self.image_size), float(np.asarray(rew).reshape(-1)[0]),
                      bool(np.asarray(term).reshape(-1)[0]), bool(np.asarray(trunc).reshape(-1)[0]))
        return out

    def _repeat(self, ids: np.ndarray, actions: np.ndarray):
        """``action_repeat`` control steps of envs ``ids``; an env whose episode ends stops there."""
        n = len(ids)
        reward = np.zeros(n)
        terminated, truncated = np.zeros(n, bool), np.zeros(n, bool)
        frame = np.zeros((n, 3, self.image_size, self.image_size), np.uint8)
        row = {int(i): j for j, i in enumerate(ids.tolist())}
        active = ids
        for _ in range(self.action_repeat):
            self._pool.send(actions[[row[int(i)] for i in active.tolist()]], active)
            for i, (obs, rew, term, trunc) in self._collect(len(active)).items():
                j = row[i]
                reward[j] += rew
                terminated[j] |= term
                truncated[j] |= trunc
                frame[j] = obs
            active = ids[~(terminated | truncated)]
            if len(active) == 0:
                break
        truncated &= ~terminated
        return reward, terminated, truncated, frame
