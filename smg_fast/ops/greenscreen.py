"""``greenscreen``: DMC-GB's green-key replacement for the video modes (C++: ``csrc/ops/greenscreen.cpp``).

The wrapper, the fake kernel (uint8 in and out: no autograd formula) and the references: the vectorised
NumPy rule, the same in eager PyTorch, and upstream's per-pixel Python loop (a benchmark baseline).
"""
from __future__ import annotations

import numpy as np
import torch

from smg_fast.ops._common import LIB, same_device

# DMC-GB's greenscreen rule (src/env/wrappers.py, do_green_screen): inclusive bounds on
# hue in degrees and saturation / value on a 0-255 scale.
GREEN_H = (100.0, 185.0)
GREEN_S = (80.0, 255.0)
GREEN_V = (70.0, 255.0)


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


# ---- fake kernel ----------------------------------------------------------------------------------


@torch.library.register_fake(LIB + "greenscreen")
def _(frames, background):
    same_device(("frames", frames), ("background", background))
    return torch.empty_like(frames)


# ---- references -----------------------------------------------------------------------------------


def greenscreen_mask(frames: np.ndarray) -> np.ndarray:
    """Vectorised DMC-GB keying rule on uint8 RGB frames [..., 3, H, W] -> bool [..., H, W].

    Same float64 formulas, branch order and inclusive bounds as DMC-GB's per-pixel ``rgb_to_hsv``.
    """
    f = np.asarray(frames)
    r = f[..., 0, :, :] / 255.0
    g = f[..., 1, :, :] / 255.0
    b = f[..., 2, :, :] / 255.0
    maxc = np.maximum(np.maximum(r, g), b)
    minc = np.minimum(np.minimum(r, g), b)
    grey = maxc == minc
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (maxc - minc) / maxc
        rc = (maxc - r) / (maxc - minc)
        gc = (maxc - g) / (maxc - minc)
        bc = (maxc - b) / (maxc - minc)
        h = np.where(r == maxc, bc - gc, np.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
        h = (h / 6.0) % 1.0
    h = np.where(grey, 0.0, h) * 360
    s = np.where(grey, 0.0, s) * 255
    v = maxc * 255
    return (
        (GREEN_H[0] <= h) & (h <= GREEN_H[1])
        & (GREEN_S[0] <= s) & (s <= GREEN_S[1])
        & (GREEN_V[0] <= v) & (v <= GREEN_V[1])
    )


def greenscreen_reference(frames: np.ndarray | torch.Tensor, background: np.ndarray | torch.Tensor):
    """Keyed pixels of ``frames`` take ``background``'s pixel (both uint8 [..., 3, H, W])."""
    is_tensor = isinstance(frames, torch.Tensor)
    f = frames.cpu().numpy() if is_tensor else np.asarray(frames)
    bg = background.cpu().numpy() if isinstance(background, torch.Tensor) else np.asarray(background)
    key = greenscreen_mask(f)[..., None, :, :]
    out = np.where(key, bg, f)
    return torch.from_numpy(out).to(frames.device) if is_tensor else out


def greenscreen_python_loop(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """DMC-GB's rule as upstream runs it (``do_green_screen``): one colorsys-style HSV conversion per
    pixel in Python. Only a baseline for benchmarks; one uint8 ``[3, H, W]`` frame."""
    _, hgt, wid = frame.shape
    pixels = frame.reshape(3, -1).T.tolist()
    back = background.reshape(3, -1).T.tolist()
    out = []
    for (r, g, b), bg in zip(pixels, back):
        h, s, v = _rgb_to_hsv(r / 255.0, g / 255.0, b / 255.0)
        h, s, v = h * 360, s * 255, v * 255
        keyed = (GREEN_H[0] <= h <= GREEN_H[1] and GREEN_S[0] <= s <= GREEN_S[1]
                 and GREEN_V[0] <= v <= GREEN_V[1])
        out.append(bg if keyed else (r, g, b))
    return np.asarray(out, dtype=np.uint8).T.reshape(3, hgt, wid)


def greenscreen_torch(frames: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """The keying rule as vectorised eager PyTorch (float64, same formulas as upstream)."""
    x = frames.double() / 255.0
    r, g, b = x.unbind(-3)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    rng = maxc - minc
    safe = torch.where(rng == 0, torch.ones_like(rng), rng)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(r == maxc, bc - gc, torch.where(g == maxc, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.remainder(h / 6.0, 1.0) * 360
    s = rng / torch.where(maxc == 0, torch.ones_like(maxc), maxc) * 255
    v = maxc * 255
    grey = rng == 0
    h, s = torch.where(grey, 0.0, h), torch.where(grey, 0.0, s)
    key = ((GREEN_H[0] <= h) & (h <= GREEN_H[1]) & (GREEN_S[0] <= s) & (s <= GREEN_S[1])
           & (GREEN_V[0] <= v) & (v <= GREEN_V[1]))
    return torch.where(key.unsqueeze(-3), background, frames)


def _rgb_to_hsv(r: float, g: float, b: float) -> tuple[float, float, float]:
    maxc = max(r, g, b)
    minc = min(r, g, b)
    if minc == maxc:
        return 0.0, 0.0, maxc
    s = (maxc - minc) / maxc
    rc = (maxc - r) / (maxc - minc)
    gc = (maxc - g) / (maxc - minc)
    bc = (maxc - b) / (maxc - minc)
    if r == maxc:
        h = bc - gc
    elif g == maxc:
        h = 2.0 + rc - bc
    else:
        h = 4.0 + gc - rc
    return (h / 6.0) % 1.0, s, maxc
