"""``smg-fast doctor`` (this machine: stack, rendering, data, every fused op on the device) and ``smg-fast
demo`` (every fused op on training shapes against eager PyTorch)."""
from __future__ import annotations

import argparse

from smg_fast.cli.common import check_number


def add_parser(sub) -> None:
    doc = sub.add_parser("doctor", help="check this machine: stack, rendering, data, and every fused op on the device")
    doc.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    doc.add_argument("--repeats", type=int, default=3, help="timed repetitions per op (the best is shown)")
    doc.set_defaults(func=run_doctor)

    demo = sub.add_parser("demo", help="run every fused op on training shapes and compare with eager PyTorch")
    demo.add_argument("--repeats", type=int, default=5, help="timed repetitions per op (median is shown)")
    demo.set_defaults(func=run_demo)


def run_doctor(args: argparse.Namespace) -> int:
    from smg_fast import doctor, machine

    machine.check_device(args.device)
    check_number(args.repeats, "--repeats", 1, 1000)
    return doctor.main(args.device, repeats=args.repeats)


def run_demo(args: argparse.Namespace) -> int:
    from smg_fast import demo

    check_number(args.repeats, "--repeats", 1, 1000)
    demo.main(repeats=args.repeats)
    return 0
