"""SODA's declaration: its settings (``src/arguments.py``; ``scripts/soda.sh`` sets none) and 100×100 frames
cropped to 84 (:mod:`smg_fast.agent.soda`)."""
from __future__ import annotations

from dataclasses import dataclass

from smg_fast.agent.config import AuxConfig
from smg_fast.agent.method import Frames, Method
from smg_fast.rules import UNIT, Flag, Range, setting


@dataclass
class SODAConfig(AuxConfig):
    # aux_lr 3e-4: the SMG repository's arguments.py, which its SODA uses; DMC-GB's SODA: 1e-3
    soda_batch_size: int = setting(256, Range(lo=2, hi=65_536, integer=True),
                                   "observations per SODA step (BatchNorm in training mode needs 2)")
    soda_tau: float = setting(0.005, UNIT, "soft-update rate of the target predictor")
    reinit_shared_trunk: bool = setting(True, Flag(), "upstream's quirk: building the predictor re-initialises "
                                                      "the shared trunk after the critic target's copy")


SPEC = Method(
    "soda", "Soft Data Augmentation: SAC plus a predictor of clean embeddings from overlaid views", SODAConfig,
    "smg_fast.agent.soda:SODAAgent", paper="Hansen & Wang 2021; upstream src/algorithms/soda.py",
    frames=Frames(render=100, sizes=(84, 100), why="it crops 100×100 frames to 84×84", crop=84))
