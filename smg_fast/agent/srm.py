"""SRM, spectrum random masking (upstream ``src/algorithms/srm.py`` with ``src/utils.py:286-329``; reference
§3.6, §7, §9 item 24; fixture README quirks 16-18): DrQ (randomly shifted obs and next obs) whose observation
batch loses one ring of spatial frequencies in half of the updates.

Per update, in upstream's order (three Python uniforms from the agent's draws; one when not applied):

1. ``p = U(0, 1)``; the batch is masked iff ``p <= mask_prob`` (0.5), the whole batch or none of it;
2. ``low = round(U(0, low_max), 2)`` (low_max 0.5), ``diff = round(U(0, width_max), 2)`` (width_max 0.05),
   ``high = low + diff``;
3. every image of the shifted observations loses the frequencies with ``low <= max(|fy|, |fx|) < high``
   (cycles per pixel; a square, L-infinity ring; ``low = 0`` removes the mean, ``diff = 0`` nothing)
   — :func:`smg_fast.ops.frequency_mask` with the ring as a tensor (:func:`smg_fast.ops.ring_mask`): the
   draws and the ring are made on the host (``plan``), so in a compiled update a new ring is new data, not
   a new graph (the applied and the unmasked update are two graphs).

The masked observations feed the critic and the actor update; the next observations (TD target) are never
masked. The official code's per-update TensorBoard grids are not built.

Paper vs code: the paper's Table 5 gives walker action repeat 4, which is what this project uses for every
method (``smg_fast.tasks``); upstream's ``scripts/srm.sh`` runs walker with action repeat 2 —
``--set action_repeat=2`` reproduces the script.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

import smg_fast.ops as ops
from smg_fast.agent.core import Batch, Plan, SACCore
from smg_fast.agent.specs.srm import SRMConfig


@dataclass
class SRMPlan(Plan):
    """SRM's draw for one update: the removed frequencies, bool ``[H, W]`` (unshifted FFT order,
    :func:`smg_fast.ops.ring_mask`), or None when the batch stays unmasked."""

    removed: torch.Tensor | None = None


class SRMAgent(SACCore):
    Config = SRMConfig
    shift = True

    def draw_ring(self) -> tuple[float, float] | None:
        """This update's ring ``(low, high)``, or None when the batch stays unmasked (upstream's draws)."""
        cfg = self.cfg
        if self.draws.uniform(0, 1) > cfg.srm_mask_prob:
            return None
        low = round(self.draws.uniform(0, cfg.srm_low_max), 2)
        diff = round(self.draws.uniform(0, cfg.srm_width_max), 2)
        return low, low + diff

    def plan(self, b: Batch, replay, step: int) -> SRMPlan:
        ring = self.draw_ring()
        removed = None
        if ring is not None:
            h, w = b.obs.shape[-2:]
            removed = ops.ring_mask(h, w, *ring, dtype=b.obs.dtype, device=b.obs.device)
        return super().plan(b, replay, step).extend(SRMPlan, removed=removed)

    def augment(self, b: Batch, plan: SRMPlan) -> Batch:
        if plan.removed is None:
            return b
        return dataclasses.replace(b, obs=ops.frequency_mask(b.obs, plan.removed))
