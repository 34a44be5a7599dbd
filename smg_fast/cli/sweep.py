"""``smg-fast sweep GRID``: its flags and their checks; running the grid is :mod:`smg_fast.experiments.sweep`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smg_fast.cli.common import check_number
from smg_fast.experiments.grid import Grid, GridError, load_grid


def check_numbers(args: argparse.Namespace) -> None:
    """The numbers of ``smg-fast sweep`` (the grid and --run-cpus / --run-gpus are checked with the grid)."""
    check_number(args.max_concurrent, "--max-concurrent", 1)
    check_number(args.retries, "--retries", 0)
    check_number(args.cpus, "--cpus", 0, integer=False, lo_open=True)
    check_number(args.gpus, "--gpus", 0, integer=False)
    check_number(args.poll, "--poll", 0, integer=False, lo_open=True)
    check_number(args.progress_every, "--progress-every", 0, integer=False)


def check_runs(grid: Grid, sweep_dir: Path) -> None:
    """Every run's train command checked as ``smg-fast train`` checks it (methods, tasks, presets, settings,
    modes), and every run directory inside the sweep directory, before any run starts: a misspelled name fails
    here once, naming the run, not later in each run's log. UsageError (exit status 2) for the first run
    refused."""
    from smg_fast.cli.train import check_command
    from smg_fast.errors import SettingError, UsageError
    from smg_fast.experiments.sweep import run_path

    root = sweep_dir.resolve()
    for spec in grid.runs:
        run = run_path(sweep_dir, spec)
        if not run.resolve().is_relative_to(root):
            raise UsageError(f"run {spec.run_id}: its directory {run} lies outside the sweep directory {sweep_dir}")
        try:
            check_command(spec.train_args(run, grid.run_device))
        except (SettingError, UsageError) as e:
            raise UsageError(f"run {spec.run_id}: {e}") from None


def _resolve(args) -> tuple[Grid, Path]:
    target = Path(args.grid)
    grid = load_grid(target)
    if args.dir:
        return grid, Path(args.dir)
    if target.is_dir():
        return grid, target
    return grid, Path("sweeps") / grid.name


def run(args: argparse.Namespace) -> int:
    from smg_fast.experiments.sweep import SweepError, dry_run, format_status, run_sweep, status_rows

    try:
        grid, sweep_dir = _resolve(args)
        if args.run_cpus is not None:
            if args.run_cpus <= 0:
                raise GridError("--run-cpus must be > 0")
            grid.cpus = args.run_cpus
        if args.run_gpus is not None:
            if args.run_gpus < 0 or (args.run_gpus > 1 and args.run_gpus != int(args.run_gpus)):
                raise GridError("--run-gpus must be >= 0, a fraction only below 1")
            grid.gpus = args.run_gpus
        if args.status:
            if not sweep_dir.is_dir():
                print(f"{sweep_dir}: no sweep has run here yet ({len(grid.runs)} runs in the grid)")
                return 0
            print(format_status(status_rows(grid, sweep_dir)))
            return 0
        check_runs(grid, sweep_dir)
        if args.dry_run:
            print(dry_run(grid, sweep_dir))
            return 0
        return run_sweep(grid, sweep_dir, address=args.address, num_cpus=args.cpus, num_gpus=args.gpus,
                         max_concurrent=args.max_concurrent, retries=args.retries, poll_s=args.poll,
                         progress_every_s=args.progress_every, progress=not args.no_progress)
    except (GridError, SweepError) as e:
        print(f"smg-fast sweep: {e}", file=sys.stderr)
        return 1


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep", help="run an experiment grid (methods × tasks × seeds × ablations) on Ray; --status shows progress",
        description="Run every combination of an experiment grid (methods × tasks × seeds × presets × ablations) "
                    "as an independent `smg-fast train` process on Ray, locally or on a cluster (--address). "
                    "Re-running skips finished runs and resumes the others. Grid format: smg_fast/experiments/grid.py; "
                    "example: grids/table1.toml. Needs Ray, which the [sweep] extra installs: "
                    "pip install --no-build-isolation -e '.[sweep]'.")
    p.add_argument("grid", help="grid file (.toml, .yaml) or an existing sweep directory")
    p.add_argument("--dir", default=None, help="sweep directory (default sweeps/<grid name>)")
    p.add_argument("--status", action="store_true",
                   help="show each run's state, step and last evaluation; runs nothing")
    p.add_argument("--dry-run", action="store_true", help="print each run's train command; runs nothing")
    p.add_argument("--address", default=None,
                   help="an existing Ray cluster (e.g. auto or HOST:6379); default: a local one")
    p.add_argument("--cpus", type=float, default=None, help="local Ray: CPUs to use (default all)")
    p.add_argument("--gpus", type=float, default=None, help="local Ray: GPUs to use (default all)")
    p.add_argument("--run-cpus", type=float, default=None, help="CPUs per run (overrides the grid's [resources] cpus)")
    p.add_argument("--run-gpus", type=float, default=None,
                   help="GPUs per run, fractions allowed (overrides the grid's [resources] gpus; > 0 trains on cuda)")
    p.add_argument("--max-concurrent", type=int, default=None, help="at most this many runs at once")
    p.add_argument("--retries", type=int, default=None, help="retries per failed run (default: the grid's max_retries)")
    p.add_argument("--poll", type=float, default=5.0,
                   help="seconds between checks of the running runs (default 5)")
    p.add_argument("--progress-every", type=float, default=60.0,
                   help="seconds between progress lines (default 60; 0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, precheck=check_numbers)
