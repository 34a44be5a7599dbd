"""SGQN, saliency-guided Q-networks (upstream ``src/algorithms/sgsac.py`` = "sgsac", with
``src/algorithms/rl_utils.py`` and ``modules.py:314-349``; reference §3.6, §7, §9 item 23; fixture README
quirks 19-23), on DrQ's randomly shifted batches.

One update, in upstream's order:

1. critic: the TD loss plus ``consistency_weight`` · [MSE(Q1(o), Q1(o_m)) + MSE(Q2(o), Q2(o_m))] with **no
   stop-gradient** on either side (weight 0.5, hard-coded upstream; 0 = upstream's ``--consistency 0``).
   o_m is o where the saliency mask of the critic *before* its step holds, and elsewhere one scalar
   ``U(o.min(), o.max())`` (batch-wide limits, one draw of the agent's Python generator: the uniform is
   drawn on the host, ``plan``, and scaled to the limits in the tensor part);
2. actor and α (every 2nd step), on the shifted o; target soft update (every 2nd step);
3. auxiliary step (every ``aux_update_freq`` = 2nd step): the attribution predictor — the critic's encoder
   (trunk + critic projection, shared: the auxiliary Adam also moves it) and :class:`AttributionDecoder` —
   sees ``overlay(o)`` (α 0.5, the agent's natural images) and the action, and learns the saliency mask of
   the critic *after* its step with binary cross-entropy on logits (mean over every element); its own Adam
   (``aux_lr`` 3e-4, β1 0.9), no gradient clipping.

Saliency mask: guided backprop (captum's ``GuidedBackprop`` rule: every ReLU of the critic, trunk and Q
heads, passes back only positive gradients; :func:`smg_fast.ops.guided_backprop`) of the batch sum of Q1
with respect to the observation (0-255 pixels, no /255 correction); per sample and frame the max over RGB
of its absolute value, thresholded ``>=`` at its ``sgqn_quantile`` (``torch.quantile``, linear
interpolation; :func:`smg_fast.ops.quantile_mask`). The guided pass is set up once, at construction: it
runs on a guided twin of the critic (its modules with every ReLU guided, sharing the critic's parameters), so
nothing changes modules during the update (which a compiled graph cannot).

Same numbers, less work than upstream: upstream computes the post-step attribution and mask in every
update and recomputes the mask in the auxiliary step; here it is computed once, in the auxiliary step
only — nothing changes the critic between its step and the auxiliary step (the actor step moves only the
actor's projection and MLP, the soft update only the target), so the mask is the same. The attribution
pass runs the encoder and Q1 only (captum's runs Q2 too, unused), and the critic sees [o, o_m] as one batch.

Settings that differ: ``sgqn_quantile`` is 0.98 as in upstream's ``scripts/sgsac.sh`` (upstream's
``arguments.py`` default is 0.90). Walker runs with action repeat 4 here (the paper's Table 5, as every
method); ``scripts/sgsac.sh`` uses 2 — ``--set action_repeat=2`` reproduces the script.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

import smg_fast.ops as ops
from smg_fast.agent.core import Batch, Plan, SACCore, gradients
from smg_fast.agent.networks import FEATURES, Encoder, full_precision
from smg_fast.agent.specs.sgqn import SGQNConfig


class AttributionDecoder(nn.Module):
    """Embedding and action → saliency logits ``[B, 3k, 84, 84]`` (upstream ``AttributionDecoder``):
    Linear(256 + A → 14112) → 32×21×21, ReLU, conv 32→128, ×2 up, ReLU, conv 128→64, ×2 up, ReLU,
    conv 64→3k; 3×3 convs with padding 1, PyTorch's default initialisation (upstream applies no
    ``weight_init`` here).

    Each ×2-nearest-up-then-conv pair runs as :func:`smg_fast.ops.upsample_conv2d` (the same math:
    ``conv2d(interpolate(x, scale_factor=2), w, b, padding=1)``, see its reference), with the ReLU before
    the upsampling (ReLU commutes with nearest upsampling). ``fused=False``: the eager composition."""

    def __init__(self, action_dim: int, frame_stack: int = 3, emb_dim: int = 256, fused: bool = True):
        super().__init__()
        self.proj = nn.Linear(emb_dim + action_dim, FEATURES)
        self.conv1 = nn.Conv2d(32, 128, 3, padding=1)
        self.conv2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 3 * frame_stack, 3, padding=1)
        self.upsample_conv2d = ops.implementation(fused).upsample_conv2d

    def _up_conv(self, x, conv: nn.Conv2d):
        return self.upsample_conv2d(x.contiguous(), conv.weight, conv.bias)

    def forward(self, z: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.proj(torch.cat([z, action.to(z.dtype)], dim=1)).view(-1, 32, 21, 21))
        x = F.relu(self.conv1(x))
        x = F.relu(self._up_conv(x, self.conv2))
        return full_precision(self._up_conv(x, self.conv3))


class AttributionPredictor(nn.Module):
    """The critic's encoder (shared, not a copy) followed by :class:`AttributionDecoder`."""

    def __init__(self, encoder: Encoder, decoder: AttributionDecoder):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(obs), action)


@dataclass
class SGQNPlan(Plan):
    """SGQN's draws for one update: the uniform of the fill value (``[1]``, the observations' dtype; None
    without the consistency term) and, on auxiliary steps, the overlay's natural images."""

    fill_uniform: torch.Tensor | None = None
    images: torch.Tensor | None = None


@dataclass
class SGQNBatch(Batch):
    """A batch with the value of o_m's unmasked pixels, U(o.min(), o.max()) (None without the consistency
    term)."""

    fill: torch.Tensor | None = None


class SGQNAgent(SACCore):
    Config = SGQNConfig
    shift = True

    def __init__(self, cfg: SGQNConfig, obs_shape, action_dim: int, **kw):
        super().__init__(cfg, obs_shape, action_dim, **kw)
        decoder = AttributionDecoder(action_dim, self.frame_stack, cfg.projection_dim, fused=cfg.fused_ops)
        self.attribution_predictor = AttributionPredictor(self.critic.encoder, decoder).to(self.device)
        # Upstream's aux Adam owns the predictor's parameters: the critic encoder and the decoder.
        self.add_aux_model(self.attribution_predictor.parameters())
        self.ops = ops.implementation(cfg.fused_ops)
        # Not a module of the agent's state: the critic's guided twin shares the critic's parameters.
        self.guided_backprop = ops.guided_backprop(self.critic)

    # ---- saliency ------------------------------------------------------------------------------

    def attribution(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Guided backprop of the batch sum of Q1(obs, action) w.r.t. obs (no graph, no parameter grads):
        :func:`smg_fast.ops.guided_backprop` of the critic."""
        return self.guided_backprop(obs, lambda critic, o: critic.Q1(critic.encoder(o), action))

    def saliency_mask(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The critic's saliency mask of obs, bool ``[B, k, H, W]`` (one channel per frame)."""
        mask, _ = ops.quantile_mask(self.attribution(obs, action), self.cfg.sgqn_quantile)
        return mask

    # ---- hooks ---------------------------------------------------------------------------------

    def plan(self, b: Batch, replay, step: int) -> SGQNPlan:
        plan = super().plan(b, replay, step).extend(SGQNPlan)
        if self.cfg.consistency_weight != 0:
            # Upstream's random.uniform(o.min(), o.max()) = min + (max − min)·random(): the random() here, in
            # the observations' dtype (as the 0-dim tensors upstream passes make the product).
            # One element, not 0-dim: a plain 0-dim float64 CPU input misleads torch.compile (agent/adam.py).
            plan.fill_uniform = torch.tensor([self.draws.random()], dtype=b.obs.dtype, device=b.obs.device)
        if plan.aux:
            plan.images = self.images.next()
        return plan

    def augment(self, b: Batch, plan: SGQNPlan) -> SGQNBatch:
        fill = None
        if plan.fill_uniform is not None:
            # One scalar for every unmasked pixel: U(min, max) of the whole batch (no device sync).
            low, high = b.obs.min(), b.obs.max()
            fill = low + (high - low) * plan.fill_uniform[0]
        return b.extend(SGQNBatch, fill=fill)

    def critic_views(self, b: SGQNBatch) -> list[torch.Tensor]:
        if b.fill is None:
            return []
        return [ops.fill_unmasked(b.obs, self.saliency_mask(b.obs, b.action), b.fill)]

    def critic_losses(self, b: Batch, q1, q2, target) -> dict[str, tuple]:
        terms = super().critic_losses(b, q1, q2, target)
        if len(q1) > 1:
            # No stop-gradient: both Q(o) and Q(o_m) are trained by this term (upstream, and SGQN's paper).
            terms["consistency"] = (self.cfg.consistency_weight, F.mse_loss(q1[0], q1[1]) + F.mse_loss(q2[0], q2[1]))
        return terms

    def update_aux(self, b: Batch, plan: SGQNPlan) -> dict:
        cfg = self.cfg
        with self.autocast():
            mask = self.saliency_mask(b.obs, b.action)  # the critic after its step
            images = plan.images
            if images.is_floating_point():
                images = images.to(b.obs.dtype)
            s_tilde = self.ops.overlay(b.obs, images, cfg.overlay_alpha)
            logits = self.attribution_predictor(s_tilde, b.action)
        bsz, frames, h, w = mask.shape
        target = mask.unsqueeze(2).expand(bsz, frames, 3, h, w).reshape(logits.shape).to(logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        self.aux_opt.step(gradients(loss, self.aux_opt.params))
        return {"aux/loss": loss.detach(), "aux/mask_fraction": mask.float().mean()}

    def modules(self) -> dict:
        return {**super().modules(), "attribution_predictor": self.attribution_predictor}
