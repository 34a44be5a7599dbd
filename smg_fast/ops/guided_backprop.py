"""Guided backpropagation (Springenberg et al., 2015), as SGQN computes its saliency with captum's
``GuidedBackprop`` (upstream ``src/algorithms/rl_utils.py:35-63``; reference §3.6, fixture README quirk 19).

The attribution of a model's scalar outputs to its input is the gradient of their sum with one change:
every ``nn.ReLU`` module passes back only the positive part of its input gradient,
``grad_x = relu(grad_y · 1[x > 0])`` (= ``relu(grad_y) · 1[y > 0]``). Nothing else in the model changes
(LayerNorm, tanh, linear and conv layers back-propagate as usual), and the model's parameters receive no
gradient.

:func:`guided_backprop` runs the model with every ``nn.ReLU`` module swapped for :class:`GuidedReLU`, an
autograd function whose backward is that rule (a ReLU forward; one clamp and one fused threshold in the
backward), and takes ``torch.autograd.grad`` with respect to the input only.
:func:`guided_backprop_reference` is captum's mechanism in plain autograd: full backward hooks on the ReLU
modules that replace their input gradient by its positive part (in-place ReLUs are run out of place while
hooked, as module backward hooks require). Both give captum 0.9's attributions bit for bit (the official
fixture's ``attribution`` tensors, tests/test_parity_sgqn.py).

Why not captum itself: it is as fast (the pass costs what a plain input gradient costs: one forward and
one input-gradient backward; ``benchmarks/test_bench_srm_sgqn_ops.py``) but would add a dependency with its
own (matplotlib) for one rule, and runs the whole model (both Q heads) where SGQN needs Q1.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["GuidedReLU", "guided_backprop", "guided_backprop_reference", "guided_relus"]


class GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes ``relu(grad) · 1[y > 0]`` (guided backpropagation's rule)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.relu(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # threshold_backward(g, y, 0) is ReLU's own backward (g where y > 0, else 0).
        return torch.ops.aten.threshold_backward(grad.clamp_min(0), y, 0)


def _guided_forward(x: torch.Tensor) -> torch.Tensor:
    return GuidedReLU.apply(x)


def _relus(model: nn.Module) -> list[nn.ReLU]:
    return [m for m in model.modules() if isinstance(m, nn.ReLU)]


@contextlib.contextmanager
def guided_relus(model: nn.Module):
    """Within the block, every ``nn.ReLU`` module of ``model`` computes :class:`GuidedReLU` (out of place)."""
    relus = _relus(model)
    for m in relus:
        m.forward = _guided_forward  # an instance attribute shadows the class's forward
    try:
        yield
    finally:
        for m in relus:
            del m.forward


def _check(model, x):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (its ReLU modules follow the guided rule), got "
                        f"{type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got "
                        f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")


def _attribute(fn, x):
    leaf = x.detach().requires_grad_()
    with torch.enable_grad():
        out = fn(leaf)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            raise TypeError(f"fn must return a floating-point tensor, got {type(out).__name__}")
        (grad,) = torch.autograd.grad(out.sum(), leaf)
    # Channels-last convolutions may hand back a channels-last gradient; callers get x's usual layout.
    return grad.contiguous()


def guided_backprop(model: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Guided-backprop attribution of ``fn(x).sum()`` to ``x``, every ``nn.ReLU`` of ``model`` guided.

    Args:
        model: the module whose ReLU modules follow the guided rule (e.g. the critic).
        fn: ``x -> outputs``, computed with ``model`` (e.g. ``lambda o: critic.Q1(critic.encoder(o), a)``).
        x: float input; it is detached (its own graph is not extended).
    Returns:
        a tensor like ``x``, without a graph. The parameters of ``model`` receive no gradient.
    """
    _check(model, x)
    with guided_relus(model):
        return _attribute(fn, x)


def guided_backprop_reference(model: nn.Module, fn, x: torch.Tensor) -> torch.Tensor:
    """captum's GuidedBackprop mechanism: each ReLU module's full backward hook returns
    ``relu(grad_input)``."""
    relus = _relus(model)
    inplace = [m.inplace for m in relus]
    handles = [m.register_full_backward_hook(lambda m, gin, gout: tuple(F.relu(g) if g is not None else None
                                                                        for g in gin))
               for m in relus]
    try:
        for m in relus:
            m.inplace = False
        return _attribute(fn, x)
    finally:
        for h in handles:
            h.remove()
        for m, flag in zip(relus, inplace):
            m.inplace = flag
