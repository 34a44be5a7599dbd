"""``random_shift``: DrQ's shift, replicate-pad then crop back at per-sample offsets (C++:
``csrc/ops/random_shift.cpp``), and :func:`sample_shifts`, its offsets as upstream draws them.

The wrapper, the fake kernels of ``smg_fast::random_shift`` and its ``random_shift_backward``, the autograd
formula and the pure-PyTorch reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from smg_fast.ops._common import LIB, same_device


def random_shift(obs: torch.Tensor, shifts: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Replicate-pad by ``pad`` and crop back to H×W at per-sample integer offsets (DrQ shift).

    Upstream SMG's ``random_shift`` (``augmentations.py:216-220``): ``F.pad(mode='replicate')`` then
    kornia's ``RandomCrop``. The randomness lives in ``shifts`` (see :func:`sample_shifts`), so a
    result is reproducible and comparable with the reference.

    Args:
        obs: ``[B, C, H, W]`` uint8 or float.
        shifts: int64/int32 ``[B, 2]``, the crop's top-left corner ``(x, y)`` in the padded image,
            each in ``[0, 2·pad]``; ``(pad, pad)`` is the identity.
        pad: padding in pixels (upstream: 4).
    Returns:
        a tensor like ``obs``; differentiable in float ``obs``.
    """
    return torch.ops.smg_fast.random_shift(obs, shifts, int(pad))


def sample_shifts(
    batch: int, pad: int = 4, *, device=None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Offsets for :func:`random_shift`, uniform over ``{0, …, 2·pad}`` per axis like kornia's
    ``RandomCrop`` on a replicate-padded batch."""
    return torch.randint(0, 2 * pad + 1, (batch, 2), device=device, generator=generator)


# ---- fake kernels ---------------------------------------------------------------------------------


@torch.library.register_fake(LIB + "random_shift")
def _(obs, shifts, pad=4):
    same_device(("obs", obs), ("shifts", shifts))
    return torch.empty_like(obs)


@torch.library.register_fake(LIB + "random_shift_backward")
def _(grad, shifts, pad):
    same_device(("grad", grad), ("shifts", shifts))
    return torch.empty_like(grad, memory_format=torch.contiguous_format)


# ---- autograd -------------------------------------------------------------------------------------


def _setup_context(ctx, inputs, output):
    obs, shifts, pad = inputs
    ctx.save_for_backward(shifts)
    ctx.pad = pad


def _backward(ctx, grad):
    (shifts,) = ctx.saved_tensors
    grad_obs = None
    if ctx.needs_input_grad[0]:
        grad_obs = torch.ops.smg_fast.random_shift_backward(grad, shifts, ctx.pad)
    return grad_obs, None, None


torch.library.register_autograd(LIB + "random_shift", _backward, setup_context=_setup_context)


# ---- reference ------------------------------------------------------------------------------------


def random_shift_reference(obs: torch.Tensor, shifts: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Replicate-pad by ``pad`` then crop back to H×W at per-sample offsets.

    ``shifts[b] = (x, y)`` is the crop's top-left corner in the padded image, each in [0, 2·pad]:
    the semantics of upstream's ``F.pad(mode='replicate')`` followed by kornia's ``RandomCrop``.
    """
    b, c, h, w = obs.shape
    x = obs.float() if obs.dtype == torch.uint8 else obs
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    rows = shifts[:, 1, None] + torch.arange(h, device=obs.device)  # [B, H]
    cols = shifts[:, 0, None] + torch.arange(w, device=obs.device)  # [B, W]
    bi = torch.arange(b, device=obs.device)[:, None, None, None]
    ci = torch.arange(c, device=obs.device)[None, :, None, None]
    out = padded[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]
    return out.to(obs.dtype)
