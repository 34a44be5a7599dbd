"""``smg-fast train``: a new run from a task, method and preset, or ``--resume RUN_DIR``; its flags, the checks
made before anything starts, and the end-of-run table, curves and pictures."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smg_fast.cli.common import (check_modes_text, dest, parse_set_pairs, references_or_note, setting_error,
                                 warn)
from smg_fast.errors import SettingError, UsageError

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


def add_parser(sub) -> None:
    from smg_fast.agent import ALGOS

    t = sub.add_parser("train", help="train an agent (SMG by default) on a task",
                       description="Train an agent on a task, then evaluate it beside a random policy and the "
                                   "paper, draw its learning curves and (SMG) its pictures. A first run: "
                                   "--task cartpole-swingup --preset quick (minutes on a CPU).")
    t.add_argument("--task", default=None, help="e.g. walker-walk, cartpole-swingup, robot-reach (default walker-walk)")
    t.add_argument("--algo", default=None, choices=ALGOS, help="the method (default smg)")
    t.add_argument("--seed", type=int, default=None,
                   help="seeds the networks, the environments and the evaluation (default 0)")
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
    t.add_argument("--checkpoint-every", type=int, default=None,
                   help="agent steps between checkpoints (default 50000; quick preset 500)")
    t.add_argument("--eval-freq", type=int, default=None,
                   help="agent steps between evaluations (default 10000; quick preset 1000)")
    t.add_argument("--eval-episodes", type=int, default=None,
                   help="episodes per evaluation mode (default 3; quick preset 2)")
    t.add_argument("--eval-modes", default=None,
                   help="comma-separated DMC-GB modes, or 'all' (SMG's five; distracting_cs only when named, "
                        "with --set distracting_cs_intensity=X)")
    t.add_argument("--eval-envs", type=int, default=None,
                   help="parallel env workers per evaluation mode (default 2)")
    t.add_argument("--batch-size", type=int, default=None, help="batch size of an update (default 64; quick preset 16)")
    t.add_argument("--replay-capacity", type=int, default=None,
                   help="transitions the replay buffer keeps (default 500000, at most the run's steps + 1)")
    t.add_argument("--overlay-source", default=None,
                   help="images of the overlay and attribution augmentations: procedural (default; generated, "
                        "offline), places365 (the paper's; after smg-fast data download places365) or folder:PATH "
                        "(a folder of images)")
    t.add_argument("--attribution-prob", type=float, default=None,
                   help="P(attribution) in the hybrid augmentation: code 0.25 (default), paper 0.5")
    t.add_argument("--mask-warmup", type=int, default=None,
                   help="mask loss only after this step: code 1000 (default), paper 0")
    for name in LOSS_FLAGS:
        t.add_argument(f"--no-{name}", action="store_true", help=f"drop the {name} loss (ablation)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field (see smg_fast/agent/config.py), e.g. --set init_steps=500")
    t.add_argument("--compile", action="append_const", dest="set", const="compile=true",
                   help="compile each update into one graph (torch.compile: inductor on CPU, CUDA graphs on a GPU); "
                        "same as --set compile=true")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-pictures", action="store_true", help="skip the pictures at the end of the run")
    t.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.previous_checkpoint and not args.resume:
        raise UsageError("--previous-checkpoint applies only with --resume RUN_DIR")
    given = {k: f"{flag} {getattr(args, dest(flag))}" for k, flag in SETTING_FLAGS.items()
             if getattr(args, dest(flag)) is not None}
    overrides = {k: getattr(args, dest(flag)) for k, flag in SETTING_FLAGS.items()}
    for name, key in LOSS_FLAGS.items():
        if getattr(args, "no_" + name.replace("-", "_")):
            overrides[key] = 0.0
    cfg = resume_config(args, overrides, given) if args.resume else fresh_config(args, overrides, given)
    check_machine(cfg, fresh=not args.resume, given=given)
    if not cfg.device.startswith("cuda"):
        say_how_long(cfg, resumed_step(args) if args.resume else 0)

    from smg_fast.run.trainer import TrainingStopped, train

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
            remove_unused(run_dir)
        raise
    print(f"run directory: {run_dir} ({disk_use(run_dir) / 1e6:,.0f} MB on disk)")
    return report(run_dir, cfg, pictures=not args.no_pictures, progress=not args.no_progress)


def disk_use(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def resumed_step(args: argparse.Namespace) -> int:
    """The step ``--resume`` continues from (that of the checkpoint it loads)."""
    from smg_fast.run.checkpoint import read_manifest

    manifest = read_manifest(Path(args.resume)) or {}
    entry = (manifest.get("previous") or {}) if args.previous_checkpoint else manifest
    return int(entry.get("step", 0))


def say_how_long(cfg, step: int = 0) -> None:
    """Once, at the start: a CPU run projected to take hours says how long, from the measured cost of an
    update, and what finishes sooner."""
    from smg_fast.command import command
    from smg_fast.config import make_config
    from smg_fast.run.eta import CPU_UPDATE_SECONDS, LONG_RUN_S, projected_cpu_seconds
    from smg_fast.run.progress import long_duration_text

    seconds = projected_cpu_seconds(cfg, step)
    if seconds <= LONG_RUN_S:
        return
    quick = projected_cpu_seconds(make_config(cfg.task, cfg.algo, "quick"))
    per_update = CPU_UPDATE_SECONDS.get(cfg.algo)
    cost = f" at about {per_update:.1f} s each" if per_update else ""
    warn(f"this run's {cfg.train_steps - step:,} steps take {long_duration_text(seconds)} on a CPU (its "
         f"{cfg.algo} updates{cost}, measured on a 2-core CPU at batch 64); for a first run try "
         f"`{command(f'train --task {cfg.task} --algo {cfg.algo} --preset quick')}` "
         f"({long_duration_text(quick)}), or train on an NVIDIA GPU with --device cuda")


def remove_unused(run_dir: Path) -> None:
    """Delete a run directory this command created when the run failed before it logged anything (an
    environment that could not start, a missing file): it holds nothing worth keeping, and a leftover would
    make the next attempt refuse the directory."""
    import shutil

    kept = ("train.csv", "eval.csv", "checkpoint.json", "checkpoint_nonfinite.json")
    if run_dir.is_dir() and not any((run_dir / k).exists() for k in kept):
        shutil.rmtree(run_dir, ignore_errors=True)


def fresh_config(args: argparse.Namespace, overrides: dict, given: dict):
    from smg_fast import machine
    from smg_fast.config import make_config
    from smg_fast.run.directory import check_fresh

    task, algo, preset = args.task or "walker-walk", args.algo or "smg", args.preset or "paper"
    machine.check_task(task)
    if args.eval_modes:
        overrides["eval_modes"] = check_modes_text(args.eval_modes, task, "--eval-modes")
    overrides.update(parse_set_pairs(args.set, algo, given))
    try:
        cfg = make_config(task, algo, preset, **overrides)
    except SettingError as e:
        raise setting_error(e, given, f"the {preset} preset's value") from None
    except ValueError as e:
        raise UsageError(str(e)) from None
    cfg.run_dir = args.run_dir or str(Path("runs") / f"{task}_{cfg.algo}_{preset}_seed{cfg.seed}")
    check_fresh(Path(cfg.run_dir))
    return cfg


def resume_config(args: argparse.Namespace, overrides: dict, given: dict):
    """The saved config of ``--resume RUN``. Flags that would change the run are errors unless they repeat
    the saved value; ``--steps N`` extends the run's budget (not below its checkpoint); ``--device`` may move
    it and ``--compile`` (or ``--set compile=…``) switch how its update runs."""
    from smg_fast.run.checkpoint import read_config, read_manifest
    from smg_fast.run.directory import check_resumable

    run_dir = Path(args.resume)
    for flag, value in (("--preset", args.preset), ("--run-dir", args.run_dir)):
        if value is not None:
            raise UsageError(f"--resume {run_dir}: {flag} cannot apply to a run that exists (it keeps "
                             "its directory and settings); drop it")
    check_resumable(run_dir)
    saved = read_config(run_dir)
    if args.eval_modes:
        overrides["eval_modes"] = check_modes_text(args.eval_modes, saved.task, "--eval-modes")
    overrides.update(parse_set_pairs(args.set, saved.algo, given))
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
        raise UsageError(f"--resume {run_dir}: the command line disagrees with the run's config ({lines}); "
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
            raise UsageError(f"--steps {overrides['train_steps']}: the run's checkpoint is at step {at}; "
                             f"give --steps {at} or more to extend it (or leave --steps out)")
        saved.train_steps = overrides["train_steps"]
    saved.run_dir = str(run_dir)
    try:
        saved.check()
    except SettingError as e:
        raise setting_error(e, given, f"{run_dir / 'config.json'}") from None
    return saved


def check_machine(cfg, fresh: bool, given: dict | None = None) -> None:
    """What this machine must have for ``cfg``: the device, the overlay images, the data of every evaluation
    mode and, for a new run, the memory of its replay buffer. ``given``: how each setting was typed."""
    from smg_fast import machine

    machine.check_device(cfg.device)
    machine.check_overlay_source(cfg.agent.overlay_source, typed=(given or {}).get("overlay_source"))
    machine.check_data(cfg.task, cfg.eval_modes, cfg.distracting_cs_intensity)
    if fresh:
        machine.check_memory(cfg)


def report(run_dir: Path, cfg, pictures: bool = True, progress: bool = True) -> int:
    """End of a training run: the evaluation table beside a random policy and the paper, the learning
    curves, SMG's pictures."""
    import csv

    from smg_fast.experiments import references
    from smg_fast.run.progress import working

    rows = list(csv.DictReader(open(Path(run_dir) / "eval.csv")))
    last = max(int(r["step"]) for r in rows)
    returns = {r["mode"]: [float(x) for x in r["returns"].split()] for r in rows if int(r["step"]) == last}
    refs = references_or_note(cfg, progress, list(returns))
    md, table_rows = references.comparison_table({f"seed {cfg.seed}": returns}, list(returns), refs, cfg, last)
    paths = references.write_comparison(md, table_rows, Path(run_dir) / "final_eval")
    print(f"\nEvaluation at step {last} ({cfg.eval_episodes} episodes per mode):\n{md}\n(also {paths[0]}, {paths[1]})")
    try:
        with working("drawing the learning curves", progress):
            from smg_fast.experiments import run_curves

            title = f"{cfg.task}, {cfg.algo}, {cfg.train_steps:,} steps ({cfg.preset} preset)"
            out = run_curves.plot_learning_curves([run_dir], Path(run_dir) / "curves.png", title=title,
                                                  references=refs, x_max=cfg.train_steps)
        print(f"learning curves: {out}")
    except (ImportError, ValueError, OSError) as e:
        warn(f"the learning curves were not drawn: {e}")
    if cfg.algo == "smg" and pictures:
        from smg_fast.run import pictures as pics
        from smg_fast.run.checkpoint import load_agent
        from smg_fast.tasks import env_kwargs

        with working("loading the trained agent for the pictures", progress):
            _, agent = load_agent(run_dir)
        paths = pics.save_mode_grids(agent, cfg.task, list(cfg.eval_modes), Path(run_dir) / "pictures",
                                     seed=cfg.seed, overlay_source=cfg.agent.overlay_source,
                                     env_kwargs=env_kwargs(cfg), progress=progress)
        print("pictures: " + ", ".join(str(p) for p in paths))
    return 0
