"""The agent's update and the whole training loop, on CPU at the paper's batch (64 × 9×84×84).

    pytest benchmarks/test_bench_update.py --benchmark-only -k "update and smg"

One round of an update benchmark = one even step (critic, actor, targets, auxiliary update) plus
one odd step (critic only), so the per-update cost is half the round. ``fused`` uses the compiled
ops and phase-decomposed decoders, ``reference`` the pure-PyTorch references of the same ops with
eager decoders (the same shared passes otherwise), ``fused-bf16`` the fused path with
``precision='bf16'`` (forward passes under bfloat16 autocast), ``fused-compiled`` the fused path with
the update's tensor part compiled (``compile=True``: inductor on CPU, CUDA graphs on a GPU; the
compile time of its graphs is reported as ``extra_info['compile_s']``). The allocator is tuned as training does.

    pytest benchmarks/test_bench_update.py --benchmark-only -k "test_update_sac or test_update_smg and (fused-compiled or fused])"

compares eager and compiled in one run (the machine is shared: compare the rows of one run).
"""
import time

import numpy as np
import pytest
import torch

from smg_fast.agent import make_agent
from smg_fast.config import make_config
from smg_fast.replay import ReplayBuffer
from smg_fast.run.allocator import tune_allocator

A = 6  # walker


def _replay(seed=0, device="cpu"):
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(600, (3, 84, 84), A, seed=seed, device=device)
    frame = lambda: torch.from_numpy(rng.integers(0, 256, (3, 84, 84), dtype=np.uint8))  # noqa: E731
    buf.add_first(frame())
    for t in range(500):
        buf.add(rng.uniform(-1, 1, A), float(rng.normal()), frame(), False)
    return buf


def _agent(algo, fused=True, precision="fp32", device="cpu"):
    tune_allocator()
    torch.manual_seed(0)
    cfg = make_config("walker-walk", algo, "paper", fused_ops=fused, precision=precision, device=device)
    rng = np.random.default_rng(0)
    return make_agent(cfg, (9, 84, 84), A, lambda: rng.integers(0, 256, (cfg.agent.batch_size, 3, 84, 84), dtype=np.uint8))


def _even_and_odd(agent, buf, counter=[2000]):  # noqa: B006 - a step counter shared across rounds
    counter[0] += 2
    agent.update(buf, counter[0])
    agent.update(buf, counter[0] + 1)
    if agent.device.type == "cuda":
        torch.cuda.synchronize(agent.device)


def _compile(benchmark, agent, buf, draws=(None,)):
    """Compile the agent's update (every plan shape the rounds will meet: ``draws`` forces SMG's
    augmentation kind, u < 1/4 attribution) and report the compile time. CI's single pass (benchmarks
    disabled) skips: compiling takes minutes and times nothing."""
    if benchmark.disabled:
        pytest.skip("compiled update: timed runs only (its compile takes minutes on 2 CPU cores)")
    agent.compile()
    start = time.perf_counter()
    for u in draws:
        if u is not None:
            agent.draws.random = lambda u=u: u  # an instance attribute shadows the method
        _even_and_odd(agent, buf)
    vars(agent.draws).pop("random", None)
    benchmark.extra_info["compile_s"] = round(time.perf_counter() - start, 1)


@pytest.mark.parametrize("impl", ["fused", "reference", "fused-bf16", "fused-compiled"])
@pytest.mark.benchmark(group="update: one even + one odd step, batch 64 [64,9,84,84]")
def test_update_smg(benchmark, impl, device):
    agent = _agent("smg", fused=impl != "reference", precision="bf16" if impl.endswith("bf16") else "fp32", device=device)
    buf = _replay(device=device)
    if impl.endswith("compiled"):  # both augmentation kinds, on even and odd steps: four graphs
        _compile(benchmark, agent, buf, draws=(0.9, 0.1))
    # Warm-up to the steady state of a training run: first-call dispatch, and the allocator's heap
    # growing to the update's peak (the first two even steps page-fault ~2 GB of fresh memory).
    for _ in range(1 if benchmark.disabled else 3):
        _even_and_odd(agent, buf)
    benchmark.pedantic(_even_and_odd, (agent, buf), rounds=5, iterations=1)


@pytest.mark.parametrize("impl", ["eager", "compiled"])
@pytest.mark.benchmark(group="update: one even + one odd step, batch 64 [64,9,84,84]")
def test_update_sac(benchmark, impl, device):
    agent, buf = _agent("sac", device=device), _replay(device=device)
    if impl == "compiled":
        _compile(benchmark, agent, buf)
    _even_and_odd(agent, buf)
    benchmark.pedantic(_even_and_odd, (agent, buf), rounds=5, iterations=1)


@pytest.mark.parametrize("algo", ["smg", "sac"])
@pytest.mark.benchmark(group="training loop: agent steps (collect + 1 update), cartpole-swingup, batch 64")
def test_training_loop_steps(benchmark, algo, device, tmp_path, monkeypatch):
    """Steady state of the loop: act with π, one update, one env step (action repeat 8 + a render),
    store. Reported per step (the benchmark's 'rounds' are single steps)."""
    from smg_fast.run.trainer import Trainer

    monkeypatch.setenv("SMG_FAST_CACHE", str(tmp_path / "cache"))
    cfg = make_config("cartpole-swingup", algo, "paper", train_steps=10_000, replay_capacity=2_000,
                      eval_modes=("train",), eval_envs=1, device=device)
    cfg.run_dir = str(tmp_path / "run")
    trainer = Trainer(cfg, progress=False)
    try:
        env, agent, replay = trainer.env, trainer.agent, trainer.replay
        obs, _ = env.reset()
        replay.add_first(obs[-3:])
        rng = np.random.default_rng(0)
        for _ in range(200):  # random prefill
            obs, r, term, trunc, _ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            replay.add(np.zeros(env.action_space.shape), r, obs[-3:], term)
            if term or trunc:
                obs, _ = env.reset()
                replay.add_first(obs[-3:])
        state = {"obs": obs, "step": 2000}

        def one_step():
            action = agent.act(state["obs"], sample=True)
            agent.update(replay, state["step"])
            state["step"] += 1
            obs, r, term, trunc, _ = env.step(action)
            replay.add(action, r, obs[-3:], term)
            if term or trunc:
                obs, _ = env.reset()
                replay.add_first(obs[-3:])
            state["obs"] = obs

        one_step()
        benchmark.pedantic(one_step, rounds=6, iterations=1)
    finally:
        trainer.close()


# ---- DrQ, SRM and SGQN: one even + one odd step each, beside SMG's and SAC's above -----------------


@pytest.mark.benchmark(group="update: one even + one odd step, batch 64 [64,9,84,84]")
def test_update_drq(benchmark):
    """SAC on randomly shifted obs and next_obs (the replay's fused gather applies the shift)."""
    agent, buf = _agent("drq"), _replay()
    if not benchmark.disabled:
        _even_and_odd(agent, buf)
    benchmark.pedantic(_even_and_odd, (agent, buf), rounds=5, iterations=1)


@pytest.mark.benchmark(group="update: one even + one odd step, batch 64 [64,9,84,84]")
def test_update_srm(benchmark):
    """DrQ + the frequency mask (drawn per update, applied with p = 1/2: the rounds average both)."""
    agent, buf = _agent("srm"), _replay()
    if not benchmark.disabled:  # CI's one smoke pass needs no warm-up
        _even_and_odd(agent, buf)
    benchmark.pedantic(_even_and_odd, (agent, buf), rounds=5, iterations=1)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.benchmark(group="update: one even + one odd step, batch 64 [64,9,84,84]")
def test_update_sgqn(benchmark, impl):
    """Guided backprop before the critic step (and after it on the even step), the critic on [o, o_m],
    the attribution predictor's step; ``reference``: eager decoder and the reference overlay."""
    agent, buf = _agent("sgqn", fused=impl != "reference"), _replay()
    for _ in range(0 if benchmark.disabled else 2):
        _even_and_odd(agent, buf)
    benchmark.pedantic(_even_and_odd, (agent, buf), rounds=5, iterations=1)


# ---- the baselines on the same core (SODA, SVEA) ------------------------------------------------------


def _replay_of(size, seed=0):
    """_replay with size×size frames (SODA renders 100×100 and crops to 84)."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(600, (3, size, size), A, seed=seed)
    frame = lambda: torch.from_numpy(rng.integers(0, 256, (3, size, size), dtype=np.uint8))  # noqa: E731
    buf.add_first(frame())
    for t in range(500):
        buf.add(rng.uniform(-1, 1, A), float(rng.normal()), frame(), False)
    return buf


BASELINES = {  # name: (algo, render size, settings)
    "soda": ("soda", 100, {}),
    "svea": ("svea", 84, {}),
    "svea-reference-ops": ("svea", 84, {"fused_ops": False}),  # upstream's per-sample random_conv loop
}


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.benchmark(group="update: one even + one odd step, batch 64 [64,9,84,84]")
def test_update_baselines(benchmark, name):
    """SODA's even step includes its auxiliary step on a fresh batch of 256 (two crops, one overlay)."""
    algo, size, settings = BASELINES[name]
    tune_allocator()
    torch.manual_seed(0)
    cfg = make_config("walker-walk", algo, "paper", **settings)
    rng = np.random.default_rng(0)
    images = lambda n=None: rng.integers(0, 256, (n or cfg.agent.batch_size, 3, 84, 84), dtype=np.uint8)  # noqa: E731
    agent, buf = make_agent(cfg, (9, size, size), A, images), _replay_of(size)
    for _ in range(1 if benchmark.disabled else 2):
        _even_and_odd(agent, buf)
    benchmark.pedantic(_even_and_odd, (agent, buf), rounds=5, iterations=1)
