"""``overlay``: DMC-GB's random overlay ``(1−α)·obs + α·255·img`` (C++: ``csrc/ops/overlay.cpp``).

The wrapper, the fake kernels of ``smg_fast::overlay`` and its ``overlay_backward``, the autograd formula
and the pure-PyTorch reference.
"""
from __future__ import annotations

import torch

from smg_fast.ops._common import LIB, check_stack, float_out, image_255, same_device, tile_frames


def overlay(obs: torch.Tensor, images: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """DMC-GB's random overlay: ``(1−α)·obs + α·255·img`` (``augmentations.py:67-80``, α = 0.5).

    Args:
        obs: ``[B, 3F, H, W]`` uint8 or float (0-255).
        images: ``[B, 3, H, W]`` (repeated over frames) or ``[B, 3F, H, W]``; float in [0, 1] or
            uint8 0-255.
        alpha: blend weight in [0, 1].
    Returns:
        float ``[B, 3F, H, W]`` (0-255), of obs' dtype if float, else images' if float, else float32.
        Differentiable in float ``obs`` and float ``images``.
    """
    return torch.ops.smg_fast.overlay(obs, images, float(alpha))


# ---- fake kernels ---------------------------------------------------------------------------------


@torch.library.register_fake(LIB + "overlay")
def _(obs, images, alpha=0.5):
    check_stack("obs", obs)
    same_device(("obs", obs), ("images", images))
    return obs.new_empty(obs.shape, dtype=float_out(obs, images))


@torch.library.register_fake(LIB + "overlay_backward")
def _(grad, alpha, image_channels, obs_grad, images_grad):
    b, _, h, w = grad.shape
    gobs = torch.empty_like(grad, memory_format=torch.contiguous_format) if obs_grad else grad.new_empty((0,))
    gimg = grad.new_empty((b, image_channels, h, w)) if images_grad else grad.new_empty((0,))
    return gobs, gimg


# ---- autograd -------------------------------------------------------------------------------------


def _setup_context(ctx, inputs, output):
    obs, images, alpha = inputs
    ctx.alpha = alpha
    ctx.image_channels = images.shape[1]


def _backward(ctx, grad):
    need = ctx.needs_input_grad
    if not (need[0] or need[1]):
        return None, None, None
    gobs, gimg = torch.ops.smg_fast.overlay_backward(grad, ctx.alpha, ctx.image_channels, need[0], need[1])
    return gobs if need[0] else None, gimg if need[1] else None, None


torch.library.register_autograd(LIB + "overlay", _backward, setup_context=_setup_context)


# ---- reference ------------------------------------------------------------------------------------


def overlay_reference(obs: torch.Tensor, images: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """DMC-GB's random overlay: ((1−α)·obs/255 + α·img)·255 = (1−α)·obs + α·255·img."""
    x = obs.float() if obs.dtype == torch.uint8 else obs
    img = tile_frames(image_255(images), x.shape[1])
    return (1 - alpha) * x + alpha * img
