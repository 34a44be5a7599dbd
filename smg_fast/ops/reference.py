"""Pure-PyTorch (and NumPy) references of the fused ops in :mod:`smg_fast.ops`.

Each function here states the op's semantics as plainly as the eager API allows. The tests compare the
compiled kernels against them (values and gradients) and the benchmarks time the kernels against them.
They accept the same arguments as their fused twins but do not validate them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# DMC-GB's greenscreen rule (src/env/wrappers.py, do_green_screen): inclusive bounds on
# hue in degrees and saturation / value on a 0-255 scale.
GREEN_H = (100.0, 185.0)
GREEN_S = (80.0, 255.0)
GREEN_V = (70.0, 255.0)


def _frames_view(x: torch.Tensor, frames: int) -> torch.Tensor:
    """[B, 3F, H, W] -> [B, F, 3, H, W] (a view)."""
    b, c, h, w = x.shape
    return x.reshape(b, frames, c // frames, h, w)


def composite(fg: torch.Tensor, bg: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
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


def _noise_255(noise: torch.Tensor) -> torch.Tensor:
    # uint8 noise holds 0-255 pixel values; float noise is a [0, 1] image (Places' ToTensor).
    return noise.float() if noise.dtype == torch.uint8 else noise * 255.0


def _tile_frames(img: torch.Tensor, channels: int) -> torch.Tensor:
    """Repeat a [B, 3, H, W] image over the frames of a [B, channels, H, W] stack."""
    return img.repeat(1, channels // img.shape[1], 1, 1)


def attribution_augment(obs: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """SMG's attribution augmentation: obs·M + 255·ε·(1−M), with M detached (smg.py:214)."""
    x = obs.float() if obs.dtype == torch.uint8 else obs
    eps = _tile_frames(_noise_255(noise), x.shape[1])
    return composite(x, eps, mask.detach())


def overlay(obs: torch.Tensor, images: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """DMC-GB's random overlay: ((1−α)·obs/255 + α·img)·255 = (1−α)·obs + α·255·img."""
    x = obs.float() if obs.dtype == torch.uint8 else obs
    img = _tile_frames(_noise_255(images), x.shape[1])
    return (1 - alpha) * x + alpha * img


def random_shift(obs: torch.Tensor, shifts: torch.Tensor, pad: int = 4) -> torch.Tensor:
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


def replay_gather(frames, slots, pos, shifts, frame_stack, pad=4, dtype=None):
    """Frame stacks rebuilt from a ring of single frames, then shifted (see ops.replay_gather)."""
    capacity = frames.shape[0]
    back = torch.arange(frame_stack - 1, -1, -1, device=frames.device)  # oldest first
    src = (slots[:, None] - torch.minimum(back[None], pos[:, None])) % capacity  # [N, k]
    stacks = frames[src].flatten(1, 2)  # [N, 3k, H, W]
    out = random_shift(stacks, shifts, pad)
    return out.to(dtype or torch.float32)


def upsample_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """conv2d(nearest_upsample_2x(x), weight, bias, padding=1), as SMG's decoders compute it."""
    return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)


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


def greenscreen(frames: np.ndarray | torch.Tensor, background: np.ndarray | torch.Tensor):
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
