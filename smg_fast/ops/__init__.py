"""SMG's and the baselines' image ops: fused kernels compiled in ``smg_fast._C`` and Python ops.

One module per op, ``smg_fast/ops/<op>.py``, holds its documented wrapper, its fake (meta) kernel and
autograd formula where it is a registered operator (``torch.ops.smg_fast.<op>``), and its pure-PyTorch
reference. The compiled ops (``composite``, ``attribution_augment``, ``overlay``, ``greenscreen``,
``random_shift``, ``replay_gather``, ``upsample_conv2d``) have their schema, argument checks and CPU / CUDA
kernels in ``csrc/ops/<op>.cpp`` with ``cpu/`` and ``cuda/`` beside it; the Python ops (``random_crop``,
``random_conv``, ``frequency_mask``, ``guided_backprop``, ``quantile_mask``, ``fill_unmasked``) are written
with torch operators. Every op works under autograd, ``torch.compile(fullgraph=True)`` and ``torch.export``.
:mod:`smg_fast.ops.reference` gathers the references under the ops' names.

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

import sys

from smg_fast import _extension
from smg_fast.ops import reference
from smg_fast.ops.attribution_augment import attribution_augment
from smg_fast.ops.composite import composite
from smg_fast.ops.fill_unmasked import fill_unmasked  # SGQN
from smg_fast.ops.frequency_mask import frequency_mask, ring_mask  # SRM
from smg_fast.ops.greenscreen import greenscreen
from smg_fast.ops.guided_backprop import guided_backprop  # SGQN
from smg_fast.ops.overlay import overlay
from smg_fast.ops.quantile_mask import quantile_mask  # SGQN
from smg_fast.ops.random_conv import random_conv  # SVEA
from smg_fast.ops.random_crop import random_crop, sample_crop_offsets  # SODA
from smg_fast.ops.random_shift import random_shift, sample_shifts
from smg_fast.ops.replay_gather import replay_gather
from smg_fast.ops.upsample_conv2d import upsample_conv2d

has_cuda_kernels = _extension.has_cuda_kernels

__all__ = [
    "attribution_augment",
    "composite",
    "fill_unmasked",
    "frequency_mask",
    "greenscreen",
    "guided_backprop",
    "has_cuda_kernels",
    "implementation",
    "overlay",
    "quantile_mask",
    "random_conv",
    "random_crop",
    "random_shift",
    "reference",
    "replay_gather",
    "ring_mask",
    "sample_crop_offsets",
    "sample_shifts",
    "upsample_conv2d",
]


def implementation(fused: bool):
    """The ops as one namespace, fused or not: this package when ``fused``, else :mod:`smg_fast.ops.reference`
    (the pure-PyTorch references under the same names, with the same arguments). The one switch behind the
    ``fused_ops`` setting: ``impl = ops.implementation(cfg.fused_ops)``, then ``impl.overlay(...)``."""
    return sys.modules[__name__] if fused else reference
