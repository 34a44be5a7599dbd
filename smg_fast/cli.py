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


def _modes(text: str, task: str) -> tuple[str, ...]:
    from smg_fast.tasks import parse_modes

    return parse_modes(text, task)


def _settings(pairs: list[str], algo: str) -> dict:
    """--set KEY=VALUE pairs, typed after the run or ``algo`` setting they name."""
    from smg_fast.config import parse_setting

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE")
        try:
            out[key.strip().replace("-", "_")] = parse_setting(algo, key.strip().replace("-", "_"), value)
        except ValueError as e:
            raise SystemExit(f"--set {pair!r}: {e}") from None
    return out


def _train(args: argparse.Namespace) -> int:
    from smg_fast.checkpoint import read_config
    from smg_fast.config import make_config
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
        overrides["eval_modes"] = _modes(args.eval_modes, args.task or "walker-walk")
    if args.resume:
        cfg = _resume_config(args, overrides)
    else:
        from smg_fast.rundir import check_fresh

        task = args.task or "walker-walk"
        overrides.update(_settings(args.set, args.algo or "smg"))
        preset = args.preset or "paper"
        cfg = make_config(task, args.algo or "smg", preset, **overrides)
        cfg.run_dir = args.run_dir or str(Path("runs") / f"{task}_{cfg.algo}_{preset}_seed{cfg.seed}")
        check_fresh(Path(cfg.run_dir))
    try:
        run_dir = train(cfg, resume=bool(args.resume), progress=not args.no_progress,
                        previous_checkpoint=args.previous_checkpoint)
    except TrainingStopped as e:
        print(e, file=sys.stderr)
        return 128 + e.signum
    print(f"run directory: {run_dir}")
    return _report(run_dir, cfg, pictures=not args.no_pictures)


def _resume_config(args: argparse.Namespace, overrides: dict):
    """The saved config of ``--resume RUN``. Flags that would change the run are errors unless they repeat
    the saved value; ``--steps N`` extends (or shortens, not below the checkpoint) the run's budget;
    ``--device`` may move it."""
    from smg_fast.checkpoint import read_config
    from smg_fast.rundir import check_resumable

    run_dir = Path(args.resume)
    check_resumable(run_dir)
    for flag, value in (("--preset", args.preset), ("--run-dir", args.run_dir)):
        if value is not None:
            raise SystemExit(f"--resume {run_dir}: {flag} cannot apply to a run that exists (it keeps its "
                             "directory and settings); drop it")
    saved = read_config(run_dir)
    overrides.update(_settings(args.set, saved.algo))
    given = {k: v for k, v in overrides.items() if v is not None and k not in ("device", "train_steps")}
    if args.task is not None:
        given["task"] = args.task
    if args.algo is not None:
        given["algo"] = args.algo
    have = saved.to_dict()
    have["eval_modes"] = tuple(have["eval_modes"])
    clash = {k: (have.get(k), v) for k, v in given.items() if have.get(k) != v}
    if clash:
        lines = ", ".join(f"{k}: run has {a!r}, command line says {b!r}" for k, (a, b) in clash.items())
        raise SystemExit(f"--resume {run_dir}: the command line disagrees with the run's config ({lines}); "
                         "with --resume only --steps (to extend the run) and --device may change")
    if args.device:
        saved.device = args.device
    if args.steps is not None:
        saved.train_steps = args.steps
    saved.run_dir = str(run_dir)
    return saved


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
            from smg_fast.tasks import env_kwargs

            _, agent = load_agent(run_dir)
            paths = visualize.save_mode_grids(agent, cfg.task, list(cfg.eval_modes), Path(run_dir) / "pictures",
                                              seed=cfg.seed, overlay_source=cfg.agent.overlay_source,
                                              env_kwargs=env_kwargs(cfg))
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
    from smg_fast.config import make_config
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
    from smg_fast.tasks import env_kwargs

    cfg, agent = load_agent(args.run, device=args.device)
    modes = list(_modes(args.modes, cfg.task))
    out = Path(args.out or Path(args.run) / "pictures")
    out.mkdir(parents=True, exist_ok=True)
    kw = dict(seed=cfg.seed, overlay_source=cfg.agent.overlay_source, env_kwargs=env_kwargs(cfg))
    paths = visualize.save_mode_grids(agent, cfg.task, modes, out, **kw)
    video = visualize.save_episode_video(agent, cfg.task, args.video_mode or modes[-1], out / "episode.mp4", **kw)
    for p in [*paths, video]:
        print(p)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from smg_fast import doctor

    return doctor.main(args.device, repeats=args.repeats)


def _demo(args: argparse.Namespace) -> int:
    from smg_fast import demo

    demo.main(repeats=args.repeats)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from smg_fast.agent import ALGOS

    parser = argparse.ArgumentParser(prog="smg-fast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an agent (SMG by default) on a task",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--task", default=None, help="e.g. walker-walk, cartpole-swingup, robot-reach (default walker-walk)")
    t.add_argument("--algo", default=None, choices=ALGOS, help="default smg")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--steps", type=int, default=None, help="agent steps (default: the paper's per task)")
    t.add_argument("--preset", default=None, choices=["paper", "quick"],
                   help="paper (default): Table 5; quick: a reduced CPU configuration that runs in minutes")
    t.add_argument("--device", default=None, help="cpu or cuda (default cpu)")
    t.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                   help="fp32 (default, the paper's) or bf16: forward passes under bfloat16 autocast")
    t.add_argument("--run-dir", default=None, help="default runs/<task>_<algo>_<preset>_seed<seed>")
    t.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run; with --steps N, extend a finished one to N steps")
    t.add_argument("--previous-checkpoint", action="store_true",
                   help="with --resume: load the checkpoint before the last (when the last is damaged)")
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
    t.add_argument("--compile", action="append_const", dest="set", const="compile=true", help="compile each update into one graph (torch.compile: inductor on CPU, CUDA graphs on a GPU); same as --set compile=true")
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

    doc = sub.add_parser("doctor", help="check this machine: stack, rendering, data, and every fused op on the device")
    doc.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    doc.add_argument("--repeats", type=int, default=3, help="timed repetitions per op (the best is shown)")
    doc.set_defaults(func=_doctor)

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
    from smg_fast.checkpoint import CheckpointError
    from smg_fast.rundir import RunDirError

    try:
        code = args.func(args)
    except (RunDirError, CheckpointError) as e:
        print(f"smg-fast: {e}", file=sys.stderr)
        sys.exit(1)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
