"""``smg-fast eval``: trained runs (one per seed) evaluated on DMC-GB modes or robot test scenes, written as a
Markdown + CSV table beside a random policy and the paper."""
from __future__ import annotations

import argparse
from pathlib import Path

from smg_fast.cli.common import (check_modes_text, check_number, eval_settings, needs_intensity, references_or_note,
                                 run_config)
from smg_fast.errors import UsageError


def add_parser(sub) -> None:
    e = sub.add_parser("eval", help="evaluate trained runs on DMC-GB modes; writes a Markdown + CSV table")
    e.add_argument("--run", nargs="+", required=True, help="run directories (one per seed)")
    e.add_argument("--modes", default="all", help="comma-separated modes or 'all' (default all)")
    e.add_argument("--episodes", type=int, default=5,
                   help="episodes per mode and seed (default 5, as the paper's tables)")
    e.add_argument("--envs", type=int, default=2, help="parallel env workers per mode (default 2)")
    e.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    e.add_argument("--out", default=None, help="output path stem (default RUN/eval_table)")
    e.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="the evaluation's distracting_cs intensity: --set distracting_cs_intensity=X (default: the "
                        "run's)")
    e.add_argument("--previous-checkpoint", action="store_true",
                   help="load each run's checkpoint before the last (when the last is damaged)")
    e.add_argument("--no-progress", action="store_true", help="no progress bars")
    e.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smg_fast import machine
    from smg_fast.experiments import references
    from smg_fast.run.checkpoint import load_agent
    from smg_fast.run.evaluate import Evaluator
    from smg_fast.run.progress import working

    check_number(args.episodes, "--episodes", 1, 10_000)
    check_number(args.envs, "--envs", 1, 64)
    machine.check_device(args.device)
    cfgs = [run_config(run) for run in args.run]
    tasks = sorted({c.task for c in cfgs})
    if len(tasks) > 1:
        raise UsageError(f"--run: the runs are of different tasks ({', '.join(tasks)}); evaluate one task at a time")
    from smg_fast.experiments.results import mixing_problem

    problem = mixing_problem([(run, c.to_dict()) for run, c in zip(args.run, cfgs)])  # one row: one configuration
    if problem:
        raise UsageError(problem)
    modes = check_modes_text(args.modes, tasks[0], "--modes")
    intensity = eval_settings(args.set, cfgs[0].algo).get("distracting_cs_intensity", cfgs[0].distracting_cs_intensity)
    needs_intensity(modes, intensity)
    from smg_fast.tasks import DISTRACTING_CS, mode_label

    stem = "eval_table" + (f"_{mode_label(DISTRACTING_CS, intensity)}" if DISTRACTING_CS in modes else "")
    out = Path(args.out) if args.out else Path(args.run[0]) / stem
    machine.check_writable_file(f"{out}.md", "--out")
    machine.check_data(tasks[0], modes, intensity)
    per_seed = {}
    for run in args.run:
        with working(f"loading {run}", not args.no_progress):
            cfg, agent = load_agent(run, device=args.device, previous=args.previous_checkpoint)
        cfg.distracting_cs_intensity = intensity
        evaluator = Evaluator(cfg, modes, args.envs)
        name = f"seed {cfg.seed}"  # distinct: mixing_problem refused a seed given twice
        try:
            per_seed[name] = evaluator.evaluate(
                agent, args.episodes, bar=not args.no_progress,
                progress=lambda m, r: print(f"  {Path(run).name} {m}: {sum(r) / len(r):.1f}", flush=True))
        finally:
            evaluator.close()
    cfgs[0].distracting_cs_intensity = intensity
    labels = [mode_label(m, intensity) for m in modes]
    refs = references_or_note(cfgs[0], not args.no_progress, labels)
    md, rows = references.comparison_table(per_seed, labels, refs, cfgs[0])
    print(md, flush=True)  # before the files: a failed write never loses the table
    paths = references.write_comparison(md, rows, out)
    print(f"written: {paths[0]}, {paths[1]}")
    return 0
