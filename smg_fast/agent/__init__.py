"""SMG and its SAC-family baselines on one core (:mod:`smg_fast.agent.core`), sharing one encoder, one replay
buffer and one training loop. A method is its declaration (``specs/<name>.py``: settings, frames, ablation
losses, capabilities) and its update (``<name>.py``), registered here with one line. This module imports no
torch: the declarations are read without it, an update is imported when its agent is built."""
from __future__ import annotations

from smg_fast.agent.method import Method
from smg_fast.agent.specs import drq, sac, sgqn, smg, soda, srm, svea

# In the paper's column order (Tables 1, 2, 6-8), which reports and docs follow.
METHODS: dict[str, Method] = {
    "sac": sac.SPEC,
    "drq": drq.SPEC,
    "soda": soda.SPEC,
    "svea": svea.SPEC,
    "srm": srm.SPEC,
    "sgqn": sgqn.SPEC,
    "smg": smg.SPEC,
}


def method(algo: str) -> Method:
    """The declaration of method ``algo``; ValueError naming the methods for an unknown one."""
    if algo not in METHODS:
        raise ValueError(f"unknown algorithm {algo!r}: choose from {', '.join(METHODS)}")
    return METHODS[algo]


def method_class(algo: str) -> type:
    """The agent class of method ``algo`` (imports torch)."""
    return method(algo).agent_class()


def ablation_losses() -> dict[str, str]:
    """Every loss an ablation may drop, ``{name: weight setting}``, over the registered methods: the train
    command's ``--no-<name>`` flags and a grid's ``no = [...]``."""
    return {name: key for m in METHODS.values() for name, key in m.losses.items()}


def make_agent(run, obs_shape, action_dim: int, images=None):
    """The agent of a run (:class:`smg_fast.config.RunConfig`: its ``algo``, ``agent`` settings, ``device``
    and ``seed``). ``images``: the natural-image source of overlay-type augmentations, default
    ``run.agent.overlay_source`` (tests pass a callable returning uint8 ``[B, 3, H, W]``)."""
    return method_class(run.algo)(run.agent, obs_shape, action_dim, device=run.device, seed=run.seed, images=images)


def __getattr__(name: str):
    # The core's records and the agent classes, imported (with torch) on first use.
    if name in ("Batch", "Plan", "SACCore"):
        from smg_fast.agent import core

        return getattr(core, name)
    agents = {m.agent.partition(":")[2]: m for m in METHODS.values()}
    if name in agents:
        return agents[name].agent_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METHODS", "Method", "ablation_losses", "make_agent", "method", "method_class"]
