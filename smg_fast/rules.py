"""What a setting may be: a rule per run and agent setting (:data:`RULES`) and the rules that tie settings
together (e.g. the replay's minimum size). :meth:`smg_fast.config.RunConfig.check` runs :func:`check_config`,
so :func:`smg_fast.config.make_config` refuses a bad value for every caller with a
:class:`~smg_fast.errors.SettingError` naming the setting. What this machine has is :mod:`smg_fast.machine`.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from smg_fast.errors import SettingError
from smg_fast.tasks import DISTRACTING_CS_INTENSITIES

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


@dataclass(frozen=True)
class Choice:
    """One of a few numbers (or None when ``optional``)."""

    values: tuple
    optional: bool = False
    why: str = ""

    def ok(self, v) -> bool:
        if v is None:
            return self.optional
        return not isinstance(v, bool) and isinstance(v, numbers.Real) and float(v) in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(_num(x) for x in self.values) + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True)
class UpdateRate:
    """Updates per agent step: a whole number up to 64, or 1/k for a whole k (one update every k-th step).
    The loop runs whole updates, so any other fraction (0.7, 2.5) would be rounded without a word."""

    hi: int = 64

    def ok(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        v = float(v)
        if not (math.isfinite(v) and 0 < v <= self.hi):
            return False
        whole = v if v >= 1 else 1 / v
        return abs(whole - round(whole)) <= 1e-5 * whole  # 0.333333 is 1/3

    def describe(self) -> str:
        return (f"a number in (0, {self.hi}] that is whole (updates per step) or 1/k for a whole k (0.5, 0.25, "
                "0.2, ...: one update every k-th step); the loop runs whole updates, so other fractions cannot "
                "be honoured")


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
# (smg_fast.tasks.check_modes), ``run_dir`` (smg_fast.run.directory).
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
    "updates_per_step": UpdateRate(),
    "eval_freq": FREQ,
    "eval_episodes": Range(lo=1, hi=10_000, integer=True),
    "eval_envs": Range(lo=1, hi=64, integer=True),
    "eval_start_seed": OneOf(("train", "eval")),
    "distracting_cs_intensity": Choice(DISTRACTING_CS_INTENSITIES, optional=True,
                                       why="DMC-GB's distracting_cs intensities"),
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
    from smg_fast.tasks import DISTRACTING_CS

    if DISTRACTING_CS in v.get("eval_modes", ()) and v.get("distracting_cs_intensity") is None:
        raise SettingError("distracting_cs_intensity", None, f"must be set to evaluate {DISTRACTING_CS}: "
                                                             f"{RULES['distracting_cs_intensity'].describe()}")
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
