"""The training loop (upstream ``src/train.py``): one env, one agent, one replay buffer.

Each iteration, as upstream: act (uniform random for the first ``init_steps`` agent steps, then a
draw from π), update (a burst of ``init_steps`` updates at step ``init_steps``, all with that step
number, then one per step), step the env and store the transition. Episodes end on ``terminated``
or ``truncated``; at an episode end the loop logs, evaluates every ``eval_freq`` steps, and saves a
checkpoint every ``checkpoint_every`` steps, so a resumed run starts its next episode exactly where
the interrupted one would have. ``step`` counts agent steps (action-repeated env steps), as upstream.

Ctrl-C or SIGTERM stops the loop at the end of the current step, saves a checkpoint there and
raises :class:`TrainingStopped` (``smg-fast train --resume RUN_DIR`` continues); a second signal
interrupts at once, leaving the last periodic checkpoint.
"""
from __future__ import annotations

import math
import random
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from smg_fast import checkpoint as ckpt
from smg_fast.agent import make_agent
from smg_fast.config import RunConfig
from smg_fast.evaluate import Evaluator, summary_rows
from smg_fast.logger import Logger, MetricAverager
from smg_fast.replay import ReplayBuffer
from smg_fast.runtime import tune_allocator
from smg_fast.tasks import env_kwargs


class NonFiniteLossError(RuntimeError):
    pass


class TrainingStopped(Exception):
    """A signal stopped training; the state at ``step`` is saved in ``run_dir``."""

    def __init__(self, signum: int, run_dir: Path, step: int):
        self.signum, self.run_dir, self.step = signum, run_dir, step
        super().__init__(f"{signal.Signals(signum).name} at step {step}: checkpoint saved; "
                         f"continue with: smg-fast train --resume {run_dir}")


def catch_stop_signals(stop: list[int]):
    """Until the returned function is called, SIGINT and SIGTERM append their number to ``stop``
    instead of ending the process, so the loop can stop between steps with a consistent state; a
    second signal raises KeyboardInterrupt at once. Off the main thread signals cannot be caught and
    nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        if stop:
            raise KeyboardInterrupt
        stop.append(signum)
        sys.stderr.write(f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint "
                         "(send it again to quit at once)\n")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def updates_due(cfg: RunConfig, step: int) -> tuple[int, int]:
    """(number of updates at this step, the step number the agent's schedule sees).

    With ``updates_per_step = 1/k`` (quick preset) updates run every k-th step and the schedule
    (actor / target / aux every 2nd update, mask warm-up) counts updates, so it alternates as upstream."""
    if step < cfg.init_steps:
        return 0, step
    k = max(1, round(1 / cfg.updates_per_step)) if cfg.updates_per_step < 1 else 1
    per_step = max(1, round(cfg.updates_per_step)) if cfg.updates_per_step >= 1 else 1
    schedule_step = step // k
    if step == cfg.init_steps:
        burst = cfg.init_steps if cfg.burst_updates is None else cfg.burst_updates
        return burst, schedule_step
    return (per_step if step % k == 0 else 0), schedule_step


def check_finite(metrics: dict[str, torch.Tensor]) -> str | None:
    values = torch.stack([v.detach().float().reshape(()) for v in metrics.values()])
    if bool(torch.isfinite(values).all()):
        return None
    return next(k for k, v in metrics.items() if not bool(torch.isfinite(v).all()))


class Trainer:
    def __init__(self, cfg: RunConfig, resume: bool = False, progress: bool = True):
        self.cfg, self.progress = cfg, progress
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        seed_everything(cfg.seed)
        tune_allocator()
        from smg_fast import envs

        self.env = envs.make(cfg.task, "train", cfg.seed, **env_kwargs(cfg))
        self.obs_shape = self.env.observation_space.shape
        self.action_dim = int(self.env.action_space.shape[0])
        h, w = self.obs_shape[1:]
        self.replay = ReplayBuffer(min(cfg.replay_capacity, cfg.train_steps + 1), (3, h, w), self.action_dim,
                                   frame_stack=cfg.frame_stack, pad=cfg.agent.shift_pad, device=cfg.device, seed=cfg.seed)
        self.agent = make_agent(cfg, self.obs_shape, self.action_dim)
        self.action_rng = np.random.default_rng(cfg.seed)
        self.evaluator = Evaluator(cfg, cfg.eval_modes, cfg.eval_envs)
        try:
            self.evaluator.open(cfg.eval_episodes)
        except BaseException:
            self.evaluator.close()
            self.env.close()
            raise
        self.logger = Logger(self.run_dir)
        self.averager = MetricAverager()
        self.step, self.episode = 0, 0
        self.last_checkpoint = 0
        if resume:
            self._restore()
        else:
            ckpt.write_config(self.run_dir, cfg)

    # ---- checkpoints -------------------------------------------------------------------------

    def _state(self) -> dict:
        return {
            "step": self.step,
            "episode": self.episode,
            "obs_shape": tuple(self.obs_shape),
            "action_dim": self.action_dim,
            "config": self.cfg.to_dict(),
            "agent": self.agent.state_dict(),
            "replay": self.replay.state_dict(),
            "rng": ckpt.rng_state(),
            "action_rng": self.action_rng.bit_generator.state,
            "env_rng": self.env.rng_state(),
        }

    def save(self, name: str = ckpt.CHECKPOINT) -> Path:
        path = self.run_dir / name
        ckpt.atomic_save(self._state(), path)
        self.last_checkpoint = self.step
        return path

    def _restore(self) -> None:
        state = ckpt.load_checkpoint(self.run_dir, map_location=self.cfg.device)
        self.agent.load_state_dict(state["agent"])
        self.replay.load_state_dict(state["replay"])
        ckpt.set_rng_state(state["rng"])
        self.action_rng.bit_generator.state = state["action_rng"]
        self.env.set_rng_state(state["env_rng"])
        self.step, self.episode = state["step"], state["episode"]
        self.last_checkpoint = self.step
        # Rows logged after the checkpoint belong to the lost part of the interrupted run.
        self.logger.train.truncate_after(self.step)
        self.logger.eval.truncate_after(self.step)

    # ---- the loop ----------------------------------------------------------------------------

    def evaluate(self) -> dict[str, list[float]]:
        returns = self.evaluator.evaluate(self.agent, self.cfg.eval_episodes)
        for row in summary_rows(self.step, returns):
            self.logger.log_eval(row)
        return returns

    def run(self) -> None:
        cfg = self.cfg
        bar = tqdm(total=cfg.train_steps, initial=self.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True, desc=f"{cfg.algo} {cfg.task}")
        obs, _ = self.env.reset()
        self.replay.add_first(obs[-3:])
        episode_return, episode_start, t0 = 0.0, self.step, time.time()
        last_eval = self.step - self.step % cfg.eval_freq
        stop: list[int] = []
        restore_signals = catch_stop_signals(stop)
        try:
            while self.step < cfg.train_steps and not stop:
                if self.step < cfg.init_steps:
                    action = self.action_rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)
                else:
                    action = self.agent.act(obs, sample=True)
                n_updates, schedule_step = updates_due(cfg, self.step)
                for _ in range(n_updates):
                    metrics = self.agent.update(self.replay, schedule_step)
                    bad = check_finite(metrics)
                    if bad is not None:
                        path = self.save("checkpoint_nonfinite.pt")
                        raise NonFiniteLossError(
                            f"{bad} became NaN/inf at step {self.step}; the state was saved to {path} "
                            f"(the last good checkpoint, {ckpt.CHECKPOINT}, is untouched)"
                        )
                    self.averager.add(metrics)
                obs, reward, terminated, truncated, _ = self.env.step(action)
                self.replay.add(action, reward, obs[-3:], terminated)
                episode_return += reward
                self.step += 1
                bar.update(1)
                if terminated or truncated:
                    self.episode += 1
                    elapsed = time.time() - t0
                    row = {"step": self.step, "episode": self.episode, "episode_return": episode_return,
                           "episode_length": self.step - episode_start,
                           "steps_per_second": (self.step - episode_start) / max(elapsed, 1e-9)}
                    row.update(self.averager.means())
                    self.logger.log_train(row)
                    bar.set_postfix(ret=f"{episode_return:.1f}", refresh=False)
                    if self.step - last_eval >= cfg.eval_freq or self.step >= cfg.train_steps:
                        last_eval = self.step - self.step % cfg.eval_freq
                        returns = self.evaluate()
                        bar.write(f"step {self.step}: " + ", ".join(
                            f"{m} {np.mean(r):.1f}" for m, r in returns.items()))
                    if self.step - self.last_checkpoint >= cfg.checkpoint_every or self.step >= cfg.train_steps:
                        self.save()
                    obs, _ = self.env.reset()
                    self.replay.add_first(obs[-3:])
                    episode_return, episode_start, t0 = 0.0, self.step, time.time()
            if self.last_checkpoint < self.step:  # stopped or out of budget mid-episode
                if not stop:
                    self.evaluate()
                self.save()
            if stop:
                raise TrainingStopped(stop[0], self.run_dir, self.step)
        finally:
            restore_signals()
            bar.close()

    def close(self) -> None:
        self.evaluator.close()
        self.logger.close()
        self.env.close()


def train(cfg: RunConfig, resume: bool = False, progress: bool = True) -> Path:
    trainer = Trainer(cfg, resume=resume, progress=progress)
    try:
        trainer.run()
    finally:
        trainer.close()
    return trainer.run_dir
