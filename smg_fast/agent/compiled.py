"""The tensor part of an update (:meth:`smg_fast.agent.core.SACCore.train_step`) as captured graphs
(``compile=True``, ``--compile``).

``torch.compile(fullgraph=True)`` traces the whole step — forward passes, ``torch.autograd.grad`` of every
loss, gradient clipping, the Adam steps (:class:`smg_fast.agent.adam.Adam`), the soft target updates — into
one graph per plan shape (the Python bools of :class:`smg_fast.agent.core.Plan`: even and odd steps,
SMG's augmentation kind, SRM's applied-or-not, ...). ``fullgraph=True`` makes every graph break an error,
and a graph break is what a host sync in Python would need (``.item()``, ``bool(tensor)``, ``if`` on a
tensor's value, ``.tolist()``, ``.cpu()``): a step that compiles has none of them.

* CUDA: inductor with ``mode="reduce-overhead"``, i.e. CUDA graphs (the step is replayed with one launch;
  parameters, optimiser state and α keep static addresses, batches are copied into the graph's inputs).
  Not run on this project's machines (no GPU): the code path, not a measured one.
* CPU: inductor (C++/OpenMP kernels); what it gains against eager is measured in
  ``benchmarks/test_bench_update.py`` (README).

Each plan shape is compiled once, on its first use (minutes for inductor on a 2-core CPU, see README); a
plan shape seen later (e.g. the first odd step) compiles then.
"""
from __future__ import annotations

import torch

# Graphs per agent: one per plan shape (SMG: even/odd × attribution/overlay × mask warm-up = 6 at most).
# Hitting the limit would silently fall back to eager; fail instead.
RECOMPILE_LIMIT = 16


class CompiledStep:
    """``agent.train_step`` under ``torch.compile(fullgraph=True)``. ``backend``: ``"inductor"`` (training)
    or e.g. ``"aot_eager"`` (tests: the same traced graph run by eager kernels, so it equals eager bit for
    bit where the graph does); ``mode``: default ``"reduce-overhead"`` (CUDA graphs) for inductor on CUDA."""

    def __init__(self, agent, backend: str = "inductor", mode: str | None = None):
        self.agent = agent
        if mode is None and backend == "inductor" and agent.device.type == "cuda":
            mode = "reduce-overhead"
        self.cuda_graphs = mode == "reduce-overhead"
        self.fn = torch.compile(agent.train_step, fullgraph=True, dynamic=False, backend=backend, mode=mode)
        self.prepared = False

    def _prepare(self) -> None:
        """Optimiser state exists before the first capture, and every tensor the step mutates in place keeps
        its address: parameters and buffers are static already (Dynamo marks them); α and Adam's state are
        marked, so CUDA graphs update them in place instead of copying them in every replay."""
        agent = self.agent
        for opt in agent.optimizers().values():
            opt.init_state()
            for t in opt.state_tensors():
                torch._dynamo.mark_static_address(t)
        torch._dynamo.mark_static_address(agent.log_alpha)
        self.prepared = True

    def __call__(self, b, plan) -> dict[str, torch.Tensor]:
        if not self.prepared:
            self._prepare()
        with torch._dynamo.config.patch(trace_autograd_ops=True, recompile_limit=RECOMPILE_LIMIT,
                                        fail_on_recompile_limit_hit=True):
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            metrics = self.fn(b, plan)
        if self.cuda_graphs:  # outputs live in the graph's memory pool until the next replay
            metrics = {k: v.clone() for k, v in metrics.items()}
        return metrics
