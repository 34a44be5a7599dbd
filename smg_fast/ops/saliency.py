"""SGQN's saliency mask and masked observation (upstream ``src/algorithms/rl_utils.py:76-82`` and
``sgsac.py:53-57``; reference §3.6 and §7, fixture README quirks 20-21).

* :func:`quantile_mask`: per sample and per frame, the max over RGB of ``|attribution|``, thresholded at its
  ``torch.quantile`` (linear interpolation) over the frame's H·W pixels with ``>=``. Upstream loops over the
  frames and repeats each mask over the frame's 3 channels; here all frames are one batched quantile, from
  a partial sort (:func:`quantile_last_dim`, equal to ``torch.quantile`` bit for bit), and the mask stays
  one channel per frame ``[B, F, H, W]``.
* :func:`fill_unmasked`: ``obs · mask`` with every pixel outside the mask set to one scalar (upstream:
  ``masked_obs = obs * mask; masked_obs[mask < 1] = value``), as one ``torch.where``.

Plain functions of eager torch ops (a sort and a few elementwise passes); no registered op: nothing here
needs an autograd formula (the mask is boolean, the fill a constant) and ``torch.compile`` traces them
as they are.
"""
from __future__ import annotations

import torch

__all__ = ["fill_unmasked", "quantile_last_dim", "quantile_mask", "quantile_mask_reference"]


def _check_stack(name: str, t: torch.Tensor) -> None:
    if t.dim() != 4 or t.shape[1] == 0 or t.shape[1] % 3 != 0:
        raise ValueError(f"{name} must be a 4-D tensor [B, 3*frames, H, W] with a channel count that is a "
                         f"positive multiple of 3, got shape {tuple(t.shape)}")


def quantile_mask(attribution: torch.Tensor, quantile: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixels whose attribution reaches the per-sample, per-frame ``quantile``.

    Args:
        attribution: float ``[B, 3F, H, W]`` (e.g. guided backprop of Q1 w.r.t. the observation).
        quantile: in [0, 1] (SGQN: 0.98 in ``scripts/sgsac.sh``, 0.90 in upstream's defaults).
    Returns:
        ``(mask, q)``: bool ``[B, F, H, W]``, ``max_rgb |attribution| >= q``, one channel per RGB frame;
        and the thresholds ``q`` ``[B, F]`` in the attribution's dtype.
    """
    if not isinstance(attribution, torch.Tensor) or not attribution.is_floating_point():
        raise TypeError(f"attribution must be a floating-point tensor, got "
                        f"{attribution.dtype if isinstance(attribution, torch.Tensor) else type(attribution).__name__}")
    _check_stack("attribution", attribution)
    if not isinstance(quantile, (int, float)) or isinstance(quantile, bool) or not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be a number in [0, 1], got {quantile!r}")
    b, c, h, w = attribution.shape
    saliency = attribution.abs().reshape(b, c // 3, 3, h, w).amax(dim=2)  # [B, F, H, W]
    q = quantile_last_dim(saliency.reshape(b, c // 3, h * w), float(quantile))
    return saliency >= q[..., None, None], q


def quantile_last_dim(x: torch.Tensor, quantile: float) -> torch.Tensor:
    """``torch.quantile(x, quantile, dim=-1)`` (linear interpolation), bit for bit, from a partial sort.

    torch.quantile sorts each row, then interpolates between the values at ranks ``floor(r)`` and
    ``ceil(r)``, ``r = quantile · (n − 1)`` computed in x's dtype, with ``lerp``; a row holding a NaN gives
    NaN. Only the ``n − floor(r)`` largest values are needed (143 of 7056 at SGQN's 0.98): ``topk`` finds
    them ~6× faster than the full sort on CPU, and the same two values go through the same ``lerp``."""
    n = x.shape[-1]
    rank = torch.tensor(quantile, dtype=x.dtype) * (n - 1)  # as ATen: q as a tensor of x's dtype
    below, above = int(rank.long()), int(rank.ceil().long())
    weight = (rank - below).to(x.device)
    top = x.topk(n - below, dim=-1, largest=True, sorted=True).values  # descending: rank i is top[n-1-i]
    q = top[..., n - 1 - below].lerp(top[..., n - 1 - above], weight)
    return torch.where(x.isnan().any(dim=-1), torch.full_like(q, float("nan")), q)


def quantile_mask_reference(attribution: torch.Tensor, quantile: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream's loop (``compute_attribution_mask``): frame by frame, the repeated 3-channel mask
    ``[B, 3F, H, W]``, and the thresholds ``[B, F]``."""
    masks, qs = [], []
    for i in range(0, attribution.shape[1], 3):
        a = attribution[:, i:i + 3].abs().max(dim=1)[0]
        q = torch.quantile(a.flatten(1), quantile, 1)
        masks.append((a >= q[:, None, None]).unsqueeze(1).repeat(1, 3, 1, 1))
        qs.append(q)
    return torch.cat(masks, dim=1), torch.stack(qs, dim=1)


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
    _check_stack("obs", obs)
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
