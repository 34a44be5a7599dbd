"""``smg-fast random``: the returns of a uniform random policy on a task, the baseline a learning curve must
beat."""
from __future__ import annotations

import argparse
from pathlib import Path

from smg_fast.cli.common import check_modes_text, check_number, eval_settings, needs_intensity, setting_error
from smg_fast.errors import SettingError


def add_parser(sub) -> None:
    r = sub.add_parser("random", help="returns of a uniform random policy: the baseline a learning curve must beat")
    r.add_argument("--task", required=True, help="e.g. walker-walk, cartpole-swingup, robot-reach")
    r.add_argument("--modes", default="train", help="comma-separated modes or 'all' (default train)")
    r.add_argument("--episodes", type=int, default=10, help="episodes per mode (default 10)")
    r.add_argument("--envs", type=int, default=2, help="parallel env workers per mode (default 2)")
    r.add_argument("--seed", type=int, default=0, help="seeds the actions and the episodes' start states (default 0)")
    r.add_argument("--action-repeat", type=int, default=None, help="default: the paper's for the task")
    r.add_argument("--out", default=None, help="also write OUT.md and OUT.csv")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="--set distracting_cs_intensity=X for the distracting_cs mode")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smg_fast import machine
    from smg_fast.config import make_config, run_settings
    from smg_fast.run.evaluate import random_policy_returns, results_table, write_table

    machine.check_task(args.task)
    check_number(args.episodes, "--episodes", 1, 10_000)
    check_number(args.envs, "--envs", 1, 64)
    check_number(args.seed, "--seed", 0, run_settings()["seed"].rule.hi)
    check_number(args.action_repeat, "--action-repeat", 1, 1000)
    modes = check_modes_text(args.modes, args.task, "--modes")
    intensity = eval_settings(args.set).get("distracting_cs_intensity")
    needs_intensity(modes, intensity)
    if args.out:
        machine.check_writable_file(f"{args.out}.md", "--out")
    try:
        cfg = make_config(args.task, action_repeat=args.action_repeat, distracting_cs_intensity=intensity)
    except SettingError as e:  # e.g. an action repeat for a robot task
        raise setting_error(e, {"action_repeat": f"--action-repeat {args.action_repeat}"}, "") from None
    machine.check_data(cfg.task, modes, intensity)
    returns = random_policy_returns(cfg, modes, args.episodes, args.envs, args.seed, bar=not args.no_progress,
                                    progress=lambda m, r: print(f"  random {m}: {sum(r) / len(r):.1f}", flush=True))
    md, rows = results_table({"random policy": returns}, list(returns))
    print(f"{cfg.task}, action repeat {cfg.action_repeat}, {args.episodes} episodes per mode")
    print(md, flush=True)
    if args.out:
        paths = write_table(md, rows, Path(args.out))
        print(f"written: {paths[0]}, {paths[1]}")
    return 0
