"""Stand-ins that let the real training loop run without rendering or network work: a synthetic pixel
environment, an agent whose update only samples the replay, and an evaluator that steps nothing. The loop
tests and the loop-overhead (soak) benchmark drive :class:`smg_fast.run.trainer.Trainer` with them, so what they
measure is the loop's own cost: storage, logging, checkpoints, evaluation bookkeeping.
"""
from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch


class SyntheticEnv:
    """Frames from a generator (a moving gradient with noise), fixed-length episodes, reward = −|a|²."""

    def __init__(self, image_size: int = 84, frame_stack: int = 3, action_dim: int = 6, episode_steps: int = 250,
                 seed: int = 0):
        self.image_size, self.k, self.episode_steps = image_size, frame_stack, episode_steps
        self.observation_space = gym.spaces.Box(0, 255, (3 * frame_stack, image_size, image_size), np.uint8)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
        self.max_episode_steps = episode_steps
        self._rng = np.random.default_rng(seed)
        self._base = np.add.outer(np.arange(image_size), np.arange(image_size)).astype(np.uint8)
        self._t = 0
        self._stack = np.zeros((frame_stack, 3, image_size, image_size), np.uint8)

    def _frame(self) -> np.ndarray:
        noise = self._rng.integers(0, 8, (3, self.image_size, self.image_size), dtype=np.uint8)
        return (self._base[None] + np.uint8(self._t % 256) + noise).astype(np.uint8)

    def reset(self, seed=None, options=None):
        self._t = 0
        self._stack[:] = self._frame()
        return self._stack.reshape(-1, self.image_size, self.image_size).copy(), {}

    def step(self, action):
        self._t += 1
        self._stack = np.roll(self._stack, -1, axis=0)
        self._stack[-1] = self._frame()
        reward = -float(np.square(action).sum())
        truncated = self._t >= self.episode_steps
        return self._stack.reshape(-1, self.image_size, self.image_size).copy(), reward, False, truncated, {}

    def rng_state(self) -> dict:
        return {"rng": self._rng.bit_generator.state}

    def set_rng_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state["rng"]

    def close(self) -> None:
        pass


def make_synthetic(task=None, mode="train", seed: int = 0, *, frame_stack: int = 3, image_size: int = 84,
                   action_dim: int = 6, episode_steps: int = 250) -> SyntheticEnv:
    """A :class:`SyntheticEnv` built the way a worker builds an env (:class:`smg_fast.envs.worker.WorkerEnv`'s
    ``factory``)."""
    return SyntheticEnv(image_size, frame_stack, action_dim, episode_steps, seed)


class SamplingAgent:
    """Acts with zeros and, per update, samples a batch from the replay (the storage's cost) without any
    network work. ``update_hook(n)`` is called after the n-th update (tests use it to send a signal)."""

    def __init__(self, action_dim: int, batch_size: int = 64, shift: bool = True, update_hook=None):
        self.action_dim, self.batch_size, self.shift = action_dim, batch_size, shift
        self.updates = 0
        self.update_hook = update_hook
        self._zero = torch.zeros(())

    def act(self, obs, sample: bool = False) -> np.ndarray:
        n = () if np.ndim(obs) == 3 else (len(obs),)
        return np.zeros((*n, self.action_dim), np.float32)

    def update(self, replay, step: int) -> dict:
        """Samples ``batch_size`` transitions (none with 0: the loop-overhead benchmark measures the loop only)."""
        loss = replay.sample(self.batch_size, shift=self.shift)["reward"].mean() if self.batch_size else self._zero
        self.updates += 1
        if self.update_hook is not None:
            self.update_hook(self.updates)
        return {"critic/loss": loss}

    def state_dict(self) -> dict:
        return {"updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]


class FrozenPolicy:
    """A :class:`SnapshotAgent`'s policy as it was at one update: its deterministic action is its weight, the
    number of updates done then."""

    def __init__(self, action_dim: int, weight: float):
        self.action_dim, self.weight = action_dim, float(weight)

    def act(self, obs, sample: bool = False) -> np.ndarray:
        n = () if np.ndim(obs) == 3 else (len(obs),)
        return np.full((*n, self.action_dim), self.weight, np.float32)

    def state_dict(self) -> dict:
        return {"weight": torch.tensor(self.weight, dtype=torch.float64)}

    def load_state_dict(self, state: dict) -> None:
        self.weight = float(state["weight"])


class SnapshotAgent(SamplingAgent):
    """A :class:`SamplingAgent` that the loop can evaluate in the background (it has ``policy_snapshot``). Its
    deterministic action is the number of updates done so far, so an evaluation's returns say which weights it
    acted with; while collecting it acts with zeros, as the SamplingAgent does."""

    def act(self, obs, sample: bool = False) -> np.ndarray:
        return super().act(obs) if sample else self.policy_snapshot().act(obs)

    def policy_snapshot(self) -> FrozenPolicy:
        return FrozenPolicy(self.action_dim, self.updates)


class NullEvaluator:
    """Returns fixed returns at once: evaluation's bookkeeping without episodes."""

    def __init__(self, modes=("train",)):
        self.modes = list(modes)
        self.evaluations = 0

    def open(self, episodes: int) -> None:
        pass

    def evaluate(self, agent, episodes: int, progress=None, watch=None) -> dict[str, list[float]]:
        self.evaluations += 1
        for m in self.modes:
            for done in range(episodes + 1):
                if watch is not None:
                    watch(m, done)
        return {m: [0.0] * episodes for m in self.modes}

    def state_dict(self) -> dict:
        return {"evaluations": self.evaluations}

    def load_state_dict(self, state: dict) -> None:
        self.evaluations = state["evaluations"]

    def close(self) -> None:
        pass


class ActingEvaluator(NullEvaluator):
    """Plays ``steps`` actions per episode with the policy it is given, on a blank observation: an episode's
    return is the sum of the mean actions plus 1000 × the episode's number (counted across evaluations), so
    the rows say which weights and which episodes an evaluation used. ``hold()``, if given, is called before
    each action (tests hold an evaluation there so that it still runs at a checkpoint, a stop or a kill);
    ``fail_at``: the evaluation (counted from 0) that raises. ``threads``: the thread each one ran on."""

    def __init__(self, modes=("train",), steps: int = 3, hold=None, fail_at: int | None = None):
        super().__init__(modes)
        self.steps, self.hold, self.fail_at = steps, hold, fail_at
        self.episodes = 0
        self.threads: list[str] = []

    def evaluate(self, agent, episodes: int, progress=None, watch=None) -> dict[str, list[float]]:
        import threading

        self.threads.append(threading.current_thread().name)
        obs = np.zeros((9, 8, 8), np.uint8)
        out = {}
        for m in self.modes:
            out[m] = []
            for e in range(episodes):
                total = 0.0
                for _ in range(self.steps):
                    if self.hold is not None:
                        self.hold()
                    total += float(np.mean(agent.act(obs, sample=False)))
                if self.evaluations == self.fail_at:
                    raise RuntimeError("worker 0 died")
                out[m].append(total + 1000 * (self.episodes + e))
                if watch is not None:
                    watch(m, e + 1)
        self.episodes += episodes  # counted only when it ends: a failed or cancelled one is played again
        self.evaluations += 1
        return out

    def state_dict(self) -> dict:
        return {"evaluations": self.evaluations, "episodes": self.episodes}

    def load_state_dict(self, state: dict) -> None:
        self.evaluations, self.episodes = state["evaluations"], state["episodes"]


def synthetic_trainer(cfg, *, image_size: int = 84, action_dim: int = 6, episode_steps: int = 250,
                      batch_size: int = 64, resume: bool = False, update_hook=None, previous_checkpoint: bool = False,
                      evaluator=None, agent=None, worker: bool = False):
    """A :class:`~smg_fast.run.trainer.Trainer` for ``cfg`` over the stand-ins above (``worker``: the env in a
    worker process, stepped during the update when ``cfg.overlap_env``)."""
    from smg_fast.run.trainer import Trainer

    if worker:
        from smg_fast.envs.worker import WorkerEnv

        env = WorkerEnv("synthetic", "train", cfg.seed, factory=make_synthetic, frame_stack=cfg.frame_stack,
                        image_size=image_size, action_dim=action_dim, episode_steps=episode_steps)
    else:
        env = SyntheticEnv(image_size, cfg.frame_stack, action_dim, episode_steps, cfg.seed)
    agent = agent or SamplingAgent(action_dim, batch_size, update_hook=update_hook)
    torch.manual_seed(cfg.seed)
    return Trainer(cfg, resume=resume, progress=False, previous_checkpoint=previous_checkpoint, env=env, agent=agent,
                   evaluator=evaluator or NullEvaluator())


# ---- the loop-overhead soak ---------------------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(run_dir, steps: int, *, image_size: int = 84, checkpoint_every: int = 50_000, eval_freq: int = 10_000,
         episode_steps: int = 250, replay_storage: str = "memory", progress=None) -> dict:
    """Drive the real training loop for ``steps`` agent steps over the synthetic stand-ins (no rendering, no
    network work, one no-op update per step after the random phase) with a replay as large as the run, and
    measure what the loop itself costs. Returns ``{"checkpoints": [{step, seconds, bytes}], "memory":
    [(seconds, rss bytes)], "peak_rss", "rss_start" (before the trainer was built), "windows": [(step, steps/s)], "replay_bytes", "eval_seconds", "seconds",
    "overhead_ms_per_step"}``."""
    import threading
    import time

    from smg_fast.config import make_config
    from smg_fast.run.trainer import Trainer

    cfg = make_config("walker-walk", "sac", "paper", train_steps=steps, replay_capacity=steps,
                      checkpoint_every=checkpoint_every, eval_freq=eval_freq, eval_modes=("train",),
                      eval_episodes=1, init_steps=1000, burst_updates=1, replay_storage=replay_storage,
                      async_checkpoint=False)  # each write's cost is measured with the loop waiting for it
    cfg.run_dir = str(run_dir)
    env = SyntheticEnv(image_size, cfg.frame_stack, 6, episode_steps, cfg.seed)
    agent = SamplingAgent(6, batch_size=0)
    evaluator = NullEvaluator()
    memory, done = [], threading.Event()
    t_start = time.perf_counter()
    rss_start = _rss_bytes()  # the host process may hold much already (a test session): growth is what counts

    def sample_memory():
        while not done.is_set():
            memory.append((time.perf_counter() - t_start, _rss_bytes()))
            done.wait(0.25)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    trainer = Trainer(cfg, progress=False, env=env, agent=agent, evaluator=evaluator)
    env_time = [0.0]
    real_step = env.step

    def timed_step(action):
        t = time.perf_counter()
        out = real_step(action)
        env_time[0] += time.perf_counter() - t
        return out

    env.step = timed_step
    try:
        t0 = time.perf_counter()
        trainer.run()
        seconds = time.perf_counter() - t0
    finally:
        trainer.close()
        done.set()
        sampler.join()
    ckpts = trainer.checkpoint_stats
    eval_seconds = trainer.eval_seconds
    loop = seconds - env_time[0] - sum(c["seconds"] for c in ckpts) - eval_seconds
    return {
        "steps": steps, "image_size": image_size, "seconds": seconds, "env_seconds": env_time[0],
        "eval_seconds": eval_seconds, "evaluations": evaluator.evaluations, "checkpoints": ckpts,
        "memory": memory, "peak_rss": max(m for _, m in memory), "rss_start": rss_start,
        "replay_bytes": trainer.replay.frames.numel(),
        "overhead_ms_per_step": 1000 * loop / steps, "windows": _windows(Path(run_dir) / "train.csv"),
    }


def _windows(train_csv, every: int = 10) -> list[tuple[int, float]]:
    """(step, loop steps/s) per ``every`` episodes, from train.csv."""
    import csv

    rows = list(csv.DictReader(open(train_csv)))
    out = []
    for i in range(0, len(rows), every):
        chunk = rows[i:i + every]
        secs = sum(float(r["episode_length"]) / float(r["steps_per_second"]) for r in chunk)
        out.append((int(chunk[-1]["step"]), sum(float(r["episode_length"]) for r in chunk) / max(secs, 1e-9)))
    return out
