"""The ``smg-fast`` command line: train, eval, random, visualize, doctor, demo, data download, sweep, report.

A user's mistake is one line on stderr naming the flag or file and what is allowed, exit status 2 (a value
that cannot work) or 1 (something missing or failing at run time), found before anything starts
(:mod:`smg_fast.validate`); ``--debug`` adds the traceback. See :func:`main`.
"""
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


# Run and agent settings that a train flag sets: errors name the flag the user typed.
SETTING_FLAGS = {
    "seed": "--seed", "train_steps": "--steps", "device": "--device", "precision": "--precision",
    "checkpoint_every": "--checkpoint-every", "eval_freq": "--eval-freq", "eval_episodes": "--eval-episodes",
    "batch_size": "--batch-size", "overlay_source": "--overlay-source", "replay_capacity": "--replay-capacity",
    "eval_envs": "--eval-envs", "attribution_prob": "--attribution-prob", "mask_warmup": "--mask-warmup",
}


def _settings(pairs: list[str], algo: str, given: dict) -> dict:
    """--set KEY=VALUE pairs, typed after the run or ``algo`` setting they name; ``given[key]`` records how
    each was typed, for error messages."""
    from smg_fast.config import parse_setting
    from smg_fast.validate import UsageError

    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set {pair}: expected KEY=VALUE, e.g. --set init_steps=500")
        key = key.strip().replace("-", "_")
        if key in ("task", "algo", "preset", "run_dir"):
            raise UsageError(f"--set {pair}: give it as --{key.replace('_', '-')}")
        try:
            out[key] = parse_setting(algo, key, value)
        except ValueError as e:
            raise UsageError(f"--set {pair}: {e}") from None
        given[key] = f"--set {pair}"
    return out


def _check_flag(value, flag: str, lo: int = 1, hi: int | None = None) -> None:
    """UsageError unless the integer flag ``value`` lies in [lo, hi]."""
    from smg_fast.validate import Range, UsageError

    rule = Range(lo=lo, hi=hi, integer=True)
    if value is not None and not rule.ok(value):
        raise UsageError(f"{flag} {value}: must be {rule.describe()}")


def _setting_error(e, given: dict, where: str):
    """A SettingError in the words the user typed: the flag or --set pair that gave the value."""
    from smg_fast.validate import UsageError, _show

    typed = given.get(e.key) or f"{e.key}={_show(e.value)} ({where})"
    return UsageError(f"{typed}: {e.need}")


def _train(args: argparse.Namespace) -> int:
    from smg_fast.validate import UsageError

    if args.previous_checkpoint and not args.resume:
        raise UsageError("--previous-checkpoint applies only with --resume RUN_DIR")
    given = {k: f"{flag} {getattr(args, _dest(flag))}" for k, flag in SETTING_FLAGS.items()
             if getattr(args, _dest(flag)) is not None}
    overrides = {k: getattr(args, _dest(flag)) for k, flag in SETTING_FLAGS.items()}
    for name, key in LOSS_FLAGS.items():
        if getattr(args, "no_" + name.replace("-", "_")):
            overrides[key] = 0.0
    cfg = _resume_config(args, overrides, given) if args.resume else _fresh_config(args, overrides, given)
    _check_machine(cfg, fresh=not args.resume, given=given)

    from smg_fast.train import TrainingStopped, train

    run_dir = Path(cfg.run_dir)
    created = not run_dir.exists()
    try:
        run_dir = train(cfg, resume=bool(args.resume), progress=not args.no_progress,
                        previous_checkpoint=args.previous_checkpoint)
    except TrainingStopped as e:
        print(e, file=sys.stderr)
        return 128 + e.signum
    except BaseException:
        if created:
            _remove_unused(run_dir)
        raise
    print(f"run directory: {run_dir}")
    return _report(run_dir, cfg, pictures=not args.no_pictures, progress=not args.no_progress)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _remove_unused(run_dir: Path) -> None:
    """Delete a run directory this command created when the run failed before it logged anything (an
    environment that could not start, a missing file): it holds nothing worth keeping, and a leftover would
    make the next attempt refuse the directory."""
    import shutil

    kept = ("train.csv", "eval.csv", "checkpoint.json", "checkpoint_nonfinite.json")
    if run_dir.is_dir() and not any((run_dir / k).exists() for k in kept):
        shutil.rmtree(run_dir, ignore_errors=True)


def _fresh_config(args: argparse.Namespace, overrides: dict, given: dict):
    from smg_fast import validate
    from smg_fast.config import make_config
    from smg_fast.rundir import check_fresh

    task, algo, preset = args.task or "walker-walk", args.algo or "smg", args.preset or "paper"
    validate.check_task(task)
    if args.eval_modes:
        overrides["eval_modes"] = validate.check_modes_text(args.eval_modes, task, "--eval-modes")
    overrides.update(_settings(args.set, algo, given))
    try:
        cfg = make_config(task, algo, preset, **overrides)
    except validate.SettingError as e:
        raise _setting_error(e, given, f"the {preset} preset's value") from None
    except ValueError as e:
        raise validate.UsageError(str(e)) from None
    cfg.run_dir = args.run_dir or str(Path("runs") / f"{task}_{cfg.algo}_{preset}_seed{cfg.seed}")
    check_fresh(Path(cfg.run_dir))
    return cfg


def _resume_config(args: argparse.Namespace, overrides: dict, given: dict):
    """The saved config of ``--resume RUN``. Flags that would change the run are errors unless they repeat
    the saved value; ``--steps N`` extends the run's budget (not below its checkpoint); ``--device`` may move
    it and ``--compile`` (or ``--set compile=…``) switch how its update runs."""
    from smg_fast import validate
    from smg_fast.checkpoint import read_config, read_manifest
    from smg_fast.rundir import check_resumable

    run_dir = Path(args.resume)
    for flag, value in (("--preset", args.preset), ("--run-dir", args.run_dir)):
        if value is not None:
            raise validate.UsageError(f"--resume {run_dir}: {flag} cannot apply to a run that exists (it keeps "
                                      "its directory and settings); drop it")
    check_resumable(run_dir)
    saved = read_config(run_dir)
    if args.eval_modes:
        overrides["eval_modes"] = validate.check_modes_text(args.eval_modes, saved.task, "--eval-modes")
    overrides.update(_settings(args.set, saved.algo, given))
    # What may change on resume: where it runs and how the same update is executed, and the budget.
    fixed = {k: v for k, v in overrides.items() if v is not None and k not in ("device", "compile", "train_steps")}
    if args.task is not None:
        fixed["task"] = args.task
    if args.algo is not None:
        fixed["algo"] = args.algo
    have = saved.to_dict()
    have["eval_modes"] = tuple(have["eval_modes"])
    clash = {k: (have.get(k), v) for k, v in fixed.items() if have.get(k) != v}
    if clash:
        lines = ", ".join(f"{k}: run has {a!r}, command line says {b!r}" for k, (a, b) in clash.items())
        raise validate.UsageError(f"--resume {run_dir}: the command line disagrees with the run's config ({lines}); "
                                  "with --resume only --steps (to extend the run), --device and --compile may change")
    if overrides.get("device"):
        saved.device = overrides["device"]
    if overrides.get("compile") is not None:
        saved.agent.compile = overrides["compile"]
    if overrides.get("train_steps") is not None:
        manifest = read_manifest(run_dir) or {}
        entry = (manifest.get("previous") or {}) if args.previous_checkpoint else manifest
        at = entry.get("step", 0)
        if overrides["train_steps"] < at:
            raise validate.UsageError(f"--steps {overrides['train_steps']}: the run's checkpoint is at step {at}; "
                                      f"give --steps {at} or more to extend it (or leave --steps out)")
        saved.train_steps = overrides["train_steps"]
    saved.run_dir = str(run_dir)
    try:
        saved.check()
    except validate.SettingError as e:
        raise _setting_error(e, given, f"{run_dir / 'config.json'}") from None
    return saved


def _check_machine(cfg, fresh: bool, given: dict | None = None) -> None:
    """What this machine must have for ``cfg``: the device, the overlay images, the data of every evaluation
    mode and, for a new run, the memory of its replay buffer. ``given``: how each setting was typed."""
    from smg_fast import validate

    validate.check_device(cfg.device)
    validate.check_overlay_source(cfg.agent.overlay_source, typed=(given or {}).get("overlay_source"))
    validate.check_data(cfg.task, cfg.eval_modes)
    if fresh:
        validate.check_memory(cfg)


def _report(run_dir: Path, cfg, pictures: bool = True, progress: bool = True) -> int:
    """End of a training run: the evaluation table beside a random policy and the paper, the learning
    curves, SMG's pictures."""
    import csv

    from smg_fast import references

    rows = list(csv.DictReader(open(Path(run_dir) / "eval.csv")))
    last = max(int(r["step"]) for r in rows)
    returns = {r["mode"]: [float(x) for x in r["returns"].split()] for r in rows if int(r["step"]) == last}
    refs = _references(cfg, progress)
    md, table_rows = references.comparison_table({f"seed {cfg.seed}": returns}, list(returns), refs, cfg, last)
    paths = references.write_comparison(md, table_rows, Path(run_dir) / "final_eval")
    print(f"\nEvaluation at step {last} ({cfg.eval_episodes} episodes per mode):\n{md}\n(also {paths[0]}, {paths[1]})")
    try:
        from smg_fast import plots

        title = f"{cfg.task}, {cfg.algo}, {cfg.train_steps:,} steps ({cfg.preset} preset)"
        out = plots.plot_learning_curves([run_dir], Path(run_dir) / "curves.png", title=title, references=refs,
                                         x_max=cfg.train_steps)
        print(f"learning curves: {out}")
    except (ImportError, ValueError, OSError) as e:
        print(f"learning curves not drawn: {e}", file=sys.stderr)
    if cfg.algo == "smg" and pictures:
        from smg_fast import visualize
        from smg_fast.checkpoint import load_agent
        from smg_fast.tasks import env_kwargs

        _, agent = load_agent(run_dir)
        paths = visualize.save_mode_grids(agent, cfg.task, list(cfg.eval_modes), Path(run_dir) / "pictures",
                                          seed=cfg.seed, overlay_source=cfg.agent.overlay_source,
                                          env_kwargs=env_kwargs(cfg), progress=progress)
        print("pictures: " + ", ".join(str(p) for p in paths))
    return 0


def _references(cfg, progress: bool) -> dict:
    """The run's references (random policy, paper); a reference that cannot be measured is left out with a
    note rather than failing the end of a finished run."""
    from smg_fast import references

    try:
        return references.run_references(cfg, progress)
    except Exception as e:  # noqa: BLE001 - optional: the table is written without it
        print(f"random-policy reference not measured ({type(e).__name__}: {e})", file=sys.stderr)
        return {references.PAPER: references.run_paper_references(cfg)}


def _run_config(run: str, flag: str = "--run"):
    """The config of run directory ``run`` with a checkpoint to load; RunDirError naming it otherwise."""
    from smg_fast.checkpoint import read_config
    from smg_fast.rundir import RunDirError, has_checkpoint

    path = Path(run)
    if not path.is_dir():
        raise RunDirError(f"{flag} {run}: no such directory")
    if not (path / "config.json").is_file():
        raise RunDirError(f"{flag} {run}: not an smg-fast run directory (it holds no config.json)")
    if not has_checkpoint(path):
        raise RunDirError(f"{flag} {run}: the run holds no checkpoint yet (one is written every "
                          "--checkpoint-every steps and at the end)")
    return read_config(path)


def _eval(args: argparse.Namespace) -> int:
    from smg_fast import references, validate
    from smg_fast.checkpoint import load_agent
    from smg_fast.evaluate import Evaluator

    _check_flag(args.episodes, "--episodes", 1, 10_000)
    _check_flag(args.envs, "--envs", 1, 64)
    validate.check_device(args.device)
    cfgs = [_run_config(run) for run in args.run]
    tasks = sorted({c.task for c in cfgs})
    if len(tasks) > 1:
        raise validate.UsageError(f"--run: the runs are of different tasks ({', '.join(tasks)}); evaluate one task "
                                  "at a time")
    modes = validate.check_modes_text(args.modes, tasks[0], "--modes")
    out = Path(args.out) if args.out else Path(args.run[0]) / "eval_table"
    validate.check_writable_file(f"{out}.md", "--out")
    validate.check_data(tasks[0], modes)
    per_seed = {}
    for run in args.run:
        cfg, agent = load_agent(run, device=args.device)
        evaluator = Evaluator(cfg, modes, args.envs)
        name = f"seed {cfg.seed}" if f"seed {cfg.seed}" not in per_seed else f"{Path(run).name} (seed {cfg.seed})"
        try:
            per_seed[name] = evaluator.evaluate(
                agent, args.episodes, bar=not args.no_progress,
                progress=lambda m, r: print(f"  {Path(run).name} {m}: {sum(r) / len(r):.1f}", flush=True))
        finally:
            evaluator.close()
    refs = _references(cfgs[0], not args.no_progress)
    md, rows = references.comparison_table(per_seed, modes, refs, cfgs[0])
    paths = references.write_comparison(md, rows, out)
    print(md)
    print(f"written: {paths[0]}, {paths[1]}")
    return 0


def _random(args: argparse.Namespace) -> int:
    from smg_fast import validate
    from smg_fast.config import make_config
    from smg_fast.evaluate import random_policy_returns, results_table, write_table

    validate.check_task(args.task)
    _check_flag(args.episodes, "--episodes", 1, 10_000)
    _check_flag(args.envs, "--envs", 1, 64)
    _check_flag(args.seed, "--seed", 0, validate.RULES["seed"].hi)
    _check_flag(args.action_repeat, "--action-repeat", 1, 1000)
    modes = validate.check_modes_text(args.modes, args.task, "--modes")
    if args.out:
        validate.check_writable_file(f"{args.out}.md", "--out")
    try:
        cfg = make_config(args.task, action_repeat=args.action_repeat)
    except validate.SettingError as e:  # e.g. an action repeat for a robot task
        raise _setting_error(e, {"action_repeat": f"--action-repeat {args.action_repeat}"}, "") from None
    validate.check_data(cfg.task, modes)
    returns = random_policy_returns(cfg, modes, args.episodes, args.envs, args.seed, bar=not args.no_progress,
                                    progress=lambda m, r: print(f"  random {m}: {sum(r) / len(r):.1f}", flush=True))
    md, rows = results_table({"random policy": returns}, modes)
    print(f"{cfg.task}, action repeat {cfg.action_repeat}, {args.episodes} episodes per mode")
    print(md)
    if args.out:
        paths = write_table(md, rows, Path(args.out))
        print(f"written: {paths[0]}, {paths[1]}")
    return 0


def _visualize(args: argparse.Namespace) -> int:
    from smg_fast import validate, visualize
    from smg_fast.checkpoint import load_agent
    from smg_fast.rundir import RunDirError
    from smg_fast.tasks import env_kwargs

    validate.check_device(args.device)
    cfg = _run_config(args.run)
    if cfg.algo != "smg":
        raise RunDirError(f"--run {args.run}: a {cfg.algo} run; visualize draws SMG's masks and predicted "
                          "backgrounds, which only an smg run learns")
    modes = list(validate.check_modes_text(args.modes, cfg.task, "--modes"))
    video_mode = args.video_mode or modes[-1]
    validate.check_modes_text(video_mode, cfg.task, "--video-mode")
    out = Path(args.out or Path(args.run) / "pictures")
    validate.check_writable_file(out / "episode.mp4", "--out")
    validate.check_overlay_source(cfg.agent.overlay_source, "the run's overlay_source")
    validate.check_data(cfg.task, [*modes, video_mode])
    cfg, agent = load_agent(args.run, device=args.device)
    out.mkdir(parents=True, exist_ok=True)
    kw = dict(seed=cfg.seed, overlay_source=cfg.agent.overlay_source, env_kwargs=env_kwargs(cfg),
              progress=not args.no_progress)
    paths = visualize.save_mode_grids(agent, cfg.task, modes, out, **kw)
    video = visualize.save_episode_video(agent, cfg.task, video_mode, out / "episode.mp4", **kw)
    for p in [*paths, video]:
        print(p)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from smg_fast import doctor, validate

    validate.check_device(args.device)
    _check_flag(args.repeats, "--repeats", 1, 1000)
    return doctor.main(args.device, repeats=args.repeats)


def _demo(args: argparse.Namespace) -> int:
    from smg_fast import demo

    _check_flag(args.repeats, "--repeats", 1, 1000)
    demo.main(repeats=args.repeats)
    return 0


class _Parser(argparse.ArgumentParser):
    """Argument errors on one line naming the command and where its help is (not the usage block), exit
    status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from smg_fast.agent import ALGOS

    parser = _Parser(prog="smg-fast", description=__doc__)
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (after any subcommand too)")
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
    e.add_argument("--no-progress", action="store_true", help="no progress bars")
    e.set_defaults(func=_eval)

    r = sub.add_parser("random", help="returns of a uniform random policy: the baseline a learning curve must beat")
    r.add_argument("--task", required=True)
    r.add_argument("--modes", default="train", help="comma-separated modes or 'all' (default train)")
    r.add_argument("--episodes", type=int, default=10)
    r.add_argument("--envs", type=int, default=2, help="parallel env workers per mode")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--action-repeat", type=int, default=None, help="default: the paper's for the task")
    r.add_argument("--out", default=None, help="also write OUT.md and OUT.csv")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=_random)

    v = sub.add_parser("visualize", help="PNG grids (obs, mask, background, attribution, reconstruction) and an MP4")
    v.add_argument("--run", required=True)
    v.add_argument("--modes", default="all")
    v.add_argument("--video-mode", default=None, help="mode of the MP4 episode (default: the last mode)")
    v.add_argument("--device", default="cpu")
    v.add_argument("--out", default=None, help="default RUN/pictures")
    v.add_argument("--no-progress", action="store_true", help="no progress bars")
    v.set_defaults(func=_visualize)

    doc = sub.add_parser("doctor", help="check this machine: stack, rendering, data, and every fused op on the device")
    doc.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    doc.add_argument("--repeats", type=int, default=3, help="timed repetitions per op (the best is shown)")
    doc.set_defaults(func=_doctor)

    demo = sub.add_parser("demo", help="run every fused op on training shapes and compare with eager PyTorch")
    demo.add_argument("--repeats", type=int, default=5, help="timed repetitions per op (median is shown)")
    demo.set_defaults(func=_demo)

    sub.add_parser("build", help="compile the fused ops for the installed torch now (otherwise on first use; see --help)")
    data = sub.add_parser("data", help="download and verify upstream data (DMC-GB colours and videos, robot assets)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    data_sub.add_parser("download", help="smg-fast data download [dmcgb|robot|all] [--dir DIR] (see --help)")
    from smg_fast import report, sweep  # experiment grids on Ray; the paper's tables, aggregates and curves
    sweep.add_sweep_parser(sub)
    report.add_report_parser(sub)
    for p in sub.choices.values():  # --debug after the subcommand too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _check_number(value, flag: str, lo: float, integer: bool = False, lo_open: bool = False) -> None:
    from smg_fast.validate import Range, UsageError

    rule = Range(lo=lo, integer=integer, lo_open=lo_open)
    if value is not None and not rule.ok(value):
        raise UsageError(f"{flag} {value}: must be {rule.describe()}")


def _check_sweep(args: argparse.Namespace) -> None:
    """The numbers of ``smg-fast sweep`` (smg_fast.sweep checks the grid and --run-cpus / --run-gpus)."""
    _check_number(args.max_concurrent, "--max-concurrent", 1, integer=True)
    _check_number(args.retries, "--retries", 0, integer=True)
    _check_number(args.cpus, "--cpus", 0, lo_open=True)
    _check_number(args.gpus, "--gpus", 0)
    _check_number(args.poll, "--poll", 0, lo_open=True)
    _check_number(args.progress_every, "--progress-every", 0)


def _check_report(args: argparse.Namespace) -> None:
    """The numbers of ``smg-fast report`` (smg_fast.report checks the paths and --method)."""
    _check_number(args.decimals, "--decimals", 0, integer=True)
    _check_number(args.bootstrap_reps, "--bootstrap-reps", 0, integer=True)
    _check_number(args.seed, "--seed", 0, integer=True)


PRECHECKS = {"sweep": _check_sweep, "report": _check_report}


def _exit_status(e: BaseException) -> int | None:
    """The exit status of an error the user can act on (2: a value that cannot work, 1: something missing or
    failing at run time), or None for an unexpected one (a bug: its traceback is shown)."""
    from smg_fast.checkpoint import CheckpointError
    from smg_fast.envs.rendering import RenderingUnavailableError
    from smg_fast.rundir import RunDirError
    from smg_fast.validate import NotAvailableError, SettingError, UsageError

    if isinstance(e, (UsageError, SettingError)):
        return 2
    if isinstance(e, (RunDirError, CheckpointError, NotAvailableError, RenderingUnavailableError, MemoryError,
                      OSError)):  # OSError: disk full, permissions, a missing file, an I/O error
        return 1
    if type(e).__name__ == "NonFiniteLossError":  # smg_fast.train (not imported here unless training ran)
        return 1
    return None


def main(argv: list[str] | None = None) -> None:
    """``smg-fast``: errors a user can act on are one line on stderr (``smg-fast CMD: error: ...``) with exit
    status 2 (a value that cannot work) or 1 (something missing or failing at run time); ``--debug`` shows
    their traceback too. An unexpected error shows its traceback (exit status 1)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    lead_debug = argv[:1] == ["--debug"]
    if argv[lead_debug:lead_debug + 2] == ["data", "download"]:  # its own parser, --help and --debug included
        from smg_fast.data import download

        sys.exit(download.main(argv[lead_debug + 2:] + (["--debug"] if lead_debug else [])))
    from smg_fast import _build

    if argv[lead_debug:lead_debug + 1] == ["build"]:  # before the parser, which loads the fused ops
        sys.exit(_build.main(argv[lead_debug + 1:] + (["--debug"] if lead_debug else [])))
    try:
        args = build_parser().parse_args(argv)
    except _build.ExtensionBuildError as e:  # the fused ops could not be compiled for this torch on first use
        if lead_debug:
            raise
        sys.exit(f"smg-fast: error: {e}")
    prog = f"smg-fast {args.command}"
    try:
        if args.command in PRECHECKS:
            PRECHECKS[args.command](args)
        code = args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"\n{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - sorted into the user's errors and bugs below
        import traceback

        status = _exit_status(e)
        if status is None or args.debug:
            traceback.print_exc()
        if status is None:
            print(f"{prog}: unexpected {type(e).__name__} (a bug: please report it with the traceback above)",
                  file=sys.stderr)
            sys.exit(1)
        message = str(e) or type(e).__name__
        if isinstance(e, MemoryError) and not str(e):
            message = "out of memory"
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(status)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
