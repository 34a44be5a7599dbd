"""The ``smg-fast`` command line."""
from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> None:
    from smg_fast import demo

    demo.main(repeats=args.repeats)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smg-fast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run every fused op on training shapes and compare with eager PyTorch")
    demo.add_argument("--repeats", type=int, default=5, help="timed repetitions per op (median is shown)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
