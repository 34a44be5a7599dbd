"""``quantile_mask``: SGQN's saliency mask (upstream ``src/algorithms/rl_utils.py:76-82``; reference §3.6 and
§7, fixture README quirks 20-21).

Per sample and per frame, the max over RGB of ``|attribution|``, thresholded at its ``torch.quantile``
(linear interpolation) over the frame's H·W pixels with ``>=``. Upstream loops over the frames and repeats
each mask over the frame's 3 channels; here all frames are one batched quantile, from a partial sort
(:func:`quantile_last_dim`, equal to ``torch.quantile`` bit for bit), and the mask stays one channel per
frame ``[B, F, H, W]``.

A plain function of eager torch ops (a partial sort and a few elementwise passes), not a registered op:
the mask is boolean (no autograd formula to write) and ``torch.compile`` traces it as it is.
:func:`quantile_mask_upstream` is upstream's loop, :func:`quantile_mask_reference` the same with one mask
channel per frame.
"""
from __future__ import annotations

import torch

from smg_fast.ops._common import check_stack


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
    check_stack("attribution", attribution)
    if not isinstance(quantile, (int, float)) or isinstance(quantile, bool) or not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be a number in [0, 1], got {quantile!r}")
    b, c, h, w = attribution.shape
    saliency = attribution.abs().reshape(b, c // 3, 3, h, w).amax(dim=2)  # [B, F, H, W]
    q = quantile_last_dim(saliency.reshape(b, c // 3, h * w), float(quantile))
    return saliency >= q[..., None, None], q


# torch 2.15 computes the rank r in float64 from q rounded to x's dtype (pytorch#187574, so that rows past
# 2^24 values get exact indices), and casts the weight r − floor(r) back to x's dtype; 2.11-2.14 computed r
# in x's dtype. For float32 the weight, so torch.quantile's result, differs (up to 14 ulps at the 0.98
# quantile of 7056 values), and upstream's SGQN uses the running torch's torch.quantile. (MPS, without
# float64, keeps float32 ranks on 2.15; smg-fast runs on CPU and CUDA.)
_RANK_IN_FLOAT64 = tuple(int(v) for v in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 15)


def quantile_last_dim(x: torch.Tensor, quantile: float) -> torch.Tensor:
    """``torch.quantile(x, quantile, dim=-1)`` (linear interpolation), bit for bit, from a partial sort.

    torch.quantile sorts each row, then interpolates between the values at ranks ``floor(r)`` and
    ``ceil(r)``, ``r = quantile · (n − 1)``, with ``lerp`` and the weight ``r − floor(r)`` in x's dtype; a
    row holding a NaN gives NaN. Only the ``n − floor(r)`` largest values are needed (143 of 7056 at SGQN's
    0.98): ``topk`` finds them ~6× faster than the full sort on CPU, and the same two values go through the
    same ``lerp``."""
    n = x.shape[-1]
    rank = torch.tensor(quantile, dtype=x.dtype)  # as ATen: q as a tensor of x's dtype
    rank = (rank.double() if _RANK_IN_FLOAT64 else rank) * (n - 1)
    below, above = int(rank.long()), int(rank.ceil().long())
    weight = (rank - below).to(x.device, x.dtype)
    top = x.topk(n - below, dim=-1, largest=True, sorted=True).values  # descending: rank i is top[n-1-i]
    q = top[..., n - 1 - below].lerp(top[..., n - 1 - above], weight)
    return torch.where(x.isnan().any(dim=-1), torch.full_like(q, float("nan")), q)


# ---- references -----------------------------------------------------------------------------------


def quantile_mask_upstream(attribution: torch.Tensor, quantile: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream's loop (``compute_attribution_mask``): frame by frame, the repeated 3-channel mask
    ``[B, 3F, H, W]``, and the thresholds ``[B, F]``."""
    masks, qs = [], []
    for i in range(0, attribution.shape[1], 3):
        a = attribution[:, i:i + 3].abs().max(dim=1)[0]
        q = torch.quantile(a.flatten(1), quantile, 1)
        masks.append((a >= q[:, None, None]).unsqueeze(1).repeat(1, 3, 1, 1))
        qs.append(q)
    return torch.cat(masks, dim=1), torch.stack(qs, dim=1)


def quantile_mask_reference(attribution: torch.Tensor, quantile: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream's loop, its mask as the op returns it: one channel per frame ``[B, F, H, W]``."""
    mask, q = quantile_mask_upstream(attribution, quantile)
    return mask[:, ::3], q
