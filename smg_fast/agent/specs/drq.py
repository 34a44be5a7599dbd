"""DrQ: SAC on randomly shifted observations (:mod:`smg_fast.agent.drq`)."""
from smg_fast.agent.config import SACConfig
from smg_fast.agent.method import Method

SPEC = Method("drq", "SAC on randomly shifted observations (pad 4, crop back)", SACConfig,
              "smg_fast.agent.drq:DrQAgent", paper="Kostrikov et al. 2021; upstream src/algorithms/drq.py")
