"""Environment throughput: rendered agent steps per second (pytest-benchmark).

    pytest benchmarks/test_bench_envs.py --benchmark-only --benchmark-columns=mean,stddev,rounds

* walker-walk, train mode: a plain dm_control loop (4 physics steps + one 84x84 render per agent step),
  smg_fast's env, and VectorEnv with 2 workers (agent steps counted over both envs);
* per-step cost of video_hard (greenscreen + background) against train mode, same task and seed;
* per-step and per-episode cost of distracting_cs (DAVIS video skybox, camera and colour jitter) against
  train mode, on a synthetic DAVIS folder (8 videos of 70 frames at 854x480, DAVIS's mean length and 480p
  size; the other 52 training videos link to them, so that each is decoded as a video of its own), with
  upstream's ``mjr_uploadTexture`` upload beside the default one;
* where envpool is installed (``pip install '.[envpool]'``): the comparison ``envpool_vector.py`` (envpool
  behind VectorEnv's API with this package's action-repeat semantics) at action repeats 4 and 1, VectorEnv
  at action repeat 1, and envpool's own stepping (not the same task semantics: a speed bound).

Each benchmark times a fixed number of agent steps inside an episode (no resets: the reset cost is
measured separately), over a few rounds. ``extra_info["agent_steps_per_s"]`` holds the throughput.
Uses the shared reference data (``../shared/data``) unless ``SMG_FAST_DATA`` is set.
"""
from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SMG_FAST_DATA", str((Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()))

from smg_fast import envs  # noqa: E402  (after SMG_FAST_DATA)

STEPS = 40  # agent steps per round (~1 s of rendering on this CPU)
ROUNDS = 3
TASK = "walker-walk"


def _actions(n, dim, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, dim))


def _record(benchmark, agent_steps):
    benchmark.extra_info["agent_steps_per_round"] = agent_steps
    if benchmark.stats is not None:  # None under --benchmark-disable (CI's single smoke pass)
        benchmark.extra_info["agent_steps_per_s"] = round(agent_steps / benchmark.stats.stats.mean, 1)


def _warm_up(benchmark, run):
    if not benchmark.disabled:  # GL context, shaders, caches; skipped in CI's smoke pass
        run()


def _time_steps(benchmark, env, acts, agent_steps):
    """Time ``env.step`` over ``acts`` (one round = ``agent_steps`` agent steps over all envs), then close."""
    def run():
        for a in acts:
            env.step(a)

    _warm_up(benchmark, run)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    _record(benchmark, agent_steps)
    env.close()


def test_walker_train_dm_control_loop(benchmark):
    envs.ensure_gl_backend()
    from dm_control import suite

    env = suite.load("walker", "walk", task_kwargs={"random": 0})
    env.reset()
    acts = _actions(STEPS, 6).astype(np.float32)

    def run():
        for a in acts:
            for _ in range(4):
                env.step(a)
            env.physics.render(84, 84, camera_id=0).transpose(2, 0, 1).copy()

    _warm_up(benchmark, run)
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    _record(benchmark, STEPS)


@pytest.mark.parametrize("mode", ["train", "video_hard"])
def test_walker_smg_env(benchmark, mode):
    env = envs.make(TASK, mode, seed=0)
    start = time.perf_counter()
    env.reset()
    benchmark.extra_info["first_reset_s"] = round(time.perf_counter() - start, 3)
    acts = _actions(STEPS, 6)

    _time_steps(benchmark, env, acts, STEPS)


def test_walker_video_hard_over_train_per_step(benchmark):
    """Ratio of per-step costs, measured interleaved in one process (timings drift by ±20 % between runs)."""
    pair = {m: envs.make(TASK, m, seed=0) for m in ("train", "video_hard")}
    for e in pair.values():
        e.reset()
    acts = _actions(STEPS, 6)
    totals = {m: 0.0 for m in pair}

    def run():
        for m, e in pair.items():
            t = time.perf_counter()
            for a in acts:
                e.step(a)
            totals[m] += time.perf_counter() - t

    _warm_up(benchmark, run)
    totals.update({m: 0.0 for m in pair})
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    steps = STEPS * (1 if benchmark.disabled else ROUNDS)
    benchmark.extra_info["video_hard_over_train"] = round(totals["video_hard"] / totals["train"], 3)
    benchmark.extra_info["train_ms_per_step"] = round(1e3 * totals["train"] / steps, 2)
    benchmark.extra_info["video_hard_ms_per_step"] = round(1e3 * totals["video_hard"] / steps, 2)
    for e in pair.values():
        e.close()


@pytest.fixture(scope="module")
def davis_dir(tmp_path_factory):
    from smg_fast.envs.distracting.settings import DAVIS_TRAIN_VIDEOS
    from smg_fast.envs.distracting.synthetic import write_davis

    root = write_davis(tmp_path_factory.mktemp("davis"), [70] * 8)
    frames = root / "davis" / "DAVIS" / "JPEGImages" / "480p"
    for i in range(8, len(DAVIS_TRAIN_VIDEOS)):
        (frames / DAVIS_TRAIN_VIDEOS[i]).symlink_to(frames / DAVIS_TRAIN_VIDEOS[i % 8], target_is_directory=True)
    return root


def _interleaved(benchmark, pair: dict, run_one) -> dict:
    """Seconds per env of ``pair`` over the timed rounds, ``run_one(env)`` timed in turn for each (timings
    drift by ±20 % between runs on a shared machine: a ratio is measured within one process, interleaved)."""
    totals = {m: 0.0 for m in pair}

    def run():
        for m, e in pair.items():
            t = time.perf_counter()
            run_one(e)
            totals[m] += time.perf_counter() - t

    _warm_up(benchmark, run)
    totals.update({m: 0.0 for m in pair})
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    return totals


@pytest.mark.parametrize("intensity", [0.1, 0.5])
def test_walker_distracting_cs_over_train_per_step(benchmark, davis_dir, intensity):
    """Agent steps inside an episode: the new frame's upload before each render (and a frame's decoding
    the first time it is shown). ``extra_info``: ms per step of each, ``distracting_cs_over_train`` and the
    same with upstream's ``mjr_uploadTexture``."""
    kw = dict(distracting_cs_intensity=intensity, data_dir=davis_dir)
    pair = {"train": envs.make(TASK, "train", seed=0),
            "distracting_cs": envs.make(TASK, "distracting_cs", seed=0, **kw),
            "mjr_upload": envs.make(TASK, "distracting_cs", seed=0, distracting_upload="mujoco", **kw)}
    for e in pair.values():
        e.reset()
    acts = _actions(STEPS, 6)
    totals = _interleaved(benchmark, pair, lambda e: [e.step(a) for a in acts])
    steps = STEPS * (1 if benchmark.disabled else ROUNDS)
    for m, t in totals.items():
        benchmark.extra_info[f"{m}_ms_per_step"] = round(1e3 * t / steps, 2)
    benchmark.extra_info["distracting_cs_over_train"] = round(totals["distracting_cs"] / totals["train"], 3)
    benchmark.extra_info["mjr_upload_over_train"] = round(totals["mjr_upload"] / totals["train"], 3)
    benchmark.extra_info["upload"] = pair["distracting_cs"]._distraction.sky.method
    for e in pair.values():
        e.close()


@pytest.mark.parametrize("intensity", [0.1, 0.5])
def test_walker_distracting_cs_over_train_per_episode(benchmark, davis_dir, intensity):
    """Whole episodes, resets included: a new video per episode (intensity 0.1 draws from 4 videos, 0.5
    from 60; a process keeps the frames of its last two), every frame decoded when first shown. Two
    1000-step episodes per round (short ones under --benchmark-disable)."""
    length = 40 if benchmark.disabled else 1000
    pair = {"train": envs.make(TASK, "train", seed=0, episode_length=length),
            "distracting_cs": envs.make(TASK, "distracting_cs", seed=0, episode_length=length,
                                        distracting_cs_intensity=intensity, data_dir=davis_dir)}
    acts = _actions(pair["train"].max_episode_steps, 6)

    def episodes(env):
        for _ in range(2):
            env.reset()
            for a in acts:
                env.step(a)

    totals = _interleaved(benchmark, pair, episodes)
    steps = 2 * len(acts) * (1 if benchmark.disabled else ROUNDS)
    for m, t in totals.items():
        benchmark.extra_info[f"{m}_ms_per_step"] = round(1e3 * t / steps, 2)
    benchmark.extra_info["distracting_cs_over_train"] = round(totals["distracting_cs"] / totals["train"], 3)
    for e in pair.values():
        e.close()


def test_walker_train_vector_env_2_workers(benchmark):
    vec = envs.VectorEnv(TASK, "train", num_envs=2, seed=0)
    vec.reset()
    acts = _actions(STEPS // 2, 12).reshape(-1, 2, 6)

    _time_steps(benchmark, vec, acts, STEPS)  # STEPS // 2 batched steps of 2 envs


def test_walker_train_vector_env_2_workers_async(benchmark):
    """envpool-style asynchronous stepping: act on whichever env finished first (recv(batch_size=1))."""
    vec = envs.VectorEnv(TASK, "train", num_envs=2, seed=0)
    vec.reset()
    acts = _actions(STEPS + 2, 6)
    vec.send(acts[:2])

    counts = []

    def run():
        done = 0
        while done < STEPS:  # one result per recv: the env that finished first
            *_, info = vec.recv(batch_size=1)
            ids = info["env_id"]
            vec.send(acts[done: done + len(ids)], env_ids=ids)
            done += len(ids)
        counts.append(done)

    _warm_up(benchmark, run)
    counts.clear()
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    _record(benchmark, sum(counts) / len(counts))
    vec.recv()
    vec.close()


needs_envpool = pytest.mark.skipif(importlib.util.find_spec("envpool") is None,
                                   reason="envpool not installed (pip install '.[envpool]')")


@needs_envpool
@pytest.mark.parametrize("action_repeat", [4, 1])
def test_walker_train_envpool_backend_2_envs(benchmark, action_repeat):
    """``envpool_vector.EnvpoolVectorEnv`` (the comparison, not part of the package): this package's
    semantics, so ``action_repeat`` rendered control steps per agent step. Action repeat 1 is its best
    case (one render per agent step, as VectorEnv); no task of the paper uses it."""
    from envpool_vector import EnvpoolVectorEnv

    vec = EnvpoolVectorEnv(TASK, "train", num_envs=2, seed=0, action_repeat=action_repeat)
    vec.reset()
    acts = _actions(STEPS // 2, 12).reshape(-1, 2, 6)

    _time_steps(benchmark, vec, acts, STEPS)


@needs_envpool
def test_walker_train_vector_env_2_workers_action_repeat_1(benchmark):
    """VectorEnv at action repeat 1: the other side of envpool's best case."""
    vec = envs.VectorEnv(TASK, "train", num_envs=2, seed=0, action_repeat=1)
    vec.reset()
    acts = _actions(STEPS // 2, 12).reshape(-1, 2, 6)

    _time_steps(benchmark, vec, acts, STEPS)


@needs_envpool
def test_walker_train_envpool_native_2_envs(benchmark):
    """envpool's own DMC stepping, one render per agent step: frame_skip = 4 control steps of 10 physics
    substeps. Not the same task semantics (one reward per agent step, not the sum of 4): a speed bound."""
    from envpool_vector import import_envpool

    envpool = import_envpool()
    pool = envpool.make_gymnasium("WalkerWalk-v1", num_envs=2, batch_size=2, seed=0, from_pixels=True,
                                  render_width=84, render_height=84, render_camera_id=0, frame_stack=3,
                                  frame_skip=40, max_episode_steps=1000)
    pool.reset()
    acts = _actions(STEPS // 2, 12).reshape(-1, 2, 6)

    _time_steps(benchmark, pool, acts, STEPS)


def test_walker_video_hard_reset(benchmark):
    """A reset in video_hard: a new background video every episode, decoded once and then cached
    (``extra_info["cold_decode_s"]``: decoding + resizing one 500-frame DMC-GB video without a cache)."""
    from smg_fast.data import resolve_data_dir
    from smg_fast.envs.backgrounds import decode_resized

    start = time.perf_counter()
    decode_resized(resolve_data_dir() / "dmcgb" / "video_hard" / "video0.mp4", (84, 84))
    benchmark.extra_info["cold_decode_s"] = round(time.perf_counter() - start, 3)
    env = envs.make(TASK, "video_hard", seed=0)
    for _ in range(ROUNDS):  # fill the caches with the videos the timed resets will show
        env.reset()
    env.reset(seed=0)
    benchmark.pedantic(env.reset, rounds=ROUNDS, iterations=1)
    env.close()


class _MeanColourPolicy:
    """A cheap deterministic policy (the newest frame's mean colour, mapped to actions)."""

    def __init__(self, dim: int):
        self.w = np.random.default_rng(0).standard_normal((dim, 3))

    def act(self, obs, sample=False):
        feats = np.asarray(obs)[:, -3:].reshape(len(obs), 3, -1).mean(axis=2) / 255.0 - 0.5
        return np.tanh(3.0 * feats @ self.w.T).astype(np.float32)


def test_evaluation_protocol_cost(benchmark):
    """The evaluator's protocol (issue 21: episodes assigned at their reset, one reset at a time because
    each start state continues the previous episode's stream, the policy called per observation) against
    the cheapest unassigned loop (same-step auto-reset, one batched policy call), walker-walk, 2 workers,
    4 episodes of 10 agent steps. ``extra_info["assigned_over_autoreset"]``: the protocol's relative cost."""
    from smg_fast.run.evaluate import EpisodeSchedule, run_episodes

    episodes, kw = 4, dict(episode_length=40)
    policy = _MeanColourPolicy(6)
    assigned = envs.VectorEnv(TASK, "train", num_envs=2, seed=0, autoreset=False, **kw)
    auto = envs.VectorEnv(TASK, "train", num_envs=2, seed=0, **kw)
    schedule = EpisodeSchedule(TASK, "train", 0)
    totals = {"assigned": 0.0, "autoreset": 0.0}

    def unassigned_loop():
        obs, _ = auto.reset()
        done = 0
        while done < episodes:
            obs, _, terminated, truncated, _ = auto.step(policy.act(obs))
            done += int((terminated | truncated).sum())

    def run():
        t = time.perf_counter()
        run_episodes(assigned, policy, episodes, schedule)
        totals["assigned"] += time.perf_counter() - t
        t = time.perf_counter()
        unassigned_loop()
        totals["autoreset"] += time.perf_counter() - t

    _warm_up(benchmark, run)
    totals.update({k: 0.0 for k in totals})
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    benchmark.extra_info["assigned_over_autoreset"] = round(totals["assigned"] / totals["autoreset"], 3)
    benchmark.extra_info["assigned_s_per_evaluation"] = round(totals["assigned"] / (1 if benchmark.disabled
                                                                                    else ROUNDS), 3)
    assigned.close()
    auto.close()
