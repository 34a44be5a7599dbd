"""Agent hyperparameters shared by every method: the SAC core of upstream's ``src/arguments.py`` (paper Table
5 where it gives them). Each method extends :class:`SACConfig` with its own settings in its module
(e.g. :class:`smg_fast.agent.smg.SMGConfig`). Run-level settings (task, device, run directory, schedule,
evaluation, checkpoints) are in :mod:`smg_fast.config`.
"""
from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("fp32", "bf16")


@dataclass
class SACConfig:
    batch_size: int = 64
    discount: float = 0.99
    hidden_dim: int = 1024
    projection_dim: int = 256
    num_shared_layers: int = 11  # upstream's trunk; DrQ's own encoder has 4 (projections follow)
    num_filters: int = 32
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    alpha_lr: float = 1e-4
    alpha_beta: float = 0.5
    init_temperature: float = 0.1
    actor_log_std_min: float = -10.0
    actor_log_std_max: float = 2.0
    actor_update_freq: int = 2
    critic_target_update_freq: int = 2
    critic_tau: float = 0.01
    encoder_tau: float = 0.05
    # augmentation sources: replay shifts (methods that shift), natural images for the methods that
    # overlay them ("folder:PATH" such as Places365, or "procedural")
    shift_pad: int = 4
    overlay_source: str = "procedural"
    overlay_alpha: float = 0.5
    # compute: fused ops (False: the pure-PyTorch references and eager decoders); precision "fp32" (the
    # paper's) or "bf16" (forward passes under bfloat16 autocast; parameters, Adam, losses and network
    # outputs stay float32); compile: the update's tensor part as torch.compile(fullgraph=True) graphs
    # (inductor; CUDA graphs on a GPU), see smg_fast/agent/compiled.py
    fused_ops: bool = True
    precision: str = "fp32"
    compile: bool = False

    def check(self) -> None:
        """ValueError for settings no update can run with."""
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}: choose from {', '.join(PRECISIONS)}")
        if not isinstance(self.compile, bool):  # a truthy string such as "false" must not turn it on
            raise ValueError(f"compile takes true or false, got {self.compile!r}")
