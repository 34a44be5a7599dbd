"""``frequency_mask``: SRM's spectrum masking, every image of a frame stack without a set of spatial
frequencies (upstream ``src/utils.py:286-329``, ``random_mask_freq_v2``; reference §3.6, fixture README quirks
16-18), and :func:`ring_mask`, the square ring of frequencies SRM removes.

The official code views the stack ``[B, 3F, H, W]`` as ``[B, F, 3, H, W]``, takes a 3-D FFT over
(RGB, H, W), multiplies by a 0/1 mask that removes the frequencies with
``low <= max(|fy|, |fx|) < high`` (cycles per pixel, ``torch.fft.fftfreq`` of H and W, unshifted; the mask
is built from two strict comparisons, ``max < high`` and not ``max < low``), inverts the FFT and keeps
the real part (``.float()``).

:func:`frequency_mask` computes the same thing with a real 2-D FFT per image:

* the mask does not depend on the colour frequency, so the transform over RGB and its inverse commute
  with the masking and cancel: the 3-D formulation equals per-channel 2-D masking;
* the mask is symmetric (``|fftfreq|`` is the same at k and -k mod N, the Nyquist bin included), so the
  masked spectrum of a real image stays Hermitian and its inverse is real: ``irfft2`` of the masked
  half-spectrum returns that real image directly. The mask is applied to the half-spectrum in place
  and the real-part cast disappears into the inverse transform (no complex image, no ``.real`` copy).

Both equivalences are exact in exact arithmetic; tests/ops/test_frequency_mask.py checks them against
:func:`frequency_mask_reference` (the official 3-D formulation) in float64 (agreement to ~1e-13 on
0-255 pixels).

The removed frequencies are a tensor argument (:func:`ring_mask` builds SRM's), so the SRM agent draws its
ring on the host and a compiled update gets each new ring as data, not as a new graph. It is a registered
op (``torch.ops.smg_fast.frequency_mask``) written with ``torch.fft`` in Python, with a fake kernel
(``torch.compile`` / ``torch.export`` see one opaque node) and an autograd formula: the map is linear and
self-adjoint (an orthogonal projection: unitary DFT, real symmetric 0/1 mask), so its backward is the same
op on the gradient and saves only the mask. No compiled kernel: the FFTs dominate and are library calls
(pocketfft / cuFFT) already.
"""
from __future__ import annotations

import functools
import math

import torch

from smg_fast.ops._common import check_stack


def frequency_mask(obs: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """Every image of a frame stack without the ``removed`` spatial frequencies (SRM's masking).

    Args:
        obs: float32/float64 ``[B, 3F, H, W]`` on the 0-255 scale (SRM masks the shifted observations).
        removed: bool ``[H, W]``, the frequencies to remove in unshifted FFT order (rows ``fftfreq(H)``,
            columns ``fftfreq(W)``), symmetric under ``(k, l) → (−k, −l)`` as every mask of
            :func:`ring_mask` is (checked on CPU outside ``torch.compile``: on a GPU the check would wait
            for the device). SRM: ``ring_mask(H, W, low, high, obs.dtype)``.
    Returns:
        the masked stack, same shape and dtype (values may leave 0-255; upstream does not clip).
        Differentiable in ``obs``.
    Raises:
        TypeError for a non-float ``obs`` or a non-bool ``removed``; ValueError for their shapes, devices,
        or a ``removed`` that is not symmetric.
    """
    _check(obs, removed)
    return torch.ops.smg_fast.frequency_mask(obs, removed)


def ring_mask(h: int, w: int, low: float, high: float, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """SRM's removed frequencies, bool ``[h, w]`` in unshifted FFT order (rows: ``fftfreq(h)``, columns:
    ``fftfreq(w)``): ``low <= max(|fy|, |fx|) < high``, compared in ``dtype`` as upstream does.

    ``low``, ``high``: cycles per pixel, ``0 <= low <= high`` (``low = 0`` removes the mean, ``low == high``
    nothing)."""
    for name, v in (("low", low), ("high", high)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0 (cycles per pixel), got {v!r}")
    if high < low:
        raise ValueError(f"high must be >= low, got low={low!r}, high={high!r}")
    return _ring(int(h), int(w), float(low), float(high), dtype, torch.device(device)).clone()


def _check(obs: torch.Tensor, removed: torch.Tensor) -> None:
    if not isinstance(obs, torch.Tensor):
        raise TypeError(f"obs must be a tensor, got {type(obs).__name__}")
    if obs.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"obs must be float32 or float64 (0-255 pixel values), got dtype {obs.dtype}")
    check_stack("obs", obs)
    if not isinstance(removed, torch.Tensor) or removed.dtype != torch.bool:
        raise TypeError(f"removed must be a bool tensor (e.g. ring_mask(H, W, low, high)), got "
                        f"{removed.dtype if isinstance(removed, torch.Tensor) else type(removed).__name__}")
    if removed.shape != obs.shape[-2:]:
        raise ValueError(f"removed must be [H, W] = {list(obs.shape[-2:])} like obs' images, got "
                         f"{list(removed.shape)}")
    if removed.device != obs.device:
        raise ValueError(f"removed must be on the same device as obs ({obs.device}), got {removed.device}")
    if not torch.compiler.is_compiling() and removed.device.type == "cpu":
        # removed[k, l] must equal removed[-k mod H, -l mod W]: flipping maps k to H-1-k, rolling by one to H-k.
        if not torch.equal(removed, removed.flip(0, 1).roll((1, 1), (0, 1))):
            raise ValueError("removed must be symmetric (removed[k, l] == removed[-k, -l], indices modulo H "
                             "and W, as ring_mask's masks are): the masked spectrum of a real image must "
                             "stay Hermitian")


@functools.lru_cache(maxsize=64)
def _ring(h: int, w: int, low: float, high: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Upstream compares |fftfreq| of the default dtype (= the observations' dtype in its runs) with the
    # Python-float limits: the same comparisons, so boundary cases round as there.
    fy = torch.fft.fftfreq(h, dtype=dtype, device=device).abs()
    fx = torch.fft.fftfreq(w, dtype=dtype, device=device).abs()
    below_high = torch.outer(fy < high, fx < high)
    below_low = torch.outer(fy < low, fx < low)
    return below_high & ~below_low


# ---- the registered op: forward, fake kernel, autograd ------------------------------------------------


@torch.library.custom_op("smg_fast::frequency_mask", mutates_args=())
def _frequency_mask(obs: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    h, w = obs.shape[-2:]
    spectrum = torch.fft.rfft2(obs)
    spectrum.masked_fill_(removed[:, : w // 2 + 1], 0)  # the half-spectrum's columns
    return torch.fft.irfft2(spectrum, s=(h, w))


@_frequency_mask.register_fake
def _(obs, removed):
    return torch.empty_like(obs, memory_format=torch.contiguous_format)


def _setup_context(ctx, inputs, output):
    _, removed = inputs
    ctx.save_for_backward(removed)


def _backward(ctx, grad):
    # Self-adjoint: the gradient is masked the same way.
    (removed,) = ctx.saved_tensors
    return torch.ops.smg_fast.frequency_mask(grad, removed), None


_frequency_mask.register_autograd(_backward, setup_context=_setup_context)


# ---- reference ------------------------------------------------------------------------------------


def frequency_mask_reference(obs: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    """The official formulation: the stack as ``[B, F, 3, H, W]``, 3-D FFT over (RGB, H, W), the removed
    frequencies zeroed, inverse 3-D FFT, real part."""
    b, c, h, w = obs.shape
    x = obs.reshape(b, c // 3, 3, h, w)
    out = torch.fft.ifftn(torch.fft.fftn(x, dim=(2, 3, 4)) * ~removed, dim=(2, 3, 4)).real
    return out.reshape(b, c, h, w)
