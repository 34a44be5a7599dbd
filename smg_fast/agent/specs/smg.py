"""SMG's declaration: its settings (``scripts/smg.sh`` and the paper's Table 5; upstream's own defaults are all
0), 84×84 frames, the six losses of the paper's ablations, and its pictures (:mod:`smg_fast.agent.smg`)."""
from __future__ import annotations

from dataclasses import dataclass

from smg_fast.agent.config import AuxConfig
from smg_fast.agent.method import Frames, Method
from smg_fast.rules import COUNT, UNIT, WEIGHT, Flag, Range, redefault, setting


@dataclass
class SMGConfig(AuxConfig):
    aux_lr: float = redefault(AuxConfig, "aux_lr", 1e-3, "auxiliary model's Adam learning rate (hard-coded "
                                                          "upstream: --aux_lr is ignored by SMG)")
    recon_weight: float = setting(1.0, WEIGHT, "λ_recon: reconstruction loss (0 drops it)")
    mask_weight: float = setting(1.0, WEIGHT, "λ_mask: mask-ratio loss (0 drops it)")
    back_weight: float = setting(2.0, WEIGHT, "λ_back: background loss (0 drops it)")
    action_weight: float = setting(1.0, WEIGHT, "λ_action: inverse-dynamics loss (0 drops it)")
    fore_weight: float = setting(0.1, WEIGHT, "λ_fore: foreground-consistency loss (0 drops it)")
    q_consistency_weight: float = setting(0.5, WEIGHT, "λ_qc: Q-consistency loss of the critic (0 drops it)")
    mask_ratio: float = setting(0.06, UNIT, "ρ: the mask's target foreground fraction (per task, Table 5)")
    mask_warmup: int = setting(1000, COUNT, "mask loss only after this step (upstream code 1000; the paper 0)",
                               flag="--mask-warmup")
    grad_clip_norm: float = setting(100.0, Range(lo=0, lo_open=True, finite=False),
                                    "auxiliary gradients clipped to this norm (inf: no clipping)")
    attribution_prob: float = setting(0.25, UNIT, "P(attribution) in the hybrid augmentation (upstream code "
                                                  "0.25; the paper 0.5)", flag="--attribution-prob")
    reinit_critic_encoder: bool = setting(True, Flag(), "upstream's quirk: building the inverse-dynamics model "
                                                        "re-initialises the critic encoder")


SPEC = Method(
    "smg", "Separated Models for Generalization: foreground/background models beside SAC on shifted frames",
    SMGConfig, "smg_fast.agent.smg:SMGAgent", paper="Zhang et al., NeurIPS 2024; upstream src/algorithms/smg.py",
    frames=Frames(sizes=(84,), why="its decoders draw 84×84 images"),
    losses={"recon": "recon_weight", "mask": "mask_weight", "back": "back_weight", "action": "action_weight",
            "fore": "fore_weight", "q-consistency": "q_consistency_weight"},
    explains=True)
