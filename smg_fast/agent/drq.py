"""DrQ (upstream ``src/algorithms/drq.py``): SAC on randomly shifted observations — replicate-pad 4, crop back
to 84 at a per-sample offset, obs and next_obs shifted independently (``sample_drq``); K = M = 1, no
averaging over several augmentations."""
from __future__ import annotations

from smg_fast.agent.core import SACCore


class DrQAgent(SACCore):
    shift = True
