"""SMG (Separated Models for Generalization) on the SAC core, as the upstream code computes it
(``src/algorithms/smg.py``; reference §1–§3), with less work per update.

One update, top to bottom (the core's ``update`` with SMG's hooks):

1. sample a shifted batch (o, a, r, o′, not_done) from the replay buffer;
2. ``plan`` (host): draw the consistency augmentation τ: attribution with p = 1/4, overlay otherwise (code:
   ``random.randint(0, 3) == 0``; the paper's "random select" is p = 1/2, ``attribution_prob``), and the
   natural images it needs: ε for the attribution image when it is needed (τ is attribution, or this is
   an auxiliary step, whose background loss uses it), the overlay's image when τ is overlay; whether the
   mask loss is on (after ``mask_warmup`` steps);
3. ``augment``: if the attribution image is needed, the soft per-frame foreground mask M(o) *without* an
   autograd graph in the decoder, with the parameters from before this step's critic update, then
   o·M + 255·ε·(1−M); τo;
4. critic update (``critic_views`` = [τo], ``critic_losses``): TD loss plus λ_qc · [MSE(Q1(τo), sg Q1(o)) + MSE(Q2(τo), sg Q2(o))];
5. every 2nd step: actor and α, soft target update, and the auxiliary update (``update_aux``), whose
   loss is
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
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

import smg_fast.ops as ops
from smg_fast.agent import losses as L
from smg_fast.agent.core import Batch, Plan, SACCore, clip_grad_norm, gradients
from smg_fast.agent.networks import AuxHead, Decoder, InverseDynamics, frames_to_stack, weight_init
from smg_fast.agent.specs.smg import SPEC, SMGConfig


@dataclass
class SMGPlan(Plan):
    """SMG's draws for one update: τ's kind; ε (uint8 ``[B, 3, H, W]``) when the attribution image is needed;
    the overlay's image when τ is overlay; whether the mask loss is on."""

    attribution: bool = False
    noise: torch.Tensor | None = None
    overlay_images: torch.Tensor | None = None
    mask_loss: bool = True


@dataclass
class SMGBatch(Batch):
    """A batch with SMG's views: τ(o) for both consistency terms; the attribution image τ_attr(o) and its
    background ε when this step needs them; the critic encoder's embedding of o (with its graph) when the
    attribution mask was decoded from it."""

    tau_obs: torch.Tensor | None = None
    attrib: torch.Tensor | None = None
    noise: torch.Tensor | None = None
    z_obs: torch.Tensor | None = None


class Predictor(nn.Module):
    """The auxiliary model: fore branch (critic encoder + fore AuxHead + image/mask decoder), back
    branch (own encoder + AuxHead + image decoder) and the inverse-dynamics MLP."""

    def __init__(self, critic_encoder: nn.Module, action_dim: int, frame_stack: int, cfg: SMGConfig):
        super().__init__()
        emb = critic_encoder.out_dim
        self.frame_stack = frame_stack
        self.fore_encoder = critic_encoder
        self.fore_head = AuxHead(emb, frame_stack)
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
        return frames_to_stack(img, self.frame_stack), frames_to_stack(mask, self.frame_stack)

    def back(self, obs: torch.Tensor) -> torch.Tensor:
        img, _ = self.back_decoder(self.back_head(self.back_encoder(obs)))
        return frames_to_stack(img, self.frame_stack)

    @torch.no_grad()
    def mask_from_embedding(self, z: torch.Tensor) -> torch.Tensor:
        """M(o) [B, k, H, W] without a graph (and without the image head it does not need), from the fore
        (= critic) encoder's embedding z(o)."""
        _, mask = self.fore_decoder(self.fore_head(z), mask_only=True)
        return frames_to_stack(mask, self.frame_stack)


class SMGAgent(SACCore):
    Config = SMGConfig
    shift = True

    def __init__(self, cfg: SMGConfig, obs_shape, action_dim: int, **kw):
        super().__init__(cfg, obs_shape, action_dim, **kw)
        self.predictor = Predictor(self.critic.encoder, action_dim, self.frame_stack, cfg).to(self.device)
        # One Adam over the predictor's parameters (deduplicated by nn.Module.parameters()), the critic
        # encoder included.
        self.add_aux_model(self.predictor.parameters())
        self.ops = ops.implementation(cfg.fused_ops)

    # ---- hooks ---------------------------------------------------------------------------------

    def plan(self, b: Batch, replay, step: int) -> SMGPlan:
        cfg = self.cfg
        plan = super().plan(b, replay, step)
        attribution = self.draws.random() < cfg.attribution_prob
        noise = self.images.next() if attribution or (plan.aux and cfg.back_weight != 0) else None
        overlay_images = None if attribution else self.images.next()
        # Upstream adds the mask loss only when step > 1000, i.e. after the initial update burst.
        return plan.extend(SMGPlan, attribution=attribution, noise=noise, overlay_images=overlay_images,
                           mask_loss=step > cfg.mask_warmup)

    def augment(self, b: Batch, plan: SMGPlan) -> SMGBatch:
        attrib = z_obs = None
        if plan.noise is not None:
            # The mask's encoder pass is the critic's pass over o (same module, input and
            # parameters, before the critic step): run it once, with the graph the critic loss needs.
            with self.autocast():
                z_obs = self.critic.encoder(b.obs)
                mask = self.predictor.mask_from_embedding(z_obs.detach())
            attrib = self.ops.attribution_augment(b.obs, mask, plan.noise)
        tau_obs = attrib if plan.attribution else self.ops.overlay(b.obs, plan.overlay_images, self.cfg.overlay_alpha)
        return b.extend(SMGBatch, tau_obs=tau_obs, attrib=attrib, noise=plan.noise, z_obs=z_obs)

    def critic_views(self, b: SMGBatch) -> list[torch.Tensor]:
        return [b.tau_obs] if self.cfg.q_consistency_weight != 0 else []

    def critic_embeddings(self, b: SMGBatch, views: list[torch.Tensor]) -> torch.Tensor:
        if b.z_obs is None:
            return super().critic_embeddings(b, views)
        return torch.cat([b.z_obs, self.critic.encoder(torch.cat(views))]) if views else b.z_obs

    def critic_losses(self, b: SMGBatch, q1, q2, target) -> dict[str, tuple]:
        """TD loss plus λ_qc · [MSE(Q1(τo), sg Q1(o)) + MSE(Q2(τo), sg Q2(o))] (both heads, as the code;
        the paper's Eq. 8 shows one)."""
        terms = super().critic_losses(b, q1, q2, target)
        if len(q1) > 1:
            terms["q_consistency"] = (self.cfg.q_consistency_weight, L.q_consistency(q1[1], q2[1], q1[0], q2[0]))
        return terms

    def aux_losses(self, b: SMGBatch, mask_loss: bool = True) -> dict[str, torch.Tensor]:
        """The unweighted terms of L_aux (the mask term 0 without ``mask_loss``: the warm-up); forward passes
        shared wherever a module sees the same input."""
        cfg, p, B = self.cfg, self.predictor, b.obs.shape[0]
        obs = b.obs
        need_fore, need_action, need_back = cfg.fore_weight != 0, cfg.action_weight != 0, cfg.back_weight != 0
        # The critic encoder once over every input it sees in this step: o, τo, o′.
        enc_in = [obs] + ([b.tau_obs] if need_fore else []) + ([b.next_obs] if need_action else [])
        z = p.fore_encoder(torch.cat(enc_in)).split(B)
        # The fore decoder once over o and τo; the back branch once over o and τ_attr(o).
        fore, mask = p.fore(torch.cat([z[0], z[1]]) if need_fore else z[0])
        back = p.back(torch.cat([obs, b.attrib]) if need_back else obs)
        # split, not slicing: one backward that concatenates the pieces' gradients, instead of a
        # zero-filled full-size gradient per slice that are then summed (~0.2 s per step at batch 64).
        (fore_o, *fore_t), (mask_o, *mask_t), (back_o, *back_a) = fore.split(B), mask.split(B), back.split(B)
        terms = {"recon": L.reconstruction(fore_o, back_o, mask_o, obs, self.ops.composite)}
        if cfg.mask_weight != 0:
            ratio = L.mask_ratio(mask_o, cfg.mask_ratio)
            terms["mask"] = ratio if mask_loss else ratio.detach() * 0
        if need_back:
            terms["back"] = L.background(back_a[0], b.noise)
        if need_action:
            terms["action"] = L.inverse_dynamics(p.inverse_dynamics(z[0], z[-1]), b.action)
        if need_fore:
            terms["fore"] = L.fore_consistency(fore_t[0], mask_t[0], fore_o, mask_o)
        return terms

    def update_aux(self, b: SMGBatch, plan: SMGPlan) -> dict:
        cfg = self.cfg
        with self.autocast():
            losses = self.aux_losses(b, plan.mask_loss)
        # Each term by the weight its declaration names (SPEC.losses: also the ablations' --no-<loss>).
        total = sum(getattr(cfg, SPEC.losses[k]) * v for k, v in losses.items())
        grads = gradients(total, self.aux_opt.params)
        grad_norm = clip_grad_norm(grads, cfg.grad_clip_norm)
        self.aux_opt.step(grads)
        metrics = {f"aux/{k}_loss": v.detach() for k, v in losses.items()}
        metrics["aux/loss"] = total.detach()
        metrics["aux/grad_norm"] = grad_norm.detach()
        return metrics

    def modules(self) -> dict:
        return {**super().modules(), "predictor": self.predictor}

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
