"""A run's settings: the run itself (task, seed, device, schedule, evaluation, checkpoints) and its agent's
hyperparameters (:class:`smg_fast.agent.config.SACConfig`, extended by each method's declaration).

Every setting is declared once, with its rule and help (:func:`smg_fast.rules.setting`): the run's below, the
agent's in :mod:`smg_fast.agent.config` and ``smg_fast/agent/specs/<name>.py``. A setting's path from the
command line to the update: the train command reads its flag or ``--set KEY=VALUE`` (:func:`parse_setting`),
:func:`make_config` builds the :class:`RunConfig` and checks it (:meth:`RunConfig.check`: each setting's rule,
then the rules that tie settings together), the trainer hands ``cfg.agent`` to the agent. What this machine
has (device, data, memory) is :mod:`smg_fast.machine`'s, checked apart.

``--preset paper`` is the paper's Table 5 (upstream's code where the paper is silent or differs);
``--preset quick`` is a reduced CPU configuration with the paper's networks and losses. The resolved
settings are written to a run directory's ``config.json`` as one flat mapping (run and agent keys side by
side, as ``--set KEY=VALUE`` names them).
"""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field

from smg_fast.agent import METHODS, method
from smg_fast.agent.config import SACConfig, trunk_features
from smg_fast.errors import SettingError
from smg_fast.rules import (FREQ, Choice, Elsewhere, Flag, OneOf, Pattern, Range, Setting, UpdateRate, check_value,
                            setting, settings_of)
from smg_fast.tasks import (DISTRACTING_CS, DISTRACTING_CS_INTENSITIES, DMC_MODES, check_modes, is_robot_task,
                            task_spec)

PRESETS = ("paper", "quick")
DEVICE = Pattern(r"cpu|cuda(:\d+)?", "cpu, cuda or cuda:N")
STEPS = Range(lo=1, hi=10**9, integer=True)


# How the loop runs, not what it computes (the same numbers either way): may change on --resume.
LOOP_SETTINGS = ("overlap_env", "async_checkpoint", "async_eval")


@dataclass
class RunConfig:
    task: str = setting("walker-walk", Elsewhere("a dm_control suite task (domain-task) or a robot task"),
                        "e.g. walker-walk, cartpole-swingup, robot-reach")
    algo: str = setting("smg", Elsewhere("a registered method (smg_fast.agent.METHODS)"), "the method")
    # seed + 42 + a worker's index seed numpy (< 2**32)
    seed: int = setting(0, Range(lo=0, hi=2_000_000_000, integer=True), "seeds the agent, the envs and the replay",
                        flag="--seed")
    device: str = setting("cpu", DEVICE, "where the networks and the replay live", flag="--device")
    preset: str = setting("paper", OneOf(PRESETS), "paper: Table 5; quick: a reduced CPU configuration")
    # environment (paper: frame stack 3, 84×84 — 100×100 for the methods that random-crop; action repeat
    # per task)
    frame_stack: int = setting(3, Range(lo=1, hi=16, integer=True), "frames per observation")
    image_size: int = setting(84, Range(lo=1, hi=512, integer=True),
                              "frame side in pixels (the method's render size unless set)")
    action_repeat: int = setting(4, Range(lo=1, hi=1000, integer=True),
                                 "control steps per agent step (the paper's per task unless set; robot tasks: 1)")
    episode_length: int = setting(1000, Range(lo=1, hi=10**7, integer=True),
                                  "control steps per episode (DMC; robot tasks: agent steps)")
    train_steps: int = setting(500_000, STEPS, "agent steps", flag="--steps")
    # replay and updates (upstream: 1000 random steps, then a burst of init_steps updates, then one update
    # per step; replay capacity = train_steps there, 500k in Table 5)
    replay_capacity: int = setting(500_000, STEPS, "transitions the replay keeps", flag="--replay-capacity")
    replay_storage: str = setting("memory", OneOf(("memory", "mmap")),
                                  "mmap: frames in a memory-mapped file in the run directory (CPU)")
    # the first update samples what these steps stored
    init_steps: int = setting(1000, STEPS, "uniform random steps before the first update")
    burst_updates: int | None = setting(None, Range(lo=0, hi=10**7, integer=True, optional=True),
                                        "updates at step init_steps (none: init_steps, as upstream)")
    updates_per_step: float = setting(1.0, UpdateRate(),
                                      "updates per agent step after the burst (below 1: one every 1/x steps)")
    # evaluation and checkpoints
    eval_freq: int = setting(10_000, FREQ, "agent steps between evaluations", flag="--eval-freq")
    eval_episodes: int = setting(3, Range(lo=1, hi=10_000, integer=True), "episodes per evaluation mode",
                                 flag="--eval-episodes")
    eval_modes: tuple[str, ...] = setting(DMC_MODES, Elsewhere("modes of the task (smg_fast.tasks.check_modes)"),
                                          "evaluation modes (all of the task's unless set)")
    eval_envs: int = setting(2, Range(lo=1, hi=64, integer=True), "parallel env workers per evaluation mode",
                             flag="--eval-envs")
    # start states seeded like upstream's test envs ("train") or seed + 42 ("eval")
    eval_start_seed: str = setting("train", OneOf(("train", "eval")),
                                   "evaluation start states seeded as upstream's test envs (train) or seed + 42")
    distracting_cs_intensity: float | None = setting(
        None, Choice(DISTRACTING_CS_INTENSITIES, optional=True, why="DMC-GB's distracting_cs intensities"),
        "DMC-GB's distracting_cs mode: one of its intensities (needed to evaluate it)")
    checkpoint_every: int = setting(50_000, FREQ, "agent steps between checkpoints", flag="--checkpoint-every")
    # upstream draws the action before the update and stores the transition after it: the env step can run
    # in a worker during the update with the same results
    overlap_env: bool = setting(True, Flag(), "the training env steps in a worker process during the update "
                                "(false: in the loop, after it; same results)")
    async_checkpoint: bool = setting(True, Flag(), "periodic checkpoints are written in the background from a "
                                     "snapshot while training goes on (false: the loop waits; same files)")
    # evaluation is deterministic, on a copy of the policy, with its own episode schedule: it can run while
    # training goes on with the same rows
    async_eval: bool = setting(True, Flag(), "evaluations during training run in the background on a snapshot of "
                               "the policy (false: the loop waits; same results)")
    run_dir: str = setting("", Elsewhere("a new directory, or a run to resume (smg_fast.run.directory)"),
                           "default runs/<task>_<algo>_<preset>_seed<seed>")
    agent: SACConfig = field(default_factory=SACConfig, metadata={"nested": True})

    def check(self) -> None:
        """SettingError (a ValueError naming the setting and what it may be) for a run or agent setting that
        no run can use: each setting's rule, in declaration order (run, then agent), then the rules that tie
        settings together."""
        values = self.to_dict()
        rules = {k: s.rule for k, s in {**settings_of(self), **settings_of(self.agent)}.items()}
        steps, stack = values["train_steps"], values["frame_stack"]
        if rules["frame_stack"].ok(stack) and isinstance(steps, numbers.Integral) and steps < stack:
            _check_together(values)  # too few steps for the replay: said in terms of the steps
        for key, value in values.items():
            check_value(key, value, rules[key])
        _check_together(values)

    def to_dict(self) -> dict:
        """One flat mapping: the run's keys, then the agent's."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "agent"}
        d["eval_modes"] = list(self.eval_modes)
        d.update(dataclasses.asdict(self.agent))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        agent_cls = method(d.get("algo", cls.algo)).settings
        run_keys, agent_keys = field_names(cls) - {"agent"}, field_names(agent_cls)
        # Older run directories wrote every method's keys into one config: keys that belong to another
        # method's settings are dropped; anything else is an error.
        foreign = set().union(*(field_names(m.settings) for m in METHODS.values())) - agent_keys
        unknown = set(d) - run_keys - agent_keys - foreign
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        if "eval_modes" in d:
            d["eval_modes"] = tuple(d["eval_modes"])
        agent = agent_cls(**{k: v for k, v in d.items() if k in agent_keys})
        return cls(**{k: v for k, v in d.items() if k in run_keys}, agent=agent)


def _check_together(v: dict) -> None:
    """The rules that tie settings together (each setting passed its own rule, except when the steps are too
    few for the frame stack: that is said first, in terms of the steps)."""
    need = v["frame_stack"] + 1
    # Trainer: the replay holds min(replay_capacity, train_steps + 1) transitions and a sample needs a full
    # frame stack and its successor.
    if v["train_steps"] + 1 < need:
        raise SettingError("train_steps", v["train_steps"],
                           f"must be at least {need - 1}: the replay keeps min(replay_capacity, steps + 1) "
                           f"transitions and needs frame_stack + 1 = {need}")
    if v["replay_capacity"] < need:
        raise SettingError("replay_capacity", v["replay_capacity"],
                           f"must be at least frame_stack + 1 = {need} (a stack of frames and the next one)")
    if v["actor_log_std_min"] >= v["actor_log_std_max"]:
        raise SettingError("actor_log_std_min", v["actor_log_std_min"],
                           f"must be below actor_log_std_max ({v['actor_log_std_max']})")
    if DISTRACTING_CS in v.get("eval_modes", ()) and v.get("distracting_cs_intensity") is None:
        rule = settings_of(RunConfig)["distracting_cs_intensity"].rule
        raise SettingError("distracting_cs_intensity", None, f"must be set to evaluate {DISTRACTING_CS}: "
                                                             f"{rule.describe()}")
    if v["replay_storage"] == "mmap" and not v["device"].startswith("cpu"):
        raise SettingError("replay_storage", "mmap", f"keeps frames in a file on the CPU: it needs device cpu, "
                                                     f"not {v['device']}")
    if is_robot_task(v["task"]) and v["action_repeat"] != 1:
        raise SettingError("action_repeat", v["action_repeat"], "must be 1 for the robot tasks (they have no action "
                                                                "repeat: each step runs 20 MuJoCo substeps)")
    frames = method(v["algo"]).frames
    if frames.sizes is not None and v["image_size"] not in frames.sizes:
        raise SettingError("image_size", v["image_size"], f"must be {' or '.join(map(str, frames.sizes))} for "
                                                          f"{v['algo']} ({frames.why})")
    try:
        trunk_features(v["num_shared_layers"], v["num_filters"], v["image_size"])
    except ValueError:
        raise SettingError("num_shared_layers", v["num_shared_layers"],
                           f"leaves no pixels of a {v['image_size']}×{v['image_size']} frame: use fewer layers "
                           "(or larger frames)") from None
    if 2 * v["shift_pad"] >= v["image_size"]:
        raise SettingError("shift_pad", v["shift_pad"], f"must be below image_size / 2 = {v['image_size'] // 2}")


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
    mask_warmup=200,  # (methods with a mask warm-up) counted in updates: the schedule step, see trainer.updates_due
)


def make_config(task: str, algo: str = "smg", preset: str = "paper", **overrides) -> RunConfig:
    """The settings of a run of ``algo`` on ``task`` with ``preset``; ``overrides`` name any run or agent
    setting (``None`` values are ignored). ValueError for unknown names or values: a value outside its rule
    is a :class:`~smg_fast.errors.SettingError` naming the setting."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: use 'paper' or 'quick'")
    spec = method(algo)
    task_facts = task_spec(task)
    run_keys, agent_keys = field_names(RunConfig) - {"agent"}, field_names(spec.settings)
    run = dict(task=task, algo=algo, preset=preset, action_repeat=task_facts.action_repeat,
               train_steps=task_facts.train_steps, episode_length=task_facts.episode_length,
               eval_modes=task_facts.modes, image_size=spec.frames.render)
    # Per-task agent settings of Table 5 (SMG's mask ratio ρ) where the method has them.
    agent = {k: v for k, v in dict(mask_ratio=task_facts.mask_ratio).items() if k in agent_keys}
    if preset == "quick":
        run.update(QUICK_RUN, eval_modes=task_facts.quick_modes)
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
    cfg = RunConfig(**run, agent=spec.settings(**agent))
    cfg.check()
    check_modes(cfg.eval_modes, task)
    return cfg


def run_settings() -> dict[str, Setting]:
    """The run's settings (:class:`RunConfig`'s fields), declared with their rules."""
    return settings_of(RunConfig)


def settings(algo: str) -> dict[str, Setting]:
    """Every setting of a run of ``algo``, the run's then the agent's, declared with their rules."""
    return {**run_settings(), **settings_of(method(algo).settings)}


def flagged_settings() -> dict[str, Setting]:
    """The settings with a train-command flag, of the run and of every method (the run's first)."""
    out = {k: s for k, s in run_settings().items() if s.flag}
    for m in METHODS.values():
        out.update({k: s for k, s in settings_of(m.settings).items() if s.flag and k not in out})
    return out


def setting_defaults(algo: str) -> dict:
    """Every setting ``--set`` can name for ``algo``, with its default (the type a value is parsed to)."""
    return {k: s.default for k, s in settings(algo).items()}


_TRUE, _FALSE = ("true", "1"), ("false", "0")


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "empty"
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def parse_setting(algo: str, key: str, text: str):
    """The value of setting ``key`` from its command-line text, typed after its default: booleans take
    true/false/1/0 only, tuples a comma-separated list, optional settings (``burst_updates``) a value of their
    declared type or ``none``. ValueError naming the key and what it takes."""
    declared = settings(algo)
    defaults = {k: s.default for k, s in declared.items()}
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
        default = declared[key].value_type()
    try:
        return type(default)(text)
    except ValueError:
        raise ValueError(f"{key} takes {'an integer' if isinstance(default, int) else 'a number' if isinstance(default, float) else 'a ' + type(default).__name__}, got {text!r}") from None
