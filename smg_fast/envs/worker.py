"""One environment in a worker process, with the single env's API plus an asynchronous step.

The training loop sends the step's action (:meth:`WorkerEnv.send`) before its update and receives the
result (:meth:`WorkerEnv.recv`) after it, as upstream orders them (the action is drawn before the update, the
transition stored after it): the environment steps while the update runs, and what the loop computes is
the same as with :func:`smg_fast.envs.make` in-process — the same env, seed and actions; the worker is a
:class:`~smg_fast.envs.VectorEnv` of one (its pipes, shared observation buffer, timeouts and dead-worker
checks), without auto-reset.

A step that was sent but is not used (the run stopped between the updates it overlapped) is received and
dropped with :meth:`WorkerEnv.discard`; :meth:`WorkerEnv.rng_state` then reports the env's random streams
from before that step, which is what the checkpoint of a sequential loop, that never took the step, holds.
"""
from __future__ import annotations

import numpy as np

from .vector import VectorEnv


class WorkerEnv:
    """``make(task, mode, seed, **make_kwargs)`` (or ``factory(...)``) in a worker process.

    ``reset()``, ``step(action)``, ``rng_state()``, ``set_rng_state(state)`` and ``close()`` behave as the
    in-process env's; ``send(action)`` starts a step and ``recv()`` returns its ``(obs, reward, terminated,
    truncated, info)``.
    """

    def __init__(self, task: str, mode: str = "train", seed: int = 0, *, factory=None, timeout: float = 300.0,
                 **make_kwargs):
        self._vec = VectorEnv(task, mode, 1, seed, timeout=timeout, autoreset=False, factory=factory,
                              keep_rng=True, **make_kwargs)
        self.observation_space = self._vec.single_observation_space
        self.action_space = self._vec.single_action_space
        self.max_episode_steps = self._vec.max_episode_steps
        self._discarded = False  # the last step was dropped: rng_state() is the one before it

    @property
    def pid(self) -> int:
        return self._vec.pids[0]

    @property
    def in_flight(self) -> bool:
        return bool(self._vec._pending)

    def reset(self):
        obs, info = self._vec.reset()
        self._discarded = False
        return obs[0], info["env_infos"][0]

    def send(self, action) -> None:
        self._vec.send(np.asarray(action)[None])
        self._discarded = False

    def recv(self):
        obs, reward, terminated, truncated, info = self._vec.recv()
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info["env_infos"][0]

    def step(self, action):
        self.send(action)
        return self.recv()

    def discard(self) -> None:
        """Receive the step in flight and drop it, as if it had never been sent (see the module doc)."""
        if self.in_flight:
            self._vec.recv()
            self._discarded = True

    def rng_state(self) -> dict:
        return self._call("rng_state", self._discarded)

    def set_rng_state(self, state: dict) -> None:
        self._call("set_rng_state", state)

    def _call(self, cmd: str, arg):
        if self.in_flight:
            raise RuntimeError(f"{cmd} with a step in flight; recv() or discard() it first")
        self._vec._check_open()
        self._vec._send(0, (cmd, arg))
        return self._vec._gather([0], 1, cmd)[0]

    def close(self) -> None:
        self._vec.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
