"""Learning curves in the style of the paper's Figure 11: per task, one panel per evaluation mode, one line
per method (column) with the mean evaluation return across seeds at each evaluation step and a ± std band
(population std across the seeds evaluated at that step). The x axis is agent steps (the paper labels it
"Number of frames"; its loop counts agent steps). matplotlib's object API (Agg canvas), no pyplot."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from smg_fast.run import directory as rundir
from smg_fast.experiments.results import RunResult, mode_order, ordered_columns, task_order
from smg_fast.tasks import is_robot_task

TITLES = {"train": "Training", "color_easy": "Color-Easy", "color_hard": "Color-Hard", "video_easy": "Video-Easy",
          "video_hard": "Video-Hard"}


def across_seeds(curves: list[dict[int, float]]) -> tuple[list[int], list[float], list[float]]:
    """Steps, mean and population std across the curves that have each step."""
    steps = sorted({s for c in curves for s in c})
    means, stds = [], []
    for s in steps:
        vals = [c[s] for c in curves if s in c]
        m = sum(vals) / len(vals)
        means.append(m)
        stds.append(math.sqrt(sum((v - m) ** 2 for v in vals) / len(vals)))
    return steps, means, stds


def collect_curves(results: list[RunResult]):
    """``{task: {mode: {column: [curve per seed]}}}`` from each run's eval.csv."""
    out: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in results:
        for mode, curve in rundir.eval_curves(r.path).items():
            if curve:
                out[r.task][mode][r.column].append(curve)
    return out


def _panel(ax, by_column: dict, colors: dict, title: str) -> None:
    for col in ordered_columns(by_column):
        steps, means, stds = across_seeds(by_column[col])
        color = colors[col]
        ax.plot(steps, means, color=color, linewidth=1.5, marker="o" if len(steps) < 3 else None, markersize=3,
                label=col.label)
        if len(by_column[col]) > 1:
            ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                            color=color, alpha=0.2, linewidth=0)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))


def plot_curves(results: list[RunResult], out_dir: Path) -> list[Path]:
    """One PNG per task (``<task>.png``) and all tasks in one grid (``all_tasks.png``, rows = tasks, as
    Figure 11). Returns the written paths."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    data = collect_curves(results)
    if not data:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ordered_columns({c for modes in data.values() for cols in modes.values() for c in cols})
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    colors = {c: palette[i % len(palette)] for i, c in enumerate(columns)}
    tasks = task_order(data)
    paths = []

    def legend(fig, ncol):
        handles = [Line2D([], [], color=colors[c], label=c.label) for c in columns]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(ncol, len(handles)), fontsize="small",
                   frameon=False)

    for task in tasks:
        modes = mode_order(data[task])
        fig = Figure(figsize=(3.2 * len(modes), 3.4), layout="constrained")
        axes = fig.subplots(1, len(modes), squeeze=False, sharey=True)[0]
        for ax, mode in zip(axes, modes):
            _panel(ax, data[task][mode], colors, TITLES.get(mode, mode))
            ax.set_xlabel("agent steps")
        axes[0].set_ylabel(f"{task}\nepisode return")
        legend(fig, 7)
        path = out_dir / f"{task}.png"
        fig.savefig(path, dpi=110)
        paths.append(path)

    if len(tasks) > 1:
        ncols = max(len(data[t]) for t in tasks)
        fig = Figure(figsize=(3.0 * ncols, 2.6 * len(tasks) + 0.6), layout="constrained")
        grid = fig.subplots(len(tasks), ncols, squeeze=False)
        for i, task in enumerate(tasks):
            modes = mode_order(data[task])
            for j in range(ncols):
                ax = grid[i][j]
                if j >= len(modes):
                    ax.set_axis_off()
                    continue
                _panel(ax, data[task][modes[j]], colors, TITLES.get(modes[j], modes[j]) if i == 0 or
                       is_robot_task(task) != is_robot_task(tasks[i - 1]) else "")
                if i == len(tasks) - 1:
                    ax.set_xlabel("agent steps")
            grid[i][0].set_ylabel(f"{task}\nepisode return", fontsize=9)
        legend(fig, 7)
        path = out_dir / "all_tasks.png"
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths
