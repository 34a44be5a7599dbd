"""SGQN agent: its loss terms against hand-computed values, which parameters each loss reaches, the update
schedule, the attribution decoder against upstream's eager layer order, checkpoint round trip, and a short
CLI run that is stopped and resumed. Parity with the official code: tests/test_parity_sgqn.py."""
import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from smg_fast.agent import Batch, make_agent
from smg_fast.agent.sgqn import AttributionDecoder
from smg_fast.run.checkpoint import load_checkpoint
from smg_fast.config import make_config
from smg_fast.replay import ReplayBuffer

B, A = 4, 6


def agent_and_buffer(algo="sgqn", transitions=24, seed=0, **overrides):
    """A small agent (batch 4; the paper's 11-layer trunk at 84×84 with 8 filters, a 16-d embedding and
    64-wide MLPs, so that building it takes no seconds of orthogonal init) and a buffer of random
    transitions (the same for every seed)."""
    overrides = {"hidden_dim": 64, "projection_dim": 16, "num_filters": 8, **overrides}
    cfg = make_config("walker-walk", algo, "paper", batch_size=B, seed=seed, **overrides)
    torch.manual_seed(seed)
    agent = make_agent(cfg, (9, 84, 84), A)
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(transitions + 8, (3, 84, 84), A, seed=0)
    buf.add_first(torch.from_numpy(rng.integers(0, 256, (3, 84, 84), dtype=np.uint8)))
    for _ in range(transitions):
        buf.add(rng.uniform(-1, 1, A), float(rng.normal()),
                torch.from_numpy(rng.integers(0, 256, (3, 84, 84), dtype=np.uint8)), False)
    return agent, buf


@pytest.fixture(scope="module")
def setup():
    return agent_and_buffer()


def test_consistency_term_by_hand(setup):
    agent, _ = setup
    q1 = (torch.tensor([[1.0], [2.0]]), torch.tensor([[1.5], [2.5]]))
    q2 = (torch.tensor([[0.0], [4.0]]), torch.tensor([[1.0], [1.0]]))
    y = torch.tensor([[1.0], [3.0]])
    b = Batch(torch.zeros(2, 9, 2, 2), torch.zeros(2, A), torch.zeros(2, 1), torch.zeros(2, 9, 2, 2), torch.ones(2, 1))
    terms = agent.critic_losses(b, q1, q2, y)
    # TD: mean((1-1)², (2-3)²) + mean((0-1)², (4-3)²) = 0.5 + 1; consistency: mean(0.25, 0.25) + mean(1, 9)
    assert float(terms["td"][1]) == pytest.approx(1.5)
    weight, value = terms["consistency"]
    assert weight == 0.5 and float(value) == pytest.approx(0.25 + 5.0)


def test_consistency_term_has_no_stop_gradient(setup):
    """Both Q(o) and Q(o_m) receive its gradient (upstream and the SGQN paper; SMG's term stops o's)."""
    agent, _ = setup
    q = [torch.tensor([[1.0], [2.0]], requires_grad=True) for _ in range(4)]
    with torch.no_grad():
        q[1] += 1.0
    b = Batch(torch.zeros(2, 9, 2, 2), torch.zeros(2, A), torch.zeros(2, 1), torch.zeros(2, 9, 2, 2), torch.ones(2, 1))
    _, value = agent.critic_losses(b, (q[0], q[1]), (q[2], q[3]), torch.zeros(2, 1))["consistency"]
    value.backward()
    assert torch.equal(q[0].grad, -q[1].grad) and bool((q[0].grad != 0).all())


def test_aux_loss_by_hand():
    """With conv3's weights zeroed the logits are its per-channel bias x_c, so the BCE-with-logits mean is
    (1/9) Σ_c [softplus(x_c) − x_c · (mask fraction of channel c's frame)]: the target repeats each frame's
    mask over that frame's RGB channels."""
    agent, buf = agent_and_buffer()
    bias = torch.linspace(-2.0, 2.0, 9)
    with torch.no_grad():
        agent.attribution_predictor.decoder.conv3.weight.zero_()
        agent.attribution_predictor.decoder.conv3.bias.copy_(bias)
    mask = torch.zeros(B, 3, 84, 84, dtype=torch.bool)
    mask[:, 0, :42] = True  # frame 0: half; frame 1: none; frame 2: a quarter
    mask[:, 2, :42, :42] = True
    agent.saliency_mask = lambda obs, action: mask
    s = buf.sample(B)
    b = Batch(s["obs"], s["action"], s["reward"], s["next_obs"], s["not_done"])
    metrics = agent.update_aux(b, agent.plan(b, buf, 2))
    frac = torch.tensor([0.5, 0.0, 0.25]).repeat_interleave(3)
    want = (F.softplus(bias) - bias * frac).mean()
    assert float(metrics["aux/loss"]) == pytest.approx(float(want), rel=1e-6)


def stepped_params(agent, buf, step):
    """For each optimiser step of one update: the ids of the parameters with a nonzero gradient."""
    seen = []
    for opt_name, opt in agent.optimizers().items():
        real = opt.step

        def step_(grads, _real=real, _opt=opt, _name=opt_name):
            seen.append((_name, {id(p) for p, g in zip(_opt.params, grads)
                                 if g is not None and bool(g.abs().sum() > 0)}))
            return _real(grads)

        opt.step = step_
    agent.update(buf, step)
    return dict(seen)


def test_each_loss_reaches_only_its_parameters():
    agent, buf = agent_and_buffer()
    ids = lambda m: {id(p) for p in m.parameters()}  # noqa: E731
    trunk, proj = ids(agent.critic.encoder.trunk), ids(agent.critic.encoder.projection)
    q1, q2, decoder = ids(agent.critic.Q1), ids(agent.critic.Q2), ids(agent.attribution_predictor.decoder)
    actor_own = ids(agent.actor.encoder.projection) | ids(agent.actor.mlp)
    seen = stepped_params(agent, buf, 2)
    # TD + consistency: the critic's trunk, projection and both Q heads (every tensor of them)
    assert seen["critic_opt"] == trunk | proj | q1 | q2
    # BCE: the critic encoder (the very tensors, shared) and the decoder; not the Q heads
    assert seen["aux_opt"] == trunk | proj | decoder
    # the actor steps its projection and MLP only; α its own
    assert seen["actor_opt"] == actor_own and seen["alpha_opt"] == {id(agent.log_alpha)}


def test_attribution_leaves_no_gradients(setup):
    agent, buf = setup
    s = buf.sample(B)
    for p in agent.critic.parameters():
        p.grad = None
    mask = agent.saliency_mask(s["obs"], s["action"])
    assert mask.shape == (B, 3, 84, 84) and mask.dtype == torch.bool
    assert all(p.grad is None for p in agent.critic.parameters())
    # 0.98 quantile of 7056 pixels: 142 per frame (without ties)
    assert torch.equal(mask.sum(dim=(2, 3)), torch.full((B, 3), 142))


def test_update_schedule_and_draws():
    agent, buf = agent_and_buffer()
    calls = []
    real = agent.attribution
    agent.attribution = lambda o, a: calls.append(1) or real(o, a)
    odd = agent.update(buf, 3)
    assert len(calls) == 1 and "aux/loss" not in odd and "actor/loss" not in odd
    assert "critic/consistency_loss" in odd
    even = agent.update(buf, 4)
    assert len(calls) == 3 and "aux/loss" in even and "actor/loss" in even
    off, buf = agent_and_buffer(consistency_weight=0.0)
    state = off.draws.python.getstate()
    metrics = off.update(buf, 3)
    assert "critic/consistency_loss" not in metrics and off.draws.python.getstate() == state  # no fill draw


def test_decoder_is_upstreams_layer_order_with_the_fused_upsampling():
    """AttributionDecoder (ReLU before the ×2 upsampling, upsample+conv as one op) computes upstream's
    proj → view → ReLU → conv1 → up → ReLU → conv2 → up → ReLU → conv3, in float64, values and gradients."""
    torch.manual_seed(0)
    dec = AttributionDecoder(A, 3, 256).double()
    z = torch.randn(2, 256, dtype=torch.float64, requires_grad=True)
    a = torch.rand(2, A, dtype=torch.float64)

    def upstream(z):
        x = dec.proj(torch.cat([z, a], dim=1)).view(-1, 32, 21, 21)
        x = dec.conv1(F.relu(x))
        x = F.relu(F.interpolate(x, scale_factor=2))
        x = dec.conv2(x)
        x = F.relu(F.interpolate(x, scale_factor=2))
        return dec.conv3(x)

    got, want = dec(z, a), upstream(z)
    assert got.shape == (2, 9, 84, 84)
    assert float((got - want).detach().abs().max()) <= 1e-12 * float(want.detach().abs().max())
    g = torch.randn_like(want)
    grads = torch.autograd.grad(got, [z, *dec.parameters()], g)
    want_grads = torch.autograd.grad(want, [z, *dec.parameters()], g)
    for x, y in zip(grads, want_grads):
        assert float((x - y).abs().max()) <= 1e-10 * float(y.abs().max())
    eager = AttributionDecoder(A, 3, 256, fused=False).double()
    eager.load_state_dict(dec.state_dict())
    assert torch.allclose(eager(z, a), got, rtol=0, atol=1e-12 * float(want.detach().abs().max()))


def roundtrip(state):
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


def test_state_dict_round_trip_gives_identical_next_updates():
    a, buf_a = agent_and_buffer()
    for step in (2, 3):
        a.update(buf_a, step)
    b, buf_b = agent_and_buffer(seed=1)  # other initial weights and draws
    # through bytes, as a checkpoint does (an in-memory state_dict shares Adam's step tensors with a)
    b.load_state_dict(roundtrip(a.state_dict()))
    buf_b.load_state_dict(roundtrip(buf_a.state_dict()))
    rng = torch.get_rng_state()
    ma = a.update(buf_a, 4)
    torch.set_rng_state(rng)
    mb = b.update(buf_b, 4)
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)
    for name, m in a.modules().items():
        for (n, p), (_, q) in zip(m.state_dict().items(), b.modules()[name].state_dict().items()):
            assert torch.equal(p, q), f"{name}.{n}"


# A short run through the CLI: small networks (the update's math is tested above and in the parity tests),
# 24 steps with a checkpoint every 8, one evaluation episode.
TINY = [
    "--task", "cartpole-swingup", "--preset", "quick", "--steps", "24", "--batch-size", "4",
    "--eval-episodes", "1", "--eval-modes", "train", "--no-progress", "--no-pictures",
    "--set", "episode_length=64", "--set", "init_steps=8", "--set", "burst_updates=2",
    "--set", "updates_per_step=1", "--set", "eval_freq=100000", "--set", "eval_envs=1",
    "--set", "checkpoint_every=8", "--set", "replay_capacity=64",
    "--set", "num_filters=8", "--set", "projection_dim=16", "--set", "hidden_dim=64",
]


def cli_stop_and_resume(algo, tmp_path, extra=()):
    """Train through the CLI, stop it with SIGTERM after its first checkpoint, resume it to the end."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = tmp_path / algo
    args = [sys.executable, "-m", "smg_fast.cli", "train", "--algo", algo, *TINY, *extra, "--run-dir", str(run)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300
    while not (run / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 128 + signal.SIGTERM), err[-3000:]
    stopped = load_checkpoint(run)["step"]
    out = subprocess.run([sys.executable, "-m", "smg_fast.cli", "train", "--resume", str(run), "--no-pictures"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    state = load_checkpoint(run)
    assert state["step"] == 24 and "| train |" in out.stdout
    return run, stopped, state


def test_cli_trains_stops_and_resumes(tmp_path):
    run, stopped, state = cli_stop_and_resume("sgqn", tmp_path)
    assert 8 <= stopped <= 24
    header = (run / "train.csv").read_text().splitlines()[0]
    assert "aux/loss" in header and "critic/consistency_loss" in header
    assert "attribution_predictor" in state["agent"] and "aux_opt" in state["agent"]
