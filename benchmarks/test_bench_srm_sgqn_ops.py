"""SRM's frequency mask and SGQN's saliency pieces against their references, at the paper's batch
(64 × 9×84×84), float32, in one run.

    pytest benchmarks/test_bench_srm_sgqn_ops.py --benchmark-only

* frequency mask: the per-channel real FFT op (``rfft2`` → ring zeroed in place → ``irfft2``) vs the
  official formulation (3-D complex FFT over RGB, H, W → masked product → inverse → real part);
* guided backprop of Q1 through the paper's critic: the autograd-function ReLU rule vs captum's mechanism
  in plain autograd (full backward hooks on every ReLU) and, where captum is installed, captum's
  ``GuidedBackprop`` itself (as upstream calls it: the whole critic, Q1 returned);
* quantile mask: one batched ``torch.quantile`` over [B, frames, H·W] vs upstream's per-frame loop with
  its 3-channel repeat.
"""
import pytest
import torch

import smg_fast.ops as ops
from smg_fast.agent.networks import Critic, Encoder, Projection, SharedCNN
from smg_fast.ops.quantile_mask import quantile_mask_upstream

B, C, H, W = 64, 9, 84, 84


def _rand(*shape, scale=1.0, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * scale


FREQ = {"fused": ops.frequency_mask, "reference (3-D FFT)": ops.reference.frequency_mask}


@pytest.mark.parametrize("impl", FREQ)
@pytest.mark.benchmark(group="SRM frequency mask fwd [64,9,84,84]")
def test_frequency_mask(benchmark, impl):
    obs = _rand(B, C, H, W, scale=255)
    benchmark(FREQ[impl], obs, ops.ring_mask(H, W, 0.15, 0.2))


def _critic():
    torch.manual_seed(0)
    trunk = SharedCNN(9, 11, 32)
    return Critic(Encoder(trunk, Projection(trunk.out_features(84), 256)), 6, 1024)


def _captum(critic, action, obs):
    captum = pytest.importorskip("captum.attr")

    class Q1(torch.nn.Module):  # upstream's ModelWrapper
        def __init__(self):
            super().__init__()
            self.model = critic

        def forward(self, o):
            return self.model(o, action)[0]

    relus = [m for m in critic.modules() if isinstance(m, torch.nn.ReLU)]
    flags = [m.inplace for m in relus]
    for m in relus:  # captum's module hooks cannot follow in-place ReLUs
        m.inplace = False
    try:
        return captum.GuidedBackprop(Q1()).attribute(obs)
    finally:
        for m, f in zip(relus, flags):
            m.inplace = f


@pytest.mark.parametrize("impl", ["autograd function", "backward hooks", "captum"])
@pytest.mark.benchmark(group="SGQN guided backprop of Q1, paper critic, batch 64 [64,9,84,84]")
def test_guided_backprop(benchmark, impl):
    critic = _critic()
    obs, action = _rand(B, C, H, W, scale=255), _rand(B, 6, seed=1) * 2 - 1

    def q1(c, o):
        return c.Q1(c.encoder(o), action)

    guided, hooked = ops.guided_backprop(critic), ops.reference.guided_backprop(critic)
    fn = {
        "autograd function": lambda: guided(obs, q1),
        "backward hooks": lambda: hooked(obs, q1),
        "captum": lambda: _captum(critic, action, obs),
    }[impl]
    if not benchmark.disabled:
        fn()
    benchmark.pedantic(fn, rounds=3, iterations=1)


QUANTILE = {"batched": lambda a: ops.quantile_mask(a, 0.98), "upstream loop": lambda a: quantile_mask_upstream(a, 0.98)}


@pytest.mark.parametrize("impl", QUANTILE)
@pytest.mark.benchmark(group="SGQN quantile mask (0.98) [64,9,84,84]")
def test_quantile_mask(benchmark, impl):
    attr = torch.randn(B, C, H, W, generator=torch.Generator().manual_seed(0))
    benchmark(QUANTILE[impl], attr)
