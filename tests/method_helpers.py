"""Shared helpers of the baseline methods' tests: small agents, replay buffers of random frames, which
parameters a loss reaches, a state-dict round trip, and a tiny CLI run that is stopped and resumed."""
from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from smg_fast.agent import make_agent
from smg_fast.run.checkpoint import load_checkpoint
from smg_fast.config import make_config
from smg_fast.replay import ReplayBuffer

B, A = 4, 6
# The paper's network shapes shrunk (8 filters, 32-d embeddings, 64 hidden units): same code paths, fast.
SMALL = dict(batch_size=B, hidden_dim=64, projection_dim=32, num_filters=8)


def small_config(algo: str, **overrides):
    return make_config("walker-walk", algo, "paper", **{**SMALL, **overrides})


def small_agent(algo: str, size: int = 84, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return make_agent(small_config(algo, **overrides), (9, size, size), A)


def random_replay(size: int = 84, transitions: int = 40, seed: int = 0) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    frame = lambda: torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8))  # noqa: E731
    buf = ReplayBuffer(transitions + 8, (3, size, size), A, seed=seed)
    buf.add_first(frame())
    for t in range(transitions):
        buf.add(rng.uniform(-1, 1, A), float(rng.normal()), frame(), t % 17 == 16)
    return buf


def named_parameters(**modules) -> list[tuple[str, torch.Tensor]]:
    """(prefix.name, parameter) over the modules, each tensor once (shared trunks under the first name)."""
    out, seen = [], set()
    for prefix, m in modules.items():
        for n, p in m.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append((f"{prefix}.{n}", p))
    return out


def reached(loss: torch.Tensor, named) -> set[str]:
    """Names of the parameters the loss gives a non-zero gradient."""
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True, retain_graph=True)
    return {n for (n, _), g in zip(named, grads) if g is not None and g.abs().sum() > 0}


def groups(names: set[str], prefixes: dict[str, str]) -> set[str]:
    return {g for g, pre in prefixes.items() if any(n.startswith(pre) for n in names)}


def assert_round_trip_gives_identical_next_updates(algo: str, size: int = 84, **overrides) -> None:
    """Agent state (networks, targets, BatchNorm statistics, optimisers, α, draws, image stream) saved after
    a few updates and loaded into a differently initialised agent: the next updates are bit-identical."""
    buf = random_replay(size)
    a = small_agent(algo, size, seed=0, **overrides)
    for step in (2, 3, 4):
        a.update(buf, step)
    state = copy.deepcopy(a.state_dict())
    b = small_agent(algo, size, seed=1, **overrides)
    b.load_state_dict(state)
    replay_rng, torch_rng = buf.generator.get_state(), torch.get_rng_state()
    runs = []
    for agent in (a, b):
        buf.generator.set_state(replay_rng)
        torch.set_rng_state(torch_rng)
        metrics = [agent.update(buf, step) for step in (5, 6)]
        runs.append((metrics, agent.state_dict()))
    (ma, sa), (mb, sb) = runs
    for x, y in zip(ma, mb):
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    for name in sa:
        if name in ("draws", "images", "extra"):
            continue
        flat_a, flat_b = sa[name], sb[name]
        if isinstance(flat_a, torch.Tensor):
            assert torch.equal(flat_a, flat_b), name
        elif "state" in flat_a:  # optimiser
            for k, v in flat_a["state"].items():
                for kk, t in v.items():
                    assert torch.equal(t, flat_b["state"][k][kk]), (name, k, kk)
        else:
            for k, t in flat_a.items():
                assert torch.equal(t, flat_b[k]), (name, k)


# ---- the CLI ------------------------------------------------------------------------------------------

SMALL_CLI = [arg for k, v in SMALL.items() if k != "batch_size" for arg in ("--set", f"{k}={v}")]

TINY = [
    "--task", "cartpole-swingup", "--preset", "quick", "--batch-size", "4",
    "--eval-episodes", "1", "--eval-modes", "train", "--no-progress", "--no-pictures",
    "--set", "episode_length=64", "--set", "init_steps=8", "--set", "burst_updates=2",
    "--set", "updates_per_step=1", "--set", "eval_freq=100000", "--set", "eval_envs=1",
    "--set", "checkpoint_every=8", "--set", "replay_capacity=64",
]


def _checkpoint_step(run: Path) -> int:
    try:
        return load_checkpoint(run)["step"]
    except Exception:  # not written yet (the rename is atomic: never a torn file)
        return -1


def train_stop_and_resume(run: Path, algo: str, steps: int, *extra: str) -> tuple[dict, str]:
    """``smg-fast train --algo ALGO`` on a tiny config, stopped by SIGTERM after its first checkpoint and
    resumed to the end; (final checkpoint, resumed run's stdout)."""
    args = [sys.executable, "-m", "smg_fast.cli", "train", "--algo", algo, *TINY, "--steps", str(steps),
            "--run-dir", str(run), *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300
    while _checkpoint_step(run) < 8 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    stopped_at = load_checkpoint(run)["step"]
    assert 8 <= stopped_at < steps, stopped_at
    out = subprocess.run([sys.executable, "-m", "smg_fast.cli", "train", "--resume", str(run), "--no-pictures"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return load_checkpoint(run), out.stdout
