"""Robot-task throughput: rendered agent steps per second (pytest-benchmark).

    pytest benchmarks/test_bench_robot.py --benchmark-only --benchmark-columns=mean,stddev,rounds

* one env, reach and peg-in-box (train scene): 20 MuJoCo substeps + one 84x84 render per agent step;
* the same without the render (``physics_only``), to show where the time goes;
* ``VectorEnv`` with 2 workers on peg-in-box (agent steps counted over both envs);
* a reset (restore, 200 settle substeps, goal draw, first render).

``extra_info["agent_steps_per_s"]`` holds the throughput. Uses ``../shared/data`` unless ``SMG_FAST_DATA``
is set.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SMG_FAST_DATA", str((Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()))

from smg_fast import envs  # noqa: E402  (after SMG_FAST_DATA)
from smg_fast.envs.robot import make_robot  # noqa: E402

STEPS = 40  # agent steps per round (~1 s of rendering on this CPU)
ROUNDS = 3
TASKS = ("robot-reach", "robot-peg-in-box")


def _actions(n, dim, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, dim))


def _record(benchmark, agent_steps):
    benchmark.extra_info["agent_steps_per_round"] = agent_steps
    if benchmark.stats is not None:  # None under --benchmark-disable (CI's single smoke pass)
        benchmark.extra_info["agent_steps_per_s"] = round(agent_steps / benchmark.stats.stats.mean, 1)


def _warm_up(benchmark, run):
    if not benchmark.disabled:  # GL context, texture upload, caches; skipped in CI's smoke pass
        run()


@pytest.mark.parametrize("task", TASKS)
def test_robot_env_rendered(benchmark, task):
    env = make_robot(task, "train", seed=0, episode_length=10**6)  # no reset inside the timed steps
    env.reset()
    acts = _actions(STEPS, env.action_space.shape[0])

    def run():
        for a in acts:
            env.step(a)

    _warm_up(benchmark, run)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    _record(benchmark, STEPS)
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_robot_physics_only(benchmark, task):
    """The task logic and 20 substeps per agent step, without rendering."""
    env = make_robot(task, "train", seed=0)
    env.reset()
    sim = env.sim
    acts = _actions(STEPS, 4).astype(np.float32)

    def run():
        for a in acts:
            sim.refresh_goal()
            sim.apply_action(a)
            sim.advance()
            sim.reward()

    _warm_up(benchmark, run)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    _record(benchmark, STEPS)
    env.close()


def test_robot_vector_env_2_workers(benchmark):
    vec = envs.VectorEnv("robot-peg-in-box", "train", num_envs=2, seed=0)
    vec.reset()
    acts = _actions(STEPS // 2, 6).reshape(-1, 2, 3)

    def run():  # auto-resets happen inside the workers when an episode ends, as in training
        for a in acts:
            vec.step(a)

    _warm_up(benchmark, run)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    _record(benchmark, STEPS)  # STEPS // 2 batched steps of 2 envs
    vec.close()


def test_robot_reset(benchmark):
    env = make_robot("robot-peg-in-box", "train", seed=0)
    env.reset()
    benchmark.pedantic(env.reset, rounds=ROUNDS * 3, iterations=1)
    env.close()
