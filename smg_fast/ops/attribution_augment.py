"""``attribution_augment``: SMG's attribution augmentation ``obs·M + 255·ε·(1−M)`` (C++:
``csrc/ops/attribution_augment.cpp``).

The wrapper, the fake kernel, the autograd formula (a gradient for ``obs`` only) and the pure-PyTorch
reference.
"""
from __future__ import annotations

import torch

from smg_fast.ops._common import LIB, check_stack, image_255, same_device, tile_frames
from smg_fast.ops.composite import composite_reference


def attribution_augment(obs: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """SMG's attribution augmentation: ``obs·M + 255·ε·(1−M)`` (``augmentations.py:99-115``).

    The soft (never thresholded) per-frame foreground mask keeps the task-relevant pixels and
    replaces the rest with a noise image ε (a Places image upstream), identical for all frames of a
    sample. The uint8→float conversion of ``obs`` / ``noise`` is fused.

    Args:
        obs: ``[B, 3F, H, W]`` uint8 or float (0-255).
        mask: float32/float64 ``[B, F, H, W]`` or ``[B, 1, H, W]``; sets the output dtype.
        noise: ``[B, 3, H, W]`` or ``[B, 3F, H, W]``; float in [0, 1] or uint8 0-255.
    Returns:
        float ``[B, 3F, H, W]`` on the 0-255 scale. Gradients reach ``obs`` only (when float): the
        mask is detached as upstream does (``smg.py:214``) and the noise is data.
    """
    return torch.ops.smg_fast.attribution_augment(obs, mask, noise)


# ---- fake kernel ----------------------------------------------------------------------------------


@torch.library.register_fake(LIB + "attribution_augment")
def _(obs, mask, noise):
    check_stack("obs", obs)
    same_device(("obs", obs), ("mask", mask), ("noise", noise))
    return obs.new_empty(obs.shape, dtype=mask.dtype)


# ---- autograd -------------------------------------------------------------------------------------


def _frames(t: torch.Tensor, mask_channels: int) -> torch.Tensor:
    b, c, h, w = t.shape
    return t.view(b, mask_channels, c // mask_channels, h, w)


def _setup_context(ctx, inputs, output):
    obs, mask, noise = inputs
    ctx.save_for_backward(mask)


def _backward(ctx, grad):
    # Only obs receives a gradient: SMG detaches the mask (smg.py:214) and the noise image is data.
    (mask,) = ctx.saved_tensors
    grad_obs = None
    if ctx.needs_input_grad[0]:
        m = mask.shape[1]
        grad_obs = (_frames(grad, m) * mask.unsqueeze(2)).view(grad.shape)
    return grad_obs, None, None


torch.library.register_autograd(LIB + "attribution_augment", _backward, setup_context=_setup_context)


# ---- reference ------------------------------------------------------------------------------------


def attribution_augment_reference(obs: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """SMG's attribution augmentation: obs·M + 255·ε·(1−M), with M detached (smg.py:214)."""
    x = obs.float() if obs.dtype == torch.uint8 else obs
    eps = tile_frames(image_255(noise), x.shape[1])
    return composite_reference(x, eps, mask.detach())
