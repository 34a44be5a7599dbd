"""SAC on pixels (upstream ``src/algorithms/sac.py``) and DrQ (SAC + random shift), the core SMG
builds on. One update, top to bottom: sample → critic → (every 2nd step) actor and α → targets."""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

from smg_fast.agent import losses as L
from smg_fast.agent.config import Config
from smg_fast.agent.networks import Actor, Critic, Encoder, Projection, SharedCNN


# Adam's fused kernel (one pass per parameter group, CPU and CUDA): same update rule as the loop.
ADAM = {"fused": True}


class SACAgent:
    """``algo='sac'``: no augmentation (upstream SAC renders at 84 and its crop is a no-op);
    ``algo='drq'``: independent random shifts of obs and next_obs (K = M = 1)."""

    def __init__(self, cfg: Config, obs_shape: tuple[int, int, int], action_dim: int):
        self.cfg, self.action_dim = cfg, action_dim
        self.device = torch.device(cfg.device)
        trunk = SharedCNN(obs_shape[0], cfg.num_shared_layers, cfg.num_filters)
        features = trunk.out_features(obs_shape[-1])
        self.actor = Actor(Encoder(trunk, Projection(features, cfg.projection_dim)), action_dim,
                           cfg.hidden_dim, cfg.actor_log_std_min, cfg.actor_log_std_max).to(self.device)
        self.critic = Critic(Encoder(trunk, Projection(features, cfg.projection_dim)), action_dim,
                             cfg.hidden_dim).to(self.device)
        self.critic_target = copy.deepcopy(self.critic)
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(cfg.init_temperature), device=self.device, requires_grad=True)
        self.target_entropy = -float(action_dim)
        # The actor steps only its projection and MLP: it sees the shared trunk's features detached.
        self.actor_params = [*self.actor.encoder.projection.parameters(), *self.actor.mlp.parameters()]
        self.actor_opt = torch.optim.Adam(self.actor_params, lr=cfg.actor_lr, betas=(0.9, 0.999), **ADAM)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, betas=(0.9, 0.999), **ADAM)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr, betas=(cfg.alpha_beta, 0.999), **ADAM)
        self.bf16 = cfg.precision == "bf16"

    def autocast(self):
        """Where the forward passes run: under bfloat16 autocast with ``precision='bf16'`` (backward
        passes and optimiser steps stay outside it), as they are otherwise."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    # ---- acting ------------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs, sample: bool = False) -> np.ndarray:
        """Action(s) for uint8 observation(s) ``[3k, H, W]`` or ``[N, 3k, H, W]``: tanh(μ) for
        evaluation, a draw from π while collecting."""
        x = torch.as_tensor(np.asarray(obs), device=self.device).float()
        single = x.dim() == 3
        with self.autocast():
            mu, pi, _, _ = self.actor(x[None] if single else x, compute_pi=sample)
        a = (pi if sample else mu).cpu().numpy()
        return a[0] if single else a

    # ---- updates -----------------------------------------------------------------------------

    def sample_batch(self, replay):
        return replay.sample(self.cfg.batch_size, shift=self.cfg.algo != "sac")

    def update(self, replay, step: int) -> dict[str, torch.Tensor]:
        b = self.sample_batch(replay)
        metrics = self.update_critic(b["obs"], b["action"], b["reward"], b["next_obs"], b["not_done"])
        if step % self.cfg.actor_update_freq == 0:
            metrics.update(self.update_actor_and_alpha(b["obs"]))
        if step % self.cfg.critic_target_update_freq == 0:
            self.soft_update_targets()
        return metrics

    def td_target(self, reward, next_obs, not_done) -> torch.Tensor:
        with torch.no_grad():
            _, next_action, log_pi, _ = self.actor(next_obs)
            q1, q2 = self.critic_target(next_obs, next_action)
            return L.td_target(reward, not_done, self.cfg.discount, q1, q2, self.alpha.detach(), log_pi)

    def update_critic(self, obs, action, reward, next_obs, not_done, aug_obs=None, obs_embedding=None) -> dict:
        """TD loss on both Q heads; with ``aug_obs`` (SMG) also λ·MSE(Q(τ(o)), sg Q(o)) on both heads.
        obs and aug_obs go through the encoder as one batch (same parameters, per-sample ops only).
        ``obs_embedding``: the critic encoder's output on obs with its graph, when the caller already
        ran that pass (SMG's attribution mask); only aug_obs is then encoded here."""
        use_aug = aug_obs is not None and self.cfg.q_consistency_weight != 0
        a = torch.cat([action, action]) if use_aug else action
        with self.autocast():
            target = self.td_target(reward, next_obs, not_done)
            if obs_embedding is None:
                q1, q2 = self.critic(torch.cat([obs, aug_obs]) if use_aug else obs, a)
            else:
                z = torch.cat([obs_embedding, self.critic.encoder(aug_obs)]) if use_aug else obs_embedding
                q1, q2 = self.critic.heads(z, a)
        b = obs.shape[0]
        loss = F.mse_loss(q1[:b], target) + F.mse_loss(q2[:b], target)
        metrics = {"critic/td_loss": loss.detach(), "critic/q": q1[:b].detach().mean()}
        if use_aug:
            consistency = L.q_consistency(q1[b:], q2[b:], q1[:b], q2[:b])
            loss = loss + self.cfg.q_consistency_weight * consistency
            metrics["critic/q_consistency_loss"] = consistency.detach()
        metrics["critic/loss"] = loss.detach()
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        return metrics

    def update_actor_and_alpha(self, obs) -> dict:
        # Upstream runs the shared trunk twice here (actor and critic, both detached); one
        # no-grad pass feeds both projections.
        with self.autocast():
            with torch.no_grad():
                h = self.actor.encoder.trunk(obs)
            _, pi, log_pi, _ = self.actor.heads(self.actor.encoder.projection(h))
            q1, q2 = self.critic.heads(self.critic.encoder.projection(h), pi)
        actor_loss = (self.alpha.detach() * log_pi - torch.min(q1, q2)).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        # Gradients only for the actor's parameters (upstream leaves unused ones in the critic).
        actor_loss.backward(inputs=self.actor_params)
        self.actor_opt.step()
        alpha_loss = (self.alpha * (-log_pi - self.target_entropy).detach()).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward(inputs=[self.log_alpha])
        self.alpha_opt.step()
        return {"actor/loss": actor_loss.detach(), "alpha/loss": alpha_loss.detach(),
                "alpha/value": self.alpha.detach(), "actor/entropy": -log_pi.detach().mean()}

    @torch.no_grad()
    def soft_update_targets(self) -> None:
        c, t = self.critic, self.critic_target
        q_online = [*c.Q1.parameters(), *c.Q2.parameters()]
        q_target = [*t.Q1.parameters(), *t.Q2.parameters()]
        torch._foreach_lerp_(q_target, q_online, self.cfg.critic_tau)
        torch._foreach_lerp_(list(t.encoder.parameters()), list(c.encoder.parameters()), self.cfg.encoder_tau)

    # ---- checkpointing -----------------------------------------------------------------------

    def modules(self) -> dict:
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self) -> dict:
        return {"actor_opt": self.actor_opt, "critic_opt": self.critic_opt, "alpha_opt": self.alpha_opt}

    def state_dict(self) -> dict:
        state = {k: m.state_dict() for k, m in {**self.modules(), **self.optimizers()}.items()}
        state["log_alpha"] = self.log_alpha.detach().clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        for k, m in {**self.modules(), **self.optimizers()}.items():
            m.load_state_dict(state[k])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
