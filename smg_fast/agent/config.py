"""All hyperparameters in one place: the paper's Table 5 (``--preset paper``), upstream's code where
the paper is silent or differs, and a reduced ``quick`` preset for CPUs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from smg_fast.tasks import DMC_MODES, check_modes, task_spec

ALGOS = ("smg", "sac", "drq")
PRECISIONS = ("fp32", "bf16")


@dataclass
class Config:
    # run
    task: str = "walker-walk"
    algo: str = "smg"
    seed: int = 0
    device: str = "cpu"
    preset: str = "paper"
    # environment (paper: frame stack 3, 84×84; action repeat per task)
    frame_stack: int = 3
    image_size: int = 84
    action_repeat: int = 4
    episode_length: int = 1000  # control steps (DMC); agent steps = episode_length / action_repeat
    train_steps: int = 500_000  # agent steps (upstream's loop counts agent steps)
    # replay and updates (upstream: capacity = train_steps, 1000 random steps, then a burst of
    # init_steps updates, then one update per step)
    replay_capacity: int = 500_000
    init_steps: int = 1000
    burst_updates: int | None = None  # updates at step init_steps; upstream: init_steps (None)
    batch_size: int = 64
    updates_per_step: float = 1.0  # quick preset: < 1 updates every 1/x steps
    # SAC
    discount: float = 0.99
    hidden_dim: int = 1024
    projection_dim: int = 256
    num_shared_layers: int = 11  # upstream's trunk; DrQ's own encoder has 4 (projection follows)
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
    # augmentation
    shift_pad: int = 4
    overlay_source: str = "procedural"  # "folder:PATH" (e.g. Places365) or "procedural"
    overlay_alpha: float = 0.5
    attribution_prob: float = 0.25  # code: randint(0,3)==0; paper's "random select" = 0.5
    # SMG auxiliary task (Table 5 weights)
    aux_lr: float = 1e-3
    aux_beta: float = 0.9
    aux_update_freq: int = 2
    recon_weight: float = 1.0
    mask_weight: float = 1.0
    back_weight: float = 2.0
    action_weight: float = 1.0
    fore_weight: float = 0.1
    q_consistency_weight: float = 0.5
    mask_ratio: float = 0.06
    mask_warmup: int = 1000  # code: mask loss only when step > 1000; paper: always (0)
    grad_clip_norm: float = 100.0
    reinit_critic_encoder: bool = True  # code quirk: InverseDynamics re-inits the critic encoder
    fused_ops: bool = True
    # "fp32" (the paper's); "bf16": forward passes under bfloat16 autocast (convs, GEMMs and the
    # decoders' upsample_conv2d in bf16; parameters, Adam, losses and network outputs in fp32)
    precision: str = "fp32"
    # evaluation and logging
    eval_freq: int = 10_000
    eval_episodes: int = 3
    eval_modes: tuple[str, ...] = DMC_MODES
    eval_envs: int = 2
    checkpoint_every: int = 50_000
    run_dir: str = ""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["eval_modes"] = list(self.eval_modes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        d = dict(d)
        if "eval_modes" in d:
            d["eval_modes"] = tuple(d["eval_modes"])
        return cls(**d)


# What ``--preset quick`` changes: a CPU-sized run that finishes in minutes (see the README for the
# measured choice). Network shapes and loss definitions stay the paper's.
QUICK = dict(
    train_steps=1_000,
    replay_capacity=1_000,
    init_steps=400,
    burst_updates=50,
    batch_size=16,
    updates_per_step=0.5,
    eval_freq=1_000,
    eval_episodes=2,
    checkpoint_every=500,
    mask_warmup=200,  # counted in updates (the schedule step at init_steps), see train.updates_due
)


def make_config(task: str, algo: str = "smg", preset: str = "paper", **overrides) -> Config:
    if preset not in ("paper", "quick"):
        raise ValueError(f"unknown preset {preset!r}: use 'paper' or 'quick'")
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}: choose from {', '.join(ALGOS)}")
    spec = task_spec(task)
    values = dict(task=task, algo=algo, preset=preset, action_repeat=spec.action_repeat,
                  train_steps=spec.train_steps, mask_ratio=spec.mask_ratio, episode_length=spec.episode_length,
                  eval_modes=spec.modes)
    values["replay_capacity"] = 500_000  # Table 5 (the code uses train_steps)
    if preset == "quick":
        values.update(QUICK)
        values["eval_modes"] = spec.quick_modes
    values.update({k: v for k, v in overrides.items() if v is not None})
    cfg = Config(**values)
    if cfg.precision not in PRECISIONS:
        raise ValueError(f"unknown precision {cfg.precision!r}: choose from {', '.join(PRECISIONS)}")
    check_modes(cfg.eval_modes, task)
    return cfg
