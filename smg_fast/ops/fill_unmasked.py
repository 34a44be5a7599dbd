"""``fill_unmasked``: SGQN's masked observation, ``obs`` where the saliency mask holds and one scalar
elsewhere (upstream ``sgsac.py:53-57``: ``masked_obs = obs * mask; masked_obs[mask < 1] = value``; reference
§3.6 and §7).

Here one ``torch.where`` over the frames, with the mask one channel per frame: a plain function of eager
torch ops, not a registered op (the mask is boolean and the fill a constant: autograd and ``torch.compile``
handle it as it is). :func:`fill_unmasked_reference` is upstream's multiply-then-assign.
"""
from __future__ import annotations

import torch

from smg_fast.ops._common import check_stack


def fill_unmasked(obs: torch.Tensor, mask: torch.Tensor, value) -> torch.Tensor:
    """``obs`` where ``mask`` holds, ``value`` elsewhere.

    Args:
        obs: float ``[B, 3F, H, W]``.
        mask: bool ``[B, F, H, W]`` (one channel per RGB frame) or ``[B, 3F, H, W]``.
        value: a number or a 0-dim tensor (SGQN: one uniform draw between the batch's min and max).
    Returns:
        float tensor like ``obs`` (no gradient reaches ``mask``; ``obs`` keeps its gradient where kept).
    """
    if not isinstance(obs, torch.Tensor) or not obs.is_floating_point():
        raise TypeError(f"obs must be a floating-point tensor, got "
                        f"{obs.dtype if isinstance(obs, torch.Tensor) else type(obs).__name__}")
    check_stack("obs", obs)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got "
                        f"{mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__}")
    b, c, h, w = obs.shape
    if mask.dim() != 4 or mask.shape[0] != b or mask.shape[2:] != (h, w) or mask.shape[1] not in (c // 3, c):
        raise ValueError(f"mask must be [B, F, H, W] or [B, 3F, H, W] for obs {tuple(obs.shape)}, got shape "
                         f"{tuple(mask.shape)}")
    value = torch.as_tensor(value, dtype=obs.dtype, device=obs.device)
    if value.dim() != 0:
        raise ValueError(f"value must be a scalar, got shape {tuple(value.shape)}")
    if mask.shape[1] == c:
        return torch.where(mask, obs, value)
    f = c // 3
    return torch.where(mask.view(b, f, 1, h, w), obs.reshape(b, f, 3, h, w), value).reshape(b, c, h, w)


def fill_unmasked_reference(obs: torch.Tensor, mask: torch.Tensor, value) -> torch.Tensor:
    """Upstream's way: the mask repeated over each frame's 3 channels, ``obs * mask``, then every pixel
    outside the mask set to ``value``."""
    full = mask.repeat_interleave(obs.shape[1] // mask.shape[1], dim=1)
    out = obs * full
    out[full < 1] = torch.as_tensor(value, dtype=obs.dtype, device=obs.device)
    return out
