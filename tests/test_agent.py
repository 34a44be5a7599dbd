"""SMG agent: network shapes and parameter counts (reference §1.9), which parameters each loss
reaches, the update schedule, and that the shared / fused forward passes give the gradients of the
plain un-shared computation."""
import numpy as np
import pytest
import torch

from smg_fast.agent import core
from smg_fast.agent import losses as L
from smg_fast.agent import make_agent
from smg_fast.agent.smg import SMGBatch
from smg_fast.config import make_config
from smg_fast.agent.networks import SharedCNN
from smg_fast.ops import reference as ref
from smg_fast.replay import ReplayBuffer

B, A = 4, 6


def names(module, prefix):
    return {f"{prefix}.{n}" for n, _ in module.named_parameters()}


def agent_and_buffer(cfg, transitions=40):
    """An agent for ``cfg`` on random 84×84 frames, and a replay buffer holding random transitions."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    agent = make_agent(cfg, (9, 84, 84), A, lambda: rng.integers(0, 256, (cfg.agent.batch_size, 3, 84, 84), dtype=np.uint8))
    buf = ReplayBuffer(transitions + 24, (3, 84, 84), A, seed=0)
    buf.add_first(torch.randint(0, 256, (3, 84, 84), dtype=torch.uint8))
    for _ in range(transitions):
        buf.add(rng.uniform(-1, 1, A), float(rng.normal()), torch.randint(0, 256, (3, 84, 84), dtype=torch.uint8), False)
    return agent, buf


@pytest.fixture(scope="module")
def setup():
    cfg = make_config("walker-walk", "smg", "paper", batch_size=B)
    return (cfg, *agent_and_buffer(cfg))


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_reference(setup):
    _, agent, _ = setup
    p = agent.predictor
    assert count(agent.actor.encoder.trunk) == 95_104
    assert count(agent.critic.encoder.projection) == 3_613_440
    assert count(agent.actor.mlp) == 1_325_068
    assert count(agent.critic.Q1) == count(agent.critic.Q2) == 1_319_937
    assert count(p.fore_head) == 197_376
    assert count(p.fore_decoder) == 3_739_876 and count(p.back_decoder) == 3_739_299
    assert count(p.inverse_dynamics) == 1_581_062
    unique = lambda *mods: {id(t): t for m in mods for t in m.parameters()}.values()  # noqa: E731
    assert sum(t.numel() for t in unique(agent.actor, agent.critic)) == 11_286_926  # SAC: 11.29 M
    assert sum(t.numel() for t in unique(agent.actor, agent.critic, p)) == 24_450_459  # SMG: 24.45 M


@pytest.mark.parametrize("layers", [4, 11])
def test_trunk_depth_sets_the_projection_width(setup, layers):
    """num_shared_layers is an option (DrQ's own encoder has 4 layers); the projections follow it."""
    _, _, buf = setup
    from smg_fast.agent.networks import SharedCNN, trunk_features

    assert trunk_features(11, 32, 84) == 32 * 21 * 21 and trunk_features(4, 32, 84) == 32 * 35 * 35
    h = SharedCNN(9, layers, 32)(torch.zeros(2, 9, 84, 84))
    assert h.shape == (2, trunk_features(layers, 32, 84))
    cfg = make_config("walker-walk", "drq", "paper", batch_size=B, num_shared_layers=layers)
    agent = make_agent(cfg, (9, 84, 84), A)
    assert agent.critic.encoder.projection.projection[0].in_features == h.shape[1]
    metrics = agent.update(buf, 2)
    assert torch.isfinite(metrics["critic/loss"]) and "actor/loss" in metrics


def test_a_trunk_deeper_than_the_image_is_rejected():
    from smg_fast.agent.networks import trunk_features

    assert trunk_features(21, 32, 84) == 32  # 41 − 2·20 = 1 pixel left
    with pytest.raises(ValueError, match="22-layer trunk"):
        trunk_features(22, 32, 84)


def test_trunk_runs_channels_last_with_the_nchw_values():
    """The trunk keeps weights and activations channels-last (for oneDNN); its output is the plain
    NCHW computation's, in NCHW order (float64)."""
    trunk = SharedCNN(num_layers=4).double()
    convs = [m for m in trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    obs = torch.randint(0, 256, (2, 9, 84, 84)).double()
    h = obs / 255.0
    for i, c in enumerate(convs):
        h = torch.nn.functional.conv2d(h if i == 0 else h.relu(), c.weight.contiguous(), c.bias, stride=c.stride)
    torch.testing.assert_close(trunk(obs), h.flatten(1), rtol=1e-12, atol=1e-12)


def test_reinit_quirk_target_and_back_encoder_keep_the_pre_reinit_weights():
    torch.manual_seed(1)
    cfg = make_config("walker-walk", "smg", "paper", batch_size=B)
    agent = make_agent(cfg, (9, 84, 84), A, lambda: None)
    target = agent.critic_target.encoder.trunk.layers[0].weight
    back = agent.predictor.back_encoder.trunk.layers[0].weight
    online = agent.critic.encoder.trunk.layers[0].weight
    # Upstream: critic_target and back_encoder are deep copies made before InverseDynamics re-inits
    # the critic encoder, so they agree with each other and not with the online critic.
    assert torch.equal(target, back) and not torch.equal(target, online)
    quirk_off = make_agent(make_config("walker-walk", "smg", "paper", reinit_critic_encoder=False), (9, 84, 84), A,
                           lambda: None)
    assert torch.equal(quirk_off.critic_target.encoder.trunk.layers[0].weight,
                       quirk_off.critic.encoder.trunk.layers[0].weight)


def reached(loss, named):
    gs = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True, retain_graph=True)
    return {n for (n, _), g in zip(named, gs) if g is not None and g.abs().sum() > 0}


def all_named(agent):
    out = []
    seen = set()
    for prefix, m in (("actor", agent.actor), ("critic", agent.critic), ("pred", agent.predictor)):
        for n, p in m.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                out.append((f"{prefix}.{n}", p))
    return out


def mask(agent, obs):
    """M(o) without a graph: the fore decoder's mask head on the critic encoder's embedding."""
    with torch.no_grad():
        return agent.predictor.mask_from_embedding(agent.critic.encoder(obs))


def batch(agent, buf):
    b = buf.sample(B)
    noise = agent.images.next()
    attrib = ref.attribution_augment(b["obs"], mask(agent, b["obs"]), noise)
    tau = ref.overlay(b["obs"], agent.images.next())
    return b, noise, attrib, tau


def smg_batch(obs, action, next_obs, attrib, noise, tau, reward=None, not_done=None, z_obs=None):
    """SMG's batch record from tensors (reward / not_done only matter for the critic)."""
    n = obs.shape[0]
    reward = torch.zeros(n, 1, dtype=obs.dtype) if reward is None else reward
    not_done = torch.ones(n, 1, dtype=obs.dtype) if not_done is None else not_done
    return SMGBatch(obs, action, reward, next_obs, not_done, tau_obs=tau, attrib=attrib, noise=noise, z_obs=z_obs)


def test_each_aux_term_reaches_only_its_modules(setup):
    cfg, agent, buf = setup
    b, noise, attrib, tau = batch(agent, buf)
    terms = agent.aux_losses(smg_batch(b["obs"], b["action"], b["next_obs"], attrib, noise, tau), mask_loss=True)
    named = all_named(agent)
    groups = {
        "trunk": "actor.encoder.trunk", "critic_proj": "critic.encoder.projection", "Q": "critic.Q",
        "actor": "actor.", "fore_head": "pred.fore_head", "back_enc": "pred.back_encoder",
        "back_head": "pred.back_head", "fore_dec": "pred.fore_decoder", "back_dec": "pred.back_decoder",
        "id": "pred.inverse_dynamics",
    }

    def hit(term):
        r = reached(terms[term], named)
        return {g for g, pre in groups.items() if any(n.startswith(pre) for n in r)
                and not (g == "actor" and not any(n.startswith("actor.") and "trunk" not in n for n in r))}

    assert hit("recon") == {"trunk", "critic_proj", "fore_head", "fore_dec", "back_enc", "back_head", "back_dec"}
    assert hit("mask") == {"trunk", "critic_proj", "fore_head", "fore_dec"}
    assert hit("back") == {"back_enc", "back_head", "back_dec"}
    assert hit("action") == {"trunk", "critic_proj", "id"}
    assert hit("fore") == {"trunk", "critic_proj", "fore_head", "fore_dec"}


def test_critic_and_actor_losses_reach_the_right_parameters(setup, monkeypatch):
    cfg, agent, buf = setup
    b, noise, attrib, tau = batch(agent, buf)
    # Per optimiser step, the parameters its loss reaches (the core takes every gradient through
    # core.gradients; the loss's graph is kept for this look and then used as usual).
    named, reach, real = [*all_named(agent), ("log_alpha", agent.log_alpha)], [], core.gradients
    monkeypatch.setattr(core, "gradients", lambda loss, params: reach.append(reached(loss, named)) or real(loss, params))
    agent_state = {k: v.clone() for k, v in agent.critic.state_dict().items()}
    agent.update_critic(smg_batch(b["obs"], b["action"], b["next_obs"], attrib, noise, tau, b["reward"], b["not_done"]))
    changed = {k for k, v in agent.critic.state_dict().items() if not torch.equal(v, agent_state[k])}
    assert any(k.startswith("encoder.trunk") for k in changed) and any(k.startswith("Q1") for k in changed)
    (critic_reach,) = reach
    assert not any(n.startswith(("actor.mlp", "pred.fore_decoder")) for n in critic_reach)
    reach.clear()
    critic_state = {k: v.clone() for k, v in agent.critic.state_dict().items()}
    agent.update_actor_and_alpha(b["obs"])
    actor_reach, alpha_reach = reach
    assert names(agent.actor.mlp, "actor.mlp") | names(agent.actor.encoder.projection, "actor.encoder.projection") <= actor_reach
    assert not any(n.startswith("actor.encoder.trunk") for n in actor_reach)  # detached features
    # the actor loss steps the actor only
    assert all(torch.equal(v, critic_state[k]) for k, v in agent.critic.state_dict().items())
    assert alpha_reach == {"log_alpha"}


def test_attribution_mask_has_no_graph(setup):
    _, agent, buf = setup
    obs = buf.sample(B)["obs"]
    with torch.no_grad():
        z = agent.critic.encoder(obs)
    mask = agent.predictor.mask_from_embedding(z)
    assert not mask.requires_grad and mask.grad_fn is None
    assert mask.shape == (B, 3, 84, 84) and 0 <= mask.min() and mask.max() <= 1
    # The mask-only head gives the mask of the full fore pass (image and mask heads as one conv).
    with torch.no_grad():
        _, full = agent.predictor.fore(agent.predictor.fore_encoder(obs))
    torch.testing.assert_close(mask, full, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="mask=True"):
        agent.predictor.back_decoder(torch.zeros(3, 256), mask_only=True)


def test_shared_passes_give_the_unshared_gradients(setup):
    """L_aux with one encoder pass over [o; τo; o′], one fore-decoder pass over [o; τo], fused ops and
    phase-decomposed decoders equals upstream's term-by-term computation (float64)."""
    cfg, agent, buf = setup
    p = agent.predictor
    b, noise, attrib, tau = batch(agent, buf)
    obs, action, next_obs = (b["obs"].double(), b["action"].double(), b["next_obs"].double())
    attrib, tau = attrib.double(), tau.double()
    p.double()
    try:
        params = list(p.parameters())
        terms = agent.aux_losses(smg_batch(obs, action, next_obs, attrib, noise, tau), mask_loss=True)
        weights = {"recon": 1, "mask": 1, "back": 2, "action": 1, "fore": 0.1}
        shared = torch.autograd.grad(sum(weights[k] * v for k, v in terms.items()), params)

        # Upstream's way: every term runs its own forward passes, eager decoders, eager ops.
        for dec in (p.fore_decoder, p.back_decoder):
            dec.fused = False
        f_o, m_o = p.fore(p.fore_encoder(obs))
        g_o = p.back(obs)
        recon = (ref.composite(f_o, g_o, m_o) - obs).abs().mean()
        mask = L.mask_ratio(m_o, cfg.agent.mask_ratio)
        back = L.background(p.back(attrib), noise)
        action_loss = L.inverse_dynamics(p.inverse_dynamics(p.fore_encoder(obs), p.fore_encoder(next_obs)), action)
        f_t, m_t = p.fore(p.fore_encoder(tau))
        fore = L.fore_consistency(f_t, m_t, f_o, m_o)
        plain = torch.autograd.grad(recon + mask + 2 * back + action_loss + 0.1 * fore, params)
        for a, b_ in zip(shared, plain):
            torch.testing.assert_close(a, b_, rtol=1e-7, atol=1e-9)
    finally:
        for dec in (p.fore_decoder, p.back_decoder):
            dec.fused = True
        p.float()


def test_critic_batch_of_obs_and_augmented_obs_equals_two_passes(setup):
    cfg, agent, buf = setup
    b, noise, attrib, tau = batch(agent, buf)
    critic = agent.critic.double()
    try:
        obs, aug, a = b["obs"].double(), tau.double(), b["action"].double()
        target = torch.randn(B, 1, dtype=torch.float64)
        q1, q2 = critic(torch.cat([obs, aug]), torch.cat([a, a]))
        joint = (q1[:B] - target).square().mean() + (q2[:B] - target).square().mean() + 0.5 * L.q_consistency(
            q1[B:], q2[B:], q1[:B], q2[:B])
        q1o, q2o = critic(obs, a)
        q1a, q2a = critic(aug, a)
        sep = (q1o - target).square().mean() + (q2o - target).square().mean() + 0.5 * L.q_consistency(q1a, q2a, q1o, q2o)
        params = list(critic.parameters())
        for x, y in zip(torch.autograd.grad(joint, params), torch.autograd.grad(sep, params)):
            torch.testing.assert_close(x, y, rtol=1e-7, atol=1e-9)
    finally:
        critic.float()


class GradCapture:
    """Stands in for an optimiser: keeps the gradients of a step instead of applying them."""

    def __init__(self, params):
        self.params, self.grads = list(params), None

    def step(self, grads):
        self.grads = [g.clone() for g in grads]


def test_attribution_mask_reuses_the_critic_encoder_pass(setup):
    """The mask is decoded from the critic's own encoder pass over o (fore encoder = critic encoder,
    same parameters before the critic step): the same mask, and the critic step's gradients equal
    those of a separate encoder pass (float64)."""
    _, agent, buf = setup
    b, noise, attrib, tau = batch(agent, buf)
    with torch.no_grad():
        shared = agent.predictor.mask_from_embedding(agent.critic.encoder(b["obs"]))
    with torch.no_grad():  # a separate encoder pass, as upstream's predictor.mask(o)
        h = agent.predictor.fore_encoder.projection(agent.predictor.fore_encoder.trunk(b["obs"]))
    torch.testing.assert_close(shared, agent.predictor.mask_from_embedding(h), rtol=0, atol=0)

    nets, opt = (agent.critic, agent.critic_target, agent.actor), agent.critic_opt
    try:
        for net in nets:
            net.double()
        agent.critic_opt = capture = GradCapture(agent.critic.parameters())
        obs, action, reward, next_obs, not_done = (b[k].double() for k in
                                                  ("obs", "action", "reward", "next_obs", "not_done"))
        grads, metrics = [], []
        for reuse in (False, True):
            torch.manual_seed(1)  # the TD target's policy sample
            z = agent.critic.encoder(obs) if reuse else None
            metrics.append(agent.update_critic(smg_batch(obs, action, next_obs, None, None, tau.double(),
                                                         reward, not_done, z_obs=z)))
            grads.append(capture.grads)
        assert metrics[0].keys() == metrics[1].keys() and "critic/q_consistency_loss" in metrics[0]
        for k in metrics[0]:
            torch.testing.assert_close(metrics[0][k], metrics[1][k], rtol=1e-9, atol=1e-12)
        for x, y in zip(*grads):
            torch.testing.assert_close(x, y, rtol=1e-7, atol=1e-9)
    finally:
        agent.critic_opt = opt
        for net in nets:
            net.float()


def test_update_schedule_odd_steps_skip_actor_targets_and_aux(setup):
    _, agent, buf = setup
    snap = lambda m: [t.detach().clone() for t in m.parameters()]  # noqa: E731
    before = {k: snap(m) for k, m in (("actor", agent.actor.mlp), ("dec", agent.predictor.fore_decoder),
                                      ("target", agent.critic_target.Q1), ("critic", agent.critic.Q1))}
    metrics = agent.update(buf, step=1001)
    after = {k: snap(m) for k, m in (("actor", agent.actor.mlp), ("dec", agent.predictor.fore_decoder),
                                     ("target", agent.critic_target.Q1), ("critic", agent.critic.Q1))}
    same = {k: all(torch.equal(a, b) for a, b in zip(before[k], after[k])) for k in before}
    assert same == {"actor": True, "dec": True, "target": True, "critic": False}
    assert "aux/loss" not in metrics and "critic/loss" in metrics
    metrics = agent.update(buf, step=1002)
    assert {"aux/loss", "actor/loss", "aux/recon_loss", "aux/mask_loss"} <= set(metrics)
    assert all(torch.isfinite(v) for v in metrics.values())


def test_mask_loss_is_off_until_the_warmup_ends(setup):
    cfg, agent, buf = setup
    b, noise, attrib, tau = batch(agent, buf)
    sb = smg_batch(b["obs"], b["action"], b["next_obs"], attrib, noise, tau)
    off, on = (agent.plan(sb, buf, step).mask_loss for step in (cfg.agent.mask_warmup, cfg.agent.mask_warmup + 1))
    early = agent.aux_losses(sb, mask_loss=off)
    late = agent.aux_losses(sb, mask_loss=on)
    assert not early["mask"].requires_grad and early["mask"].item() == 0
    assert late["mask"].requires_grad and late["mask"].item() > 0


def test_ablation_flags_remove_terms():
    cfg = make_config("walker-walk", "smg", "quick", back_weight=0.0, fore_weight=0.0)
    assert cfg.agent.back_weight == 0 and cfg.agent.fore_weight == 0 and cfg.agent.recon_weight == 1


def test_presets_and_task_settings():
    paper = make_config("cartpole-swingup")
    assert (paper.action_repeat, paper.agent.mask_ratio, paper.agent.batch_size, paper.train_steps) == (8, 0.04, 64, 500_000)
    assert make_config("walker-stand").train_steps == 250_000
    robot = make_config("robot-peg-in-box")
    assert robot.agent.mask_ratio == 0.12 and robot.episode_length == 50 and "test3" in robot.eval_modes
    with pytest.raises(ValueError, match="unknown algorithm"):
        make_config("walker-walk", "ppo")
    with pytest.raises(ValueError, match="eval modes"):
        make_config("walker-walk", eval_modes=("test1",))


def test_bf16_autocast_gives_the_fp32_losses_up_to_rounding(setup):
    """precision='bf16' runs the same forward passes with convs and GEMMs in bfloat16: every loss
    term and the Q estimates stay within bf16 rounding of the float32 values, and come out float32."""
    _, agent, buf = setup
    b, noise, attrib, tau = batch(agent, buf)
    sb = smg_batch(b["obs"], b["action"], b["next_obs"], attrib, noise, tau)
    with torch.no_grad():
        fp32 = agent.aux_losses(sb, mask_loss=True)
        q32 = agent.critic(b["obs"], b["action"])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = agent.aux_losses(sb, mask_loss=True)
            q16 = agent.critic(b["obs"], b["action"])
    assert set(bf16) == set(fp32)
    for k in fp32:
        assert bf16[k].dtype == torch.float32
        # Relative to the value, with a floor of 1/50 grey level for the image terms (0-255 scale): the
        # fore-consistency term is a difference of two near-equal images, i.e. of rounding noise.
        floor = 1e-4 if k in ("mask", "action") else 0.02
        assert abs(bf16[k].item() - fp32[k].item()) <= 0.03 * abs(fp32[k].item()) + floor, (k, bf16[k], fp32[k])
    for a, c in zip(q16, q32):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, c, rtol=0.05, atol=0.02)


def test_bf16_training_updates_float32_parameters():
    cfg = make_config("walker-walk", "smg", "quick", batch_size=B, precision="bf16", num_shared_layers=4)
    agent, buf = agent_and_buffer(cfg, transitions=10)
    modules = [agent.actor, agent.critic, agent.predictor]
    before = [p.detach().clone() for m in modules for p in m.parameters()]
    metrics = {**agent.update(buf, step=2000), **agent.update(buf, step=2001)}
    after = list(p for m in modules for p in m.parameters())
    assert all(p.dtype == torch.float32 for p in after)
    assert sum(not torch.equal(a, b) for a, b in zip(before, after)) > 0.9 * len(after)
    assert {"aux/recon_loss", "critic/td_loss", "actor/loss"} <= set(metrics)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in metrics.values())
    action = agent.act(np.zeros((9, 84, 84), dtype=np.uint8), sample=True)
    assert action.dtype == np.float32 and action.shape == (A,) and np.abs(action).max() <= 1
    with pytest.raises(ValueError, match="precision"):
        make_config("walker-walk", "smg", "quick", precision="fp16")


@pytest.mark.parametrize("frame_stack", [2, 4])
def test_smg_updates_with_other_frame_stacks(frame_stack):
    """frame_stack is honoured everywhere: the AuxHead gives one code per frame, the decoders' frames are
    stacked back per sample, masks have one channel per frame, and even (auxiliary) and odd steps run."""
    cfg = make_config("walker-walk", "smg", "paper", batch_size=B, frame_stack=frame_stack, num_shared_layers=4)
    c = 3 * frame_stack
    rng = np.random.default_rng(0)
    agent = make_agent(cfg, (c, 84, 84), A, lambda: rng.integers(0, 256, (B, 3, 84, 84), dtype=np.uint8))
    buf = ReplayBuffer(40, (3, 84, 84), A, frame_stack=frame_stack, seed=0)
    buf.add_first(torch.randint(0, 256, (3, 84, 84), dtype=torch.uint8))
    for _ in range(20):
        buf.add(rng.uniform(-1, 1, A), 1.0, torch.randint(0, 256, (3, 84, 84), dtype=torch.uint8), False)
    metrics = {**agent.update(buf, step=2000), **agent.update(buf, step=2001)}
    assert {"aux/recon_loss", "aux/mask_loss", "aux/fore_loss", "critic/q_consistency_loss"} <= set(metrics)
    assert all(torch.isfinite(v) for v in metrics.values())
    obs = buf.sample(B)["obs"]
    assert obs.shape == (B, c, 84, 84)
    out = agent.explain(obs.to(torch.uint8))
    assert out["mask"].shape == (B, frame_stack, 84, 84) and out["reconstruction"].shape == (B, c, 84, 84)
    assert agent.act(np.zeros((c, 84, 84), np.uint8)).shape == (A,)
