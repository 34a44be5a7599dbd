"""The ``smg-fast`` command line: train, eval, visualize, demo, data download."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

LOSS_FLAGS = {  # --no-<name> → config weight set to 0 (the paper's ablations)
    "recon": "recon_weight",
    "mask": "mask_weight",
    "back": "back_weight",
    "action": "action_weight",
    "fore": "fore_weight",
    "q-consistency": "q_consistency_weight",
}


def _modes(text: str, task: str | None = None) -> tuple[str, ...]:
    from smg_fast.agent.config import EVAL_MODES

    if text == "all":
        if task and task.startswith("robot-"):
            return ("train", "test1", "test2", "test3", "test4", "test5")
        return EVAL_MODES
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _settings(pairs: list[str]) -> dict:
    """--set KEY=VALUE pairs, typed after the Config field they name."""
    import dataclasses

    from smg_fast.agent.config import Config

    fields = {f.name: f for f in dataclasses.fields(Config)}
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
        default = getattr(Config(), key)
        if default is None:  # optional integer fields (burst_updates)
            default = 0
        if isinstance(default, bool):
            out[key] = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, tuple):
            out[key] = tuple(v for v in value.split(",") if v)
        else:
            try:
                out[key] = type(default)(value)
            except ValueError:
                raise SystemExit(f"--set {pair!r}: {key} takes a {type(default).__name__}") from None
    return out


def _train(args: argparse.Namespace) -> int:
    from smg_fast.agent import make_config
    from smg_fast.checkpoint import read_config
    from smg_fast.train import TrainingStopped, train

    overrides = {
        "seed": args.seed, "train_steps": args.steps, "device": args.device, "precision": args.precision,
        "checkpoint_every": args.checkpoint_every, "eval_freq": args.eval_freq,
        "eval_episodes": args.eval_episodes, "batch_size": args.batch_size,
        "overlay_source": args.overlay_source, "replay_capacity": args.replay_capacity,
        "eval_envs": args.eval_envs, "attribution_prob": args.attribution_prob, "mask_warmup": args.mask_warmup,
    }
    for name, key in LOSS_FLAGS.items():
        if getattr(args, "no_" + name.replace("-", "_")):
            overrides[key] = 0.0
    if args.eval_modes:
        overrides["eval_modes"] = _modes(args.eval_modes, args.task)
    overrides.update(_settings(args.set))
    if args.resume:
        run_dir = Path(args.resume)
        saved = read_config(run_dir)
        given = {k: v for k, v in overrides.items() if v is not None}
        if args.task is not None:
            given["task"] = args.task
        if args.algo is not None:
            given["algo"] = args.algo
        clash = {k: (getattr(saved, k), v) for k, v in given.items() if k != "device" and getattr(saved, k) != v}
        if clash:
            lines = ", ".join(f"{k}: run has {a!r}, command line says {b!r}" for k, (a, b) in clash.items())
            raise SystemExit(f"--resume {run_dir}: the command line disagrees with the run's config ({lines})")
        if args.device:
            saved.device = args.device
        saved.run_dir = str(run_dir)
        cfg = saved
    else:
        task = args.task or "walker-walk"
        cfg = make_config(task, args.algo or "smg", args.preset, **overrides)
        cfg.run_dir = args.run_dir or str(Path("runs") / f"{task}_{cfg.algo}_{args.preset}_seed{cfg.seed}")
        if (Path(cfg.run_dir) / "checkpoint.pt").exists():
            raise SystemExit(f"{cfg.run_dir} already holds a run: continue it with --resume {cfg.run_dir} "
                             "or choose another --run-dir")
    try:
        run_dir = train(cfg, resume=bool(args.resume), progress=not args.no_progress)
    except TrainingStopped as e:
        print(e, file=sys.stderr)
        return 128 + e.signum
    print(f"run directory: {run_dir}")
    return _report(run_dir, cfg, pictures=not args.no_pictures)


def _report(run_dir: Path, cfg, pictures: bool = True) -> int:
    """End of a training run: the evaluation table and pictures."""
    import csv

    from smg_fast.evaluate import results_table, write_table

    rows = list(csv.DictReader(open(Path(run_dir) / "eval.csv")))
    last = max(int(r["step"]) for r in rows)
    returns = {r["mode"]: [float(x) for x in r["returns"].split()] for r in rows if int(r["step"]) == last}
    md, table_rows = results_table({f"seed {cfg.seed}": returns}, list(returns))
    paths = write_table(md, table_rows, Path(run_dir) / "final_eval")
    print(f"\nEvaluation at step {last} ({cfg.eval_episodes} episodes per mode):\n{md}\n(also {paths[0]}, {paths[1]})")
    try:
        from smg_fast import plots

        print(f"learning curves: {plots.plot_learning_curves([run_dir], Path(run_dir) / 'curves.png')}")
    except (ImportError, AttributeError):
        pass
    if cfg.algo == "smg" and pictures:
        try:
            from smg_fast import visualize
            from smg_fast.checkpoint import load_agent

            _, agent = load_agent(run_dir)
            paths = visualize.save_mode_grids(agent, cfg.task, list(cfg.eval_modes), Path(run_dir) / "pictures",
                                              seed=cfg.seed, overlay_source=cfg.overlay_source)
            print("pictures: " + ", ".join(str(p) for p in paths))
        except (ImportError, AttributeError):
            pass
    return 0


def _eval(args: argparse.Namespace) -> int:
    from smg_fast.checkpoint import load_agent
    from smg_fast.evaluate import Evaluator, results_table, write_table

    per_seed, modes = {}, None
    for run in args.run:
        cfg, agent = load_agent(run, device=args.device)
        modes = _modes(args.modes, cfg.task)
        evaluator = Evaluator(cfg, modes, args.envs)
        try:
            per_seed[f"seed {cfg.seed}"] = evaluator.evaluate(
                agent, args.episodes, progress=lambda m, r: print(f"  {Path(run).name} {m}: {sum(r) / len(r):.1f}"))
        finally:
            evaluator.close()
    md, rows = results_table(per_seed, modes)
    out = Path(args.out) if args.out else Path(args.run[0]) / "eval_table"
    paths = write_table(md, rows, out)
    print(md)
    print(f"written: {paths[0]}, {paths[1]}")
    return 0


def _random(args: argparse.Namespace) -> int:
    from smg_fast.agent.config import make_config
    from smg_fast.evaluate import random_policy_returns, results_table, write_table

    cfg = make_config(args.task, action_repeat=args.action_repeat)
    modes = _modes(args.modes, cfg.task)
    returns = random_policy_returns(cfg, modes, args.episodes, args.envs, args.seed,
                                    progress=lambda m, r: print(f"  random {m}: {sum(r) / len(r):.1f}"))
    md, rows = results_table({"random policy": returns}, modes)
    print(f"{cfg.task}, action repeat {cfg.action_repeat}, {args.episodes} episodes per mode")
    print(md)
    if args.out:
        paths = write_table(md, rows, Path(args.out))
        print(f"written: {paths[0]}, {paths[1]}")
    return 0


def _visualize(args: argparse.Namespace) -> int:
    from smg_fast import visualize
    from smg_fast.checkpoint import load_agent

    cfg, agent = load_agent(args.run, device=args.device)
    modes = list(_modes(args.modes, cfg.task))
    out = Path(args.out or Path(args.run) / "pictures")
    out.mkdir(parents=True, exist_ok=True)
    paths = visualize.save_mode_grids(agent, cfg.task, modes, out, seed=cfg.seed, overlay_source=cfg.overlay_source)
    video = visualize.save_episode_video(agent, cfg.task, args.video_mode or modes[-1], out / "episode.mp4",
                                         seed=cfg.seed, overlay_source=cfg.overlay_source)
    for p in [*paths, video]:
        print(p)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from smg_fast import demo

    demo.main(repeats=args.repeats)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smg-fast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an agent (SMG by default) on a task",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--task", default=None, help="e.g. walker-walk, cartpole-swingup, robot-reach (default walker-walk)")
    t.add_argument("--algo", default=None, choices=["smg", "sac", "drq"], help="default smg")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--steps", type=int, default=None, help="agent steps (default: the paper's per task)")
    t.add_argument("--preset", default="paper", choices=["paper", "quick"],
                   help="paper: Table 5; quick: a reduced CPU configuration that runs in minutes")
    t.add_argument("--device", default=None, help="cpu or cuda (default cpu)")
    t.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                   help="fp32 (default, the paper's) or bf16: forward passes under bfloat16 autocast")
    t.add_argument("--run-dir", default=None, help="default runs/<task>_<algo>_<preset>_seed<seed>")
    t.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue an interrupted run")
    t.add_argument("--checkpoint-every", type=int, default=None, help="agent steps between checkpoints")
    t.add_argument("--eval-freq", type=int, default=None)
    t.add_argument("--eval-episodes", type=int, default=None)
    t.add_argument("--eval-modes", default=None, help="comma-separated DMC-GB modes, or 'all'")
    t.add_argument("--eval-envs", type=int, default=None, help="parallel env workers per evaluation mode")
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--replay-capacity", type=int, default=None)
    t.add_argument("--overlay-source", default=None,
                   help="overlay / attribution images: 'folder:PATH' (e.g. Places365) or 'procedural'")
    t.add_argument("--attribution-prob", type=float, default=None,
                   help="P(attribution) in the hybrid augmentation: code 0.25 (default), paper 0.5")
    t.add_argument("--mask-warmup", type=int, default=None,
                   help="mask loss only after this step: code 1000 (default), paper 0")
    for name in LOSS_FLAGS:
        t.add_argument(f"--no-{name}", action="store_true", help=f"drop the {name} loss (ablation)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field (see smg_fast/agent/config.py), e.g. --set init_steps=500")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-pictures", action="store_true", help="skip the pictures at the end of the run")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="evaluate trained runs on DMC-GB modes; writes a Markdown + CSV table")
    e.add_argument("--run", nargs="+", required=True, help="run directories (one per seed)")
    e.add_argument("--modes", default="all", help="comma-separated modes or 'all'")
    e.add_argument("--episodes", type=int, default=5, help="episodes per mode and seed (paper tables: 5)")
    e.add_argument("--envs", type=int, default=2, help="parallel env workers per mode")
    e.add_argument("--device", default="cpu")
    e.add_argument("--out", default=None, help="output path stem (default RUN/eval_table)")
    e.set_defaults(func=_eval)

    r = sub.add_parser("random", help="returns of a uniform random policy: the baseline a learning curve must beat")
    r.add_argument("--task", required=True)
    r.add_argument("--modes", default="train", help="comma-separated modes or 'all' (default train)")
    r.add_argument("--episodes", type=int, default=10)
    r.add_argument("--envs", type=int, default=2, help="parallel env workers per mode")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--action-repeat", type=int, default=None, help="default: the paper's for the task")
    r.add_argument("--out", default=None, help="also write OUT.md and OUT.csv")
    r.set_defaults(func=_random)

    v = sub.add_parser("visualize", help="PNG grids (obs, mask, background, attribution, reconstruction) and an MP4")
    v.add_argument("--run", required=True)
    v.add_argument("--modes", default="all")
    v.add_argument("--video-mode", default=None, help="mode of the MP4 episode (default: the last mode)")
    v.add_argument("--device", default="cpu")
    v.add_argument("--out", default=None, help="default RUN/pictures")
    v.set_defaults(func=_visualize)

    demo = sub.add_parser("demo", help="run every fused op on training shapes and compare with eager PyTorch")
    demo.add_argument("--repeats", type=int, default=5, help="timed repetitions per op (median is shown)")
    demo.set_defaults(func=_demo)

    data = sub.add_parser("data", help="download and verify upstream data (DMC-GB colours and videos, robot assets)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("download", help="smg-fast data download [dmcgb|robot|all] [--dir DIR] (see --help)")
    from smg_fast import report, sweep  # experiment grids on Ray; the paper's tables, aggregates and curves
    sweep.add_sweep_parser(sub)
    report.add_report_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["data", "download"]:  # its own parser, --help included
        from smg_fast.data import download

        sys.exit(download.main(argv[2:]))
    args = build_parser().parse_args(argv)
    code = args.func(args)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
