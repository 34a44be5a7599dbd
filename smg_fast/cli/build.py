"""``smg-fast build``: compile the fused ops for the installed torch now instead of on first use
(:mod:`smg_fast._build`)."""
from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "build", help="compile the fused ops for the installed torch now (otherwise the first command that needs "
                      "them does it, once)",
        description="Compile smg-fast's fused ops for the installed torch now; otherwise the first command that "
                    "needs them does it, once per torch version, into ~/.cache/smg-fast/ext (SMG_FAST_CACHE moves "
                    "it). Nothing to do when pip built them for this torch at install time (pip install "
                    "--no-build-isolation).")
    p.add_argument("--verbose", action="store_true", help="show the compiler's commands and output")
    p.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from smg_fast import _build

    for line in _build.build_now(verbose=args.verbose):
        print(f"smg-fast build: {line}", file=sys.stderr if line.startswith("note:") else sys.stdout)
    return 0
