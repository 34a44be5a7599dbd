"""SGQN's declaration: its settings (upstream's ``arguments.py`` and ``scripts/sgsac.sh``), 84×84 frames
(:mod:`smg_fast.agent.sgqn`)."""
from __future__ import annotations

from dataclasses import dataclass

from smg_fast.agent.config import AuxConfig
from smg_fast.agent.method import Frames, Method
from smg_fast.rules import UNIT, WEIGHT, setting


@dataclass
class SGQNConfig(AuxConfig):
    sgqn_quantile: float = setting(0.98, UNIT, "saliency threshold quantile (scripts/sgsac.sh; upstream's "
                                               "default 0.90)")
    consistency_weight: float = setting(0.5, WEIGHT, "weight of the critic's saliency consistency (hard-coded 0.5 "
                                                     "upstream; 0 = --consistency 0)")


SPEC = Method("sgqn", "Saliency-guided Q-networks: a critic consistent on its salient pixels, and an attribution "
              "predictor", SGQNConfig, "smg_fast.agent.sgqn:SGQNAgent",
              paper="Bertoin et al. 2022; upstream src/algorithms/sgsac.py",
              frames=Frames(sizes=(84,), why="its decoders draw 84×84 images"))
