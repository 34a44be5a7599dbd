"""A run's settings: the run itself (task, seed, device, schedule, evaluation, checkpoints) and its agent's
hyperparameters (:class:`smg_fast.agent.config.SACConfig`, extended by each method).

``--preset paper`` is the paper's Table 5 (upstream's code where the paper is silent or differs);
``--preset quick`` is a reduced CPU configuration with the paper's networks and losses. The resolved
settings are written to a run directory's ``config.json`` as one flat mapping (run and agent keys side by
side, as ``--set KEY=VALUE`` names them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from smg_fast.agent import METHODS, method_class
from smg_fast.agent.config import SACConfig
from smg_fast.tasks import DMC_MODES, check_modes, task_spec

PRESETS = ("paper", "quick")


@dataclass
class RunConfig:
    task: str = "walker-walk"
    algo: str = "smg"
    seed: int = 0
    device: str = "cpu"
    preset: str = "paper"
    # environment (paper: frame stack 3, 84×84 — 100×100 for the methods that random-crop; action repeat
    # per task)
    frame_stack: int = 3
    image_size: int = 84
    action_repeat: int = 4
    episode_length: int = 1000  # control steps (DMC); agent steps = episode_length / action_repeat
    train_steps: int = 500_000  # agent steps (upstream's loop counts agent steps)
    # replay and updates (upstream: 1000 random steps, then a burst of init_steps updates, then one update
    # per step; replay capacity = train_steps there, 500k in Table 5)
    replay_capacity: int = 500_000
    replay_storage: str = "memory"  # "mmap": frames in a memory-mapped file in the run directory (CPU)
    init_steps: int = 1000
    burst_updates: int | None = None  # updates at step init_steps; upstream: init_steps (None)
    updates_per_step: float = 1.0  # quick preset: < 1 updates every 1/x steps
    # evaluation and checkpoints
    eval_freq: int = 10_000
    eval_episodes: int = 3
    eval_modes: tuple[str, ...] = DMC_MODES
    eval_envs: int = 2
    eval_start_seed: str = "train"  # start states seeded like upstream's test envs ("train") or seed + 42 ("eval")
    distracting_cs_intensity: float | None = None  # DMC-GB's distracting_cs mode: one of its intensities
    checkpoint_every: int = 50_000
    run_dir: str = ""
    agent: SACConfig = field(default_factory=SACConfig)

    def check(self) -> None:
        """SettingError (a ValueError naming the setting and what it may be) for a run or agent setting that
        no run can use: the rules of :mod:`smg_fast.rules`, then the agent's own (``agent.check()``)."""
        from smg_fast.rules import check_config

        check_config(self)
        self.agent.check()

    def to_dict(self) -> dict:
        """One flat mapping: the run's keys, then the agent's."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "agent"}
        d["eval_modes"] = list(self.eval_modes)
        d.update(dataclasses.asdict(self.agent))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        agent_cls = method_class(d.get("algo", cls.algo)).Config
        run_keys, agent_keys = field_names(cls) - {"agent"}, field_names(agent_cls)
        # Older run directories wrote every method's keys into one config: keys that belong to another
        # method's settings are dropped; anything else is an error.
        foreign = set().union(*(field_names(m.Config) for m in METHODS.values())) - agent_keys
        unknown = set(d) - run_keys - agent_keys - foreign
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "eval_modes" in d:
            d["eval_modes"] = tuple(d["eval_modes"])
        agent = agent_cls(**{k: v for k, v in d.items() if k in agent_keys})
        return cls(**{k: v for k, v in d.items() if k in run_keys}, agent=agent)


def field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


# What ``--preset quick`` changes: a CPU-sized run that finishes in minutes (see the README for the measured
# choice). Network shapes and loss definitions stay the paper's.
QUICK_RUN = dict(
    train_steps=1_000,
    replay_capacity=1_000,
    init_steps=400,
    burst_updates=50,
    updates_per_step=0.5,
    eval_freq=1_000,
    eval_episodes=2,
    checkpoint_every=500,
)
QUICK_AGENT = dict(
    batch_size=16,
    mask_warmup=200,  # (methods with a mask warm-up) counted in updates: the schedule step, see train.updates_due
)


def make_config(task: str, algo: str = "smg", preset: str = "paper", **overrides) -> RunConfig:
    """The settings of a run of ``algo`` on ``task`` with ``preset``; ``overrides`` name any run or agent
    setting (``None`` values are ignored). ValueError for unknown names or values: a value outside its rule
    (:mod:`smg_fast.rules`) is a :class:`~smg_fast.errors.SettingError` naming the setting."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: use 'paper' or 'quick'")
    method = method_class(algo)
    spec = task_spec(task)
    run_keys, agent_keys = field_names(RunConfig) - {"agent"}, field_names(method.Config)
    run = dict(task=task, algo=algo, preset=preset, action_repeat=spec.action_repeat,
               train_steps=spec.train_steps, episode_length=spec.episode_length, eval_modes=spec.modes,
               image_size=method.render_size)
    # Per-task agent settings of Table 5 (SMG's mask ratio ρ) where the method has them.
    agent = {k: v for k, v in dict(mask_ratio=spec.mask_ratio).items() if k in agent_keys}
    if preset == "quick":
        run.update(QUICK_RUN, eval_modes=spec.quick_modes)
        agent.update({k: v for k, v in QUICK_AGENT.items() if k in agent_keys})
    for key, value in overrides.items():
        if value is None:
            continue
        if key in run_keys:
            run[key] = value
        elif key in agent_keys:
            agent[key] = value
        else:
            raise ValueError(f"unknown setting {key!r} for algo {algo!r}: run settings are "
                             f"{', '.join(sorted(run_keys))}; {algo} settings are {', '.join(sorted(agent_keys))}")
    cfg = RunConfig(**run, agent=method.Config(**agent))
    cfg.check()
    check_modes(cfg.eval_modes, task)
    return cfg


def setting_defaults(algo: str) -> dict:
    """Every setting ``--set`` can name for ``algo``, with its default (the type a value is parsed to)."""
    run = RunConfig()
    defaults = {f.name: getattr(run, f.name) for f in dataclasses.fields(run) if f.name != "agent"}
    defaults.update(dataclasses.asdict(method_class(algo).Config()))
    return defaults


_TRUE, _FALSE = ("true", "1"), ("false", "0")
# Optional settings (default None) and the type of their values; the others default to an integer.
_OPTIONAL_TYPES = {"distracting_cs_intensity": float}


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "empty"
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def parse_setting(algo: str, key: str, text: str):
    """The value of setting ``key`` from its command-line text, typed after its default: booleans take
    true/false/1/0 only, tuples a comma-separated list, optional integers (``burst_updates``) an integer
    or ``none``. ValueError naming the key and what it takes."""
    defaults = setting_defaults(algo)
    if key not in defaults:
        import difflib

        close = difflib.get_close_matches(key, list(defaults), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"unknown setting {key!r} for algo {algo!r}: {hint}(expected KEY=VALUE with KEY one of "
                         f"{', '.join(sorted(defaults))})")
    default, text = defaults[key], text.strip()
    if not text:  # never the default in disguise: an empty value is a mistake (an unset variable, a stray =)
        raise ValueError(f"{key} has an empty value: give one (its default is {_shown(default)})")
    if isinstance(default, bool):
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError(f"{key} takes true/false (or 1/0), got {text!r}")
        return text.lower() in _TRUE
    if isinstance(default, tuple):
        return tuple(v.strip() for v in text.split(",") if v.strip())
    if default is None:
        if text.lower() == "none":
            return None
        default = _OPTIONAL_TYPES.get(key, int)()
    try:
        return type(default)(text)
    except ValueError:
        raise ValueError(f"{key} takes {'an integer' if isinstance(default, int) else 'a number' if isinstance(default, float) else 'a ' + type(default).__name__}, got {text!r}") from None
