"""Learning curves from run directories (``eval.csv``, ``train.csv``, ``config.json``).

    >>> plot_learning_curves(["runs/smg-s0", "runs/smg-s1", "runs/sac-s0"], "curves.png", random_return=25)

Left: evaluation return vs step, one line per (algorithm, mode), mean ± std across the runs that share
it (seeds). Right (when any run has ``train.csv`` with returns): training episode return vs step, the
same way. Runs are grouped by ``config.json``'s ``algo`` (and ``task`` when the runs mix tasks) and by
their settings: runs of one algorithm that differ in a setting other than the seed, device, run length,
evaluation or checkpoint schedule are separate groups, labelled with the settings that differ. Runs
without a config form one group.

CSV reading is tolerant: the return column is ``mean_return`` if present, else ``episode_return``, else
another numeric column whose name contains "return"; rows whose step or return is empty or not a number
(e.g. train rows that log only update metrics) are skipped. Several rows for one (mode, step) in one run
(per-episode rows) are averaged first, so each run counts once in the std.

matplotlib is used through its object API with the Agg canvas: no pyplot, no global backend switch.
"""
from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

EVAL_CSV, TRAIN_CSV, CONFIG_JSON = "eval.csv", "train.csv", "config.json"
EVAL_PREFERENCE = ("mean_return", "episode_return")
TRAIN_PREFERENCE = ("episode_return", "mean_return")

# run-level series: {(group, mode): [ {step: value} per run ]}
Series = dict[tuple[str, str], list[dict[float, float]]]


def _float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):  # empty cell (a row that logs other metrics) or text
        return math.nan


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def return_column(fields: Sequence[str], rows: list[dict], path: Path, preference: Sequence[str]) -> str:
    """The column to plot: the first preferred one present, else any numeric "return" column (a std
    column and the space-separated ``returns`` list are not returns to plot)."""
    for name in preference:
        if name in fields:
            return name
    for name in fields:
        low = name.lower()
        if "return" in low and not low.startswith("std") and low != "returns":
            if any(math.isfinite(_float(r.get(name))) for r in rows):
                return name
    raise ValueError(f"{path}: no return column to plot (looked for {', '.join(preference)} or a numeric "
                     f"column named *return*); its columns are {fields}")


def read_curve(path: Path, preference: Sequence[str], default_mode: str) -> dict[str, dict[float, float]]:
    """``{mode: {step: mean return at that step}}`` from one CSV (rows without a mode → ``default_mode``)."""
    fields, rows = read_csv(path)
    if "step" not in fields:
        raise ValueError(f"{path}: no 'step' column; its columns are {fields}")
    col = return_column(fields, rows, path, preference)
    acc: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        step, value = _float(r.get("step")), _float(r.get(col))
        if math.isfinite(step) and math.isfinite(value):
            acc[r.get("mode") or default_mode][step].append(value)
    return {mode: {s: sum(v) / len(v) for s, v in by_step.items()} for mode, by_step in acc.items()}


def _config(run: Path) -> dict:
    path = run / CONFIG_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


# Config keys that do not change what a run learns: runs differing only in these are seeds of one group.
NOT_SETTINGS = frozenset({"seed", "run_dir", "device", "checkpoint_every", "train_steps", "eval_freq",
                          "eval_episodes", "eval_modes", "eval_envs"})


def _group_labels(runs: list[Path]) -> list[str]:
    """Label per run: its algorithm, with the task in front when the runs mix tasks, and after it the
    settings in which it differs from other runs of that algorithm (so that different configurations
    are drawn apart instead of being averaged as if they were seeds)."""
    cfgs = [_config(r) for r in runs]
    mixed_tasks = len({c.get("task") for c in cfgs}) > 1
    labels = []
    for c in cfgs:
        parts = ([str(c.get("task", "?"))] if mixed_tasks else []) + ([str(c["algo"])] if "algo" in c else [])
        peers = [o for o in cfgs if o.get("task") == c.get("task") and o.get("algo") == c.get("algo")]
        differing = sorted({k for o in peers for k in set(o) | set(c)
                            if k not in NOT_SETTINGS and o.get(k) != c.get(k)})
        parts += [f"{k}={c.get(k)}" for k in differing]
        labels.append(" ".join(parts))
    return labels


def aggregate(curves: list[dict[float, float]]) -> tuple[list[float], list[float], list[float], list[int]]:
    """Mean, std (population, as the paper's tables) and count across runs at every step any run has."""
    steps = sorted({s for c in curves for s in c})
    means, stds, counts = [], [], []
    for s in steps:
        vals = [c[s] for c in curves if s in c]
        m = sum(vals) / len(vals)
        means.append(m)
        stds.append(math.sqrt(sum((v - m) ** 2 for v in vals) / len(vals)))
        counts.append(len(vals))
    return steps, means, stds, counts


def load_runs(run_dirs: Sequence[str | Path]) -> tuple[Series, Series, list[dict]]:
    """Eval and train series of every run, grouped; also the runs' configs (for the title)."""
    runs = [Path(r) for r in run_dirs]
    if not runs:
        raise ValueError("plot_learning_curves needs at least one run directory")
    for r in runs:
        if not r.is_dir():
            raise FileNotFoundError(f"run directory {r} does not exist")
        if not (r / EVAL_CSV).is_file() and not (r / TRAIN_CSV).is_file():
            raise FileNotFoundError(f"{r} holds neither {EVAL_CSV} nor {TRAIN_CSV}: nothing to plot")
    evals: Series = defaultdict(list)
    trains: Series = defaultdict(list)
    for run, group in zip(runs, _group_labels(runs)):
        if (run / EVAL_CSV).is_file():
            for mode, curve in read_curve(run / EVAL_CSV, EVAL_PREFERENCE, "eval").items():
                evals[(group, mode)].append(curve)
        if (run / TRAIN_CSV).is_file():
            fields, _ = read_csv(run / TRAIN_CSV)
            # train.csv may log only update metrics (no returns): then there is no train curve for it.
            if any("return" in f.lower() for f in fields):
                for mode, curve in read_curve(run / TRAIN_CSV, TRAIN_PREFERENCE, "").items():
                    trains[(group, mode)].append(curve)
    return dict(evals), dict(trains), [_config(r) for r in runs]


def _label(group: str, mode: str, n_runs: int, many_groups: bool) -> str:
    text = " ".join(t for t in (group if many_groups else "", mode) if t) or group or "runs"
    return f"{text} (n={n_runs})" if n_runs > 1 else text


def _mean_std(ref) -> tuple[float, float]:
    """(mean, std) of a reference: a :class:`smg_fast.experiments.references.Reference`, a (mean, std[, ...]) tuple or a
    bare number."""
    if hasattr(ref, "mean"):
        return float(ref.mean), float(ref.std)
    if isinstance(ref, (tuple, list)):
        return float(ref[0]), float(ref[1]) if len(ref) > 1 else 0.0
    return float(ref), 0.0


MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _fmt(x: float) -> str:
    """A return as the paper prints it (no decimals), with one decimal for small values."""
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"


def _draw(ax, series: Series, title: str, random_return: float | None, references: dict | None = None,
          x_max: float | None = None, random_steps: int | None = None) -> None:
    many_groups = len({g for g, _ in series}) > 1
    colors: dict[str, str] = {}
    ys: list[float] = []
    last_x = 0.0
    for i, ((group, mode), curves) in enumerate(sorted(series.items())):
        steps, means, stds, _ = aggregate(curves)
        # Few points: markers, a different shape per line, so that points at one place stay apart.
        marker = MARKERS[i % len(MARKERS)] if len(steps) < 30 else None
        line, = ax.plot(steps, means, marker=marker, markersize=7 if len(steps) <= 3 else 3.5, fillstyle="none"
                        if len(steps) <= 3 else "full", label=_label(group, mode, len(curves), many_groups))
        colors.setdefault(mode, line.get_color())
        ys += [m - s for m, s in zip(means, stds)] + [m + s for m, s in zip(means, stds)]
        last_x = max([last_x, *steps])
        if len(curves) > 1:
            ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                            color=line.get_color(), alpha=0.2, linewidth=0)
        if len(steps) <= 3:  # a lone point says little without its value
            for x, y in zip(steps, means):
                ax.annotate(_fmt(y), (x, y), textcoords="offset points", xytext=(-6, 6), ha="right",
                            fontsize="small", color=line.get_color())
    if random_return is not None:
        ax.axhline(random_return, color="grey", linestyle="--", linewidth=1, label="random policy")
        ys.append(random_return)
    for name, per_mode in (references or {}).items():
        per_mode = {m: _mean_std(r) for m, r in per_mode.items() if m in colors or not colors}
        if not per_mode:
            continue
        if len(set(per_mode.values())) == 1:  # one value for every mode (a random policy on DMC)
            m, s = next(iter(per_mode.values()))
            style = "--" if "random" in name else ":"
            ax.axhline(m, color="grey", linestyle=style, linewidth=1.2, label=f"{name}: {_fmt(m)} ± {_fmt(s)}")
            if s > 0:
                ax.axhspan(m - s, m + s, color="grey", alpha=0.1, linewidth=0)
            ys += [m - s, m + s]
            continue
        for mode, (m, s) in per_mode.items():
            ax.axhline(m, color=colors.get(mode, "grey"), linestyle="--" if "random" in name else ":",
                       linewidth=1.2, label=f"{name}, {mode}: {_fmt(m)}")
            ys += [m - s, m + s] if "random" in name else [m]
    if random_steps:  # training episodes of the first steps act at random
        ax.axvspan(0, random_steps, color="tab:orange", alpha=0.07, linewidth=0,
                   label=f"random actions (first {random_steps:,} steps)")
    finite = [y for y in ys if math.isfinite(y)]
    if finite:  # every curve and reference in view, from 0 (returns of DMC and the robot tasks start there)
        lo, hi = min(0.0, *finite), max(0.0, *finite)
        pad = 0.06 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    right = max(last_x, x_max or 0.0)
    if right > 0:
        ax.set_xlim(0, right * 1.04)
    ax.set_title(title)
    ax.set_xlabel("agent step")
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_learning_curves(run_dirs: Sequence[str | Path], out_path, random_return: float | None = None,
                         title: str | None = None, references: dict | None = None,
                         x_max: float | None = None) -> Path:
    """Write a PNG of the runs' learning curves (see the module docstring); returns its path.

    ``references``: ``{name: {mode: reference}}`` drawn as horizontal lines on the evaluation panel (a
    reference is a :class:`smg_fast.experiments.references.Reference`, ``(mean, std)`` or a number), e.g. the random
    policy's and the paper's returns; one value for every mode is one grey line with its ± std band, else
    one line per mode in that mode's colour. A ``random policy`` reference is also drawn on the training
    panel. ``x_max``: the run's budget in steps, so that a run's few evaluations sit where they belong on
    the step axis. The y-range always shows 0, every curve and every reference.

    Raises FileNotFoundError for a missing run directory or one with neither CSV, ValueError for a CSV
    without a ``step`` or return column or when no row holds a number to plot.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plot_learning_curves needs matplotlib: pip install matplotlib") from e

    evals, trains, cfgs = load_runs(run_dirs)
    if not evals and not trains:
        raise ValueError(f"no numeric (step, return) rows in {EVAL_CSV} / {TRAIN_CSV} of {list(map(str, run_dirs))}")
    panels = [(s, t) for s, t in ((evals, "evaluation"), (trains, "training episodes")) if s]
    fig = Figure(figsize=(6.5 * len(panels), 4.5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (series, name) in zip(axes, panels):
        refs = references if series is evals else {k: v for k, v in (references or {}).items() if "random" in k}
        if series is trains and refs:  # training episodes: the random policy on the training scene
            refs = {k: {"": v.get("train", next(iter(v.values())))} for k, v in refs.items() if v}
        init = {c.get("init_steps") for c in cfgs}
        random_steps = next(iter(init)) if series is trains and len(init) == 1 else None
        _draw(ax, series, name, random_return, refs, x_max,
              random_steps if isinstance(random_steps, int) and random_steps > 0 else None)
    tasks = sorted({str(c["task"]) for c in cfgs if "task" in c})
    fig.suptitle(title if title is not None else ", ".join(tasks) or "learning curves")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)  # a bare Figure renders with the Agg canvas for .png
    return out
