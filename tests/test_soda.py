"""SODA: its loss against hand-computed values, the predictor / target structure and the re-init quirk,
which parameters the SODA loss reaches, the soft update (parameters only) and BatchNorm in training mode,
the 100 → 84 crops of the RL and SODA batches, acting on 100×100 observations, settings, a state-dict
round trip, and a tiny CLI run that is stopped and resumed (parity with the official code:
test_parity_soda.py)."""
import json

import pytest
import torch

import smg_fast.ops as ops
from method_helpers import (
    A, B, SMALL_CLI, assert_round_trip_gives_identical_next_updates, groups, named_parameters, random_replay,
    reached, small_agent, train_stop_and_resume)
from smg_fast.agent.draws import Draws
from smg_fast.agent.soda import soda_loss
from smg_fast.config import make_config

SODA = dict(soda_batch_size=6)


def test_soda_loss_hand_computed():
    """normalize((3, 4)) = (0.6, 0.8), normalize((2, 0)) = (1, 0): MSE = (0.4² + 0.8²)/2 = 0.4; a second
    sample equal up to scale contributes 0; the mean is over B × D."""
    pred = torch.tensor([[3.0, 4.0], [0.0, 5.0]], dtype=torch.float64)
    target = torch.tensor([[2.0, 0.0], [0.0, 0.1]], dtype=torch.float64)
    assert abs(float(soda_loss(pred, target)) - 0.4 / 2) < 1e-15
    # = (2 − 2·cos) / D per sample, averaged
    cos = torch.nn.functional.cosine_similarity(pred, target)
    assert abs(float(soda_loss(pred, target)) - float(((2 - 2 * cos) / 2).mean())) < 1e-15


def test_structure_shared_trunk_own_target_and_upstream_names():
    agent = small_agent("soda", 100, **SODA)
    p, t = agent.predictor, agent.predictor_target
    assert p.encoder.trunk is agent.critic.encoder.trunk is agent.actor.encoder.trunk
    assert t.encoder.trunk is not p.encoder.trunk and not any(q.requires_grad for q in t.parameters())
    count = lambda m: sum(q.numel() for q in m.parameters())  # noqa: E731
    mlp = lambda i, h, o: i * h + h + 2 * h + h * o + o  # noqa: E731  (Linear, BatchNorm1d, Linear)
    # SODAMLP(F → d, BN, ReLU → d) on the 84×84 trunk features, then SODAMLP(d → d → d); the paper's
    # sizes (F = 14112, d = 256) give 3,679,232 and 132,096 parameters
    features, d = 8 * 21 * 21, 32
    assert count(p.encoder.projection) == mlp(features, d, d) and mlp(14112, 256, 256) == 3_679_232
    assert count(p.mlp) == mlp(d, d, d) and mlp(256, 256, 256) == 132_096
    assert {"encoder.projection.mlp.1.running_mean", "mlp.mlp.3.weight"} <= set(p.state_dict())
    # the optimisers: the SODA Adam owns trunk + both MLPs, so the trunk is stepped by two Adams
    owned = {id(q) for g in agent.aux_opt.param_groups for q in g["params"]}
    assert owned == {id(q) for q in p.parameters()}
    critic_owned = {id(q) for g in agent.critic_opt.param_groups for q in g["params"]}
    assert {id(q) for q in p.encoder.trunk.parameters()} <= owned & critic_owned
    assert agent.aux_opt.param_groups[0]["lr"] == 3e-4 and agent.aux_opt.param_groups[0]["betas"] == (0.9, 0.999)


def test_reinit_quirk_critic_trunk_differs_from_its_target_at_init():
    first = lambda m: m.encoder.trunk.layers[0].weight  # noqa: E731
    agent = small_agent("soda", 100, **SODA)
    # upstream: critic_target was copied before SODAPredictor re-initialised the shared trunk; the
    # predictor target is copied after it
    assert not torch.equal(first(agent.critic), first(agent.critic_target))
    assert torch.equal(first(agent.critic), first(agent.predictor_target))
    off = small_agent("soda", 100, reinit_shared_trunk=False, **SODA)
    assert torch.equal(first(off.critic), first(off.critic_target))


def soda_step_loss(agent, x):
    """The SODA loss as update_aux builds it, from a 100×100 batch."""
    clean = agent.crop(x)
    aug = ops.overlay(agent.crop(x), agent.images.next(x.shape[0]), 0.5)
    with torch.no_grad():
        target = agent.predictor_target.encoder(clean)
    return soda_loss(agent.predictor(aug), target)


def test_soda_loss_reaches_trunk_and_its_mlps_only():
    agent, buf = small_agent("soda", 100, **SODA), random_replay(100)
    loss = soda_step_loss(agent, agent.sample_aux(buf))
    named = named_parameters(actor=agent.actor, critic=agent.critic, predictor=agent.predictor)
    prefixes = {"trunk": "actor.encoder.trunk", "critic_proj": "critic.encoder.projection", "Q": "critic.Q",
                "actor_proj": "actor.encoder.projection", "actor_mlp": "actor.mlp",
                "projection": "predictor.encoder.projection", "prediction": "predictor.mlp"}
    assert groups(reached(loss, named), prefixes) == {"trunk", "projection", "prediction"}
    # the target branch carries no graph (no_grad, and its parameters need none)
    assert not any(q.requires_grad for q in agent.predictor_target.parameters())
    # quirk 13: the last conv bias and the Linear biases in front of BatchNorm get no gradient
    zero = ["actor.encoder.trunk.layers.20.bias", "predictor.encoder.projection.mlp.0.bias",
            "predictor.mlp.mlp.0.bias", "predictor.encoder.projection.mlp.3.bias"]
    grads = torch.autograd.grad(loss, [dict(named)[n] for n in zero])
    assert all(float(g.abs().max()) < 1e-7 for g in grads)


def test_soda_step_soft_updates_parameters_not_buffers_and_keeps_batchnorm_in_training_mode():
    agent, buf = small_agent("soda", 100, **SODA), random_replay(100)
    agent.predictor.eval()  # upstream never puts them in evaluation mode; neither does the SODA step
    agent.predictor_target.eval()
    target_before = [q.detach().clone() for q in agent.predictor_target.parameters()]
    proj_bn, pred_bn = agent.predictor_target.encoder.projection.mlp[1], agent.predictor_target.mlp.mlp[1]
    stats_before = proj_bn.running_mean.clone()
    metrics = agent.update_aux(None, agent.plan(None, buf, 2))
    assert agent.predictor.training and agent.predictor_target.training and torch.isfinite(metrics["aux/loss"])
    tau = agent.cfg.soda_tau
    for old, new, online in zip(target_before, agent.predictor_target.parameters(), agent.predictor.parameters()):
        torch.testing.assert_close(new, (1 - tau) * old + tau * online.detach(), rtol=1e-6, atol=1e-7)
    # the target's BatchNorm ran in training mode on the clean view (its own statistics, not the
    # predictor's); its prediction MLP never runs
    assert int(proj_bn.num_batches_tracked) == 1 and int(pred_bn.num_batches_tracked) == 0
    assert not torch.equal(proj_bn.running_mean, stats_before)
    assert not torch.equal(proj_bn.running_mean, agent.predictor.encoder.projection.mlp[1].running_mean)


def test_rl_batch_is_cropped_from_100_independently_for_obs_and_next_obs():
    agent, buf = small_agent("soda", 100, seed=2, **SODA), random_replay(100)
    replay_rng = buf.generator.get_state()
    b = agent.sample(buf)
    buf.generator.set_state(replay_rng)
    s = buf.sample(B, shift=False)
    draws = Draws(agent.seed, agent.device)
    first, second = draws.crop_offsets(B, 16), draws.crop_offsets(B, 16)
    assert b.obs.shape == b.next_obs.shape == (B, 9, 84, 84) and not torch.equal(first, second)
    assert torch.equal(b.obs, ops.random_crop(s["obs"], first))
    assert torch.equal(b.next_obs, ops.random_crop(s["next_obs"], second))


def test_soda_batch_size_and_image_size_of_the_aux_step():
    agent, buf = small_agent("soda", 100, **SODA), random_replay(100)
    seen = {}
    real_sample, real_next = agent.sample_aux, agent.images.next
    agent.sample_aux = lambda replay: seen.setdefault("x", real_sample(replay))
    agent.images.next = lambda n=None: seen.setdefault("images", real_next(n))
    agent.update_aux(None, agent.plan(None, buf, 2))
    assert seen["x"].shape == (6, 9, 100, 100) and seen["images"].shape == (6, 3, 84, 84)


def test_84_pixel_renders_are_not_cropped_and_draw_nothing():
    agent, buf = small_agent("soda", 84, **SODA), random_replay(84)
    before = agent.draws.state_dict()["generator"].clone()
    b = agent.sample(buf)
    assert b.obs.shape == (B, 9, 84, 84) and torch.equal(agent.draws.state_dict()["generator"], before)
    assert torch.isfinite(agent.update(buf, step=2)["aux/loss"])


def test_acting_on_100_pixel_observations_centre_crops():
    agent = small_agent("soda", 100, **SODA)
    obs = torch.randint(0, 256, (2, 9, 100, 100), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a100 = agent.act(obs.numpy())
    a84 = agent.act(obs[..., 8:92, 8:92].numpy())
    assert a100.shape == (2, A) and (a100 == a84).all()


def test_update_schedule_aux_on_even_steps_only():
    agent, buf = small_agent("soda", 100, **SODA), random_replay(100)
    head = agent.predictor.mlp.mlp[3].weight
    before = head.detach().clone()
    assert "aux/loss" not in agent.update(buf, step=3) and torch.equal(head, before)
    assert "aux/loss" in agent.update(buf, step=4) and not torch.equal(head, before)


def test_settings_defaults_and_errors():
    cfg = make_config("walker-walk", "soda", "paper")
    a = cfg.agent
    assert cfg.image_size == 100 and a.batch_size == 64
    assert (a.aux_lr, a.aux_beta, a.aux_update_freq, a.soda_batch_size, a.soda_tau, a.reinit_shared_trunk) == \
        (3e-4, 0.9, 2, 256, 0.005, True)
    with pytest.raises(ValueError, match="soda_batch_size"):
        make_config("walker-walk", "soda", "paper", soda_batch_size=1)


def test_checkpoint_round_trip_gives_identical_next_updates():
    assert_round_trip_gives_identical_next_updates("soda", 100, **SODA)


@pytest.mark.slow  # two CLI processes: ~45 s on the shared 2-core CPU
def test_soda_trains_stops_resumes_and_evaluates_through_the_cli(tmp_path):
    run = tmp_path / "soda"
    state, stdout = train_stop_and_resume(run, "soda", 24, *SMALL_CLI, "--set", "soda_batch_size=8")
    assert state["step"] == 24 and "| train |" in stdout
    config = json.loads((run / "config.json").read_text())
    assert config["algo"] == "soda" and config["image_size"] == 100 and config["soda_batch_size"] == 8
    assert tuple(state["replay"]["frames"].shape[1:]) == (3, 100, 100)
    assert set(state["agent"]) >= {"predictor", "predictor_target", "aux_opt"}
    rows = (run / "train.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    assert "aux/loss" in header and abs(float(last[header.index("aux/loss")])) < float("inf")
