"""SVEA's declaration: its settings (``src/arguments.py``; ``scripts/svea.sh`` sets none of them)
(:mod:`smg_fast.agent.svea`)."""
from __future__ import annotations

from dataclasses import dataclass

from smg_fast.agent.config import SACConfig
from smg_fast.agent.method import Method
from smg_fast.rules import WEIGHT, OneOf, setting

SVEA_AUGS = ("random_conv", "overlay")


@dataclass
class SVEAConfig(SACConfig):
    svea_alpha: float = setting(0.5, WEIGHT, "α_svea: weight of the clean TD term")
    svea_beta: float = setting(0.5, WEIGHT, "β_svea: weight of the augmented TD term")
    svea_aug: str = setting("random_conv", OneOf(SVEA_AUGS), "τ: random_conv (the official code's) or overlay "
                                                             "(the paper's Table 1 for DMC)")


SPEC = Method("svea", "SAC whose critic also learns from augmented views against the clean target", SVEAConfig,
              "smg_fast.agent.svea:SVEAAgent", paper="Hansen et al. 2021; upstream src/algorithms/svea.py")
