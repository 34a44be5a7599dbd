"""The SAC core every method builds on (upstream ``src/algorithms/sac.py``; reference §1.3, §1.7-1.8).

One update, top to bottom (:meth:`SACCore.update`), in two parts. The host part, plain Python:

1. ``b = self.sample(replay)``: a batch (o, a, r, o′, not_done); the replay buffer shifts it when the
   method sets ``shift`` (DrQ and its descendants);
2. ``plan = self.plan(b, replay, step)``: the schedule of this update as Python bools (``actor``,
   ``target``, ``aux``) and, **hook**, every random choice of the method that is not drawn inside the
   tensor part (an augmentation's kind, natural images, kernels, crops, the auxiliary batch), as tensors
   or bools — nothing of the update depends on ``step`` past this point.

The tensor part, :meth:`SACCore.train_step` (no host sync, no Python branch on a tensor's value: it runs
eagerly, or as one ``torch.compile(fullgraph=True)`` graph per plan shape with ``compile=True``, see
:mod:`smg_fast.agent.compiled`):

3. ``b = self.augment(b, plan)``: **hook** — the method's augmented views of the batch;
4. critic step: y = r + γ·not_done·(min Q′(o′, a′) − α log π(a′|o′)); the critic encoder sees
   ``[o, *critic_views(b)]`` as one batch (**hook**: extra views); the loss is the weighted sum of
   ``critic_losses(b, q1, q2, y)`` (**hook**: extra terms; default MSE(Q1, y) + MSE(Q2, y));
5. if ``plan.actor`` (every ``actor_update_freq`` steps): actor and α on o (the actor sees the shared
   trunk's features detached, so it steps only its projection and MLP);
6. if ``plan.target`` (every ``critic_target_update_freq`` steps): soft target update (τ_Q for the Q heads,
   τ_enc for the encoder);
7. if ``plan.aux`` (every ``aux_update_freq`` steps, methods with an auxiliary model):
   ``update_aux(b, plan)`` (**hook**: its own losses and optimiser).

Gradients are taken with ``torch.autograd.grad`` and handed to the optimisers (:class:`smg_fast.agent.adam.Adam`,
``torch.optim.Adam``'s rule and state format): no ``.grad`` state between steps, nothing that breaks a graph.

What a method adds to the agent's state: ``modules()``, ``add_aux_model()`` (its auxiliary model's optimiser)
and ``extra_state()``. A method is a subclass with these hooks (``smg_fast/agent/<name>.py``) and its
declaration (``smg_fast/agent/specs/<name>.py``: settings, frames, ablation losses, capabilities), registered
by name in :data:`smg_fast.agent.METHODS`.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from smg_fast.agent import losses as L
from smg_fast.agent.adam import Adam
from smg_fast.agent.config import SACConfig
from smg_fast.agent.draws import Draws, ImageStream
from smg_fast.agent.networks import Actor, Critic, Encoder, Projection, SharedCNN
from smg_fast.agent.policy import PolicySnapshot, actions


def _extend(record, cls, fields: dict):
    """``record``'s fields, then ``fields`` (set or replaced), as a ``cls`` (a subclass of the record's type)."""
    return cls(**{**{f.name: getattr(record, f.name) for f in dataclasses.fields(record)}, **fields})


@dataclass
class Batch:
    """A sampled batch: obs / next_obs float ``[B, 3k, H, W]`` on the 0-255 scale, action ``[B, A]``,
    reward and not_done ``[B, 1]``. Methods extend it with their augmented views."""

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    not_done: torch.Tensor

    def extend(self, cls, **fields):
        """This batch as the record type ``cls`` (a subclass) with ``fields`` added."""
        return _extend(self, cls, fields)


@dataclass
class Plan:
    """What the host decides for one update before its tensor work: which steps run (Python bools: a
    compiled update has one graph per combination) and, in a method's subclass, its random draws (tensors,
    or bools for choices that change what is computed)."""

    actor: bool
    target: bool
    aux: bool

    def extend(self, cls, **fields):
        """This plan as the record type ``cls`` (a subclass) with ``fields`` added."""
        return _extend(self, cls, fields)


def gradients(loss: torch.Tensor, params: list[torch.Tensor]) -> list:
    """d loss / d p for each of ``params`` (None where the loss does not reach p: Adam leaves it alone)."""
    return list(torch.autograd.grad(loss, params, allow_unused=True))


@torch.no_grad()
def clip_grad_norm(grads: list, max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` on a list of gradients (None skipped): all scaled in place by
    min(1, max_norm / (‖g‖ + 1e-6)), ‖g‖ the norm of their concatenation, which is returned (no host sync)."""
    present = [g for g in grads if g is not None]
    total = torch.nn.utils.get_total_norm(present)
    torch._foreach_mul_(present, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


class SACCore:
    Config = SACConfig  # the settings class of the method's declaration (smg_fast/agent/specs/<name>.py)
    shift = False  # random shift (pad 4, replicate) of obs and next_obs when sampling (DrQ)
    aux_update_freq: int | None = None  # set by add_aux_model
    aux_opt: Adam | None = None

    def __init__(self, cfg: SACConfig, obs_shape: tuple[int, int, int], action_dim: int, *,
                 device: str | torch.device = "cpu", seed: int = 0, images=None):
        self.cfg, self.obs_shape, self.action_dim = cfg, tuple(obs_shape), action_dim
        self.frame_stack = obs_shape[0] // 3
        self.device = torch.device(device)
        self.seed = seed
        trunk = SharedCNN(obs_shape[0], cfg.num_shared_layers, cfg.num_filters)
        features = trunk.out_features(obs_shape[-1])
        self.actor = Actor(Encoder(trunk, Projection(features, cfg.projection_dim)), action_dim,
                           cfg.hidden_dim, cfg.actor_log_std_min, cfg.actor_log_std_max).to(self.device)
        self.critic = Critic(Encoder(trunk, Projection(features, cfg.projection_dim)), action_dim,
                             cfg.hidden_dim).to(self.device)
        self.critic_target = copy.deepcopy(self.critic)
        self.critic_target.requires_grad_(False)
        # A Parameter, not a plain tensor: torch 2.13's compiled graphs mishandle a plain 0-dim float64 CPU
        # input (float64 runs), see smg_fast/agent/adam.py.
        self.log_alpha = torch.nn.Parameter(torch.tensor(math.log(cfg.init_temperature), device=self.device))
        self.target_entropy = -float(action_dim)
        # The actor steps only its projection and MLP: it sees the shared trunk's features detached.
        self.actor_params = [*self.actor.encoder.projection.parameters(), *self.actor.mlp.parameters()]
        self.actor_opt = Adam(self.actor_params, lr=cfg.actor_lr, betas=(0.9, 0.999))
        self.critic_opt = Adam(self.critic.parameters(), lr=cfg.critic_lr, betas=(0.9, 0.999))
        self.alpha_opt = Adam([self.log_alpha], lr=cfg.alpha_lr, betas=(cfg.alpha_beta, 0.999))
        self.bf16 = cfg.precision == "bf16"
        self.draws = Draws(seed, self.device)
        self._image_source = images  # built on first use: only overlay-type methods draw natural images
        self._images: ImageStream | None = None
        self._compiled = None  # the tensor part under torch.compile (cfg.compile / compile())

    def add_aux_model(self, params) -> None:
        """Give the method's auxiliary model (settings :class:`~smg_fast.agent.config.AuxConfig`) its optimiser:
        one Adam (``aux_lr``, β = (``aux_beta``, 0.999)) over ``params``, saved with the agent as ``aux_opt``;
        :meth:`update_aux` runs every ``aux_update_freq`` updates. Parameters the model shares with the critic
        (its encoder) are then stepped by two optimisers with separate state, as upstream."""
        cfg = self.cfg
        self.aux_opt = Adam(list(params), lr=cfg.aux_lr, betas=(cfg.aux_beta, 0.999))
        self.aux_update_freq = cfg.aux_update_freq

    def autocast(self):
        """Where the forward passes run: under bfloat16 autocast with ``precision='bf16'`` (backward
        passes and optimiser steps stay outside it), as they are otherwise."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    @property
    def images(self) -> ImageStream:
        """Natural images for overlay-type augmentations (``cfg.overlay_source``), owned by the agent."""
        if self._images is None:
            source = self._image_source if self._image_source is not None else self.cfg.overlay_source
            self._images = ImageStream(source, self.cfg.batch_size, self.obs_shape[-1], self.seed, self.device)
        return self._images

    # ---- acting ------------------------------------------------------------------------------

    def act(self, obs, sample: bool = False) -> np.ndarray:
        """Action(s) for uint8 observation(s) ``[3k, H, W]`` or ``[N, 3k, H, W]``: tanh(μ) for
        evaluation, a draw from π while collecting."""
        return actions(self.actor, obs, self.device, self.bf16, sample, self.draws.actor_noise)

    def policy_snapshot(self) -> PolicySnapshot:
        """The deterministic policy as it is now, on a copy of the actor made where it lives: what an evaluation
        in the background acts with while the updates go on (:mod:`smg_fast.agent.policy`)."""
        return PolicySnapshot(self.actor, self.device, self.bf16)

    # ---- the update --------------------------------------------------------------------------

    def update(self, replay, step: int) -> dict[str, torch.Tensor]:
        """One update at schedule step ``step``: the host part (sample, plan), then the tensor part."""
        b = self.sample(replay)
        plan = self.plan(b, replay, step)
        if self.cfg.compile and self._compiled is None:
            self.compile()
        return (self._compiled or self.train_step)(b, plan)

    def compile(self, backend: str = "inductor", mode: str | None = None) -> None:
        """Run the tensor part of every later update as compiled graphs (what ``compile=True`` does at the
        first update); :class:`smg_fast.agent.compiled.CompiledStep` says how."""
        from smg_fast.agent.compiled import CompiledStep

        self._compiled = CompiledStep(self, backend, mode)

    def train_step(self, b: Batch, plan: Plan) -> dict[str, torch.Tensor]:
        """The tensor part of one update: augment, critic, actor and α, targets, auxiliary step, as
        ``plan`` says. Nothing here reads a tensor's value on the host."""
        b = self.augment(b, plan)
        metrics = self.update_critic(b)
        if plan.actor:
            metrics.update(self.update_actor_and_alpha(b.obs))
        if plan.target:
            self.soft_update_targets()
        if plan.aux:
            metrics.update(self.update_aux(b, plan))
        return metrics

    def sample(self, replay) -> Batch:
        s = replay.sample(self.cfg.batch_size, shift=self.shift)
        return Batch(s["obs"], s["action"], s["reward"], s["next_obs"], s["not_done"])

    # ---- hooks (defaults: plain SAC) -----------------------------------------------------------

    def plan(self, b: Batch, replay, step: int) -> Plan:
        """This update's schedule; methods extend it with their host-side draws (:meth:`Plan.extend`)."""
        cfg = self.cfg
        return Plan(actor=step % cfg.actor_update_freq == 0, target=step % cfg.critic_target_update_freq == 0,
                    aux=bool(self.aux_update_freq) and step % self.aux_update_freq == 0)

    def augment(self, b: Batch, plan: Plan) -> Batch:
        """The method's augmented views of a sampled batch (a :class:`Batch` subclass carries them)."""
        return b

    def critic_views(self, b: Batch) -> list[torch.Tensor]:
        """Observations the critic sees besides o, with o's actions (e.g. τ(o) for a consistency term)."""
        return []

    def critic_embeddings(self, b: Batch, views: list[torch.Tensor]) -> torch.Tensor:
        """The critic encoder over ``[o, *views]``, as one batch (same parameters, per-sample ops only)."""
        return self.critic.encoder(torch.cat([b.obs, *views]) if views else b.obs)

    def critic_losses(self, b: Batch, q1: tuple, q2: tuple, target: torch.Tensor) -> dict[str, tuple]:
        """Named terms ``(weight, value)`` of the critic loss; ``q1[i]``, ``q2[i]`` are the Q values of
        view i (0: o). Default: the TD loss on both heads (upstream sums them, not halved)."""
        return {"td": (1.0, L.td_loss(q1[0], q2[0], target))}

    def update_aux(self, b: Batch, plan: Plan) -> dict[str, torch.Tensor]:
        """The auxiliary update of methods that have one (every ``aux_update_freq`` steps)."""
        raise NotImplementedError

    def modules(self) -> dict:
        """Every network of the agent, by name (checkpoints, evaluation mode, dtype changes)."""
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self) -> dict:
        """Every optimiser of the agent, by name (the auxiliary model's as ``aux_opt``)."""
        opts = {"actor_opt": self.actor_opt, "critic_opt": self.critic_opt, "alpha_opt": self.alpha_opt}
        if self.aux_opt is not None:
            opts["aux_opt"] = self.aux_opt
        return opts

    def extra_state(self) -> dict:
        """What else the method must save to resume exactly."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    # ---- the steps -----------------------------------------------------------------------------

    def td_target(self, b: Batch) -> torch.Tensor:
        with torch.no_grad():
            _, next_action, log_pi, _ = self.actor.heads(self.actor.encoder(b.next_obs), True, self.draws.actor_noise)
            q1, q2 = self.critic_target(b.next_obs, next_action)
            return L.td_target(b.reward, b.not_done, self.cfg.discount, q1, q2, self.alpha.detach(), log_pi)

    def update_critic(self, b: Batch) -> dict:
        with self.autocast():
            target = self.td_target(b)
            views = self.critic_views(b)
            z = self.critic_embeddings(b, views)
            q1, q2 = self.critic.heads(z, b.action.repeat(1 + len(views), 1) if views else b.action)
        q1, q2 = q1.split(b.obs.shape[0]), q2.split(b.obs.shape[0])
        terms = self.critic_losses(b, q1, q2, target)
        loss = sum(w * v for w, v in terms.values())
        metrics = {f"critic/{name}_loss": v.detach() for name, (_, v) in terms.items()}
        metrics["critic/q"] = q1[0].detach().mean()
        metrics["critic/loss"] = loss.detach()
        self.critic_opt.step(gradients(loss, self.critic_opt.params))
        return metrics

    def update_actor_and_alpha(self, obs: torch.Tensor) -> dict:
        # Upstream runs the shared trunk twice here (actor and critic, both detached); one
        # no-grad pass feeds both projections.
        with self.autocast():
            with torch.no_grad():
                h = self.actor.encoder.trunk(obs)
            _, pi, log_pi, _ = self.actor.heads(self.actor.encoder.projection(h), True, self.draws.actor_noise)
            q1, q2 = self.critic.heads(self.critic.encoder.projection(h), pi)
        actor_loss = (self.alpha.detach() * log_pi - torch.min(q1, q2)).mean()
        # Gradients only for the actor's parameters (upstream leaves unused ones in the critic).
        self.actor_opt.step(gradients(actor_loss, self.actor_opt.params))
        alpha_loss = (self.alpha * (-log_pi - self.target_entropy).detach()).mean()
        self.alpha_opt.step(gradients(alpha_loss, self.alpha_opt.params))
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

    def state_dict(self) -> dict:
        state = {k: m.state_dict() for k, m in {**self.modules(), **self.optimizers()}.items()}
        state["log_alpha"] = self.log_alpha.detach().clone()
        state["draws"] = self.draws.state_dict()
        state["images"] = self._images.state_dict() if self._images is not None else {}
        state["extra"] = self.extra_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        for k, m in {**self.modules(), **self.optimizers()}.items():
            m.load_state_dict(state[k])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.draws.load_state_dict(state["draws"])
        if state["images"]:
            self.images.load_state_dict(state["images"])
        self.load_extra_state(state["extra"])
