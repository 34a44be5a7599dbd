"""What a setting may be, and how a setting is declared with its rule.

A setting is a field of a settings dataclass (:class:`smg_fast.config.RunConfig`, the agent's
:class:`smg_fast.agent.config.SACConfig` and each method's extension of it) declared with :func:`setting`: its
default, its rule (:class:`Range`, :class:`OneOf`, :class:`Choice`, :class:`Pattern`, :class:`Flag`), one line of help and,
where the train command has one, its flag. That declaration is the setting's one home: validation
(:func:`check_fields`), ``--set`` parsing, the train command's help and ``docs/settings.md`` read it.
Rules that tie settings together are :meth:`smg_fast.config.RunConfig.check`'s.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass

from smg_fast.errors import SettingError

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


@dataclass(frozen=True)
class Elsewhere:
    """A setting whose value another module checks (a task name against dm_control's suite, an evaluation
    mode against the task's): ``where`` says which, for the docs."""

    where: str

    def ok(self, v) -> bool:
        return True

    def describe(self) -> str:
        return self.where


# ----------------------------------------------------------------------------------------------------
# Declaring settings.

def setting(default=dataclasses.MISSING, rule=None, help: str = "", *, flag: str | None = None,
            default_factory=dataclasses.MISSING):
    """A settings-dataclass field with its rule, one line of help and the train command's flag for it (if any)::

        batch_size: int = setting(64, Range(lo=1, hi=65_536, integer=True), "transitions per update",
                                  flag="--batch-size")
    """
    if rule is None:
        raise TypeError("a setting needs its rule")
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"rule": rule, "help": help, "flag": flag})


def redefault(cls, name: str, default, help: str | None = None):
    """Field ``name`` of settings class ``cls`` with another default (and help): a method that inherits a
    setting but not its value, with the same rule."""
    meta = cls.__dataclass_fields__[name].metadata
    return setting(default, meta["rule"], meta["help"] if help is None else help, flag=meta["flag"])


@dataclass(frozen=True)
class Setting:
    """One declared setting, as :func:`settings_of` reads it: ``rule`` None for a field declared without
    :func:`setting`."""

    name: str
    default: object
    rule: object
    help: str
    flag: str | None
    type: str  # the annotation, e.g. "int" or "int | None"

    @property
    def value_type(self) -> type:
        """The type of its values, None aside (``int`` for ``int | None``)."""
        return {"int": int, "float": float, "str": str, "bool": bool}.get(self.type.split("|")[0].strip(), object)


def settings_of(cls) -> dict[str, Setting]:
    """Every field of a settings dataclass (class or instance), in declaration order."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("nested"):  # RunConfig.agent: the agent's settings, a settings class of their own
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        meta = f.metadata
        out[f.name] = Setting(f.name, default, meta.get("rule"), meta.get("help", ""), meta.get("flag"),
                              f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)))
    return out


# ----------------------------------------------------------------------------------------------------
# Checking them.

def check_value(key: str, value, rule) -> None:
    """SettingError if ``value`` breaks ``rule`` (the rule of setting ``key``; None passes)."""
    if rule is not None and not rule.ok(value):
        raise SettingError(key, value, f"must be {rule.describe()}")


def check_fields(obj) -> None:
    """Every field of settings dataclass ``obj`` against its rule, in declaration order."""
    for key, s in settings_of(obj).items():
        check_value(key, getattr(obj, key), s.rule)
