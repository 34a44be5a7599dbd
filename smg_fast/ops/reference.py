"""The pure-PyTorch (and NumPy) references of the ops, under the ops' own names: ``reference.composite`` is
:func:`smg_fast.ops.composite`'s reference, and so on for every op, with the same arguments and results (up
to float rounding). Each is defined beside its op, in ``smg_fast/ops/<op>.py``; this module gathers them.

A reference states the op's semantics as plainly as the eager API allows (for several, upstream's own
formulation). The tests compare each op with it (values and gradients), the benchmarks time the op against
it, and ``fused_ops=false`` trains with it (:func:`smg_fast.ops.implementation`). References do not validate
their arguments. Beside them: the upstream formulations used as benchmark baselines.
"""
from smg_fast.ops.attribution_augment import attribution_augment_reference as attribution_augment
from smg_fast.ops.composite import composite_reference as composite
from smg_fast.ops.composite import composite_upstream
from smg_fast.ops.fill_unmasked import fill_unmasked_reference as fill_unmasked
from smg_fast.ops.frequency_mask import frequency_mask_reference as frequency_mask
from smg_fast.ops.greenscreen import GREEN_H, GREEN_S, GREEN_V, greenscreen_mask, greenscreen_python_loop, greenscreen_torch
from smg_fast.ops.greenscreen import greenscreen_reference as greenscreen
from smg_fast.ops.guided_backprop import guided_backprop_reference as guided_backprop
from smg_fast.ops.overlay import overlay_reference as overlay
from smg_fast.ops.quantile_mask import quantile_mask_reference as quantile_mask
from smg_fast.ops.quantile_mask import quantile_mask_upstream
from smg_fast.ops.random_conv import random_conv_reference as random_conv
from smg_fast.ops.random_crop import random_crop_reference as random_crop
from smg_fast.ops.random_shift import random_shift_reference as random_shift
from smg_fast.ops.replay_gather import replay_gather_reference as replay_gather
from smg_fast.ops.upsample_conv2d import upsample_conv2d_reference as upsample_conv2d

__all__ = [
    "GREEN_H", "GREEN_S", "GREEN_V",
    "attribution_augment", "composite", "composite_upstream", "fill_unmasked", "frequency_mask", "greenscreen",
    "greenscreen_mask", "greenscreen_python_loop", "greenscreen_torch", "guided_backprop", "overlay",
    "quantile_mask", "quantile_mask_upstream", "random_conv", "random_crop", "random_shift", "replay_gather",
    "upsample_conv2d",
]
