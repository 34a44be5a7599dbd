"""``smg-fast report``: its flags and their checks; the tables, aggregates and curves are
:mod:`smg_fast.experiments.report`."""
from __future__ import annotations

import argparse
from pathlib import Path

from smg_fast.cli.common import check_number


def check_numbers(args: argparse.Namespace) -> None:
    """The numbers of ``smg-fast report`` (the paths and --method are checked by the report)."""
    check_number(args.decimals, "--decimals", 0)
    check_number(args.bootstrap_reps, "--bootstrap-reps", 0)
    check_number(args.seed, "--seed", 0)


def run(args: argparse.Namespace) -> int:
    from smg_fast.experiments.report import make_report, paper_only

    if args.decimals < 0 or args.bootstrap_reps < 0:
        raise SystemExit("smg-fast report: --decimals and --bootstrap-reps must be >= 0")
    if not args.paths:
        if not args.paper:
            raise SystemExit("smg-fast report: give run or sweep directories (or --paper for the paper's tables)")
        text = paper_only(args.decimals)
        print(text)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "paper.md").write_text(text)
        return 0
    try:
        text, written = make_report(args.paths, args.out, args.method, args.paper, args.include_unfinished,
                                    args.decimals, args.bootstrap_reps, args.seed, not args.no_curves)
    except FileNotFoundError as e:
        raise SystemExit(f"smg-fast report: {e}") from None
    print(text)
    print("written: " + ", ".join(str(p) for p in written))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report",
                              help="the paper's tables, IQM aggregates and learning curves from finished runs",
                              description="The paper's table formats (Tables 1-3, 6-9), IQM aggregates with "
                                          "stratified-bootstrap CIs and Figure-11-style curves from finished runs "
                                          "(run directories or sweep directories).")
    p.add_argument("paths", nargs="*", help="run directories and/or sweep directories")
    p.add_argument("--out", default=None, help="output directory (default SWEEP_DIR/report, else ./report)")
    p.add_argument("--method", default=None, help="the column whose Δ over the best other is shown (default smg)")
    p.add_argument("--paper", action="store_true", help="put the paper's published numbers beside the results")
    p.add_argument("--include-unfinished", action="store_true",
                   help="also use unfinished runs (their latest evaluation)")
    p.add_argument("--decimals", type=int, default=0, help="decimals of the returns shown (default 0, as the paper)")
    p.add_argument("--bootstrap-reps", type=int, default=50_000,
                   help="bootstrap resamples for the CIs (default 50000, as rliable; 0: no aggregates)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--no-curves", action="store_true", help="skip the learning-curve figures")
    p.set_defaults(func=run, precheck=check_numbers)
