"""Adam stepped with explicit gradients, so that a whole update (losses, gradients, optimiser steps) can be
one captured graph (``torch.compile(fullgraph=True)``, CUDA graphs).

``torch.optim.Adam.step`` cannot be inside such a graph: ``Optimizer.step`` breaks the graph on purpose
(``_use_grad_for_differentiable``) and ``zero_grad`` is skipped by Dynamo. :class:`Adam` keeps
``torch.optim.Adam``'s update rule (no weight decay, no AMSGrad) and its ``state_dict`` format (``step``,
``exp_avg``, ``exp_avg_sq`` per parameter; the param group's hyperparameters), so checkpoints load either
way; it takes the gradients as a list (``torch.autograd.grad``) instead of reading ``.grad``:

* eagerly, it runs the very kernel ``torch.optim.Adam(fused=True)`` runs (``torch._fused_adam_``: one pass
  per parameter group on CPU and CUDA);
* under ``torch.compile`` it is the same rule in ``torch._foreach_*`` / per-tensor ops, which the compiler
  fuses (equal to the fused kernel up to float rounding: tests/test_compile.py).

A torch 2.13 pitfall this works around: Dynamo turns a *plain* 0-dim float64 (or integer) CPU tensor
input into a symbolic Python number, and then silently drops in-place updates of it and reuses stale
values (aot_eager and inductor; measured here). Such tensors (α's ``log_alpha`` and its Adam state in
float64 runs) are ``nn.Parameter`` objects, which Dynamo treats as tensors; every in-place write to
parameters and state is a ``_foreach_`` op as well.

Step counters are float32 tensors on the parameter's device, as the fused / capturable Adam keeps them (no
host sync to read them); the bias corrections are computed in float64 from them.

The fused kernel walks a parameter, its gradient and its moments as flat memory: it is correct only when the
four share one memory layout. ``torch.autograd.grad`` may return a gradient in another layout than its
parameter's (a channels-last gradient of a contiguous weight, or the reverse: one ``.data`` swap makes
either), which the kernel would silently mix up (a relative error of ~1.4 in the step, measured), so the
eager step copies such a gradient (and moments left in an old layout) into the parameter's layout first,
and refuses a parameter whose memory is not dense or a gradient of another shape.
"""
from __future__ import annotations

from collections import defaultdict

import torch


def _zeros_like(p: torch.Tensor) -> torch.Tensor:
    z = torch.zeros_like(p, memory_format=torch.preserve_format)
    # 0-dim: a Parameter, so a compiled graph keeps it a tensor (module docstring).
    return torch.nn.Parameter(z, requires_grad=False) if z.dim() == 0 else z


def _dense(t: torch.Tensor) -> bool:
    """Whether ``t`` covers its memory exactly once, in some order of its dimensions (then ``empty_like``
    keeps its strides)."""
    if t.numel() == 0:
        return True
    expected = 1
    for size, stride in sorted((d for d in zip(t.shape, t.stride()) if d[0] != 1), key=lambda d: d[1]):
        if stride != expected:
            return False
        expected *= size
    return True


class Adam:
    """``torch.optim.Adam(params, lr, betas, eps)`` with ``step(grads)``; ``grads[i]`` belongs to
    ``params[i]``, ``None`` leaves that parameter (and its state) untouched, as ``torch.optim.Adam`` does
    for a parameter without a gradient."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params: list[torch.Tensor] = list(params)
        if not self.params:
            raise ValueError("Adam got an empty parameter list")
        if not 0.0 <= lr or not 0.0 <= eps or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid Adam hyperparameters: lr={lr}, betas={betas}, eps={eps}")
        # One group, laid out as torch.optim.Adam(fused=True)'s (parity tests and checkpoints read it).
        self.param_groups = [{"params": self.params, "lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": 0,
                              "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                              "differentiable": False, "fused": True, "decoupled_weight_decay": False}]
        # Created on first use, like torch.optim.Adam's, so a dtype or device change of the parameters
        # after construction (tests convert modules to float64) gives state of their dtype and device.
        self.exp_avgs: list[torch.Tensor] = []
        self.exp_avg_sqs: list[torch.Tensor] = []
        self.steps: list[torch.Tensor] = []

    @property
    def group(self) -> dict:
        return self.param_groups[0]

    def init_state(self) -> None:
        """Zero moments and step counters for every parameter (once; before a graph is captured)."""
        if self.steps:
            return
        self.exp_avgs = [_zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [_zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    def state_tensors(self) -> list[torch.Tensor]:
        return [*self.exp_avgs, *self.exp_avg_sqs, *self.steps]

    @torch.no_grad()
    def step(self, grads) -> None:
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"step got {len(grads)} gradients for {len(self.params)} parameters")
        if not torch.compiler.is_compiling():
            self.init_state()
        idx = [i for i, g in enumerate(grads) if g is not None]
        pick = lambda ts: [ts[i] for i in idx]  # noqa: E731
        params, grads = pick(self.params), pick(grads)
        exp_avgs, exp_avg_sqs, steps = pick(self.exp_avgs), pick(self.exp_avg_sqs), pick(self.steps)
        if not params:
            return
        if not torch.compiler.is_compiling():
            grads = self._in_parameter_layout(idx, params, grads)
            exp_avgs, exp_avg_sqs = pick(self.exp_avgs), pick(self.exp_avg_sqs)
        g = self.group
        beta1, beta2 = g["betas"]
        torch._foreach_add_(steps, 1)
        if not torch.compiler.is_compiling():
            # torch.optim.Adam(fused=True)'s kernel, per device and dtype as it groups them.
            groups = defaultdict(list)
            for i, p in enumerate(params):
                groups[(p.device, p.dtype)].append(i)
            for members in groups.values():
                sel = lambda ts: [ts[i] for i in members]  # noqa: E731
                torch._fused_adam_(sel(params), sel(grads), sel(exp_avgs), sel(exp_avg_sqs), [], sel(steps),
                                   lr=g["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0, eps=g["eps"],
                                   amsgrad=False, maximize=False)
            return
        # The same rule in traceable ops (torch.optim.Adam's single-tensor formula); only _foreach_ ops
        # write to parameters and state (see the module docstring).
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        updates = []
        for m, v, t in zip(exp_avgs, exp_avg_sqs, steps):
            t = t.double()
            step_size = g["lr"] / (1 - beta1**t)
            denom = v.sqrt() / (1 - beta2**t).sqrt() + g["eps"]
            updates.append(m / denom * -step_size)
        torch._foreach_add_(params, updates)

    def _in_parameter_layout(self, idx: list[int], params: list[torch.Tensor], grads: list[torch.Tensor]):
        """``grads`` with each one in its parameter's strides (a copy where they differ); moments whose layout
        no longer matches their parameter's (the parameter was converted after the first step) are brought to
        it as well. ValueError for a gradient of another shape or a parameter whose memory has gaps. The
        common case (every layout matches) costs a comparison of shapes and strides per parameter."""
        out = []
        for i, p, grad in zip(idx, params, grads):
            stride = p.stride()
            if grad.shape != p.shape:
                raise ValueError(f"Adam: the gradient of parameter {i} has shape {tuple(grad.shape)}, the "
                                 f"parameter {tuple(p.shape)}")
            if grad.stride() == stride and self.exp_avgs[i].stride() == stride:
                out.append(grad)
                continue
            if not _dense(p):
                raise ValueError(f"Adam: parameter {i} (shape {tuple(p.shape)}, strides {stride}) has gaps or "
                                 "overlaps in memory, which the fused step cannot walk")
            if grad.stride() != stride:
                grad = torch.empty_like(p, memory_format=torch.preserve_format).copy_(grad)
            for moments in (self.exp_avgs, self.exp_avg_sqs):
                if moments[i].stride() != stride:
                    moments[i] = torch.empty_like(p, memory_format=torch.preserve_format).copy_(moments[i])
            out.append(grad)
        return out

    # ---- checkpoints: torch.optim.Adam's format ---------------------------------------------------

    def state_dict(self) -> dict:
        state = {i: {"step": t, "exp_avg": m, "exp_avg_sq": v}
                 for i, (t, m, v) in enumerate(zip(self.steps, self.exp_avgs, self.exp_avg_sqs))}
        group = {k: v for k, v in self.group.items() if k != "params"}
        return {"state": state, "param_groups": [{**group, "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state: dict) -> None:
        """A state from :meth:`state_dict` or from ``torch.optim.Adam`` over the same parameters; copied into
        this optimiser's tensors (their addresses stay: a captured graph keeps using them)."""
        groups = state["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"optimizer state has {[len(g['params']) for g in groups]} parameters in "
                             f"{len(groups)} group(s), this Adam has {len(self.params)} in one")
        for k in ("lr", "betas", "eps"):
            self.group[k] = tuple(groups[0][k]) if k == "betas" else groups[0][k]
        self.init_state()
        with torch.no_grad():
            for pos, i in enumerate(groups[0]["params"]):
                s = state["state"].get(i)
                if s is None:  # never stepped (torch.optim.Adam keeps no state for it)
                    tensors = (self.steps[pos], self.exp_avgs[pos], self.exp_avg_sqs[pos])
                    torch._foreach_zero_(list(tensors))
                    continue
                self.steps[pos].copy_(torch.as_tensor(s["step"]))
                self.exp_avgs[pos].copy_(s["exp_avg"])
                self.exp_avg_sqs[pos].copy_(s["exp_avg_sq"])
