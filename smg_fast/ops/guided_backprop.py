"""``guided_backprop``: guided backpropagation (Springenberg et al., 2015), as SGQN computes its saliency with
captum's ``GuidedBackprop`` (upstream ``src/algorithms/rl_utils.py:35-63``; reference §3.6, fixture README
quirk 19).

The attribution of a model's scalar outputs to its input is the gradient of their sum with one change:
every ``nn.ReLU`` module passes back only the positive part of its input gradient,
``grad_x = relu(grad_y · 1[x > 0])`` (= ``relu(grad_y) · 1[y > 0]``). Nothing else in the model changes
(LayerNorm, tanh, linear and conv layers back-propagate as usual), and the model's parameters receive no
gradient.

``guided_backprop(model)`` sets the pass up once: a guided twin of the model (:func:`guided_twin`: its
modules copied with every ``nn.ReLU`` replaced by :class:`GuidedReLU`, an autograd function whose backward
is that rule; the parameters and buffers are the model's own tensors, so the twin always computes with the
current weights). Each call then runs the twin forward and takes its gradient with respect to the input
only (``torch.autograd.grad``; ``torch.func.grad`` while compiling, the form Dynamo of every supported
torch traces). Nothing changes a module during a call, so the pass traces into a compiled
(``fullgraph=True``) update, as SGQN's is. :func:`guided_backprop_reference` is captum's mechanism in plain
autograd: full backward hooks on the model's ReLU modules that replace their input gradient by its positive
part (in-place ReLUs are run out of place while hooked, as module backward hooks require). Both give captum
0.9's attributions bit for bit (the official fixture's ``attribution`` tensors, tests/test_parity_sgqn.py).

Why not captum itself: it is as fast (the pass costs what a plain input gradient costs: one forward and
one input-gradient backward; ``benchmarks/test_bench_srm_sgqn_ops.py``) but would add a dependency with its
own (matplotlib) for one rule, changes the model's modules while it runs (hooks), and runs the whole model
(both Q heads) where SGQN needs Q1.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]


class GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes ``relu(grad) · 1[y > 0]`` (guided backpropagation's rule)."""

    # forward and setup_context apart: the form torch.func transforms (the pass's torch.func.grad) accept.
    @staticmethod
    def forward(x):
        return torch.relu(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # threshold_backward(g, y, 0) is ReLU's own backward (g where y > 0, else 0).
        return torch.ops.aten.threshold_backward(grad.clamp_min(0), y, 0)


class _GuidedReLUModule(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return GuidedReLU.apply(x)


def guided_twin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose every ``nn.ReLU`` follows the guided-backprop rule (:class:`GuidedReLU`,
    out of place) and which shares ``model``'s parameters and buffers (the same tensors: it always computes
    with the current weights, in their current dtype)."""
    shared = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    twin = copy.deepcopy(model, shared)
    for m in list(twin.modules()):
        for name, child in list(m.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(m, name, _GuidedReLUModule())
    return twin


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (its ReLU modules follow the guided rule), got "
                        f"{type(model).__name__}")


def _outputs_sum(model: nn.Module, fn: Forward | None, x: torch.Tensor) -> torch.Tensor:
    out = model(x) if fn is None else fn(model, x)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        raise TypeError(f"fn must return a floating-point tensor, got {type(out).__name__}")
    return out.sum()


def _attribute(model: nn.Module, fn: Forward | None, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got "
                        f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
    if torch.compiler.is_compiling():
        # Dynamo before torch 2.13 cannot trace x.detach().requires_grad_() (Unsupported); it traces
        # torch.func.grad, the same backward ops and values. Not in eager: torch.func.grad differentiates with
        # create_graph, so the backward's intermediates live until it returns (the paper critic at batch 64:
        # about 2.5 times the autograd pass's peak memory). Under no_grad the parameters' autograd records
        # nothing; grad's own level still differentiates with respect to x.
        with torch.no_grad():
            grad = torch.func.grad(lambda leaf: _outputs_sum(model, fn, leaf))(x.detach())
    else:
        leaf = x.detach().requires_grad_()
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(_outputs_sum(model, fn, leaf), leaf)
    # Channels-last convolutions may hand back a channels-last gradient; callers get x's usual layout.
    return grad.contiguous()


class GuidedBackprop:
    """Guided backprop through one model (see :func:`guided_backprop`); holds the model's guided twin."""

    def __init__(self, model: nn.Module):
        _check_model(model)
        self.model = guided_twin(model)

    def __call__(self, x: torch.Tensor, fn: Forward | None = None) -> torch.Tensor:
        return _attribute(self.model, fn, x)


def guided_backprop(model: nn.Module) -> GuidedBackprop:
    """Guided backprop through ``model``, set up once: ``attribute = guided_backprop(critic)``, then
    ``attribute(x, fn)`` is the guided-backprop attribution of ``fn(critic, x).sum()`` to ``x``.

    Args:
        model: the module whose ReLU modules follow the guided rule (e.g. the critic). It is not changed:
            the pass runs on its guided twin, which shares its parameters.
    Returns:
        ``attribute(x, fn=None)``: ``x`` a float input (detached: its own graph is not extended); ``fn(m, x)``
        computes the outputs with the module ``m`` it is handed (e.g.
        ``lambda c, o: c.Q1(c.encoder(o), action)``), ``m(x)`` when ``fn`` is None. It returns a tensor like
        ``x``, without a graph; the model's parameters receive no gradient.
    """
    return GuidedBackprop(model)


# ---- reference ------------------------------------------------------------------------------------


class _HookedGuidedBackprop:
    """captum's mechanism, on the model itself: hooks on its ReLU modules for the length of each call."""

    def __init__(self, model: nn.Module):
        _check_model(model)
        self.model = model

    def __call__(self, x: torch.Tensor, fn: Forward | None = None) -> torch.Tensor:
        relus = [m for m in self.model.modules() if isinstance(m, nn.ReLU)]
        inplace = [m.inplace for m in relus]
        handles = [m.register_full_backward_hook(lambda m, gin, gout: tuple(F.relu(g) if g is not None else None
                                                                            for g in gin))
                   for m in relus]
        try:
            for m in relus:
                m.inplace = False
            return _attribute(self.model, fn, x)
        finally:
            for h in handles:
                h.remove()
            for m, flag in zip(relus, inplace):
                m.inplace = flag


def guided_backprop_reference(model: nn.Module) -> _HookedGuidedBackprop:
    """captum's GuidedBackprop mechanism, called as :func:`guided_backprop`'s result is: each ReLU module's
    full backward hook returns ``relu(grad_input)`` while the attribution runs on ``model`` itself."""
    return _HookedGuidedBackprop(model)
