"""The training loop with the env stepping during the update (``overlap_env``) against the sequential loop:
seconds per agent step, measurable on a CPU (pytest-benchmark).

    pytest benchmarks/test_bench_loop_overlap.py --benchmark-only -s

The real :class:`~smg_fast.run.trainer.Trainer` with real environments (cartpole-swingup and walker-walk, in
the train and video_hard scenes) and a stand-in update that holds the loop for a fixed time without using
the CPU (a sleep of 5, 20 or 50 ms: a GPU update, during which the host only waits). Sequential, a step costs
the update plus the env step; overlapped, the larger of the two. Each case runs ``STEPS`` agent steps after
one random step; the figures leave out the run's final checkpoint and evaluation (``run_summary.json``'s
breakdown): ``s_per_step`` is the loop's time per step, ``outside_update`` the share of it not spent in the
update; ``env step`` is the sequential loop's time in the env per step. ``-s`` prints the tables
(docs/performance.md holds measured ones). Uses the shared reference data (``../shared/data``) for video_hard
and the evaluation's modes unless ``SMG_FAST_DATA`` is set.

A second case adds what the loop does around the steps: the paper's evaluation (all five DMC-GB modes, real
evaluation workers) scaled down to one short episode per mode, and a checkpoint, both in the measured steps,
with every overlap on (evaluation and checkpoint in the background) and off.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("SMG_FAST_DATA", str((Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()))

from smg_fast import envs  # noqa: E402  (after SMG_FAST_DATA)
from smg_fast.config import make_config  # noqa: E402
from smg_fast.envs.worker import WorkerEnv  # noqa: E402
from smg_fast.run.trainer import Trainer  # noqa: E402
from smg_fast.tasks import env_kwargs  # noqa: E402
from smg_fast.run.evaluate import Evaluator  # noqa: E402
from synthetic import NullEvaluator  # noqa: E402

STEPS = 60  # agent steps per case (one episode: no reset inside the measured steps)
UPDATE_MS = (5, 20, 50)
TABLE: list[dict] = []


class SleepingAgent:
    """Acts with fixed pseudo-random actions; each update sleeps ``seconds`` (a GPU update: the host waits)."""

    def __init__(self, action_dim: int, seconds: float):
        self.seconds, self.updates = seconds, 0
        self._rng = np.random.default_rng(0)
        self.action_dim = action_dim

    def act(self, obs, sample: bool = False) -> np.ndarray:
        n = () if np.ndim(obs) == 3 else (len(obs),)
        return self._rng.uniform(-1, 1, (*n, self.action_dim)).astype(np.float32)

    def update(self, replay, step: int) -> dict:
        time.sleep(self.seconds)
        self.updates += 1
        return {"critic/loss": torch.zeros(())}

    def state_dict(self) -> dict:
        return {"updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]

    def policy_snapshot(self) -> RandomPolicy:
        return RandomPolicy(self.action_dim)


class RandomPolicy:
    """What the sleeping agent's evaluation acts with (a policy's forward pass on a GPU costs about nothing)."""

    def __init__(self, action_dim: int):
        self.action_dim, self._rng = action_dim, np.random.default_rng(1)

    def act(self, obs, sample: bool = False) -> np.ndarray:
        n = () if np.ndim(obs) == 3 else (len(obs),)
        return self._rng.uniform(-1, 1, (*n, self.action_dim)).astype(np.float32)

    def state_dict(self) -> dict:
        return {}


def loop_case(run_dir: Path, task: str, mode: str, update_ms: int, overlap: bool, steps: int) -> dict:
    cfg = make_config(task, "sac", "quick", train_steps=steps + 1, init_steps=1, burst_updates=0, updates_per_step=1,
                      replay_capacity=steps + 1, eval_freq=10**6, checkpoint_every=10**6, eval_modes=("train",),
                      eval_episodes=1, overlap_env=overlap)
    cfg.run_dir = str(run_dir)
    kw = env_kwargs(cfg)
    env = WorkerEnv(task, mode, cfg.seed, **kw) if overlap else envs.make(task, mode, cfg.seed, **kw)
    trainer = Trainer(cfg, progress=False, env=env, agent=SleepingAgent(int(env.action_space.shape[0]),
                                                                        update_ms / 1000),
                      evaluator=NullEvaluator())
    try:
        trainer.run()
    finally:
        trainer.close()
    sec = trainer.summary["sessions"][-1]["seconds"]
    loop = sec["total"] - sec["evaluation"] - sec["checkpoint"]
    return {"task": task, "mode": mode, "update_ms": update_ms, "loop": "overlapped" if overlap else "sequential",
            "s_per_step": loop / trainer.step, "env_wait_s_per_step": sec["environment"] / trainer.step,
            "outside_update": 1 - sec["update"] / loop}


@pytest.mark.parametrize("mode", ["train", "video_hard"])
@pytest.mark.parametrize("task", ["cartpole-swingup", "walker-walk"])
def test_loop_seconds_per_step_sequential_vs_overlapped(benchmark, tmp_path, task, mode):
    steps = 3 if benchmark.disabled else STEPS  # CI's smoke pass: that it runs
    rows = []

    def run():
        rows.clear()
        for ms in UPDATE_MS:
            for overlap in (False, True):
                rows.append(loop_case(tmp_path / f"{ms}_{overlap}", task, mode, ms, overlap, steps))

    benchmark.pedantic(run, rounds=1, iterations=1)
    by = {(r["update_ms"], r["loop"]): r for r in rows}
    for ms in UPDATE_MS:
        seq, ovl = by[ms, "sequential"], by[ms, "overlapped"]
        benchmark.extra_info[f"{ms}ms"] = {k: round(r["s_per_step"], 4) for k, r in (("sequential", seq),
                                                                                     ("overlapped", ovl))}
    TABLE.extend(rows)


@pytest.fixture(scope="module", autouse=True)
def print_table():
    yield
    if not TABLE:
        return
    print("\n| task | mode | update (ms) | env step (s) | sequential s/step | overlapped s/step | max(update, env) "
          "| overlapped / update | outside the update: seq / ovl |\n|---|---|---|---|---|---|---|---|---|")
    by = {(r["task"], r["mode"], r["update_ms"], r["loop"]): r for r in TABLE}
    for (task, mode, ms, loop), seq in sorted(by.items()):
        if loop != "sequential" or (task, mode, ms, "overlapped") not in by:
            continue
        ovl = by[task, mode, ms, "overlapped"]
        env = seq["env_wait_s_per_step"]  # sequential: the whole env step
        print(f"| {task} | {mode} | {ms} | {env:.4f} | {seq['s_per_step']:.4f} | {ovl['s_per_step']:.4f} | "
              f"{max(ms / 1000, env):.4f} | {ovl['s_per_step'] / (ms / 1000):.2f} | "
              f"{seq['outside_update']:.0%} / {ovl['outside_update']:.0%} |")


# ---- with an evaluation and a checkpoint in the measured steps ------------------------------------------------

EVAL_STEPS = 200  # agent steps: episodes of 25 (100 control steps at action repeat 4), evaluated at step 100
EVAL_TABLE: list[dict] = []


def eval_case(run_dir: Path, update_ms: int, background: bool, steps: int) -> dict:
    """walker-walk, train scene, a stand-in update of ``update_ms``: the evaluation of step 100 (five modes, one
    25-step episode each: the paper's evaluation scaled down, in about the same proportion to the steps between
    two evaluations) and the checkpoint of step 100 in the loop or beside it. The run's final evaluation and
    checkpoint (in the loop either way) are left out of the figures."""
    episode = 25 if steps >= 100 else 2
    cfg = make_config("walker-walk", "sac", "quick", train_steps=steps, init_steps=1, burst_updates=0,
                      updates_per_step=1, replay_capacity=steps + 1, episode_length=4 * episode,
                      eval_freq=steps // 2, checkpoint_every=steps // 2, eval_episodes=1, eval_envs=1,
                      overlap_env=True, async_checkpoint=background, async_eval=background)
    cfg.run_dir = str(run_dir)
    env = WorkerEnv("walker-walk", "train", cfg.seed, **env_kwargs(cfg))
    trainer = Trainer(cfg, progress=False, env=env, agent=SleepingAgent(6, update_ms / 1000),
                      evaluator=Evaluator(cfg, cfg.eval_modes, cfg.eval_envs))
    try:
        trainer.run()
    finally:
        trainer.close()
    sec = trainer.summary["sessions"][-1]["seconds"]
    final_eval = sum(e["seconds"] for e in trainer.eval_stats if e["step"] == trainer.step)
    final_ckpt = sum(c["seconds"] for c in trainer.checkpoint_stats if c["step"] == trainer.step)
    loop = sec["total"] - final_eval - final_ckpt
    middle = [e for e in trainer.eval_stats if e["step"] < trainer.step]
    return {"update_ms": update_ms, "loop": "background" if background else "in the loop",
            "s_per_step": loop / trainer.step, "eval_s": sum(e["seconds"] for e in middle),
            "ckpt_s": sum(c["seconds"] for c in trainer.checkpoint_stats if c["step"] < trainer.step),
            "held_s": sec["evaluation"] - final_eval + sec["checkpoint"] - final_ckpt}


@pytest.mark.parametrize("update_ms", [20, 50])
def test_loop_with_an_evaluation_and_a_checkpoint_in_the_loop_vs_beside_it(benchmark, tmp_path, update_ms):
    steps = 4 if benchmark.disabled else EVAL_STEPS
    rows = []

    def run():
        rows.clear()
        for background in (False, True):
            rows.append(eval_case(tmp_path / f"{update_ms}_{background}", update_ms, background, steps))

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({r["loop"]: round(r["s_per_step"], 4) for r in rows})
    EVAL_TABLE.extend(rows)


@pytest.fixture(scope="module", autouse=True)
def print_eval_table():
    yield
    if not EVAL_TABLE:
        return
    print("\n| update (ms) | evaluation and checkpoint | s/step | evaluation (s) | checkpoint write (s) "
          "| held the loop (s) |\n|---|---|---|---|---|---|")
    for r in EVAL_TABLE:
        print(f"| {r['update_ms']} | {r['loop']} | {r['s_per_step']:.4f} | {r['eval_s']:.1f} | {r['ckpt_s']:.2f} | "
              f"{r['held_s']:.2f} |")
