"""What a paper-length run pays besides its steps, on this machine: one evaluation at the paper's settings and
one checkpoint at the paper's interval (the figures of docs/performance.md's 500k-step formula).

    python benchmarks/run_costs.py [TASK]

TASK defaults to walker-walk; the evaluation uses the shared reference data (``../shared/data``) unless
``SMG_FAST_DATA`` is set. Prints the policy's cost per action and its snapshot, each mode's share of one
evaluation (every mode, ``eval_episodes`` episodes of the task's length, ``eval_envs`` workers per mode), and
a checkpoint's snapshot (what holds the loop) and write (what a background write takes) after 50k new
transitions of 84×84 frames.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("SMG_FAST_DATA", str((Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()))

from smg_fast.agent import make_agent  # noqa: E402  (after SMG_FAST_DATA)
from smg_fast.config import make_config  # noqa: E402
from smg_fast.replay import ReplayBuffer  # noqa: E402
from smg_fast.run import checkpoint as ckpt  # noqa: E402
from smg_fast.run.evaluate import Evaluator  # noqa: E402
from smg_fast.run.trainer import _copied  # noqa: E402

NEW_TRANSITIONS = 50_000  # the paper's checkpoint interval: what each incremental checkpoint adds


def evaluation_costs(task: str):
    cfg = make_config(task, "smg", "paper")
    evaluator = Evaluator(cfg, cfg.eval_modes, cfg.eval_envs)
    try:
        probe = evaluator._env(evaluator.modes[0], cfg.eval_episodes)
        agent = make_agent(cfg, tuple(probe.obs_shape), int(probe.single_action_space.shape[0]))
        obs = np.random.default_rng(0).integers(0, 256, probe.obs_shape, dtype=np.uint8)
        agent.act(obs)
        t = time.perf_counter()
        for _ in range(200):
            agent.act(obs)
        print(f"{task}: the policy's action (one observation): {(time.perf_counter() - t) / 200 * 1e3:.2f} ms; "
              f"torch threads {torch.get_num_threads()}")
        t = time.perf_counter()
        policy = agent.policy_snapshot()
        print(f"policy snapshot (holds the loop): {(time.perf_counter() - t) * 1e3:.1f} ms")
        evaluator.open(cfg.eval_episodes)
        ended = {}
        t0 = time.perf_counter()
        evaluator.evaluate(policy, cfg.eval_episodes, lambda mode, returns: ended.setdefault(mode, time.perf_counter()))
        total, previous = time.perf_counter() - t0, t0
        for mode, t in ended.items():
            print(f"  {mode}: {t - previous:.1f} s")
            previous = t
        steps = cfg.episode_length // cfg.action_repeat
        print(f"one evaluation ({len(cfg.eval_modes)} modes × {cfg.eval_episodes} episodes × {steps} steps, "
              f"{cfg.eval_envs} workers per mode): {total:.1f} s")
    finally:
        evaluator.close()
    return cfg, agent


def checkpoint_costs(cfg, agent) -> None:
    replay = ReplayBuffer(NEW_TRANSITIONS + 1, (3, 84, 84), agent.action_dim, frame_stack=cfg.frame_stack, pad=4,
                          device="cpu", seed=0)
    frame, action = np.zeros((3, 84, 84), np.uint8), np.zeros(agent.action_dim, np.float32)
    replay.add_first(frame)
    for _ in range(NEW_TRANSITIONS):
        replay.add(action, 0.0, frame, False)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as run_dir:
        checkpointer = ckpt.Checkpointer(Path(run_dir))
        t = time.perf_counter()
        state = {"step": NEW_TRANSITIONS, "agent": _copied(agent.state_dict()), "config": cfg.to_dict()}
        snapshot = checkpointer.snapshot(state, replay, "checkpoint")
        held = time.perf_counter() - t
        t = time.perf_counter()
        manifest = checkpointer.write(snapshot)
        wrote = time.perf_counter() - t
    size = manifest["state"]["bytes"] + sum(s["bytes"] for s in manifest["segments"])
    print(f"checkpoint after {NEW_TRANSITIONS:,} new transitions: snapshot (holds the loop) {held:.2f} s, "
          f"write {wrote:.1f} s, {size / 1e6:,.0f} MB")


def main() -> None:
    cfg, agent = evaluation_costs(sys.argv[1] if len(sys.argv) > 1 else "walker-walk")
    checkpoint_costs(cfg, agent)


if __name__ == "__main__":
    main()
