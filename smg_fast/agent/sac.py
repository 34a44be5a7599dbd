"""SAC on pixels (upstream ``src/algorithms/sac.py``): the core with no augmentation. Upstream's SAC samples
with ``sample()``, whose random crop does nothing at the 84×84 it renders, so it trains un-augmented."""
from __future__ import annotations

from smg_fast.agent.core import SACCore


class SACAgent(SACCore):
    pass
