"""Random convolution of a batch of frame stacks (SVEA's augmentation; Lee et al. 2020, as DMC-GB runs it).

Upstream (``augmentations.random_conv``, ``src/augmentations.py:179-188``) loops over the samples: for
sample i it draws a 3×3×3×3 kernel (``torch.randn(3, 3, 3, 3)``, [out, in, kh, kw]), views the sample's
stack as its 3 RGB frames, divides by 255, replicate-pads by 1, convolves, applies a sigmoid, multiplies by
255, and concatenates the results one by one. The output is **not** clipped to the input's range (it is
255·sigmoid, in (0, 255)); every frame of a sample gets the same kernel.

Design: :func:`random_conv` computes the whole batch as **one grouped convolution**: the batch is viewed
as a single image with B·F·3 channels, one group per (sample, frame) with that sample's kernel, so there
is no Python loop and no quadratic re-concatenation. It is a plain function of ATen ops (pad, conv2d,
sigmoid), not a registered op: autograd, ``torch.compile`` and ``torch.export`` handle it as it is, and a
custom op would only hide the convolution from the compiler and need a hand-written backward. (A compiled
kernel fusing /255, padding, the 27-tap conv and the sigmoid into one pass would save the padded copy
and two elementwise passes; the lead may add one after csrc/ is reorganised.) The kernels are an input, so
the random draws live with the caller (:meth:`smg_fast.agent.draws.Draws.conv_kernels`), and recorded
kernels reproduce a result exactly. :func:`random_conv_reference` is upstream's per-sample loop.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["random_conv", "random_conv_reference"]

_FLOATS = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def _check(x: torch.Tensor, kernels: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] == 0 or x.shape[1] % 3:
        raise ValueError(f"x must be a 4-D tensor [B, 3*frames, H, W] with a channel count that is a positive "
                         f"multiple of 3, got shape {tuple(getattr(x, 'shape', ()))}")
    if x.dtype != torch.uint8 and x.dtype not in _FLOATS:
        raise TypeError(f"x must be uint8 or a float tensor (0-255), got {x.dtype}")
    if not isinstance(kernels, torch.Tensor) or kernels.dtype not in _FLOATS:
        raise TypeError(f"kernels must be a float tensor, got {getattr(kernels, 'dtype', type(kernels).__name__)}")
    if kernels.shape != (x.shape[0], 3, 3, 3, 3):
        raise ValueError(f"kernels must be [B, 3, 3, 3, 3] = [{x.shape[0]}, 3, 3, 3, 3] (one [out, in, kh, kw] "
                         f"kernel per sample), got {tuple(kernels.shape)}")
    if x.is_floating_point() and x.dtype != kernels.dtype:
        raise TypeError(f"kernels dtype {kernels.dtype} must match x's ({x.dtype})")
    if kernels.device != x.device:
        raise ValueError(f"kernels must be on the same device as x ({x.device}), got {kernels.device}")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"x must have a non-empty image, got {tuple(x.shape)}")


def random_conv(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """``255·sigmoid(conv2d(replicate_pad_1(frame / 255), kernels[i]))`` for every frame of sample i.

    Args:
        x: ``[B, 3F, H, W]`` uint8 or float, 0-255 (F stacked RGB frames).
        kernels: float ``[B, 3, 3, 3, 3]``, sample i's ``[out, in, kh, kw]`` kernel; its dtype is the
            output's (and must be x's when x is float).
    Returns:
        ``[B, 3F, H, W]`` in (0, 255), kernels' dtype; differentiable in float ``x`` and in ``kernels``.
    """
    _check(x, kernels)
    b, c, h, w = x.shape
    groups = b * (c // 3)  # one group per (sample, frame), sample-major as the channels are
    img = x.to(kernels.dtype).reshape(1, b * c, h, w) / 255.0
    weight = kernels.unsqueeze(1).expand(b, c // 3, 3, 3, 3, 3).reshape(3 * groups, 3, 3, 3)
    out = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), weight, groups=groups)
    return (torch.sigmoid(out) * 255.0).view(b, c, h, w)


def random_conv_reference(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Upstream's loop: per sample, its frames as a batch of RGB images, /255, replicate pad 1, conv with
    the sample's kernel, sigmoid, ×255 (``augmentations.py:179-188``, with the draws passed in)."""
    b, c, h, w = x.shape
    outs = []
    for i in range(b):
        frames = x[i:i + 1].to(kernels.dtype).reshape(-1, 3, h, w) / 255.0
        frames = F.pad(frames, pad=[1] * 4, mode="replicate")
        outs.append(torch.sigmoid(F.conv2d(frames, kernels[i])) * 255.0)
    return torch.cat(outs).reshape(b, c, h, w)
