"""The ``smg-fast`` command line."""
from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> None:
    from smg_fast import demo

    demo.main(repeats=args.repeats)


def _data(args: argparse.Namespace) -> int:
    from smg_fast.data import download

    return download.main(args.args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smg-fast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run every fused op on training shapes and compare with eager PyTorch")
    demo.add_argument("--repeats", type=int, default=5, help="timed repetitions per op (median is shown)")
    demo.set_defaults(func=_demo)

    data = sub.add_parser("data", help="download and verify upstream data (DMC-GB colours and videos, robot assets)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    download = data_sub.add_parser(
        "download", add_help=False, help="smg-fast data download [dmcgb|robot|all] [--dir DIR] (see --help)"
    )
    download.add_argument("args", nargs=argparse.REMAINDER)
    download.set_defaults(func=_data)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["data", "download"]:  # its own parser, --help included
        from smg_fast.data import download

        sys.exit(download.main(argv[2:]))
    args = build_parser().parse_args(argv)
    code = args.func(args)
    if isinstance(code, int) and code != 0:
        sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
