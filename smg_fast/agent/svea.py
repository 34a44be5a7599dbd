"""SVEA (Hansen et al. 2021, "Stabilizing Deep Q-Learning with ConvNets and Vision Transformers under Data
Augmentation") on the SAC core, as the SMG repository runs it (``src/algorithms/svea.py``; reference §7).

One update: a randomly shifted batch (DrQ's ``sample_drq``); the critic sees the clean observation o and an
augmented copy τ(o), both against the same target y computed from the **clean** next observation only;
the actor and α see o only:

    L_critic = α_svea · [MSE(Q1(o), y) + MSE(Q2(o), y)] + β_svea · [MSE(Q1(τo), y) + MSE(Q2(τo), y)]

With α_svea = β_svea (the default 0.5 / 0.5) upstream runs the critic once on cat(o, τo) against
cat(y, y) with the loss (α + β)·(MSE(Q1, ·) + MSE(Q2, ·)) over 2B, i.e. each half weighted (α + β)/2 = α;
with α ≠ β it uses the two weighted terms above. Both are the formula above; here it is always the two
weighted terms (``td`` and ``td_aug``) on one critic pass over [o; τo] (the core's ``critic_views``), equal
to upstream's up to float summation order (tested against the official fixture).

Augmentation (``svea_aug``):

* ``"random_conv"`` (default): the official code's (``svea.py:26, 40``; DMC-GB's SVEA too): one random
  3×3×3×3 N(0, 1) kernel per sample, shared by its 3 frames, applied to o/255 with replicate padding,
  then 255·sigmoid, not clipped (:func:`smg_fast.ops.random_conv`);
* ``"overlay"``: what the paper's Table 1 names for DMC ("SVEA (overlay)"): DMC-GB's random overlay with
  a natural image, α = ``overlay_alpha`` 0.5 (the commented-out line in the official code).

The paper's robot experiments use random convolutions for all baselines (L369), the default here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import smg_fast.ops as ops
from smg_fast.agent import losses as L
from smg_fast.agent.core import Batch, Plan, SACCore
from smg_fast.agent.specs.svea import SVEAConfig

@dataclass
class SVEAPlan(Plan):
    """SVEA's draws for one update: the random-convolution kernels ``[B, 3, 3, 3, 3]`` or the overlay's
    natural images (None with β_svea = 0: no augmented view)."""

    aug_draws: torch.Tensor | None = None


@dataclass
class SVEABatch(Batch):
    """A batch with SVEA's augmented observation τ(o) (the critic's second view)."""

    obs_aug: torch.Tensor | None = None


class SVEAAgent(SACCore):
    Config = SVEAConfig
    shift = True  # upstream samples with sample_drq

    def augmentation_draws(self, obs: torch.Tensor) -> torch.Tensor:
        """What τ draws for a batch of observations: one conv kernel per sample (in the observations' dtype),
        or one natural image per sample."""
        if self.cfg.svea_aug == "random_conv":
            return self.draws.conv_kernels(obs.shape[0]).to(obs.dtype)
        return self.images.next(obs.shape[0])

    def augmentation(self, obs: torch.Tensor, draws: torch.Tensor | None = None) -> torch.Tensor:
        """τ(o) for a batch of (shifted) observations: random convolution or overlay, with ``draws`` from
        :meth:`augmentation_draws` (drawn here when not given)."""
        cfg = self.cfg
        draws = self.augmentation_draws(obs) if draws is None else draws
        impl = ops.implementation(cfg.fused_ops)
        if cfg.svea_aug == "random_conv":
            return impl.random_conv(obs, draws)
        return impl.overlay(obs, draws, cfg.overlay_alpha)

    # ---- hooks ---------------------------------------------------------------------------------

    def plan(self, b: Batch, replay, step: int) -> SVEAPlan:
        draws = self.augmentation_draws(b.obs) if self.cfg.svea_beta != 0 else None
        return super().plan(b, replay, step).extend(SVEAPlan, aug_draws=draws)

    def augment(self, b: Batch, plan: SVEAPlan) -> SVEABatch:
        obs_aug = self.augmentation(b.obs, plan.aug_draws) if plan.aug_draws is not None else None
        return b.extend(SVEABatch, obs_aug=obs_aug)

    def critic_views(self, b: SVEABatch) -> list[torch.Tensor]:
        return [b.obs_aug] if b.obs_aug is not None else []

    def critic_losses(self, b: SVEABatch, q1, q2, target) -> dict[str, tuple]:
        """α·TD(o) + β·TD(τo), both against the clean target y."""
        terms = {"td": (self.cfg.svea_alpha, L.td_loss(q1[0], q2[0], target))}
        if len(q1) > 1:
            terms["td_aug"] = (self.cfg.svea_beta, L.td_loss(q1[1], q2[1], target))
        return terms
