"""SAC on pixels: the core with no augmentation (:mod:`smg_fast.agent.sac`)."""
from smg_fast.agent.config import SACConfig
from smg_fast.agent.method import Method

SPEC = Method("sac", "SAC on pixels, no augmentation", SACConfig, "smg_fast.agent.sac:SACAgent",
              paper="Haarnoja et al. 2018; upstream src/algorithms/sac.py")
