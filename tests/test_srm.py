"""SRM agent: which updates are masked and with which ring (upstream's three draws), that only the
observations the critic and the actor see are masked, the settings, checkpoint round trip, and a short CLI
run that is stopped and resumed. SRM adds no loss term (its critic, actor and α losses are the SAC core's,
tested with DrQ's in tests/test_parity_official.py); parity: tests/test_parity_srm.py."""
import pytest
import torch

import smg_fast.ops as ops
from smg_fast.agent.draws import Draws
from test_sgqn import agent_and_buffer, cli_stop_and_resume, roundtrip

B = 4


class Scripted(Draws):
    """Uniform draws from a list; actor noise as usual."""

    def __init__(self, us):
        super().__init__(0, torch.device("cpu"))
        self.us = list(us)

    def uniform(self, a, b):
        return a + (b - a) * self.us.pop(0)


def record(agent):
    seen = {}
    real_critic, real_actor = agent.update_critic, agent.update_actor_and_alpha

    def update_critic(b):
        seen["critic"] = (b.obs, b.next_obs)
        return real_critic(b)

    def update_actor_and_alpha(obs):
        seen["actor"] = obs
        return real_actor(obs)

    agent.update_critic, agent.update_actor_and_alpha = update_critic, update_actor_and_alpha
    real_sample = agent.sample

    def sample(replay):
        seen["sampled"] = real_sample(replay)
        return seen["sampled"]

    agent.sample = sample
    return seen


@pytest.fixture(scope="module")
def setup():
    return agent_and_buffer("srm")


def test_masked_update_masks_obs_only_and_the_actor_sees_it(setup):
    agent, buf = setup
    seen = record(agent)
    # p = 0.3 <= 0.5: masked; low = round(0.5 * 0.62, 2) = 0.31; diff = round(0.05 * 0.8, 2) = 0.04
    agent.draws = Scripted([0.3, 0.62, 0.8])
    agent.update(buf, 2)
    sampled = seen["sampled"]
    obs, next_obs = seen["critic"]
    removed = ops.ring_mask(*sampled.obs.shape[-2:], 0.31, 0.31 + 0.04, sampled.obs.dtype)
    assert torch.equal(obs, ops.frequency_mask(sampled.obs, removed))
    assert not torch.equal(obs, sampled.obs)
    assert next_obs is sampled.next_obs  # the TD target's observations are never masked
    assert seen["actor"] is obs
    assert agent.draws.us == []


def test_unmasked_update_draws_once_and_keeps_the_batch(setup):
    agent, buf = setup
    seen = record(agent)
    agent.draws = Scripted([0.7, 0.1, 0.1])
    agent.update(buf, 3)
    assert seen["critic"][0] is seen["sampled"].obs
    assert agent.draws.us == [0.1, 0.1]  # p > 0.5: no further draws (upstream returns early)


def test_probability_setting():
    never, _ = agent_and_buffer("srm", srm_mask_prob=0.0)
    never.draws = Scripted([1e-9])
    assert never.draw_ring() is None
    always, _ = agent_and_buffer("srm", srm_mask_prob=1.0, srm_low_max=0.0, srm_width_max=0.1)
    always.draws = Scripted([0.999, 0.5, 0.5])
    assert always.draw_ring() == (0.0, 0.05)
    with pytest.raises(ValueError, match="srm_mask_prob"):
        agent_and_buffer("srm", srm_mask_prob=1.5)


def test_state_dict_round_trip_gives_identical_next_updates():
    a, buf_a = agent_and_buffer("srm")
    for step in (2, 3):
        a.update(buf_a, step)
    b, buf_b = agent_and_buffer("srm", seed=1)
    b.load_state_dict(roundtrip(a.state_dict()))
    buf_b.load_state_dict(roundtrip(buf_a.state_dict()))
    for step in (4, 5, 6):  # the draws' Python generator state came along: same rings, same updates
        rng = torch.get_rng_state()
        ma = a.update(buf_a, step)
        torch.set_rng_state(rng)
        mb = b.update(buf_b, step)
        assert all(torch.equal(ma[k], mb[k]) for k in ma)
    for name, m in a.modules().items():
        for (n, p), (_, q) in zip(m.state_dict().items(), b.modules()[name].state_dict().items()):
            assert torch.equal(p, q), f"{name}.{n}"


def test_cli_trains_stops_and_resumes(tmp_path):
    run, stopped, _ = cli_stop_and_resume("srm", tmp_path)
    assert 8 <= stopped <= 24
    assert "srm_mask_prob" in (run / "config.json").read_text()


def test_losses_reach_the_parameters_they_do_in_drq():
    """SRM adds no loss: the critic step trains the critic (trunk, projection, Q heads), the actor step the
    actor's projection and MLP only, as DrQ's."""
    from test_sgqn import stepped_params

    agent, buf = agent_and_buffer("srm")
    ids = lambda m: {id(p) for p in m.parameters()}  # noqa: E731
    c = agent.critic
    seen = stepped_params(agent, buf, 2)
    assert seen["critic_opt"] == ids(c.encoder.trunk) | ids(c.encoder.projection) | ids(c.Q1) | ids(c.Q2)
    assert seen["actor_opt"] == ids(agent.actor.encoder.projection) | ids(agent.actor.mlp)
    assert set(seen) == {"critic_opt", "actor_opt", "alpha_opt"}


@pytest.mark.parametrize("algo", ["srm", "sgqn"])
def test_bf16_updates_run(algo):
    agent, buf = agent_and_buffer(algo, precision="bf16")
    if algo == "srm":
        agent.draws = Scripted([0.1, 0.5, 0.5, 0.1, 0.5, 0.5])  # masked twice
    for step in (2, 3):
        metrics = agent.update(buf, step)
        assert all(bool(torch.isfinite(v).all()) for v in metrics.values()), metrics
    assert all(p.dtype == torch.float32 for p in agent.critic.parameters())
