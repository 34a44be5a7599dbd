"""SODA (Hansen & Wang 2021, "Generalization in Reinforcement Learning by Soft Data Augmentation") on the SAC
core, as the SMG repository runs it (``src/algorithms/soda.py``, ``modules.py:SODAMLP/SODAPredictor``;
reference §7 and the official fixture's quirks 8-13).

One update:

1. RL batch: observations rendered at 100×100 (its declaration's ``frames``), obs and next_obs random-cropped
   to 84 independently (upstream's ``sample()``: offsets 0..15, the valid offset 16 never drawn);
2. critic, actor / α and target updates of the SAC core (evaluation centre-crops 100 → 84 in the trunk);
3. every ``aux_update_freq`` = 2 steps, the SODA step on a fresh replay batch of ``soda_batch_size`` = 256
   observations (``sample_aux``), cropped twice independently into a clean view x and a view τx that also
   gets a natural-image overlay (α 0.5; upstream's random_conv line is commented out) — the batch, its
   crops and the images are drawn on the host (``plan``), the overlay and the step are the tensor part:

       L_soda = MSE(normalize(g(f(τx))), normalize(f_targ(x)))      (mean over B × 256)

   with f = the shared conv trunk → projection SODAMLP (Linear 14112→256, BatchNorm1d, ReLU, Linear
   256→256), g = prediction SODAMLP (256→256→256), f_targ an EMA copy of f (τ = ``soda_tau`` 0.005,
   parameters only) computed without gradient; its own Adam (``aux_lr``) over f and g, which includes the
   shared trunk: the trunk is stepped by the critic's and the SODA optimiser.

Upstream behaviours kept on purpose (each checked against the official fixture):

* building the predictor re-initialises the shared trunk *after* the critic target was copied, so the
  critic's trunk starts different from the target's (``reinit_shared_trunk``);
* the predictor and its target are never put in evaluation mode (``SODA.train`` looks for a
  non-existent ``soda_predictor``): BatchNorm1d always uses batch statistics, and the no-grad target
  forward updates the target's running statistics; the soft update skips those buffers;
* the target is a copy of the whole predictor (its prediction MLP is soft-updated but never used).

Settings: ``aux_lr`` 3e-4 is the SMG repository's ``src/arguments.py`` default, which its SODA uses; the
DMC-GB repository (SODA's own) uses 1e-3 (``--set aux_lr=1e-3``). The paper gives no SODA settings beyond
batch 64. SODA supports a 100×100 render (cropped to 84) or an 84×84 one (no crop, as upstream's
``random_crop`` does nothing there).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

import smg_fast.ops as ops
from smg_fast.agent.core import Batch, Plan, SACCore, gradients
from smg_fast.agent.draws import ImageStream
from smg_fast.agent.networks import Encoder, SharedCNN, full_precision, weight_init
from smg_fast.agent.specs.soda import SPEC, SODAConfig

CROP = SPEC.frames.crop  # upstream's image_crop_size: what the networks see


class SODAMLP(nn.Module):
    """Linear → BatchNorm1d → ReLU → Linear (upstream's SODAMLP; parameter names as upstream's)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.out_dim = out_dim
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(),
                                 nn.Linear(hidden_dim, out_dim))
        self.apply(weight_init)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.mlp(h)


class SODAPredictor(nn.Module):
    """``encoder`` (shared trunk → projection SODAMLP) then the prediction SODAMLP."""

    def __init__(self, trunk: SharedCNN, features: int, projection_dim: int, reinit_trunk: bool = True):
        super().__init__()
        self.encoder = Encoder(trunk, SODAMLP(features, projection_dim, projection_dim))
        self.mlp = SODAMLP(projection_dim, projection_dim, projection_dim)
        # Upstream applies weight_init to the whole predictor, the shared trunk included (quirk 8).
        (self if reinit_trunk else nn.ModuleList([self.encoder.projection, self.mlp])).apply(weight_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encoder(x))


def soda_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE(normalize(pred), normalize(target)): the mean over B × D of the squared difference of the
    L2-normalised vectors (= (2 − 2·cos) / D per sample, averaged)."""
    return F.mse_loss(F.normalize(pred, p=2, dim=1), F.normalize(target, p=2, dim=1))


@dataclass
class SODAPlan(Plan):
    """The SODA step's inputs, drawn on the host when it is due: the fresh batch cropped twice (the clean
    view and the view to overlay, ``[soda_batch_size, 3k, 84, 84]``) and the overlay's natural images."""

    clean: torch.Tensor | None = None
    cropped: torch.Tensor | None = None
    images: torch.Tensor | None = None


class SODAAgent(SACCore):
    Config = SODAConfig

    def __init__(self, cfg: SODAConfig, obs_shape, action_dim: int, **kw):
        super().__init__(cfg, obs_shape, action_dim, **kw)
        trunk = self.critic.encoder.trunk
        self.predictor = SODAPredictor(trunk, trunk.out_features(obs_shape[-1]), cfg.projection_dim,
                                       cfg.reinit_shared_trunk).to(self.device)
        self.predictor_target = copy.deepcopy(self.predictor)
        self.predictor_target.requires_grad_(False)
        # One Adam over the predictor (trunk, projection MLP, prediction MLP), the shared trunk included.
        self.add_aux_model(self.predictor.parameters())

    @property
    def images(self) -> ImageStream:
        """Natural images for the overlay, at the crop size (the overlay is applied to 84×84 crops)."""
        if self._images is None:
            source = self._image_source if self._image_source is not None else self.cfg.overlay_source
            self._images = ImageStream(source, self.cfg.soda_batch_size, min(CROP, self.obs_shape[-1]), self.seed,
                                       self.device)
        return self._images

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """A random 84×84 crop of each sample (upstream's ``random_crop``); none of an 84×84 input."""
        size = x.shape[-1]
        if size <= CROP:
            return x
        return ops.random_crop(x, self.draws.crop_offsets(x.shape[0], size - CROP), CROP)

    # ---- hooks ---------------------------------------------------------------------------------

    def sample(self, replay) -> Batch:
        """Upstream's ``sample()``: the batch at the render size, obs and next_obs cropped independently."""
        s = replay.sample(self.cfg.batch_size, shift=False)
        return Batch(self.crop(s["obs"]), s["action"], s["reward"], self.crop(s["next_obs"]), s["not_done"])

    def sample_aux(self, replay) -> torch.Tensor:
        """The SODA step's observations, ``[soda_batch_size, 3k, S, S]`` at the render size (upstream's
        ``sample_soda``: uniform indices, with replacement, no shift). Tests override it."""
        return replay.sample(self.cfg.soda_batch_size, shift=False)["obs"]

    def plan(self, b: Batch, replay, step: int) -> SODAPlan:
        plan = super().plan(b, replay, step).extend(SODAPlan)
        if plan.aux:
            x = self.sample_aux(replay)
            plan.clean, plan.cropped = self.crop(x), self.crop(x)
            plan.images = self.images.next(x.shape[0])
            # Upstream never switches these to evaluation mode: BatchNorm uses batch statistics, and the
            # target's running statistics move with its no-grad forward.
            self.predictor.train()
            self.predictor_target.train()
        return plan

    def update_aux(self, b: Batch, plan: SODAPlan) -> dict:
        cfg = self.cfg
        overlay = ops.implementation(cfg.fused_ops).overlay
        aug = overlay(plan.cropped, plan.images, cfg.overlay_alpha)
        with self.autocast():
            pred = self.predictor(aug)
            with torch.no_grad():
                target = self.predictor_target.encoder(plan.clean)
        loss = soda_loss(full_precision(pred), full_precision(target))
        self.aux_opt.step(gradients(loss, self.aux_opt.params))
        with torch.no_grad():
            torch._foreach_lerp_(list(self.predictor_target.parameters()), list(self.predictor.parameters()),
                                 cfg.soda_tau)
        return {"aux/loss": loss.detach()}

    def modules(self) -> dict:
        return {**super().modules(), "predictor": self.predictor, "predictor_target": self.predictor_target}
