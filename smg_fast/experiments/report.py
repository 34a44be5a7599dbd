"""``smg-fast report RUN_DIRS... | SWEEP_DIR``: the paper's tables, robust aggregates and learning curves
from finished runs.

    smg-fast report sweeps/table1                     # a sweep directory: its grid names the columns
    smg-fast report runs/walker-walk_*  --method drq  # any run directories (one per seed)
    smg-fast report sweeps/table1 --paper             # beside the paper's published numbers
    smg-fast report --paper                           # the paper's Tables 1-3 and 6-9 alone

Writes ``report.md`` (every table), ``results.csv`` (one row per task × mode × column), ``aggregates.csv``
and ``curves/<task>.png`` + ``curves/all_tasks.png`` into ``--out`` (default ``SWEEP_DIR/report``, else
``./report``), and prints the Markdown. Formats (see :mod:`smg_fast.experiments.tables`): per evaluation mode a
table of tasks × methods (Tables 1, 6, 7; ``distracting_cs`` one table per intensity), the average over the
paper's modes (Table 7), per robot task a table of
modes × methods with an average row (Tables 2, 8), and for a method run with several variants (the
ablations of a grid) the layout of Tables 3 and 9. Aggregates: IQM across tasks with 95 %
stratified-bootstrap confidence intervals (see :mod:`smg_fast.experiments.aggregates`), per mode and over all modes,
for DMControl tasks and for robot tasks separately (their return scales differ).
"""
from __future__ import annotations

import csv
from pathlib import Path

from smg_fast.experiments import tables
from smg_fast.experiments.grid import GRID_COPY
from smg_fast.experiments.results import (Column, RunResult, collect, is_distracting, mode_order, mode_title,
                                          ordered_columns, reference_column, score_table, task_order)
from smg_fast.experiments.tables import AVERAGE, Block, average_stat, stat
from smg_fast.tasks import is_robot_task


def _cols_with(stats, rows_keys, columns) -> list:
    return [c for c in columns if any(k + (c,) in stats for k in rows_keys)]


def build_blocks(scores: dict, chosen: Column | None) -> list[Block]:
    """The comparison and ablation tables for ``scores`` = {(task, mode, column): [seed values]}."""
    stats = {k: stat(v) for k, v in scores.items() if v}
    columns = ordered_columns({c for _, _, c in stats})
    tasks = task_order({t for t, _, _ in stats})
    dmc = [t for t in tasks if not is_robot_task(t)]
    robot = [t for t in tasks if is_robot_task(t)]
    out: list[Block] = []

    dmc_modes = mode_order({m for t, m, _ in stats if t in dmc})
    for mode in dmc_modes:
        rows = [t for t in dmc if any((t, mode, c) in stats for c in columns)]
        cols = _cols_with(stats, [(t, mode) for t in rows], columns)
        b = Block(key=mode, title=f"DMControl, {mode_title(mode)}", corner="task", rows=rows, cols=cols,
                  chosen=chosen)
        for t in rows:
            for c in cols:
                if (t, mode, c) in stats:
                    b.cells[(t, c)], b.where[(t, c)] = stats[(t, mode, c)], (t, mode, c)
        out.append(b)
    avg_modes = [m for m in dmc_modes if not is_distracting(m)]  # the paper's average: its modes only
    if len(avg_modes) > 1:
        b = Block(key=AVERAGE, title=f"DMControl, average over {', '.join(avg_modes)}", corner="task", rows=[],
                  cols=[], chosen=chosen, spread="modes")
        for t in dmc:
            for c in columns:
                if all((t, m, c) in stats for m in avg_modes):
                    b.cells[(t, c)] = average_stat([stats[(t, m, c)] for m in avg_modes])
                    b.where[(t, c)] = (t, AVERAGE, c)
        b.rows = [t for t in dmc if any((t, c) in b.cells for c in columns)]
        b.cols = [c for c in columns if any((t, c) in b.cells for t in b.rows)]
        if b.cells:
            out.append(b)
    for task in robot:
        modes = mode_order({m for t, m, _ in stats if t == task})
        cols = _cols_with(stats, [(task, m) for m in modes], columns)
        b = Block(key=task, title=f"Robotic manipulation, {task}", corner="setting", rows=list(modes), cols=cols,
                  chosen=chosen)
        for m in modes:
            for c in cols:
                if (task, m, c) in stats:
                    b.cells[(m, c)], b.where[(m, c)] = stats[(task, m, c)], (task, m, c)
        if len(modes) > 1:
            for c in cols:
                if all((task, m, c) in stats for m in modes):
                    b.cells[(AVERAGE, c)] = average_stat([stats[(task, m, c)] for m in modes])
                    b.where[(AVERAGE, c)] = (task, AVERAGE, c)
            if any((AVERAGE, c) in b.cells for c in cols):
                b.rows.append(AVERAGE)
        out.append(b)

    # Ablation layout for every method (and preset) run in more than one variant.
    groups: dict = {}
    for c in columns:
        groups.setdefault((c.method, c.preset), []).append(c)
    for (method, preset), cols in groups.items():
        if len(cols) < 2:
            continue
        ref = reference_column(cols)
        cols = [ref] + [c for c in cols if c != ref]
        name = method + (f"@{preset}" if preset != "paper" else "")
        for b in [x for x in out if x.kind == "compare"]:
            if not any(c in b.cols for c in cols[1:]):
                continue
            a = Block(key=f"ablation {name} {b.key}", title=f"Ablation of {name}: {b.title}", corner=b.corner,
                      rows=list(b.rows), cols=[c for c in cols if c in b.cols], kind="ablation", reference=ref,
                      spread=b.spread)
            for (r, c), s in b.cells.items():
                if c in a.cols:
                    a.cells[(r, c)], a.where[(r, c)] = s, b.where[(r, c)]
            out.append(a)
    return out


def aggregate_rows(results: list[RunResult], reps: int, seed: int) -> list[dict]:
    """IQM (and mean) with 95 % stratified-bootstrap CIs per (family, mode, column); strata are tasks
    (tasks × test modes for "all modes"). A column enters a row only with values on every task of it."""
    from smg_fast.experiments import aggregates

    scores = score_table(results)
    out = []
    # DMControl returns share a 0-1000 scale and are pooled across tasks; robot tasks' returns do not
    # (reach ~30, peg-in-box ~240), so each robot task is aggregated on its own (strata: its modes).
    families = [("dmc", lambda t: not is_robot_task(t))]
    families += [(t, lambda x, t=t: x == t) for t in task_order({t for t, _, _ in scores if is_robot_task(t)})]
    for family, pick in families:
        keys = {k: v for k, v in scores.items() if pick(k[0])}
        if not keys:
            continue
        tasks = task_order({t for t, _, _ in keys})
        modes = mode_order({m for _, m, _ in keys})
        columns = ordered_columns({c for _, _, c in keys})
        rows = [(m, [(t, m) for t in tasks]) for m in modes]
        pooled = [m for m in modes if not is_distracting(m)]  # distracting_cs intensities stand alone
        if len(pooled) > 1:
            rows.append(("all modes", [(t, m) for t in tasks for m in pooled]))
        for name, strata_keys in rows:
            for c in columns:
                strata = [keys.get((t, m, c)) for t, m in strata_keys]
                if any(not s for s in strata):
                    continue
                point, low, high = aggregates.iqm_ci(strata, reps=reps, seed=seed)
                mean, mlow, mhigh = aggregates.mean_ci(strata, reps=reps, seed=seed)
                out.append({"family": family, "mode": name, "column": c.label, "method": c.method,
                            "variant": c.variant, "iqm": point, "iqm_low": low, "iqm_high": high, "mean": mean,
                            "mean_low": mlow, "mean_high": mhigh, "runs": sum(len(s) for s in strata),
                            "strata": len(strata)})
    return out


def aggregates_markdown(rows: list[dict], reps: int, decimals: int = 0) -> str:
    parts = []
    for family in dict.fromkeys(r["family"] for r in rows):
        fam = [r for r in rows if r["family"] == family]
        title = "DMControl tasks" if family == "dmc" else family
        cols = list(dict.fromkeys(r["column"] for r in fam))
        modes = list(dict.fromkeys(r["mode"] for r in fam))
        cell = {(r["mode"], r["column"]): r for r in fam}
        lines = ["| mode | " + " | ".join(cols) + " |", "|---" + "|---:" * len(cols) + "|"]
        for m in modes:
            vals = []
            for c in cols:
                r = cell.get((m, c))
                vals.append(f"{r['iqm']:.{decimals}f} [{r['iqm_low']:.{decimals}f}, {r['iqm_high']:.{decimals}f}]"
                            if r else "–")
            lines.append(f"| {m} | " + " | ".join(vals) + " |")
        strata = "tasks, or tasks × modes for 'all modes'" if family == "dmc" else "its modes for 'all modes'"
        parts.append(f"**Interquartile mean over {title}** (95 % stratified-bootstrap CI, {reps} resamples; "
                     f"runs resampled within each stratum; strata: {strata})\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def _choose(columns: list[Column], method: str | None) -> Column | None:
    """The column whose Δ the tables show: ``--method`` (a label or a method name), default smg."""
    wanted = method or "smg"
    for c in columns:
        if c.label == wanted:
            return c
    same = [c for c in columns if c.method == wanted]
    if same:
        return reference_column(same)
    if method:
        raise SystemExit(f"--method {method}: no such column; columns: {', '.join(c.label for c in columns)}")
    return None


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def wall_time_markdown(runs) -> str:
    """Where each run's wall time went (its ``run_summary.json``, all its sessions), or "" when none has one."""
    from smg_fast.run import walltime

    rows = []
    for r in runs:
        summary = walltime.read(r.path)
        if not summary or not summary.get("seconds", {}).get("total"):
            continue
        sec, steps = summary["seconds"], summary.get("steps") or 0
        shares = " | ".join(f"{100 * sec.get(k, 0.0) / sec['total']:.0f}%" for k in (*walltime.PHASES, "other"))
        per_step = f"{sec['total'] / steps:.3f}" if steps else "-"
        rows.append(f"| {r.path} | {sec['total'] / 3600:.2f} | {per_step} | {shares} |")
    if not rows:
        return ""
    head = " | ".join(walltime.NAMES[k] for k in (*walltime.PHASES, "other"))
    return ("Where the wall time went (run_summary.json):\n\n"
            f"| run | hours | s per step | {head} |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def make_report(paths, out_dir: Path | None = None, method: str | None = None, with_paper: bool = False,
                include_unfinished: bool = False, decimals: int = 0, reps: int = 50_000, seed: int = 0,
                curves: bool = True) -> tuple[str, list[Path]]:
    """Everything ``smg-fast report`` writes; returns (Markdown, written paths)."""
    from smg_fast.experiments import paper

    used, left = collect(paths, include_unfinished)
    if not used:
        hint = "" if include_unfinished else " (--include-unfinished uses their latest evaluation)"
        raise SystemExit(f"no finished runs in {', '.join(map(str, paths))}: {len(left)} unfinished{hint}")
    if out_dir is None:
        single = Path(paths[0])
        out_dir = single / "report" if len(paths) == 1 and (single / GRID_COPY).is_file() else Path("report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = score_table(used)
    columns = ordered_columns({c for _, _, c in scores})
    blocks = build_blocks(scores, _choose(columns, method))

    n_tasks = len({r.task for r in used})
    md = [f"# Results: {len(used)} runs, {n_tasks} task{'s' if n_tasks != 1 else ''}, "
          f"{len(columns)} column{'s' if len(columns) != 1 else ''}\n",
          "Each seed's value is the mean return of its final evaluation's episodes "
          f"(from {', '.join(sorted({r.source for r in used}))}).\n"]
    if left:
        md.append(f"Left out (not finished): {', '.join(str(r.path) for r in left)}\n")
    merged = [r for r in used if r.same_seed]
    if merged:
        md.append("Runs of the same seed, counted once: " + "; ".join(
            f"{r.path} = {', '.join(map(str, r.same_seed))} (seed {r.seed})" for r in merged) + "\n")
    csv_rows = []
    for b in blocks:
        md.append(tables.markdown(b, decimals))
        rows = tables.csv_rows(b)
        if with_paper and b.kind == "compare":  # an ablation block repeats columns of a compare block
            text, extra = paper.compare(b, decimals)
            if text:
                md.append(text)
            by_key = {(e["row"], e["column"]): e for e in extra}
            for row in rows:
                row.update({k: v for k, v in by_key.get((row["row"], row["column"]), {}).items()
                            if k in ("paper_table", "paper_mean", "paper_std", "diff_vs_paper")})
        csv_rows += rows
    written = [write_csv(out_dir / "results.csv", csv_rows, tables.CSV_FIELDS)]

    if reps > 0:
        agg = aggregate_rows(used, reps, seed)
        if agg:
            md.append(aggregates_markdown(agg, reps, decimals))
            written.append(write_csv(out_dir / "aggregates.csv", agg, list(agg[0])))
    wall = wall_time_markdown(used)
    if wall:
        md.append(wall)
    if curves:
        from smg_fast.experiments.paper_curves import plot_curves

        figs = plot_curves(used, out_dir / "curves")
        if figs:
            md.append("Learning curves (mean ± std across seeds per evaluation): "
                      + ", ".join(str(p.relative_to(out_dir)) for p in figs) + "\n")
            written += figs
    text = "\n".join(md)
    (out_dir / "report.md").write_text(text)
    return text, [out_dir / "report.md", *written]


def paper_only(decimals: int = 0) -> str:
    from smg_fast.experiments import paper

    data = paper.load()
    parts = [f"# Published results\n\n{data['source']}\n"]
    parts += [tables.markdown(b, decimals) for b in paper.blocks()]
    parts.append("Notes:\n" + "\n".join(f"- {n}" for n in data["notes"]) + "\n")
    return "\n".join(parts)
