"""SMG and its SAC-family baselines on one core (:mod:`smg_fast.agent.core`), sharing one encoder, one replay
buffer and one training loop. A method is one module; its name is registered in :data:`METHODS`."""
from smg_fast.agent.core import Batch, SACCore
from smg_fast.agent.drq import DrQAgent
from smg_fast.agent.sac import SACAgent
from smg_fast.agent.sgqn import SGQNAgent
from smg_fast.agent.smg import SMGAgent
from smg_fast.agent.srm import SRMAgent
from smg_fast.agent.soda import SODAAgent
from smg_fast.agent.svea import SVEAAgent

METHODS: dict[str, type[SACCore]] = {
    "sac": SACAgent,
    "drq": DrQAgent,
    "smg": SMGAgent,
    "srm": SRMAgent,
    "sgqn": SGQNAgent,
    "soda": SODAAgent,
    "svea": SVEAAgent,
}
ALGOS = tuple(METHODS)


def method_class(algo: str) -> type[SACCore]:
    if algo not in METHODS:
        raise ValueError(f"unknown algorithm {algo!r}: choose from {', '.join(METHODS)}")
    return METHODS[algo]


def make_agent(run, obs_shape, action_dim: int, images=None) -> SACCore:
    """The agent of a run (:class:`smg_fast.config.RunConfig`: its ``algo``, ``agent`` settings, ``device``
    and ``seed``). ``images``: the natural-image source of overlay-type augmentations, default
    ``run.agent.overlay_source`` (tests pass a callable returning uint8 ``[B, 3, H, W]``)."""
    return method_class(run.algo)(run.agent, obs_shape, action_dim, device=run.device, seed=run.seed, images=images)



__all__ = ["ALGOS", "Batch", "METHODS", "SACCore", "SACAgent", "DrQAgent", "SMGAgent", "SODAAgent", "SVEAAgent", "SRMAgent",
           "SGQNAgent", "make_agent", "method_class"]
