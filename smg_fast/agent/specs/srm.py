"""SRM's declaration: its settings, hard-coded upstream in ``random_mask_freq_v2`` (:mod:`smg_fast.agent.srm`)."""
from __future__ import annotations

from dataclasses import dataclass

from smg_fast.agent.config import SACConfig
from smg_fast.agent.method import Method
from smg_fast.rules import UNIT, Range, setting

NYQUIST = Range(lo=0, hi=0.5)  # cycles per pixel


@dataclass
class SRMConfig(SACConfig):
    srm_mask_prob: float = setting(0.5, UNIT, "P(an update's batch is masked)")
    srm_low_max: float = setting(0.5, NYQUIST, "the ring's inner limit ~ round(U(0, srm_low_max), 2), cycles per "
                                               "pixel")
    srm_width_max: float = setting(0.05, NYQUIST, "the ring's width ~ round(U(0, srm_width_max), 2)")


SPEC = Method("srm", "DrQ whose batches lose a random ring of spatial frequencies in half the updates", SRMConfig,
              "smg_fast.agent.srm:SRMAgent", paper="Huang et al. 2022; upstream src/algorithms/srm.py")
