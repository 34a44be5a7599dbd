"""The ``smg-fast`` command line: train, eval, random, visualize, doctor, demo, data download, sweep, report,
build.

One module per subcommand holds its parser, its checks and what it runs (:mod:`smg_fast.cli.train`, ...);
this one assembles them and turns errors into exit statuses. A user's mistake is one line on stderr naming
the flag or file and what is allowed, exit status 2 (a value that cannot work) or 1 (something missing or
failing at run time), found before anything starts; ``--debug`` adds the traceback.
"""
from __future__ import annotations

import argparse
import sys

from smg_fast.cli import build, data, doctor, evaluate, random_policy, report, sweep, train, visualize

SUBCOMMANDS = (train, evaluate, random_policy, visualize, doctor, data, sweep, report, build)

# What `smg-fast --help` says first (plain text: argparse prints it as it is, re-wrapped).
DESCRIPTION = ("Train and evaluate SMG (Focus On What Matters: Separated Models For Visual-Based RL Generalization, "
               "NeurIPS 2024) and its baselines on DMC-GB and SMG's robot tasks. A first run: smg-fast train "
               "--task cartpole-swingup --preset quick (minutes on a CPU). Mistakes are one line on stderr with "
               "exit status 2 (a value that cannot work) or 1 (something missing or failing at run time); "
               "--debug shows the traceback.")


class _Parser(argparse.ArgumentParser):
    """Argument errors on one line naming the command and where its help is (not the usage block), exit
    status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="smg-fast", description=DESCRIPTION)
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (after any subcommand too)")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    for p in sub.choices.values():  # --debug after the subcommand too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def exit_status(e: BaseException) -> int | None:
    """The exit status of an error the user can act on (2: a value that cannot work, 1: something missing or
    failing at run time), or None for an unexpected one (a bug: its traceback is shown)."""
    from smg_fast._build import ExtensionBuildError
    from smg_fast.envs.rendering import RenderingUnavailableError
    from smg_fast.errors import DataError, NotAvailableError, RunError, SettingError, UsageError
    from smg_fast.run.checkpoint import CheckpointError
    from smg_fast.run.directory import RunDirError

    if isinstance(e, (UsageError, SettingError)):
        return 2
    # ExtensionBuildError: the fused ops could not be compiled for this torch on first use (no compiler, ...)
    if isinstance(e, (RunDirError, CheckpointError, NotAvailableError, DataError, RunError,
                      RenderingUnavailableError, ExtensionBuildError, MemoryError, OSError)):  # OSError: disk full, permissions, ...
        return 1
    return None


def main(argv: list[str] | None = None) -> None:
    """``smg-fast``: errors a user can act on are one line on stderr (``smg-fast CMD: error: ...``) with exit
    status 2 (a value that cannot work) or 1 (something missing or failing at run time); ``--debug`` shows
    their traceback too. An unexpected error shows its traceback (exit status 1)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    lead_debug = argv[:1] == ["--debug"]
    if argv[lead_debug:lead_debug + 2] == ["data", "download"]:  # its own parser, --help and --debug included
        sys.exit(data.main(argv[lead_debug + 2:] + (["--debug"] if lead_debug else [])))
    args = build_parser().parse_args(argv)
    prog = f"smg-fast {args.command}"
    from smg_fast.cli.common import show_warnings

    restore_warnings = show_warnings(prog)
    try:
        from smg_fast.cli.common import check_no_empty

        check_no_empty(argv)
        if getattr(args, "precheck", None):
            args.precheck(args)
        code = args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"\n{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - sorted into the user's errors and bugs below
        import traceback

        status = exit_status(e)
        if status is None or args.debug:
            traceback.print_exc()
        if status is None:
            print(f"{prog}: unexpected {type(e).__name__} (a bug: please report it with the traceback above)",
                  file=sys.stderr)
            sys.exit(1)
        message = str(e) or type(e).__name__
        if isinstance(e, MemoryError) and not str(e):
            message = "out of memory"
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(status)
    finally:
        restore_warnings()
    if code:
        sys.exit(code)
