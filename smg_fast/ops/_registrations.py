"""Autograd formulas and fake (meta) kernels of the ``smg_fast`` ops.

Fake kernels give ``torch.compile`` / ``torch.export`` the output metadata without running the op;
autograd formulas call the compiled ``*_backward`` ops where a fused backward pays off and plain
eager ops where the backward is a single elementwise pass anyway.
"""
from __future__ import annotations

import torch

from smg_fast import _extension  # noqa: F401  (loads the op library)

lib = "smg_fast::"


def _float_out(*tensors: torch.Tensor, default: torch.dtype = torch.float32) -> torch.dtype:
    for t in tensors:
        if t.is_floating_point():
            return t.dtype
    return default


# ---- fake kernels ---------------------------------------------------------------------------------
# They also run when real and meta tensors are mixed (Meta outranks CPU in dispatch), so they repeat
# the device check and the shape logic the output depends on; dtype and value checks stay in C++.


def _same_device(first: tuple[str, torch.Tensor], *others: tuple[str, torch.Tensor | None]) -> None:
    ref_name, ref = first
    for name, t in others:
        if t is not None and t.device != ref.device:
            raise ValueError(f"{name} must be on the same device as {ref_name} ({ref.device}), got {t.device}")


def _check_stack(name: str, t: torch.Tensor) -> None:
    if t.dim() != 4 or t.shape[1] == 0 or t.shape[1] % 3 != 0:
        raise ValueError(f"{name} must be a 4-D tensor [B, 3*frames, H, W] with a channel count that is "
                         f"a positive multiple of 3, got shape {tuple(t.shape)}")


@torch.library.register_fake(lib + "composite")
def _(fg, bg, mask):
    _check_stack("fg", fg)
    _same_device(("fg", fg), ("bg", bg), ("mask", mask))
    return torch.empty_like(fg)


@torch.library.register_fake(lib + "composite_backward")
def _(grad, fg, bg, mask):
    _same_device(("fg", fg), ("grad", grad), ("bg", bg), ("mask", mask))
    return torch.empty_like(fg), torch.empty_like(bg), torch.empty_like(mask)


@torch.library.register_fake(lib + "attribution_augment")
def _(obs, mask, noise):
    _check_stack("obs", obs)
    _same_device(("obs", obs), ("mask", mask), ("noise", noise))
    return obs.new_empty(obs.shape, dtype=mask.dtype)


@torch.library.register_fake(lib + "overlay")
def _(obs, images, alpha=0.5):
    _check_stack("obs", obs)
    _same_device(("obs", obs), ("images", images))
    return obs.new_empty(obs.shape, dtype=_float_out(obs, images))


@torch.library.register_fake(lib + "overlay_backward")
def _(grad, alpha, image_channels, obs_grad, images_grad):
    b, _, h, w = grad.shape
    gobs = torch.empty_like(grad, memory_format=torch.contiguous_format) if obs_grad else grad.new_empty((0,))
    gimg = grad.new_empty((b, image_channels, h, w)) if images_grad else grad.new_empty((0,))
    return gobs, gimg


@torch.library.register_fake(lib + "greenscreen")
def _(frames, background):
    _same_device(("frames", frames), ("background", background))
    return torch.empty_like(frames)


@torch.library.register_fake(lib + "random_shift")
def _(obs, shifts, pad=4):
    _same_device(("obs", obs), ("shifts", shifts))
    return torch.empty_like(obs)


@torch.library.register_fake(lib + "random_shift_backward")
def _(grad, shifts, pad):
    _same_device(("grad", grad), ("shifts", shifts))
    return torch.empty_like(grad, memory_format=torch.contiguous_format)


@torch.library.register_fake(lib + "upsample_conv2d")
def _(x, weight, bias=None):
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"x must be a 4-D tensor [B, C_in, H, W] and weight [C_out, C_in, 3, 3], got "
                         f"{tuple(x.shape)} and {tuple(weight.shape)}")
    _same_device(("x", x), ("weight", weight), ("bias", bias))
    b, _, h, w = x.shape
    return x.new_empty((b, weight.shape[0], 2 * h, 2 * w))


@torch.library.register_fake(lib + "upsample_conv2d_backward")
def _(grad, x, weight):
    _same_device(("x", x), ("grad", grad), ("weight", weight))
    return (
        torch.empty_like(x, memory_format=torch.contiguous_format),
        torch.empty_like(weight, memory_format=torch.contiguous_format),
        weight.new_empty((weight.shape[0],)),
    )


@torch.library.register_fake(lib + "replay_gather")
def _(frames, slots, pos, shifts, frame_stack, pad=4, dtype=None):
    _same_device(("frames", frames), ("slots", slots), ("pos", pos), ("shifts", shifts))
    n = slots.shape[0]
    return frames.new_empty((n, 3 * frame_stack, frames.shape[2], frames.shape[3]), dtype=dtype or torch.float32)


# ---- autograd -------------------------------------------------------------------------------------


def _frames(t: torch.Tensor, mask_channels: int) -> torch.Tensor:
    b, c, h, w = t.shape
    return t.view(b, mask_channels, c // mask_channels, h, w)


def _composite_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _composite_backward(ctx, grad):
    fg, bg, mask = ctx.saved_tensors
    gfg, gbg, gmask = torch.ops.smg_fast.composite_backward(grad, fg, bg, mask)
    need = ctx.needs_input_grad
    return gfg if need[0] else None, gbg if need[1] else None, gmask if need[2] else None


torch.library.register_autograd(lib + "composite", _composite_backward, setup_context=_composite_setup)


def _attribution_setup(ctx, inputs, output):
    obs, mask, noise = inputs
    ctx.save_for_backward(mask)


def _attribution_backward(ctx, grad):
    # Only obs receives a gradient: SMG detaches the mask (smg.py:214) and the noise image is data.
    (mask,) = ctx.saved_tensors
    grad_obs = None
    if ctx.needs_input_grad[0]:
        m = mask.shape[1]
        grad_obs = (_frames(grad, m) * mask.unsqueeze(2)).view(grad.shape)
    return grad_obs, None, None


torch.library.register_autograd(
    lib + "attribution_augment", _attribution_backward, setup_context=_attribution_setup
)


def _overlay_setup(ctx, inputs, output):
    obs, images, alpha = inputs
    ctx.alpha = alpha
    ctx.image_channels = images.shape[1]


def _overlay_backward(ctx, grad):
    need = ctx.needs_input_grad
    if not (need[0] or need[1]):
        return None, None, None
    gobs, gimg = torch.ops.smg_fast.overlay_backward(grad, ctx.alpha, ctx.image_channels, need[0], need[1])
    return gobs if need[0] else None, gimg if need[1] else None, None


torch.library.register_autograd(lib + "overlay", _overlay_backward, setup_context=_overlay_setup)


def _shift_setup(ctx, inputs, output):
    obs, shifts, pad = inputs
    ctx.save_for_backward(shifts)
    ctx.pad = pad


def _shift_backward(ctx, grad):
    (shifts,) = ctx.saved_tensors
    grad_obs = None
    if ctx.needs_input_grad[0]:
        grad_obs = torch.ops.smg_fast.random_shift_backward(grad, shifts, ctx.pad)
    return grad_obs, None, None


torch.library.register_autograd(lib + "random_shift", _shift_backward, setup_context=_shift_setup)


def _upconv_setup(ctx, inputs, output):
    x, weight, bias = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None


def _upconv_backward(ctx, grad):
    x, weight = ctx.saved_tensors
    gx, gw, gb = torch.ops.smg_fast.upsample_conv2d_backward(grad, x, weight)
    need = ctx.needs_input_grad
    return (
        gx if need[0] else None,
        gw if need[1] else None,
        gb if ctx.has_bias and need[2] else None,
    )


torch.library.register_autograd(lib + "upsample_conv2d", _upconv_backward, setup_context=_upconv_setup)
