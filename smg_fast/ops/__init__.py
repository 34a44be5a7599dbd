"""Fused image ops of SMG and DMC-GB, compiled in ``smg_fast._C``.

Every op is a registered PyTorch operator (``torch.ops.smg_fast.<name>``) with CPU kernels (and CUDA
kernels when built with CUDA), an autograd formula and a fake kernel, so it works under autograd,
``torch.compile(fullgraph=True)`` and ``torch.export``. The functions below are thin, documented
wrappers; :mod:`smg_fast.ops.reference` holds a pure-PyTorch reference of each.

Conventions, as upstream SMG / DMC-GB use them:

* observations are stacks of RGB frames ``[B, 3F, H, W]``, oldest frame first, with values 0-255
  (uint8, or float already on that scale);
* images used as noise / overlay are either uint8 pixels (0-255) or float images in [0, 1]
  (torchvision's ToTensor convention used by upstream's Places loader); one RGB image per sample
  ``[B, 3, H, W]`` is repeated over the frames, or a full ``[B, 3F, H, W]`` stack is given;
* masks are soft, in [0, 1], one channel per frame ``[B, F, H, W]`` or shared ``[B, 1, H, W]``.

Inputs must be contiguous; invalid arguments raise ``TypeError`` (dtype) or ``ValueError`` (shape,
value, device, layout) naming the argument.
"""
from __future__ import annotations

import torch

from smg_fast import _extension
from smg_fast.ops import _registrations  # noqa: F401  (autograd + fake kernels)
from smg_fast.ops import reference  # noqa: F401
from smg_fast.ops.fft_mask import frequency_mask  # noqa: F401  (SRM)
from smg_fast.ops.guided_relu import guided_backprop  # noqa: F401  (SGQN)
from smg_fast.ops.saliency import fill_unmasked, quantile_mask  # noqa: F401  (SGQN)
from smg_fast.ops.random_conv import random_conv, random_conv_reference  # noqa: F401
from smg_fast.ops.random_crop import random_crop, random_crop_reference, sample_crop_offsets  # noqa: F401

has_cuda_kernels = _extension.has_cuda_kernels

__all__ = [
    "attribution_augment",
    "composite",
    "greenscreen",
    "has_cuda_kernels",
    "overlay",
    "random_conv",
    "random_crop",
    "random_shift",
    "reference",
    "replay_gather",
    "sample_crop_offsets",
    "sample_shifts",
    "upsample_conv2d",
]


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


def greenscreen(frames: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Replace DMC-GB's green key colour with a background (video_easy / video_hard modes).

    A pixel is keyed when its HSV value lies in H ∈ [100°, 185°], S ∈ [80, 255], V ∈ [70, 255]
    (0-255 scale, inclusive), computed with DMC-GB's float64 ``rgb_to_hsv``; the decision is
    bit-identical to upstream's per-pixel Python loop.

    Args:
        frames, background: uint8 ``[..., 3, H, W]`` of the same shape.
    Returns:
        uint8 tensor like ``frames`` with keyed pixels taken from ``background``.
    """
    return torch.ops.smg_fast.greenscreen(frames, background)


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


def replay_gather(
    frames: torch.Tensor,
    slots: torch.Tensor,
    pos: torch.Tensor,
    shifts: torch.Tensor,
    frame_stack: int = 3,
    pad: int = 4,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Sample frame stacks from a ring of single frames, shifted, in one pass (the replay buffer's kernel).

    Stack ``i`` ends at ring slot ``slots[i]``, a frame at position ``pos[i]`` of its episode; its
    frame ``b`` steps before the newest is ``b`` slots earlier (modulo the ring), except that steps
    before the episode's first frame repeat that frame, as a frame-stack wrapper does after reset.
    Each stack is then shifted like :func:`random_shift` by ``shifts[i]``.

    Args:
        frames: uint8 ``[capacity, 3, H, W]``.
        slots, pos: int64 ``[N]``; shifts: int64 ``[N, 2]`` in ``[0, 2·pad]``.
        frame_stack: frames per stack (k); pad: shift padding; dtype: float32 (default), float64 or uint8.
    Returns:
        ``[N, 3k, H, W]``, oldest frame first, 0-255. On CUDA the indices are clamped rather than
        validated (validation would need a device sync); on CPU out-of-range values raise.
    """
    return torch.ops.smg_fast.replay_gather(frames, slots, pos, shifts, int(frame_stack), int(pad), dtype)


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
