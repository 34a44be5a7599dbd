"""What a setting or a command-line value may be, checked before anything starts.

:func:`check_config` holds the rules of every run and agent setting (:data:`RULES`, plus the rules that
tie settings together, e.g. the replay's minimum size); :meth:`smg_fast.config.RunConfig.check` runs it,
so :func:`smg_fast.config.make_config` refuses a bad value for every caller. The other checks look at this
machine and its files (task names, devices, data, overlay images, memory) and are what the command line
runs before it creates a directory or starts an environment.

Errors, each with a message that names the value and what is allowed:

* :class:`SettingError` (a ValueError): a setting outside its rule; ``key`` names it, so the command line
  can say which flag it came from;
* :class:`UsageError` (a ValueError): a command-line value that cannot work (exit status 2);
* :class:`NotAvailableError` (a RuntimeError): something this machine lacks: a GPU, data, a folder, memory
  (exit status 1).
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass


class SettingError(ValueError):
    """A setting outside its rule. ``key``: the setting; ``value``: what it was; ``need``: what is allowed."""

    def __init__(self, key: str, value, need: str):
        self.key, self.value, self.need = key, value, need
        super().__init__(f"{key}={_show(value)}: {need}")


class UsageError(ValueError):
    """A command-line value that cannot work; the message names the flag."""


class NotAvailableError(RuntimeError):
    """Something the command asks for that this machine does not have (a GPU, data, a folder, memory)."""


def _show(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


# ----------------------------------------------------------------------------------------------------
# Per-setting rules.

INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class Range:
    """A number in [lo, hi] (either end open or absent); ``integer``: whole numbers only; ``optional``:
    None is allowed too; ``finite``: NaN and ±inf are refused (NaN always is)."""

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False
    finite: bool = True

    def ok(self, v) -> bool:
        if v is None:
            return self.optional
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        if self.integer and not isinstance(v, numbers.Integral):
            return False
        v = float(v)
        if math.isnan(v) or (self.finite and math.isinf(v)):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))

    def describe(self) -> str:
        what = "an integer" if self.integer else "a number"
        lo, hi = _num(self.lo), _num(self.hi)
        if self.lo is not None and self.hi is not None:
            text = f"{what} in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            text = f"{what} {'>' if self.lo_open else '>='} {lo}"
        elif self.hi is not None:
            text = f"{what} {'<' if self.hi_open else '<='} {hi}"
        else:
            text = what + ("" if self.finite else " (inf allowed)")
        return text + (" or none" if self.optional else "")


def _num(x) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class OneOf:
    values: tuple

    def ok(self, v) -> bool:
        return isinstance(v, str) and v in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


@dataclass(frozen=True)
class Pattern:
    regex: str
    text: str

    def ok(self, v) -> bool:
        return isinstance(v, str) and re.fullmatch(self.regex, v) is not None

    def describe(self) -> str:
        return self.text


class Flag:
    def ok(self, v) -> bool:
        return isinstance(v, bool)

    def describe(self) -> str:
        return "true or false"


POSITIVE = Range(lo=1, integer=True)
COUNT = Range(lo=0, integer=True)
UNIT = Range(lo=0, hi=1)  # probabilities, mixing factors, Polyak rates, the mask ratio
WEIGHT = Range(lo=0)  # loss weights (0 drops the term: the paper's ablations)
LR = Range(lo=0)
BETA = Range(lo=0, hi=1, hi_open=True)  # Adam's β1
FREQ = Range(lo=1, hi=INT32_MAX, integer=True)

# Every run and agent setting with its rule. Settings checked elsewhere: ``task`` (smg_fast.tasks: robot
# names; :func:`check_task`: dm_control's suite), ``algo`` (smg_fast.agent.method_class), ``eval_modes``
# (smg_fast.tasks.check_modes), ``run_dir`` (smg_fast.rundir).
RULES: dict[str, object] = {
    # run
    "seed": Range(lo=0, hi=2_000_000_000, integer=True),  # seed + 42 + a worker's index seed numpy (< 2**32)
    "device": Pattern(r"cpu|cuda(:\d+)?", "cpu, cuda or cuda:N"),
    "preset": OneOf(("paper", "quick")),
    "frame_stack": Range(lo=1, hi=16, integer=True),
    "image_size": Range(lo=1, hi=512, integer=True),
    "action_repeat": Range(lo=1, hi=1000, integer=True),
    "episode_length": Range(lo=1, hi=10**7, integer=True),
    "train_steps": Range(lo=1, hi=10**9, integer=True),
    "replay_capacity": Range(lo=1, hi=10**9, integer=True),
    "replay_storage": OneOf(("memory", "mmap")),
    "init_steps": Range(lo=1, hi=10**9, integer=True),  # the first update samples what these steps stored
    "burst_updates": Range(lo=0, hi=10**7, integer=True, optional=True),
    "updates_per_step": Range(lo=0, hi=64, lo_open=True),
    "eval_freq": FREQ,
    "eval_episodes": Range(lo=1, hi=10_000, integer=True),
    "eval_envs": Range(lo=1, hi=64, integer=True),
    "eval_start_seed": OneOf(("train", "eval")),
    "checkpoint_every": FREQ,
    # agent (SACConfig)
    "batch_size": Range(lo=1, hi=65_536, integer=True),
    "discount": UNIT,
    "hidden_dim": Range(lo=1, hi=65_536, integer=True),
    "projection_dim": Range(lo=1, hi=65_536, integer=True),
    "num_shared_layers": Range(lo=1, hi=64, integer=True),
    "num_filters": Range(lo=1, hi=4096, integer=True),
    "actor_lr": LR,
    "critic_lr": LR,
    "alpha_lr": LR,
    "alpha_beta": BETA,
    "init_temperature": Range(lo=0, lo_open=True),
    "actor_log_std_min": Range(),
    "actor_log_std_max": Range(),
    "actor_update_freq": FREQ,
    "critic_target_update_freq": FREQ,
    "critic_tau": UNIT,
    "encoder_tau": UNIT,
    "shift_pad": Range(lo=0, hi=64, integer=True),
    "overlay_source": Pattern(r"procedural|places365|folder:.+", "procedural, places365 or folder:PATH"),
    "overlay_alpha": UNIT,
    "fused_ops": Flag(),
    "compile": Flag(),  # the update's tensor part under torch.compile: same math, float rounding aside
    "precision": OneOf(("fp32", "bf16")),
    # agent (SMGConfig)
    "aux_lr": LR,
    "aux_beta": BETA,
    "aux_update_freq": FREQ,
    "recon_weight": WEIGHT,
    "mask_weight": WEIGHT,
    "back_weight": WEIGHT,
    "action_weight": WEIGHT,
    "fore_weight": WEIGHT,
    "q_consistency_weight": WEIGHT,
    "mask_ratio": UNIT,
    "mask_warmup": COUNT,
    "grad_clip_norm": Range(lo=0, lo_open=True, finite=False),  # inf: no clipping
    "attribution_prob": UNIT,
    "reinit_critic_encoder": Flag(),
    # SODAConfig
    "soda_batch_size": Range(lo=2, hi=65_536, integer=True),  # BatchNorm in training mode needs 2 samples
    "soda_tau": UNIT,
    "reinit_shared_trunk": Flag(),
    # SVEAConfig
    "svea_alpha": WEIGHT,
    "svea_beta": WEIGHT,
    "svea_aug": OneOf(("random_conv", "overlay")),
    # SRMConfig: the ring's limits in cycles per pixel (0.5: Nyquist)
    "srm_mask_prob": UNIT,
    "srm_low_max": Range(lo=0, hi=0.5),
    "srm_width_max": Range(lo=0, hi=0.5),
    # SGQNConfig
    "sgqn_quantile": UNIT,
    "consistency_weight": WEIGHT,
}
CHECKED_ELSEWHERE = frozenset({"task", "algo", "eval_modes", "run_dir"})
# Frame sizes a method can use, where it cannot use any: decoders that draw 84×84 images (SMG, SGQN); SODA
# crops 100×100 renders to 84 (or takes 84×84 as they are).
IMAGE_SIZES = {"smg": (84,), "sgqn": (84,), "soda": (84, 100)}


def check_value(key: str, value) -> None:
    """SettingError if ``value`` breaks the rule of setting ``key`` (settings without a rule pass)."""
    rule = RULES.get(key)
    if rule is not None and not rule.ok(value):
        raise SettingError(key, value, f"must be {rule.describe()}")


def check_config(cfg) -> None:
    """Every rule of a :class:`~smg_fast.config.RunConfig` (its run and agent settings), then the rules that
    tie settings together. Raises :class:`SettingError` naming the first setting that breaks one."""
    values = cfg.to_dict()
    steps, stack = values["train_steps"], values["frame_stack"]
    if RULES["frame_stack"].ok(stack) and isinstance(steps, numbers.Integral) and steps < stack:
        _check_together(values)  # too few steps for the replay: said in terms of the steps
    for key, value in values.items():
        if key == "eval_modes":
            continue
        check_value(key, value)
    _check_together(values)


def _check_together(v: dict) -> None:
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
    if v["replay_storage"] == "mmap" and not v["device"].startswith("cpu"):
        raise SettingError("replay_storage", "mmap", f"keeps frames in a file on the CPU: it needs device cpu, "
                                                     f"not {v['device']}")
    from smg_fast.tasks import is_robot_task

    if is_robot_task(v["task"]) and v["action_repeat"] != 1:
        raise SettingError("action_repeat", v["action_repeat"], "must be 1 for the robot tasks (they have no action "
                                                                "repeat: each step runs 20 MuJoCo substeps)")
    sizes = IMAGE_SIZES.get(v["algo"])
    if sizes is not None and v["image_size"] not in sizes:
        why = "it crops 100×100 frames to 84×84" if v["algo"] == "soda" else "its decoders draw 84×84 images"
        raise SettingError("image_size", v["image_size"], f"must be {' or '.join(map(str, sizes))} for "
                                                          f"{v['algo']} ({why})")
    from smg_fast.agent.networks import trunk_features

    try:
        trunk_features(v["num_shared_layers"], v["num_filters"], v["image_size"])
    except ValueError:
        raise SettingError("num_shared_layers", v["num_shared_layers"],
                           f"leaves no pixels of a {v['image_size']}×{v['image_size']} frame: use fewer layers "
                           "(or larger frames)") from None
    if 2 * v["shift_pad"] >= v["image_size"]:
        raise SettingError("shift_pad", v["shift_pad"], f"must be below image_size / 2 = {v['image_size'] // 2}")


# ----------------------------------------------------------------------------------------------------
# This machine: tasks, devices, data, overlay images, memory.

def check_task(task: str, flag: str = "--task") -> None:
    """UsageError unless ``task`` is a dm_control suite task (``domain-task``) or one of SMG's robot tasks.
    Picks the headless GL backend first (dm_control fixes it when first imported)."""
    import difflib

    from smg_fast.tasks import ROBOT_TASKS, is_robot_task

    if is_robot_task(task):
        if task in ROBOT_TASKS:
            return
        known = list(ROBOT_TASKS)
    else:
        from smg_fast.envs import ensure_gl_backend

        ensure_gl_backend()
        from dm_control import suite

        if "-" in task and tuple(task.split("-", 1)) in suite.ALL_TASKS:
            return
        known = [f"{d}-{t}" for d, t in suite.ALL_TASKS] + list(ROBOT_TASKS)
    close = difflib.get_close_matches(task, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"{flag} {task}: not a task: give a dm_control suite task as domain-task (e.g. walker-walk, "
                     f"cartpole-swingup) or {' / '.join(ROBOT_TASKS)}{hint}")


def check_modes_text(text: str, task: str, flag: str) -> tuple[str, ...]:
    """The modes of ``--eval-modes`` / ``--modes`` text (``all`` or a comma-separated list) for ``task``."""
    from smg_fast.tasks import parse_modes

    try:
        return parse_modes(text, task)
    except ValueError as e:
        raise UsageError(f"{flag} {text}: {e}") from None


def check_device(device: str, flag: str = "--device") -> None:
    """UsageError for a device string that is not cpu / cuda / cuda:N; NotAvailableError when it names a
    GPU that PyTorch cannot see here."""
    if not RULES["device"].ok(device):
        raise UsageError(f"{flag} {device}: must be {RULES['device'].describe()}")
    if device == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise NotAvailableError(f"{flag} {device}: no CUDA device is available to PyTorch here "
                                f"(torch {torch.__version__}, {build}); use --device cpu")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise NotAvailableError(f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                                f"numbered from 0")


def check_overlay_source(source: str, flag: str = "--overlay-source", typed: str | None = None) -> None:
    """UsageError for a source that is not procedural / places365 / folder:PATH; NotAvailableError (naming
    the download command where there is one) when its images are not there. Messages start with ``typed``
    (what the user wrote, e.g. ``--set overlay_source=folder:x``), else ``flag source``."""
    from smg_fast.envs.backgrounds import check_overlay_source as check

    typed = typed or f"{flag} {source}"
    try:
        check(source)
    except FileNotFoundError as e:  # MissingDataError included
        raise NotAvailableError(f"{typed}: {e}") from None
    except ValueError as e:
        raise UsageError(f"{typed}: {e}") from None


def check_data(task: str, modes) -> None:
    """NotAvailableError (naming the download command) when a file that ``task``'s environments in ``modes``
    need is not in the data directory: DMC-GB colour tables and videos, the robot scenes. Reads only
    small files."""
    from smg_fast.tasks import is_robot_task

    try:
        if is_robot_task(task):
            from smg_fast.envs.robot_assets import load_scene

            for mode in {"train", *modes}:
                load_scene(task, mode)
            return
        for mode in modes:
            if mode.startswith("color"):
                from smg_fast.data.colors import load_colors

                load_colors(mode)
            elif mode.startswith("video"):
                from smg_fast.envs.backgrounds import dmcgb_videos

                dmcgb_videos(mode, (84, 84))
    except FileNotFoundError as e:  # MissingDataError
        raise NotAvailableError(str(e)) from None


def check_memory(cfg, action_dim: int = 64) -> None:
    """NotAvailableError when the run's replay buffer cannot fit in the memory of its device (the check the
    buffer makes itself, done before any environment starts; ``action_dim`` is a bound until the env says)."""
    import torch

    from smg_fast.replay import ReplayBuffer, available_memory

    capacity = min(cfg.replay_capacity, cfg.train_steps + 1)
    frame = (3, cfg.image_size, cfg.image_size)
    need = ReplayBuffer.nbytes(capacity, frame, action_dim)
    if cfg.replay_storage == "mmap":
        need -= capacity * 3 * cfg.image_size ** 2
    free = available_memory(torch.device(cfg.device))
    if need > 0.9 * free:
        raise NotAvailableError(
            f"the replay buffer of {capacity:,} transitions needs {need / 2**30:.1f} GiB on {cfg.device}, but only "
            f"{free / 2**30:.1f} GiB is available: lower --steps or --replay-capacity, or use --set "
            "replay_storage=mmap (frames in a file in the run directory)")


def check_writable_file(path, flag: str) -> None:
    """NotAvailableError when a file cannot be written at ``path`` (its folder is not writable, or it is a
    directory). Creates nothing."""
    import os
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        raise NotAvailableError(f"{flag} {path}: is a directory")
    where = path.absolute().parent
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir() or not os.access(where, os.W_OK | os.X_OK):
        raise NotAvailableError(f"{flag} {path}: {where} is not a writable directory")
