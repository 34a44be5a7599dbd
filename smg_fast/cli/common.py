"""What several subcommands check or read the same way: typed ``--set`` pairs, integer flags, a setting
error in the words the user typed, evaluation-mode lists, a run directory to load, the references a
results table is printed beside."""
from __future__ import annotations

import sys
from pathlib import Path

from smg_fast.errors import Notice, SettingError, UsageError, show_value


def warn(message: str) -> None:
    """A warning of the command itself: one line ``smg-fast CMD: warning: ...`` (see :func:`show_warnings`)."""
    import warnings

    warnings.warn(message, Notice, stacklevel=2)


def show_warnings(prog: str):
    """From now on each warning is shown once, as one line ``PROG: warning: MESSAGE`` on stderr (above any
    progress bar): smg-fast's own (:class:`~smg_fast.errors.Notice`) as they are, a library's with its
    category and origin. Returns a function that restores Python's way."""
    import warnings

    seen: set[str] = set()
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        if text in seen:
            return
        seen.add(text)
        if not issubclass(category, Notice):
            text += f" ({category.__name__} from {Path(filename).name}:{lineno})"
        from tqdm.auto import tqdm

        tqdm.write(f"{prog}: warning: {text}", file=sys.stderr)

    warnings.showwarning = show

    def restore() -> None:
        warnings.showwarning = previous

    return restore


def dest(flag: str) -> str:
    """argparse's attribute name of ``flag``."""
    return flag.lstrip("-").replace("-", "_")


def parse_set_pairs(pairs: list[str], algo: str, given: dict) -> dict:
    """--set KEY=VALUE pairs, typed after the run or ``algo`` setting they name; ``given[key]`` records how
    each was typed, for error messages. A key that a flag in ``given`` already sets is a UsageError: which of
    two spellings should win is the user's to say (``--set`` used to win over the typed flag)."""
    from smg_fast.config import parse_setting

    out = {}  # a key --set twice: the last one, as for a flag given twice
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set {pair}: expected KEY=VALUE, e.g. --set init_steps=500")
        key = key.strip().replace("-", "_")
        if key in ("task", "algo", "preset", "run_dir"):
            raise UsageError(f"--set {pair}: give it as --{key.replace('_', '-')}")
        if key in given and key not in out:
            raise UsageError(f"{given[key]} and --set {pair} both set {key}: give it once")
        try:
            out[key] = parse_setting(algo, key, value)
        except ValueError as e:
            raise UsageError(f"--set {pair}: {e}") from None
        given[key] = f"--set {pair}"
    return out


# What --set may change when a command evaluates a finished run (eval, visualize) or a random policy: the
# evaluation's environment, not what was trained.
EVAL_SETTINGS = ("distracting_cs_intensity",)


def eval_settings(pairs: list[str] | None, algo: str = "smg") -> dict:
    """--set KEY=VALUE pairs of eval / visualize / random: only :data:`EVAL_SETTINGS`, each checked by its
    rule."""
    from smg_fast.config import run_settings
    from smg_fast.rules import check_value

    out = parse_set_pairs(pairs, algo, {})
    for key, value in out.items():
        if key not in EVAL_SETTINGS:
            raise UsageError(f"--set {key}=...: only {', '.join(EVAL_SETTINGS)} can be set here (a run's other "
                             "settings are what it was trained with)")
        try:
            check_value(key, value, run_settings()[key].rule)
        except SettingError as e:
            raise UsageError(f"--set {key}={value}: {e.need}") from None
    return out


def needs_intensity(modes, intensity) -> None:
    """UsageError when ``modes`` include distracting_cs but no intensity is given."""
    from smg_fast.config import run_settings
    from smg_fast.tasks import DISTRACTING_CS

    if DISTRACTING_CS in modes and intensity is None:
        raise UsageError(f"{DISTRACTING_CS} needs an intensity: add --set distracting_cs_intensity=X, X "
                         f"{run_settings()['distracting_cs_intensity'].rule.describe()}")


def check_no_empty(argv: list[str]) -> None:
    """UsageError for an empty value on the command line (``--run-dir ""``, ``--eval-modes=``, an unset shell
    variable): left empty, a flag would fall back to its default without a word."""
    for i, arg in enumerate(argv):
        flag, sep, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if sep and not value.strip():
            raise UsageError(f"{flag}: an empty value (give one, or leave {flag} out for its default)")
        if not arg.strip():
            before = argv[i - 1] if i and argv[i - 1].startswith("-") else None
            if before:
                raise UsageError(f"{before}: an empty value (give one, or leave {before} out for its default)")
            raise UsageError("an empty argument: give a value")


def check_once(parser, argv: list[str]) -> None:
    """UsageError for a flag that takes one value given more than once in a command a program composed (a
    sweep's run: a grid's ``args = ["--seed", "3"]`` after the sweep's own ``--seed``, which argparse would let
    win without a word). A person repeating a flag on the command line means the last one, as usual."""
    import argparse

    for action in parser._actions:
        if not isinstance(action, argparse._StoreAction) or not action.option_strings:
            continue
        given = [a.partition("=")[2] if "=" in a else None for a in argv
                 if a in action.option_strings or (a.startswith("--") and a.partition("=")[0] in action.option_strings)]
        if len(given) > 1:
            flag = max(action.option_strings, key=len)
            raise UsageError(f"{flag} is given {len(given)} times: give it once")


def check_number(value, flag: str, lo: float | None = 1, hi: float | None = None, integer: bool = True,
                 lo_open: bool = False) -> None:
    """UsageError unless the number flag ``value`` (None: not given) lies in its range."""
    from smg_fast.rules import Range

    rule = Range(lo=lo, hi=hi, integer=integer, lo_open=lo_open)
    if value is not None and not rule.ok(value):
        raise UsageError(f"{flag} {value}: must be {rule.describe()}")


def setting_error(e: SettingError, given: dict, where: str) -> UsageError:
    """A SettingError in the words the user typed: the flag or --set pair that gave the value."""
    typed = given.get(e.key) or f"{e.key}={show_value(e.value)} ({where})"
    return UsageError(f"{typed}: {e.need}")


def check_modes_text(text: str, task: str, flag: str) -> tuple[str, ...]:
    """The modes of ``--eval-modes`` / ``--modes`` text (``all`` or a comma-separated list) for ``task``."""
    from smg_fast.tasks import parse_modes

    try:
        return parse_modes(text, task)
    except ValueError as e:
        raise UsageError(f"{flag} {text}: {e}") from None


def run_config(run: str, flag: str = "--run"):
    """The config of run directory ``run`` with a checkpoint to load; RunDirError naming it otherwise."""
    from smg_fast.run.checkpoint import read_config
    from smg_fast.run.directory import RunDirError, has_checkpoint

    path = Path(run)
    if not path.is_dir():
        raise RunDirError(f"{flag} {run}: no such directory")
    if not (path / "config.json").is_file():
        raise RunDirError(f"{flag} {run}: not an smg-fast run directory (it holds no config.json)")
    if not has_checkpoint(path):
        raise RunDirError(f"{flag} {run}: the run holds no checkpoint yet (one is written every "
                          "--checkpoint-every steps and at the end)")
    return read_config(path)


def references_or_note(cfg, progress: bool, modes=None) -> dict:
    """The run's references (random policy, paper) for ``modes`` (default: the run's evaluation modes); a
    reference that cannot be measured is left out with a warning rather than failing the end of a finished
    run."""
    from smg_fast.experiments import references

    try:
        return references.run_references(cfg, progress, modes)
    except Exception as e:  # noqa: BLE001 - optional: the table is written without it
        warn(f"the random-policy reference was not measured ({type(e).__name__}: {e}); the table leaves it out")
        return {references.PAPER: references.run_paper_references(cfg, modes)}
