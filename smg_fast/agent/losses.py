"""SMG's loss terms as plain functions of tensors, exactly as upstream computes them (reference §2):
image terms are L1 means on the 0-255 scale, masks are soft and per frame ([B, k, H, W], one channel
per RGB frame of a [B, 3k, H, W] stack)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import smg_fast.ops as ops


def per_frame(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """img · mask, one mask channel per RGB frame (upstream expands the mask to 3 channels)."""
    b, c, h, w = img.shape
    return (img.view(b, mask.shape[1], -1, h, w) * mask.unsqueeze(2)).view(b, c, h, w)


def reconstruction(fore, back, mask, obs, composite=ops.composite) -> torch.Tensor:
    """L_recon = L1(F·M + G·(1−M), o)."""
    return (composite(fore, back, mask) - obs).abs().mean()


def mask_ratio(mask: torch.Tensor, rho: float) -> torch.Tensor:
    """L_mask = mean over samples and frames of (mean_ij M − ρ)²."""
    return (mask.mean(dim=(2, 3)) - rho).square().mean()


def background(pred_back: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """L_back = L1(G(τ_attr o), 255·ε), ε the same image for every frame (uint8 pixels or [0, 1])."""
    b, c, h, w = pred_back.shape
    target = noise.float() if noise.dtype == torch.uint8 else noise * 255.0
    return (pred_back.view(b, c // 3, 3, h, w) - target.view(b, 1, 3, h, w)).abs().mean()


def inverse_dynamics(pred_action: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """L_action = MSE(ID(z(o), z(o′)), a) (the paper's empowerment term)."""
    return F.mse_loss(pred_action, action)


def fore_consistency(fore_aug, mask_aug, fore, mask) -> torch.Tensor:
    """L_fore = L1(F(τo)·M(τo), sg[F(o)·M(o)])."""
    return (per_frame(fore_aug, mask_aug) - per_frame(fore, mask).detach()).abs().mean()


def td_loss(q1, q2, target) -> torch.Tensor:
    """MSE(Q1, y) + MSE(Q2, y): both heads, summed (upstream does not halve it)."""
    return F.mse_loss(q1, target) + F.mse_loss(q2, target)


def q_consistency(q1_aug, q2_aug, q1, q2) -> torch.Tensor:
    """L_qc = MSE(Q1(τo), sg Q1(o)) + MSE(Q2(τo), sg Q2(o)) (both heads, as the code; the paper's
    Eq. 8 shows one)."""
    return F.mse_loss(q1_aug, q1.detach()) + F.mse_loss(q2_aug, q2.detach())


def td_target(reward, not_done, discount, q1_next, q2_next, alpha, log_pi_next) -> torch.Tensor:
    """y = r + γ·not_done·(min(Q1′, Q2′) − α·log π(a′|o′))."""
    return reward + not_done * discount * (torch.min(q1_next, q2_next) - alpha * log_pi_next)
