"""``composite``: SMG's reconstruction blend ``fg·m + bg·(1−m)`` (C++: ``csrc/ops/composite.cpp``).

The wrapper, the fake kernels of ``smg_fast::composite`` and its ``composite_backward``, the autograd formula
(the fused backward gives all three gradients in one pass) and the pure-PyTorch reference.
"""
from __future__ import annotations

import torch

from smg_fast.ops._common import LIB, check_stack, same_device


def composite(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Blend two frame stacks through a soft mask: ``fg·m + bg·(1−m)``.

    SMG's reconstruction (``modules.py:442``): the foreground decoder's image, the background
    decoder's image and the foreground mask give the reconstructed observation.

    Args:
        fg, bg: float32/float64 ``[B, 3F, H, W]``.
        mask: same dtype, ``[B, F, H, W]`` (one channel per RGB frame) or ``[B, 1, H, W]``.
    Returns:
        ``[B, 3F, H, W]``. Differentiable in all three inputs; the mask gradient sums over the
        channels that share a mask value.
    """
    return torch.ops.smg_fast.composite(fg, bg, mask)


# ---- fake kernels ---------------------------------------------------------------------------------


@torch.library.register_fake(LIB + "composite")
def _(fg, bg, mask):
    check_stack("fg", fg)
    same_device(("fg", fg), ("bg", bg), ("mask", mask))
    return torch.empty_like(fg)


@torch.library.register_fake(LIB + "composite_backward")
def _(grad, fg, bg, mask):
    same_device(("fg", fg), ("grad", grad), ("bg", bg), ("mask", mask))
    return torch.empty_like(fg), torch.empty_like(bg), torch.empty_like(mask)


# ---- autograd -------------------------------------------------------------------------------------


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad):
    fg, bg, mask = ctx.saved_tensors
    gfg, gbg, gmask = torch.ops.smg_fast.composite_backward(grad, fg, bg, mask)
    need = ctx.needs_input_grad
    return gfg if need[0] else None, gbg if need[1] else None, gmask if need[2] else None


torch.library.register_autograd(LIB + "composite", _backward, setup_context=_setup_context)


# ---- reference ------------------------------------------------------------------------------------


def _frames_view(x: torch.Tensor, frames: int) -> torch.Tensor:
    """[B, 3F, H, W] -> [B, F, 3, H, W] (a view)."""
    b, c, h, w = x.shape
    return x.reshape(b, frames, c // frames, h, w)


def composite_reference(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """fg·m + bg·(1−m), one mask channel per RGB frame (or one for all frames)."""
    f = mask.shape[1]
    m = mask.unsqueeze(2)
    out = _frames_view(fg, f) * m + _frames_view(bg, f) * (1 - m)
    return out.reshape(fg.shape)


def composite_upstream(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """composite as upstream's CoPredictor computes it (modules.py:419, 442-447): the per-frame mask
    expanded to 3 channels, blended at [3B, 3, H, W], then reshaped back (a copy). Benchmark baseline."""
    b, c, h, w = fg.shape
    m = mask.reshape(-1, 1, h, w).expand(-1, 3, h, w)
    out = fg.reshape(-1, 3, h, w) * m + bg.reshape(-1, 3, h, w) * (1 - m)
    return out.reshape(b, c, h, w)
