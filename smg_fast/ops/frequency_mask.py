"""SRM's spectrum masking: remove a square ring of spatial frequencies from every image of a frame stack
(upstream ``src/utils.py:286-329``, ``random_mask_freq_v2``; reference §3.6, fixture README quirks 16-18).

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
  half-spectrum returns that real image directly. The ring mask is applied to the half-spectrum in place
  and the real-part cast disappears into the inverse transform (no complex image, no ``.real`` copy).

Both equivalences are exact in exact arithmetic; tests/test_frequency_mask.py checks them against
:func:`frequency_mask_reference` (the official 3-D formulation) in float64 (agreement to ~1e-13 on
0-255 pixels).

It is a registered op (``torch.ops.smg_fast.frequency_mask``) written with ``torch.fft`` in Python, with a
fake kernel (``torch.compile`` / ``torch.export`` see one opaque node) and an autograd formula: the map is
linear and self-adjoint (an orthogonal projection: unitary DFT, real symmetric 0/1 mask), so its backward
is the same op on the gradient and saves nothing. No compiled kernel: the FFTs dominate and are library
calls (pocketfft / cuFFT) already.
"""
from __future__ import annotations

import functools
import math

import torch

__all__ = ["frequency_mask", "frequency_mask_reference", "ring_mask"]


def _check(obs: torch.Tensor, low: float, high: float) -> None:
    if not isinstance(obs, torch.Tensor):
        raise TypeError(f"obs must be a tensor, got {type(obs).__name__}")
    if obs.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"obs must be float32 or float64 (0-255 pixel values), got dtype {obs.dtype}")
    if obs.dim() != 4 or obs.shape[1] == 0 or obs.shape[1] % 3 != 0:
        raise ValueError(f"obs must be a 4-D tensor [B, 3*frames, H, W] with a channel count that is a "
                         f"positive multiple of 3, got shape {tuple(obs.shape)}")
    for name, v in (("low", low), ("high", high)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0 (cycles per pixel), got {v!r}")
    if high < low:
        raise ValueError(f"high must be >= low, got low={low!r}, high={high!r}")


@functools.lru_cache(maxsize=64)
def _ring(h: int, w: int, low: float, high: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Upstream compares |fftfreq| of the default dtype (= the observations' dtype in its runs) with the
    # Python-float limits: the same comparisons, so boundary cases round as there.
    fy = torch.fft.fftfreq(h, dtype=dtype, device=device).abs()
    fx = torch.fft.fftfreq(w, dtype=dtype, device=device).abs()
    below_high = torch.outer(fy < high, fx < high)
    below_low = torch.outer(fy < low, fx < low)
    return below_high & ~below_low


def ring_mask(h: int, w: int, low: float, high: float, dtype: torch.dtype = torch.float32,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """The removed frequencies, bool ``[h, w]`` in unshifted FFT order (rows: ``fftfreq(h)``, columns:
    ``fftfreq(w)``): ``low <= max(|fy|, |fx|) < high``, compared in ``dtype`` as upstream does."""
    return _ring(int(h), int(w), float(low), float(high), dtype, torch.device(device)).clone()


@torch.library.custom_op("smg_fast::frequency_mask", mutates_args=())
def _frequency_mask(obs: torch.Tensor, low: float, high: float) -> torch.Tensor:
    h, w = obs.shape[-2:]
    removed = _ring(h, w, low, high, obs.dtype, obs.device)[:, : w // 2 + 1]
    spectrum = torch.fft.rfft2(obs)
    spectrum.masked_fill_(removed, 0)
    return torch.fft.irfft2(spectrum, s=(h, w))


@_frequency_mask.register_fake
def _(obs, low, high):
    return torch.empty_like(obs, memory_format=torch.contiguous_format)


def _setup(ctx, inputs, output):
    _, ctx.low, ctx.high = inputs


def _backward(ctx, grad):
    # Self-adjoint: the gradient is masked the same way.
    return torch.ops.smg_fast.frequency_mask(grad, ctx.low, ctx.high), None, None


_frequency_mask.register_autograd(_backward, setup_context=_setup)


def frequency_mask(obs: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """SRM's masking of one ring of spatial frequencies from every image of a frame stack.

    Args:
        obs: float32/float64 ``[B, 3F, H, W]`` on the 0-255 scale (SRM masks the shifted observations).
        low, high: the ring in cycles per pixel, ``0 <= low <= high``: frequencies with
            ``low <= max(|fy|, |fx|) < high`` are removed (``low = 0`` removes the mean, ``low == high``
            removes nothing).
    Returns:
        the masked stack, same shape and dtype (values may leave 0-255; upstream does not clip).
        Differentiable in ``obs``.
    Raises:
        TypeError for a non-float ``obs``; ValueError for its shape or for the limits.
    """
    _check(obs, low, high)
    return torch.ops.smg_fast.frequency_mask(obs, float(low), float(high))


def frequency_mask_reference(obs: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """The official formulation: the stack as ``[B, F, 3, H, W]``, 3-D FFT over (RGB, H, W), the ring
    zeroed, inverse 3-D FFT, real part."""
    b, c, h, w = obs.shape
    x = obs.reshape(b, c // 3, 3, h, w)
    keep = ~_ring(h, w, low, high, obs.dtype, obs.device)
    out = torch.fft.ifftn(torch.fft.fftn(x, dim=(2, 3, 4)) * keep, dim=(2, 3, 4)).real
    return out.reshape(b, c, h, w)
