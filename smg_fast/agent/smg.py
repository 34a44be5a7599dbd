"""SMG (Separated Models for Generalization) on the SAC core, as the upstream code computes it
(``src/algorithms/smg.py``; reference §1–§3), with less work per update.

One update, top to bottom (``update``):

1. sample a shifted batch (o, a, r, o′, not_done) from the replay buffer;
2. draw the consistency augmentation τ: attribution with p = 1/4, overlay otherwise (code:
   ``random.randint(0, 3) == 0``; the paper's "random select" is p = 1/2, ``attribution_prob``);
3. if the attribution image is needed (τ is attribution, or this is an auxiliary step, whose
   background loss uses it): the soft per-frame foreground mask M(o) *without* an autograd graph
   in the decoder, with the parameters from before this step's critic update, then o·M + 255·ε·(1−M);
4. critic update: TD loss plus λ_qc · [MSE(Q1(τo), sg Q1(o)) + MSE(Q2(τo), sg Q2(o))];
5. every 2nd step: actor and α, soft target update, and the auxiliary update, whose loss is
   λ_recon·L1(F·M + G·(1−M), o) + λ_mask·mean((mean M − ρ)²) [after ``mask_warmup`` steps]
   + λ_back·L1(G(τ_attr o), 255·ε) + λ_action·MSE(ID(z(o), z(o′)), a) + λ_fore·L1(F·M(τo), sg F·M(o)),
   all image terms on the 0-255 scale, gradients clipped to norm 100.

"Same math, less work": the mask for step 3 runs its decoder without a graph, on the embedding z(o)
of the critic's own encoder pass (the critic loss needs that pass anyway); otherwise the critic
encoder sees [o; τo] as one batch; the auxiliary step runs the critic encoder once on [o; τo; o′]
(the recon, fore-consistency and inverse-dynamics terms share it), the fore decoder once on [o; τo]
and the back branch once on [o; τ_attr o]; the decoders use the phase-decomposed
``upsample_conv2d`` with the image and mask heads as one conv; composite / attribution / overlay
are fused ops. Gradients equal the un-shared computation (tested).

Foreground encoder = the critic encoder (trunk + critic projection), as upstream; the background
encoder is an independent deep copy of it (plus its own AuxHead). Like upstream, building the
inverse-dynamics model re-initialises the critic encoder *after* the target critic and the
background encoder were copied (``reinit_critic_encoder``).
"""
from __future__ import annotations

import copy
import random

import numpy as np
import torch
import torch.nn as nn

import smg_fast.ops as ops
from smg_fast.agent import losses as L
from smg_fast.agent.config import Config
from smg_fast.agent.networks import AuxHead, Decoder, InverseDynamics, frames_to_stack, weight_init
from smg_fast.agent.sac import ADAM, SACAgent
from smg_fast.ops import reference as ref


class Predictor(nn.Module):
    """The auxiliary model: fore branch (critic encoder + fore AuxHead + image/mask decoder), back
    branch (own encoder + AuxHead + image decoder) and the inverse-dynamics MLP."""

    def __init__(self, critic_encoder: nn.Module, action_dim: int, cfg: Config):
        super().__init__()
        emb = critic_encoder.out_dim
        self.fore_encoder = critic_encoder
        self.fore_head = AuxHead(emb, cfg.frame_stack)
        self.back_encoder = copy.deepcopy(critic_encoder)
        self.back_head = copy.deepcopy(self.fore_head)  # upstream deep-copies fore encoder + head
        self.fore_decoder = Decoder(emb, mask=True, fused=cfg.fused_ops)
        self.back_decoder = Decoder(emb, mask=False, fused=cfg.fused_ops)
        self.inverse_dynamics = InverseDynamics(emb, action_dim, 1024)
        if cfg.reinit_critic_encoder:
            critic_encoder.apply(weight_init)

    def fore(self, z: torch.Tensor):
        """Embeddings [B, 256] → foreground image [B, 3k, H, W] (0-255) and mask [B, k, H, W]."""
        img, mask = self.fore_decoder(self.fore_head(z))
        return frames_to_stack(img), frames_to_stack(mask)

    def back(self, obs: torch.Tensor) -> torch.Tensor:
        img, _ = self.back_decoder(self.back_head(self.back_encoder(obs)))
        return frames_to_stack(img)

    @torch.no_grad()
    def mask(self, obs: torch.Tensor) -> torch.Tensor:
        """M(o) [B, k, H, W] without a graph, and without the image head it does not need."""
        return self.mask_from_embedding(self.fore_encoder(obs))

    @torch.no_grad()
    def mask_from_embedding(self, z: torch.Tensor) -> torch.Tensor:
        """M(o) from the fore (= critic) encoder's embedding z(o), when that pass was already run."""
        _, mask = self.fore_decoder(self.fore_head(z), mask_only=True)
        return frames_to_stack(mask)


class SMGAgent(SACAgent):
    def __init__(self, cfg: Config, obs_shape, action_dim: int, overlay_images=None):
        super().__init__(cfg, obs_shape, action_dim)
        self.predictor = Predictor(self.critic.encoder, action_dim, cfg).to(self.device)
        # One Adam over the predictor's parameters (deduplicated by nn.Module.parameters()); the critic
        # encoder is thus stepped by two optimisers with separate state, as upstream.
        self.aux_params = list(self.predictor.parameters())
        self.aux_opt = torch.optim.Adam(self.aux_params, lr=cfg.aux_lr, betas=(cfg.aux_beta, 0.999), **ADAM)
        self.rng = random.Random(cfg.seed)
        self.overlay_images = overlay_images  # callable () -> uint8 [B, 3, H, W]
        self.ops = ops if cfg.fused_ops else ref

    def _images(self) -> torch.Tensor:
        return torch.as_tensor(self.overlay_images(), device=self.device)

    # ---- the update ----------------------------------------------------------------------------

    def update(self, replay, step: int) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        b = self.sample_batch(replay)
        obs, action, next_obs = b["obs"], b["action"], b["next_obs"]
        aux_step = step % cfg.aux_update_freq == 0
        use_attribution = self.rng.random() < cfg.attribution_prob
        attrib = noise = z_obs = None
        if use_attribution or (aux_step and cfg.back_weight != 0):
            noise = self._images()
            # The mask's encoder pass is the critic's pass over o (same module, input and
            # parameters, before the critic step): run it once, with the graph the critic loss needs.
            with self.autocast():
                z_obs = self.critic.encoder(obs)
                mask = self.predictor.mask_from_embedding(z_obs.detach())
            attrib = self.ops.attribution_augment(obs, mask, noise)
        tau_obs = attrib if use_attribution else self.ops.overlay(obs, self._images(), cfg.overlay_alpha)

        metrics = self.update_critic(obs, action, b["reward"], next_obs, b["not_done"], tau_obs, z_obs)
        if step % cfg.actor_update_freq == 0:
            metrics.update(self.update_actor_and_alpha(obs))
        if step % cfg.critic_target_update_freq == 0:
            self.soft_update_targets()
        if aux_step:
            metrics.update(self.update_aux(obs, action, next_obs, attrib, noise, tau_obs, step))
        return metrics

    def aux_losses(self, obs, action, next_obs, attrib, noise, tau_obs, step: int) -> dict[str, torch.Tensor]:
        """The unweighted terms of L_aux; forward passes shared wherever a module sees the same input."""
        cfg, p, B = self.cfg, self.predictor, obs.shape[0]
        need_fore, need_action, need_back = cfg.fore_weight != 0, cfg.action_weight != 0, cfg.back_weight != 0
        # The critic encoder once over every input it sees in this step: o, τo, o′.
        enc_in = [obs] + ([tau_obs] if need_fore else []) + ([next_obs] if need_action else [])
        z = p.fore_encoder(torch.cat(enc_in)).split(B)
        # The fore decoder once over o and τo; the back branch once over o and τ_attr(o).
        fore, mask = p.fore(torch.cat([z[0], z[1]]) if need_fore else z[0])
        back = p.back(torch.cat([obs, attrib]) if need_back else obs)
        # split, not slicing: one backward that concatenates the pieces' gradients, instead of a
        # zero-filled full-size gradient per slice that are then summed (~0.2 s per step at batch 64).
        (fore_o, *fore_t), (mask_o, *mask_t), (back_o, *back_a) = fore.split(B), mask.split(B), back.split(B)
        terms = {"recon": L.reconstruction(fore_o, back_o, mask_o, obs, self.ops.composite)}
        if cfg.mask_weight != 0:
            mask_loss = L.mask_ratio(mask_o, cfg.mask_ratio)
            # Upstream adds it only when step > 1000, i.e. after the initial update burst.
            terms["mask"] = mask_loss if step > cfg.mask_warmup else mask_loss.detach() * 0
        if need_back:
            terms["back"] = L.background(back_a[0], noise)
        if need_action:
            terms["action"] = L.inverse_dynamics(p.inverse_dynamics(z[0], z[-1]), action)
        if need_fore:
            terms["fore"] = L.fore_consistency(fore_t[0], mask_t[0], fore_o, mask_o)
        return terms

    def update_aux(self, obs, action, next_obs, attrib, noise, tau_obs, step: int) -> dict:
        cfg = self.cfg
        with self.autocast():
            losses = self.aux_losses(obs, action, next_obs, attrib, noise, tau_obs, step)
        weights = {"recon": cfg.recon_weight, "mask": cfg.mask_weight, "back": cfg.back_weight,
                   "action": cfg.action_weight, "fore": cfg.fore_weight}
        total = sum(weights[k] * v for k, v in losses.items())
        self.aux_opt.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.aux_params, cfg.grad_clip_norm)
        self.aux_opt.step()
        metrics = {f"aux/{k}_loss": v.detach() for k, v in losses.items()}
        metrics["aux/loss"] = total.detach()
        metrics["aux/grad_norm"] = grad_norm.detach()
        return metrics

    # ---- explanations (visualize, eval pictures) ------------------------------------------------

    @torch.no_grad()
    def explain(self, obs, noise=None) -> dict[str, torch.Tensor]:
        """What SMG sees in uint8 observations [N, 3k, H, W]: foreground F·M, mask M, predicted
        background G, reconstruction, and the attribution image (with ``noise``, uint8 [N, 3, H, W])."""
        x = torch.as_tensor(np.asarray(obs), device=self.device).float()
        p = self.predictor
        with self.autocast():
            f, m = p.fore(p.fore_encoder(x))
            g = p.back(x)
        out = {"obs": x, "mask": m, "foreground": L.per_frame(f, m), "background": g,
               "reconstruction": ops.composite(f, g, m)}
        if noise is not None:
            out["attribution"] = ops.attribution_augment(x, m, torch.as_tensor(noise, device=self.device))
        return out

    # ---- checkpointing -------------------------------------------------------------------------

    def modules(self) -> dict:
        return {**super().modules(), "predictor": self.predictor}

    def optimizers(self) -> dict:
        return {**super().optimizers(), "aux_opt": self.aux_opt}

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["rng"] = self.rng.getstate()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.rng.setstate(state["rng"])
