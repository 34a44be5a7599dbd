"""``upsample_conv2d``: ``conv2d(nearest_upsample_2x(x), weight, bias, padding=1)``, the building block of
SMG's and SGQN's decoders, without the upsampled tensor (C++: ``csrc/ops/upsample_conv2d.cpp``).

The wrapper, the fake kernels of ``smg_fast::upsample_conv2d`` and its ``upsample_conv2d_backward``, the
autograd formula and the pure-PyTorch reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from smg_fast.ops._common import LIB, same_device


def upsample_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``conv2d(nearest_upsample_2x(x), weight, bias, padding=1)`` without the upsampled tensor.

    The building block of SMG's decoders (``modules.py:375-420``). Each of the four output phases is a
    2×2 convolution of ``x`` whose taps are sums of the 3×3 taps (phase decomposition), computed as
    four GEMMs over a padded channels-last copy of ``x``: 16 instead of 36 multiply-adds per
    (input channel, output channel, input pixel). Equal to the reference up to float summation order.

    Args:
        x: float32/float64 ``[B, C_in, H, W]``.
        weight: ``[C_out, C_in, 3, 3]``; bias: ``[C_out]`` or None.
    Returns:
        ``[B, C_out, 2H, 2W]``; differentiable in x, weight and bias.
    """
    return torch.ops.smg_fast.upsample_conv2d(x, weight, bias)


# ---- fake kernels ---------------------------------------------------------------------------------


@torch.library.register_fake(LIB + "upsample_conv2d")
def _(x, weight, bias=None):
    if x.dim() != 4 or weight.dim() != 4:
        raise ValueError(f"x must be a 4-D tensor [B, C_in, H, W] and weight [C_out, C_in, 3, 3], got "
                         f"{tuple(x.shape)} and {tuple(weight.shape)}")
    same_device(("x", x), ("weight", weight), ("bias", bias))
    b, _, h, w = x.shape
    return x.new_empty((b, weight.shape[0], 2 * h, 2 * w))


@torch.library.register_fake(LIB + "upsample_conv2d_backward")
def _(grad, x, weight):
    same_device(("x", x), ("grad", grad), ("weight", weight))
    return (
        torch.empty_like(x, memory_format=torch.contiguous_format),
        torch.empty_like(weight, memory_format=torch.contiguous_format),
        weight.new_empty((weight.shape[0],)),
    )


# ---- autograd -------------------------------------------------------------------------------------


def _setup_context(ctx, inputs, output):
    x, weight, bias = inputs
    ctx.save_for_backward(x, weight)
    ctx.has_bias = bias is not None


def _backward(ctx, grad):
    x, weight = ctx.saved_tensors
    gx, gw, gb = torch.ops.smg_fast.upsample_conv2d_backward(grad, x, weight)
    need = ctx.needs_input_grad
    return (
        gx if need[0] else None,
        gw if need[1] else None,
        gb if ctx.has_bias and need[2] else None,
    )


torch.library.register_autograd(LIB + "upsample_conv2d", _backward, setup_context=_setup_context)


# ---- reference ------------------------------------------------------------------------------------


def upsample_conv2d_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """conv2d(nearest_upsample_2x(x), weight, bias, padding=1), as SMG's decoders compute it."""
    return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)
