"""SMG and its SAC-family baselines, sharing one encoder, one replay buffer and one training loop."""
from smg_fast.agent.config import ALGOS, Config, make_config
from smg_fast.agent.sac import SACAgent
from smg_fast.agent.smg import SMGAgent


def make_agent(cfg: Config, obs_shape, action_dim: int, overlay_images=None):
    """``smg`` → SMGAgent (needs ``overlay_images``: a callable returning uint8 [B, 3, H, W]);
    ``sac`` / ``drq`` → SACAgent."""
    if cfg.algo == "smg":
        if overlay_images is None:
            raise ValueError("SMG needs an overlay image source (overlay_images)")
        return SMGAgent(cfg, obs_shape, action_dim, overlay_images)
    return SACAgent(cfg, obs_shape, action_dim)


__all__ = ["ALGOS", "Config", "SACAgent", "SMGAgent", "make_agent", "make_config"]
