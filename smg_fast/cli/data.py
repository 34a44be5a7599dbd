"""``smg-fast data download [dmcgb|robot|all|places365|davis] [--dir DIR]``: its flags and errors. What it
fetches and how each file is verified is :mod:`smg_fast.data.download` (DMC-GB, robot),
:mod:`smg_fast.data.places365` and :mod:`smg_fast.data.davis`.

Errors are one line on stderr and an exit status: 2 for a bad argument, 1 for a failure (unreachable
server, refused or missing files, unwritable data directory), 130 when interrupted; ``--debug`` shows the
traceback of an unexpected error.
"""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from smg_fast.data import DOWNLOAD_COMMAND, download_command
from smg_fast.data.download import BASE_URL_ENV_VAR, DEFAULT_BASE_URL, download
from smg_fast.data.fetch import DownloadError, UsageError
from smg_fast.data.manifest import GROUPS


def add_parser(sub) -> None:
    """``data`` and its ``download`` subcommand, for ``smg-fast --help``; ``main`` hands ``data download``
    to :func:`main` (its own parser) before the top-level parser runs."""
    data = sub.add_parser("data", help="download and verify upstream data (DMC-GB colours and videos, robot assets)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("download", help="smg-fast data download [dmcgb|robot|all|places365|davis] [--dir DIR] "
                                         "(see --help)")
    v = data_sub.add_parser("verify", help="check every data file present against the manifest (offline)")
    v.add_argument("group", nargs="?", default="all", choices=GROUPS + ("all",), help="which files (default all)")
    v.add_argument("--dir", dest="data_dir", default=None,
                   help="data directory (default: $SMG_FAST_DATA or ~/.cache/smg-fast)")
    v.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from smg_fast.data.verify import verify_command

    return verify_command(args.group, args.data_dir)


class _Parser(argparse.ArgumentParser):
    """Argument errors on one line (not the multi-line usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


PLACES_ONLY = ("subset", "per_class")
ARCHIVE_ONLY = ("keep_archive",)  # places365 and davis
DAVIS_ONLY = ("accept_licence",)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser(prog: str = f"{DOWNLOAD_COMMAND}") -> argparse.ArgumentParser:
    from smg_fast.data import davis, places365

    p = _Parser(prog=prog, description="Fetch the upstream data files (DMC-GB colours and videos, SMG robot "
                "assets: git blob ids verified; Places365 overlay images: MD5s verified; DAVIS-2017 videos for "
                "distracting_cs: size and SHA-256 verified) and store them.")
    p.add_argument("group", nargs="?", default="all", choices=GROUPS + ("all", places365.GROUP, davis.GROUP),
                   help="which files (default: all = dmcgb and robot; places365 is separate: 24 GB, or "
                        "501 MB with --subset val; davis is separate: 833 MB)")
    p.add_argument("--dir", dest="data_dir", default=None,
                   help="data directory (default: $SMG_FAST_DATA or ~/.cache/smg-fast)")
    p.add_argument("--base-url", default=None,
                   help=f"where the files are served (dmcgb/robot: <repo>/<commit>/<path>); by default "
                        f"${BASE_URL_ENV_VAR} or {DEFAULT_BASE_URL} for dmcgb/robot, "
                        f"${places365.BASE_URL_ENV_VAR} or {places365.DEFAULT_BASE_URL} for places365, "
                        f"${davis.BASE_URL_ENV_VAR} or {davis.DEFAULT_BASE_URL} for davis")
    p.add_argument("--only", action="append", metavar="GLOB",
                   help="dmcgb/robot: fetch only local names matching GLOB (repeatable), e.g. 'dmcgb/color_*'")
    p.add_argument("--force", action="store_true",
                   help="download again what is present; the local copy is replaced only once the new one "
                        "is verified")
    g = p.add_argument_group("places365")
    g.add_argument("--subset", choices=places365.SUBSETS, default=None,
                   help="full: the 1,803,460 train images upstream reads (24 GB download, the default); "
                        "val: the 36,500 validation images, 100 per class (501 MB)")
    g.add_argument("--per-class", type=_positive_int, default=None, metavar="N",
                   help="keep a deterministic N images per class (saves disk; the archive is still "
                        "downloaded whole)")
    p.add_argument("--keep-archive", action="store_true",
                   help="places365 and davis: keep the downloaded archives after extraction")
    d = p.add_argument_group("davis")
    d.add_argument("--accept-licence", "--accept-license", dest="accept_licence", action="store_true",
                   help="accept the DAVIS terms shown before the download without a prompt")
    p.add_argument("--debug", action="store_true", help="show the traceback of unexpected errors")
    return p


def _ask_terms(terms: str) -> bool:
    """The interactive confirmation of the DAVIS terms (shown just above)."""
    try:
        answer = input("Accept these terms and download? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _fail(prog: str, message: str, code: int) -> int:
    sys.stderr.write(f"{prog}: error: {message}\n")
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``smg-fast data download``; ``argv`` holds the arguments after ``download``.

    Returns the exit status: 0 done, 1 failed (the reason on one line), 2 bad arguments, 130 interrupted.
    """
    from smg_fast.data import davis, places365

    from smg_fast.cli.common import check_no_empty
    from smg_fast.errors import UsageError as EmptyValue

    parser = build_parser()
    args = parser.parse_args(argv)
    prog = parser.prog
    try:
        check_no_empty(list(argv or []))  # e.g. --dir "": the data would land in the current folder
    except EmptyValue as err:
        return _fail(prog, f"{err} (see --help)", 2)

    def refuse(names, groups) -> None:
        given = [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) not in (None, False)]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            where = " or ".join(f"`{download_command()} {g}`" for g in groups)
            raise UsageError(f"{', '.join(given)} only {verb} to {where}")

    try:
        if args.group == places365.GROUP:
            if args.only:
                raise UsageError("--only applies to dmcgb/robot files; for places365 use --subset / --per-class")
            refuse(DAVIS_ONLY, (davis.GROUP,))
            places365.install(args.data_dir, subset=args.subset or "full", per_class=args.per_class,
                              base_url=args.base_url, force=args.force, keep_archive=args.keep_archive)
            return 0
        if args.group == davis.GROUP:
            if args.only:
                raise UsageError("--only applies to dmcgb/robot files; davis installs one archive")
            refuse(PLACES_ONLY, (places365.GROUP,))
            davis.install(args.data_dir, base_url=args.base_url, force=args.force, keep_archive=args.keep_archive,
                          accept_licence=args.accept_licence, ask=_ask_terms if sys.stdin.isatty() else None)
            return 0
        refuse(PLACES_ONLY + ARCHIVE_ONLY + DAVIS_ONLY, (places365.GROUP, davis.GROUP))
        report = download(args.group, args.data_dir, base_url=args.base_url, only=args.only, force=args.force)
        return 0 if report.ok else 1
    except UsageError as err:
        return _fail(prog, f"{err} (see --help)", 2)
    except DownloadError as err:
        return _fail(prog, str(err), 1)
    except KeyboardInterrupt:
        return _fail(prog, "interrupted; run the same command again to continue (partial downloads resume)",
                     130)
    except Exception as err:  # an unexpected failure: one line unless --debug
        if args.debug:
            raise
        return _fail(prog, f"unexpected {type(err).__name__}: {err} (re-run with --debug for the traceback)", 1)
