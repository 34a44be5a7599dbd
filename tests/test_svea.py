"""SVEA: its critic loss against hand-computed values (and upstream's concatenated form), which parameters
each term reaches, the clean target and clean actor batch, both augmentations, settings, a state-dict
round trip, and a tiny CLI run that is stopped and resumed (parity with the official code:
test_parity_svea.py)."""
import json

import pytest
import torch
import torch.nn.functional as F

import smg_fast.ops as ops
from method_helpers import (
    A, B, SMALL_CLI, assert_round_trip_gives_identical_next_updates, groups, named_parameters, random_replay,
    reached, small_agent, train_stop_and_resume)
from smg_fast.agent.draws import Draws
from smg_fast.agent.svea import SVEABatch
from smg_fast.config import make_config


def col(*v):
    return torch.tensor(v, dtype=torch.float64).view(-1, 1)


@pytest.mark.parametrize("alpha,beta,want", [(0.5, 0.5, 3.75), (0.3, 0.7, 5.05), (1.0, 1.0, 7.5)])
def test_critic_loss_is_weighted_clean_and_augmented_td_terms(alpha, beta, want):
    """Q1 = (1, 2 | 0, 4), Q2 = (1, 1 | 3, 1) on (o | τo), y = (1, 1):
    TD(o) = (0 + 1)/2 + 0 = 0.5, TD(τo) = (1 + 9)/2 + (4 + 0)/2 = 7; loss = α·0.5 + β·7."""
    agent = small_agent("svea", svea_alpha=alpha, svea_beta=beta)
    q1, q2, y = (col(1, 2), col(0, 4)), (col(1, 1), col(3, 1)), col(1, 1)
    terms = agent.critic_losses(None, q1, q2, y)
    assert set(terms) == {"td", "td_aug"}
    assert float(terms["td"][1]) == 0.5 and float(terms["td_aug"][1]) == 7.0
    total = sum(w * v for w, v in terms.values())
    assert abs(float(total) - want) < 1e-12
    if alpha == beta:  # upstream's branch: one pass over cat(o, τo) against cat(y, y), weight α + β
        cat_q1, cat_q2, cat_y = torch.cat(q1), torch.cat(q2), torch.cat([y, y])
        upstream = (alpha + beta) * (F.mse_loss(cat_q1, cat_y) + F.mse_loss(cat_q2, cat_y))
        assert abs(float(upstream) - float(total)) < 1e-12


def svea_batch(agent, buf):
    s = buf.sample(B)
    b = SVEABatch(s["obs"], s["action"], s["reward"], s["next_obs"], s["not_done"])
    return agent.augment(b, agent.plan(b, buf, 2))


def critic_terms(agent, b):
    """The critic's loss terms as update_critic builds them (one encoder pass over [o; τo])."""
    views = agent.critic_views(b)
    q1, q2 = agent.critic.heads(agent.critic_embeddings(b, views), b.action.repeat(1 + len(views), 1))
    q1, q2 = q1.split(B), q2.split(B)
    return agent.critic_losses(b, q1, q2, agent.td_target(b))


def test_each_critic_term_reaches_the_critic_only_and_tau_o_feeds_only_its_term():
    agent, buf = small_agent("svea"), random_replay()
    b = svea_batch(agent, buf)
    b.obs_aug = b.obs_aug.detach().requires_grad_()
    terms = critic_terms(agent, b)
    named = named_parameters(actor=agent.actor, critic=agent.critic)
    prefixes = {"trunk": "actor.encoder.trunk", "critic_proj": "critic.encoder.projection", "Q1": "critic.Q1",
                "Q2": "critic.Q2", "actor_proj": "actor.encoder.projection", "actor_mlp": "actor.mlp"}
    for name in ("td", "td_aug"):
        assert groups(reached(terms[name][1], named), prefixes) == {"trunk", "critic_proj", "Q1", "Q2"}, name
    # τ(o) enters the augmented term only; the target carries no graph (no_grad, clean o′)
    (g_clean,) = torch.autograd.grad(terms["td"][1], b.obs_aug, allow_unused=True, retain_graph=True)
    (g_aug,) = torch.autograd.grad(terms["td_aug"][1], b.obs_aug, retain_graph=True)
    assert (g_clean is None or g_clean.abs().sum() == 0) and g_aug.abs().sum() > 0
    assert not agent.td_target(b).requires_grad


def test_target_from_clean_next_obs_and_actor_on_clean_obs():
    agent, buf = small_agent("svea"), random_replay()
    seen = {}

    def recording(name, fn):
        def wrapper(*args, **kw):
            seen.setdefault(name, args[0])
            return fn(*args, **kw)
        return wrapper

    agent.critic_target.forward = recording("target_in", agent.critic_target.forward)
    agent.update_actor_and_alpha = recording("actor_in", agent.update_actor_and_alpha)
    real_augment = agent.augment
    agent.augment = lambda b, plan: seen.setdefault("batch", real_augment(b, plan))
    metrics = agent.update(buf, step=2)
    b = seen["batch"]
    assert torch.equal(seen["target_in"], b.next_obs) and torch.equal(seen["actor_in"], b.obs)
    assert not torch.equal(b.obs_aug, b.obs)
    assert {"critic/td_loss", "critic/td_aug_loss", "critic/loss", "actor/loss"} <= set(metrics)
    w = agent.cfg
    torch.testing.assert_close(metrics["critic/loss"], w.svea_alpha * metrics["critic/td_loss"]
                               + w.svea_beta * metrics["critic/td_aug_loss"])


def test_random_conv_augmentation_uses_the_agents_kernel_draws():
    agent, buf = small_agent("svea", seed=3), random_replay()
    obs = buf.sample(B)["obs"]
    want = ops.random_conv(obs, Draws(agent.seed, agent.device).conv_kernels(B))
    torch.testing.assert_close(agent.augmentation(obs), want, rtol=0, atol=0)
    # fused_ops=False: upstream's per-sample loop, same values
    ref_agent = small_agent("svea", seed=3, fused_ops=False)
    torch.testing.assert_close(ref_agent.augmentation(obs), want, rtol=1e-5, atol=1e-3)


def test_overlay_augmentation_is_the_paper_variant():
    from smg_fast.agent import make_agent
    from method_helpers import small_config

    images = torch.randint(0, 256, (B, 3, 84, 84), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    agent = make_agent(small_config("svea", svea_aug="overlay"), (9, 84, 84), A, images=lambda n=None: images)
    obs = random_replay().sample(B)["obs"]
    torch.testing.assert_close(agent.augmentation(obs), ops.reference.overlay(obs, images, 0.5))
    metrics = agent.update(random_replay(), step=2)
    assert all(torch.isfinite(v) for v in metrics.values())


def test_settings_defaults_and_errors():
    cfg = make_config("walker-walk", "svea", "paper")
    assert (cfg.agent.svea_alpha, cfg.agent.svea_beta, cfg.agent.svea_aug) == (0.5, 0.5, "random_conv")
    assert cfg.image_size == 84 and cfg.agent.batch_size == 64
    with pytest.raises(ValueError, match="svea_aug.*random_conv, overlay"):
        make_config("walker-walk", "svea", "paper", svea_aug="conv")
    # β = 0: no augmented view, plain SAC-style critic on shifted observations
    agent = small_agent("svea", svea_beta=0.0)
    b = svea_batch(agent, random_replay())
    assert b.obs_aug is None and agent.critic_views(b) == [] and set(critic_terms(agent, b)) == {"td"}


def test_checkpoint_round_trip_gives_identical_next_updates():
    assert_round_trip_gives_identical_next_updates("svea")


@pytest.mark.slow  # two CLI processes: ~45 s on the shared 2-core CPU
def test_svea_trains_stops_resumes_and_evaluates_through_the_cli(tmp_path):
    run = tmp_path / "svea"
    state, stdout = train_stop_and_resume(run, "svea", 24, *SMALL_CLI)
    assert state["step"] == 24 and "| train |" in stdout
    config = json.loads((run / "config.json").read_text())
    assert config["algo"] == "svea" and config["svea_aug"] == "random_conv" and config["image_size"] == 84
    rows = (run / "train.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    assert "critic/td_aug_loss" in header
    assert all(abs(float(last[header.index(k)])) < float("inf") for k in ("critic/loss", "critic/td_aug_loss"))
