"""``smg-fast train``: a new run from a task, method and preset, or ``--resume RUN_DIR``; its flags, the checks
made before anything starts, and the end-of-run table, curves and pictures."""
from __future__ import annotations

import argparse
from pathlib import Path

from smg_fast.cli.common import (check_modes_text, dest, parse_set_pairs, references_or_note, setting_error,
                                 warn)
from smg_fast.errors import SettingError, UsageError


# Run settings whose default the task sets (Table 5), not the declaration.
PER_TASK = frozenset({"train_steps", "action_repeat", "episode_length", "eval_modes", "image_size"})


def default_text(key: str, declared) -> str:
    """"default X" of a flagged setting, with the quick preset's value where it differs."""
    from smg_fast.config import QUICK_AGENT, QUICK_RUN

    value = declared.default
    shown = ("the paper's, per task" if key in PER_TASK else "none" if value is None
             else str(value).lower() if isinstance(value, bool) else f"{value:,}" if isinstance(value, int) else str(value))
    quick = {**QUICK_RUN, **QUICK_AGENT}.get(key)
    return f"default {shown}" + (f"; quick preset {quick:,}" if isinstance(quick, int) else
                                 f"; quick preset {quick}" if quick is not None else "")


def setting_flags() -> dict[str, str]:
    """{setting: train flag} of the run's and the methods' settings that declare one: errors name the flag
    the user typed."""
    from smg_fast.config import flagged_settings

    return {k: s.flag for k, s in flagged_settings().items()}


def add_parser(sub) -> None:
    from smg_fast.agent import METHODS, ablation_losses
    from smg_fast.config import PRESETS, RunConfig, flagged_settings, run_settings
    from smg_fast.rules import OneOf

    declared = run_settings()
    t = sub.add_parser("train", help="train an agent (SMG by default) on a task",
                       description="Train an agent on a task, then evaluate it beside a random policy and the "
                                   "paper, draw its learning curves and (SMG) its pictures. A first run: "
                                   "--task cartpole-swingup --preset quick (minutes on a CPU).")
    t.add_argument("--task", default=None, help=f"{declared['task'].help} (default {RunConfig.task})")
    t.add_argument("--algo", default=None, choices=tuple(METHODS), help=f"default {RunConfig.algo}")
    t.add_argument("--preset", default=None, choices=PRESETS,
                   help="paper (default): Table 5; quick: a reduced CPU configuration that runs in minutes")
    t.add_argument("--run-dir", default=None, help=declared["run_dir"].help)
    t.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run; with --steps N, extend a finished one to N steps")
    t.add_argument("--previous-checkpoint", action="store_true",
                   help="with --resume: load the checkpoint before the last (when the last is damaged)")
    t.add_argument("--eval-modes", default=None,
                   help="comma-separated DMC-GB modes, or 'all' (SMG's five; distracting_cs only when named, "
                        "with --set distracting_cs_intensity=X)")
    for key, s in flagged_settings().items():  # declared with the setting: smg_fast/config.py, smg_fast/agent/
        if isinstance(s.rule, OneOf):
            t.add_argument(s.flag, default=None, choices=s.rule.values, help=f"{s.help} ({default_text(key, s)})")
        else:
            t.add_argument(s.flag, type=s.value_type, default=None,
                           help=f"{s.help} ({s.rule.describe()}; {default_text(key, s)})")
    for name in ablation_losses():
        t.add_argument(f"--no-{name}", action="store_true", help=f"drop the {name} loss (ablation)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any run or agent setting (docs/settings.md lists them with their rules), "
                        "e.g. --set init_steps=500")
    t.add_argument("--compile", action="append_const", dest="set", const="compile=true", help="compile each update into one graph (torch.compile: inductor on CPU, CUDA graphs on a GPU); same as --set compile=true")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--no-pictures", action="store_true", help="skip the pictures at the end of the run")
    t.set_defaults(func=run)


def flag_settings(args: argparse.Namespace) -> tuple[dict, dict]:
    """(settings the flags give, how each given one was typed): ``given`` holds only flags that were given,
    so that a ``--set`` of the same key is refused (:func:`smg_fast.cli.common.parse_set_pairs`)."""
    from smg_fast.agent import ablation_losses

    flags = setting_flags()
    given = {k: f"{flag} {getattr(args, dest(flag))}" for k, flag in flags.items()
             if getattr(args, dest(flag)) is not None}
    overrides = {k: getattr(args, dest(flag)) for k, flag in flags.items()}
    for name, key in ablation_losses().items():
        if getattr(args, "no_" + name.replace("-", "_")):
            overrides[key] = 0.0
            given[key] = f"--no-{name}"
    if args.eval_modes is not None:
        given["eval_modes"] = f"--eval-modes {args.eval_modes}"
    return overrides, given


def run(args: argparse.Namespace) -> int:
    if args.previous_checkpoint and not args.resume:
        raise UsageError("--previous-checkpoint applies only with --resume RUN_DIR")
    overrides, given = flag_settings(args)
    cfg = resume_config(args, overrides, given) if args.resume else fresh_config(args, overrides, given)
    check_machine(cfg, fresh=not args.resume, given=given)
    if not cfg.device.startswith("cuda"):
        say_how_long(cfg, resumed_step(args) if args.resume else 0)

    from smg_fast.run import walltime
    from smg_fast.run.trainer import TrainingStopped, say, train

    run_dir = Path(cfg.run_dir)
    created = not run_dir.exists()
    try:
        run_dir = train(cfg, resume=bool(args.resume), progress=not args.no_progress,
                        previous_checkpoint=args.previous_checkpoint)
    except TrainingStopped as e:
        say(f"{e}\n")  # after SIGHUP the terminal may be gone: the exit status still says what happened
        return 128 + e.signum
    except BaseException:
        if created:
            remove_unused(run_dir)
        raise
    print(f"run directory: {run_dir} ({disk_use(run_dir) / 1e6:,.0f} MB on disk)")
    summary = walltime.read(run_dir)
    if summary:  # this session's figures: what bounded it
        last = summary["sessions"][-1]
        print(walltime.text(last["seconds"], last["to_step"] - last["from_step"], last.get("background")))
    return report(run_dir, cfg, pictures=not args.no_pictures, progress=not args.no_progress)


def disk_use(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def resumed_step(args: argparse.Namespace) -> int:
    """The step ``--resume`` continues from (that of the checkpoint it loads)."""
    from smg_fast.run.checkpoint import CheckpointError, manifest_or_copy

    try:  # the manifest the resume will load (a copy where checkpoint.json is damaged); what is wrong, it says
        manifest = manifest_or_copy(Path(args.resume))[0] or {}
    except CheckpointError:
        return 0
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


def check_set_modes(overrides: dict, task: str, given: dict) -> None:
    """Modes given as ``--set eval_modes=...``, checked for ``task`` in the words typed."""
    from smg_fast.tasks import check_modes

    if "eval_modes" in overrides and given.get("eval_modes", "").startswith("--set"):
        try:
            check_modes(overrides["eval_modes"], task)
        except ValueError as e:
            raise UsageError(f"{given['eval_modes']}: {e}") from None


def fresh_config(args: argparse.Namespace, overrides: dict, given: dict, check_dir: bool = True):
    """The config of a new run; ``check_dir``: also that its run directory may be used (a sweep checks its
    runs' commands before their directories exist)."""
    from smg_fast import machine
    from smg_fast.config import RunConfig, make_config
    from smg_fast.run.directory import check_fresh

    task, algo, preset = args.task or RunConfig.task, args.algo or RunConfig.algo, args.preset or RunConfig.preset
    machine.check_task(task)
    if args.eval_modes is not None:
        overrides["eval_modes"] = check_modes_text(args.eval_modes, task, "--eval-modes")
    overrides.update(parse_set_pairs(args.set, algo, given))
    check_set_modes(overrides, task, given)
    try:
        cfg = make_config(task, algo, preset, **overrides)
    except SettingError as e:
        raise setting_error(e, given, f"the {preset} preset's value") from None
    except ValueError as e:
        raise UsageError(str(e)) from None
    cfg.run_dir = args.run_dir or str(Path("runs") / f"{task}_{cfg.algo}_{preset}_seed{cfg.seed}")
    if check_dir:
        check_fresh(Path(cfg.run_dir))
    return cfg


class _Refusing(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def check_command(argv: list[str]) -> None:
    """UsageError (or SettingError) when ``smg-fast train ARGV`` would be refused for its values: the flags,
    the task, the modes, every setting, as :func:`run` checks them, without looking at this machine or the run
    directory (a sweep checks every run's command this way before any starts)."""
    from smg_fast.cli.common import check_no_empty

    from smg_fast.cli.common import check_once

    parser = _Refusing(prog="smg-fast")
    sub = parser.add_subparsers(dest="command", parser_class=_Refusing)
    add_parser(sub)
    check_no_empty(argv)
    args = parser.parse_args(["train", *argv])
    check_once(sub.choices["train"], argv)
    if args.previous_checkpoint and not args.resume:
        raise UsageError("--previous-checkpoint applies only with --resume RUN_DIR")
    if args.resume:  # checked against the run's own config when it resumes
        return
    overrides, given = flag_settings(args)
    fresh_config(args, overrides, given, check_dir=False)


def resume_config(args: argparse.Namespace, overrides: dict, given: dict):
    """The saved config of ``--resume RUN``. Flags that would change the run are errors unless they repeat
    the saved value; ``--steps N`` extends the run's budget (not below its checkpoint); ``--device`` may move
    it and ``--compile`` (or ``--set compile=…``) switch how its update runs."""
    from smg_fast.config import LOOP_SETTINGS
    from smg_fast.run.checkpoint import checkpoint_step, read_config
    from smg_fast.run.directory import check_resumable

    run_dir = Path(args.resume)
    for flag, value in (("--preset", args.preset), ("--run-dir", args.run_dir)):
        if value is not None:
            raise UsageError(f"--resume {run_dir}: {flag} cannot apply to a run that exists (it keeps "
                             "its directory and settings); drop it")
    check_resumable(run_dir)
    saved = read_config(run_dir)
    if args.eval_modes is not None:
        overrides["eval_modes"] = check_modes_text(args.eval_modes, saved.task, "--eval-modes")
    overrides.update(parse_set_pairs(args.set, saved.algo, given))
    check_set_modes(overrides, saved.task, given)
    # What may change on resume: where it runs and how the same update is executed, and the budget.
    fixed = {k: v for k, v in overrides.items()
             if v is not None and k not in ("device", "compile", "train_steps", *LOOP_SETTINGS)}
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
                         f"with --resume only --steps (to extend the run), --device, --compile, "
                         f"{', '.join(LOOP_SETTINGS)} may change")
    if overrides.get("device"):
        saved.device = overrides["device"]
    if overrides.get("compile") is not None:
        saved.agent.compile = overrides["compile"]
    for key in LOOP_SETTINGS:  # how the loop runs, not what it computes
        if overrides.get(key) is not None:
            setattr(saved, key, overrides[key])
    if overrides.get("train_steps") is not None:
        at = checkpoint_step(run_dir, previous=args.previous_checkpoint) or 0
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
    curves, and the pictures of a method that draws what it sees (SMG's)."""
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
    from smg_fast.agent import method

    if method(cfg.algo).explains and pictures:
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
