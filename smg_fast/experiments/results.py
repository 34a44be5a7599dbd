"""Finished runs as table entries: which task, method and variant each run is, and its seed's value per
evaluation mode. Runs come from a sweep directory (the grid names their variants) or from any run
directories (the variant is read from ``config.json``: a zero loss weight is ``no-<loss>``, and other
settings in which runs of one task and method differ are appended as ``key=value``)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from smg_fast.agent import METHODS, ablation_losses
from smg_fast.experiments.grid import GRID_COPY, GridError, load_grid
from smg_fast.run import directory as rundir
from smg_fast.tasks import DISTRACTING_CS, DMC_MODES, ROBOT_MODES, is_robot_task, parse_mode_label

# The paper's column order (Tables 1, 2, 6-8: the registry's); other methods follow in name order.
METHOD_ORDER = tuple(METHODS)
# The paper's row order (Tables 1, 6, 7; Figure 11), then other tasks by name.
TASK_ORDER = ("cartpole-swingup", "finger-spin", "walker-stand", "walker-walk", "cheetah-run", "robot-reach",
              "robot-peg-in-box")
# Config keys that do not change what a run learns (or differ per task by design): runs differing only
# in these are seeds of one column. A distracting_cs intensity is part of the mode's label instead
# (``distracting_cs@0.1``): each intensity is a table of its own. The ablation losses' weights name a column's
# variant as no-<loss>.
NOT_SETTINGS = frozenset({"seed", "run_dir", "device", "checkpoint_every", "train_steps", "eval_freq",
                          "eval_episodes", "eval_modes", "eval_envs", "task", "algo", "preset", "replay_capacity",
                          "distracting_cs_intensity"}
                         | set(ablation_losses().values()))


@dataclass(frozen=True)
class Column:
    """A method, or one variant of it (an ablation, another preset, other settings)."""

    method: str
    variant: str = ""  # canonical: "no-fore", "no-back+no-mask", "mask_ratio=0.08", ... ("" = as configured)
    name: str = ""     # display name (the grid's ablation name, else the canonical variant)
    preset: str = "paper"

    @property
    def label(self) -> str:
        shown = self.name or self.variant
        return self.method + (f"+{shown}" if shown else "") + (f"@{self.preset}" if self.preset != "paper" else "")


@dataclass
class RunResult:
    path: Path
    task: str
    column: Column
    seed: int
    finished: bool
    values: dict[str, float] = field(default_factory=dict)  # mode -> mean of the final evaluation's episodes
    source: str = ""
    same_seed: list[Path] = field(default_factory=list)  # other run directories of this seed, merged into it


def mode_order(modes) -> list[str]:
    """The paper's modes in its order, then distracting_cs by intensity, then any others by name."""
    known = {m: i for i, m in enumerate(DMC_MODES + ROBOT_MODES[1:])}

    def key(m):
        mode, intensity = parse_mode_label(m)
        if mode == DISTRACTING_CS:
            return (len(known), -1.0 if intensity is None else intensity, m)
        return (known.get(m, len(known) + 1), 0.0, m)
    return sorted(set(modes), key=key)


def is_distracting(mode: str) -> bool:
    """A ``distracting_cs`` result (an intensity's label): not one of the modes the paper averages over."""
    return parse_mode_label(mode)[0] == DISTRACTING_CS


def mode_title(mode: str) -> str:
    name, intensity = parse_mode_label(mode)
    return f"{name} (intensity {intensity:g})" if intensity is not None else mode


def task_order(tasks) -> list[str]:
    rank = {t: i for i, t in enumerate(TASK_ORDER)}
    return sorted(set(tasks), key=lambda t: (is_robot_task(t), rank.get(t, len(rank)), t))


def method_key(method: str) -> tuple:
    return (METHOD_ORDER.index(method), "") if method in METHOD_ORDER else (len(METHOD_ORDER), method)


def loss_variant(cfg: dict) -> list[str]:
    """``no-<loss>`` for each ablation loss of the run's method whose weight is 0 in its config."""
    out = []
    losses = METHODS[cfg["algo"]].losses if cfg.get("algo") in METHODS else {}
    for loss, key in losses.items():
        v = cfg.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0:
            out.append(f"no-{loss}")
    return out


def ablation_variant(ablation: dict) -> str:
    """Canonical name of a grid ablation: ``no-<loss>`` per removed loss, then its own ``key=value``
    settings ("" for the full model)."""
    no = ablation.get("no", [])
    no = [no] if isinstance(no, str) else no
    parts = [f"no-{loss}" for loss in ablation_losses() if loss in no]
    parts += [f"{k}={v}" for k, v in sorted((ablation.get("set") or {}).items())]
    return "+".join(parts)


def _config_columns(runs: list[tuple[Path, dict]]) -> dict[Path, Column]:
    """Columns for runs without a grid: method, zero loss weights, and the settings in which the runs of
    one (task, method, preset) differ."""
    peers: dict[tuple, list[dict]] = defaultdict(list)
    for _, cfg in runs:
        peers[(cfg.get("task"), cfg.get("algo"), cfg.get("preset", "paper"))].append(cfg)
    out = {}
    for path, cfg in runs:
        group = peers[(cfg.get("task"), cfg.get("algo"), cfg.get("preset", "paper"))]
        keys = sorted({k for o in group for k in set(o) | set(cfg) if k not in NOT_SETTINGS and o.get(k) != cfg.get(k)})
        parts = loss_variant(cfg) + [f"{k}={cfg.get(k)}" for k in keys]
        out[path] = Column(str(cfg.get("algo", "?")), "+".join(parts), preset=str(cfg.get("preset", "paper")))
    return out


def _shown(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)


def mixing_problem(runs: list[tuple[str, dict]], flag: str = "--run") -> str | None:
    """Why the runs ``[(name, config dict)]`` cannot be the seeds of one row: another task, method or setting
    (anything but the keys that do not change what a run learns), or one seed twice. None when they can."""
    def split(key) -> dict:
        by: dict = defaultdict(list)
        for name, cfg in runs:
            by[_shown(cfg.get(key))].append(str(name))
        return by

    for key, what in (("task", "tasks"), ("algo", "methods")):
        by = split(key)
        if len(by) > 1:
            groups = "; ".join(f"{v}: {', '.join(names)}" for v, names in by.items())
            return (f"{flag}: the runs are of different {what} ({groups}): their seeds cannot share a row; evaluate "
                    f"one {what[:-1]} at a time")
    # Not compared: what does not change what a run learns, and how the same update executes.
    compared = (NOT_SETTINGS - set(ablation_losses().values())) | {"seed", "compile", "fused_ops", "replay_storage"}
    keys = sorted({k for _, cfg in runs for k in cfg} - compared)
    differ = [k for k in keys if len(split(k)) > 1]
    if differ:
        k = differ[0]
        groups = "; ".join(f"{k}={v}: {', '.join(names)}" for v, names in split(k).items())
        more = f" (and {len(differ) - 1} more setting(s): {', '.join(differ[1:4])})" if len(differ) > 1 else ""
        return (f"{flag}: the runs differ in {k}{more} ({groups}): seeds of different settings cannot share a row; "
                "evaluate each configuration on its own")
    seen: dict = {}
    for name, cfg in runs:
        seed = cfg.get("seed")
        if seed in seen:
            return (f"{flag}: {seen[seed]} and {name} are the same seed ({seed}) of the same configuration: a row "
                    "over both would count one seed twice; give each seed once")
        seen[seed] = str(name)
    return None


def _grid_specs(sweep_dir: Path) -> dict[Path, Column]:
    """Run directory → (task, seed, column) for the runs of a sweep's grid."""
    from smg_fast.experiments.sweep import run_path

    try:
        grid = load_grid(sweep_dir)
    except GridError:
        return {}
    out = {}
    for s in grid.runs:
        variant = ablation_variant(grid.ablations.get(s.ablation, {}))
        out[run_path(sweep_dir, s).resolve()] = (s.task, s.seed, Column(s.method, variant, s.ablation, s.preset))
    return out


def collect(paths, include_unfinished: bool = False) -> tuple[list[RunResult], list[RunResult]]:
    """(runs used, runs left out because they have not finished) from run and sweep directories."""
    found: list[tuple[Path, dict]] = []
    specs: dict[Path, tuple] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist")
        if (p / GRID_COPY).is_file():
            specs.update(_grid_specs(p))
        runs = rundir.find_runs(p)
        if not runs:
            raise FileNotFoundError(f"{p} holds no run directory (no config.json at or under it)")
        for r in runs:
            if all(r.resolve() != q.resolve() for q, _ in found):
                found.append((r, rundir.read_config(r)))
    from_config = _config_columns([(r, c) for r, c in found if r.resolve() not in specs])
    used, left = [], []
    for r, cfg in found:
        if r.resolve() in specs:
            task, seed, col = specs[r.resolve()]
        else:
            col, task, seed = from_config[r], str(cfg.get("task", "?")), int(cfg.get("seed", 0))
        finished = rundir.is_finished(r)
        res = RunResult(r, task, col, seed, finished)
        if finished or include_unfinished:
            res.values, res.source = rundir.final_returns(r)
        (used if (finished or include_unfinished) and res.values else left).append(res)
    return merge_seeds(used), left


def merge_seeds(results: list[RunResult]) -> list[RunResult]:
    """One result per seed of a task and column. Runs of the same seed (a copied run directory, or one training
    evaluated at several distracting_cs intensities) are merged: each mode counts once, so a copy never passes
    for a second seed. UsageError when two of them disagree on a mode (then they are not one seed's runs)."""
    import math

    from smg_fast.errors import UsageError

    out: dict[tuple, RunResult] = {}
    for r in results:
        key = (r.task, r.column, r.seed)
        first = out.get(key)
        if first is None:
            out[key] = r
            continue
        for mode, value in r.values.items():
            have = first.values.get(mode)
            if have is not None and not math.isclose(have, value, rel_tol=1e-9, abs_tol=1e-9):
                raise UsageError(f"{first.path} and {r.path} are the same seed ({r.seed}) of {r.task}, "
                                 f"{r.column.label}, with different {mode} results ({have:g} and {value:g}): a table "
                                 "cannot count them as two seeds; give each run its own --seed, or leave one out")
        first.values = {**r.values, **first.values}
        first.same_seed.append(r.path)
    return list(out.values())


def score_table(results: list[RunResult]) -> dict[tuple[str, str, Column], list[float]]:
    """``{(task, mode, column): [one value per seed]}``."""
    out: dict[tuple[str, str, Column], list[float]] = defaultdict(list)
    for r in sorted(results, key=lambda r: r.seed):
        for mode, v in r.values.items():
            out[(r.task, mode, r.column)].append(v)
    return dict(out)


def ordered_columns(columns) -> list[Column]:
    """Paper order of methods; within a method the default configuration (the full model) first, then
    its variants by name."""
    return sorted(set(columns), key=lambda c: (*method_key(c.method), c.preset != "paper", c.preset,
                                               bool(c.variant), c.label))


def reference_column(columns: list[Column]) -> Column:
    """The full model among one method's columns: the one without a variant, else the one named full."""
    for c in columns:
        if not c.variant:
            return c
    for c in columns:
        if c.name == "full":
            return c
    return columns[0]
