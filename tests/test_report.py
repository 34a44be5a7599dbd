"""`smg-fast report`: the paper's table formats, IQM with stratified-bootstrap CIs and learning curves from
synthetic run directories (values chosen so every number is computed by hand here), and the paper's
published numbers shipped in the package, checked against the paper's text."""
import csv
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smg_fast.experiments import aggregates

from smg_fast.experiments import paper

from smg_fast.experiments import tables
from smg_fast.experiments.report import build_blocks
from smg_fast.experiments.results import Column, collect, score_table
from reference_files import PAPER, PAPER_REASON, missing

MODES = ("train", "video_hard")


def write_run(path: Path, task: str, algo: str, seed: int, finals: dict, curve_steps=(10, 20), finished=True,
              **cfg):
    """A run directory as `smg-fast train` writes it: config.json, eval.csv (a row per evaluation and
    mode, with the per-episode returns), final_eval.csv. The final evaluation's episodes are
    ``finals[mode]``; earlier evaluations return half of it."""
    path.mkdir(parents=True, exist_ok=True)
    config = {"task": task, "algo": algo, "seed": seed, "preset": "paper", "train_steps": curve_steps[-1],
              "eval_modes": list(finals), "recon_weight": 1.0, "mask_weight": 1.0, "back_weight": 2.0,
              "action_weight": 1.0, "fore_weight": 0.1, "q_consistency_weight": 0.5, "mask_ratio": 0.06, **cfg}
    (path / "config.json").write_text(json.dumps(config))
    with open(path / "eval.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "mode", "mean_return", "std_return", "episodes", "returns"])
        for step in curve_steps:
            for mode, eps in finals.items():
                eps = eps if step == curve_steps[-1] else [e / 2 for e in eps]
                w.writerow([step, mode, np.mean(eps), np.std(eps), len(eps), " ".join(f"{e:.2f}" for e in eps)])
    if finished:
        with open(path / "final_eval.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["mode", "seed", "mean_return", "std_return", "episodes"])
            for mode, eps in finals.items():
                w.writerow([mode, f"seed {seed}", np.mean(eps), np.std(eps), len(eps)])
    (path / "train.csv").write_text("step,episode,episode_return\n" + "".join(
        f"{s},{i + 1},1.0\n" for i, s in enumerate(curve_steps)))
    return path


# Per (task, algo): each seed's final episodes per mode. Seed values (episode means) are round numbers.
SEEDS = {
    ("walker-walk", "sac"): [{"train": [300, 500], "video_hard": [100, 140]},
                             {"train": [600, 600], "video_hard": [200, 200]}],   # seed means 400/600, 120/200
    ("walker-walk", "smg"): [{"train": [900, 900], "video_hard": [700, 900]},
                             {"train": [800, 1000], "video_hard": [600, 600]}],  # 900/900, 800/600
    ("cheetah-run", "sac"): [{"train": [200, 200], "video_hard": [50, 50]},
                             {"train": [400, 400], "video_hard": [150, 150]}],   # 200/400, 50/150
    ("cheetah-run", "smg"): [{"train": [300, 300], "video_hard": [250, 350]},
                             {"train": [350, 350], "video_hard": [300, 300]}],   # 300/350, 300/300
}


@pytest.fixture
def runs(tmp_path):
    out = []
    for (task, algo), seeds in SEEDS.items():
        for seed, finals in enumerate(seeds):
            out.append(write_run(tmp_path / f"{task}_{algo}_s{seed}", task, algo, seed, finals))
    # An unfinished run: left out of the tables unless asked for.
    out.append(write_run(tmp_path / "walker-walk_sac_s2", "walker-walk", "sac", 2, {"train": [0.0], "video_hard": [0.0]},
                         finished=False))
    return out


def _block(blocks, key):
    return next(b for b in blocks if b.key == key)


def test_seed_values_and_mean_std_across_seeds(runs):
    used, left = collect(runs)
    assert len(used) == 8 and [r.path.name for r in left] == ["walker-walk_sac_s2"]
    scores = score_table(used)
    sac, smg = Column("sac"), Column("smg")
    assert scores[("walker-walk", "train", sac)] == [400.0, 600.0]
    assert scores[("walker-walk", "video_hard", smg)] == [800.0, 600.0]
    blocks = build_blocks(scores, smg)
    vh = _block(blocks, "video_hard")
    assert vh.rows == ["walker-walk", "cheetah-run"] and vh.cols == [sac, smg]  # the paper's row order
    s = vh.cells[("walker-walk", smg)]
    assert (s.mean, s.std, s.n) == (700.0, 100.0, 2)  # population std of 800, 600
    s = vh.cells[("walker-walk", sac)]
    assert (s.mean, s.std) == (160.0, 40.0)
    # Δ = smg − the best other: 700 − 160 = 540, 337.5 % of 160.
    assert tables.delta(vh.row("walker-walk"), smg) == (540.0, 337.5)
    # With the unfinished run included, its last evaluation is a third seed of sac.
    used_all, _ = collect(runs, include_unfinished=True)
    assert score_table(used_all)[("walker-walk", "train", sac)] == [400.0, 600.0, 0.0]


def test_average_over_modes_is_mean_of_mode_means_with_std_across_modes(runs):
    used, _ = collect(runs)
    blocks = build_blocks(score_table(used), Column("smg"))
    avg = _block(blocks, "average")
    # walker-walk smg: train 900, video_hard 700 → 800 ± 100 (std across the two modes, not seeds).
    s = avg.cells[("walker-walk", Column("smg"))]
    assert (s.mean, s.std, s.n) == (800.0, 100.0, 2)
    # cheetah-run sac: train 300, video_hard 100 → 200 ± 100.
    s = avg.cells[("cheetah-run", Column("sac"))]
    assert (s.mean, s.std) == (200.0, 100.0)


def test_markdown_marks_best_and_second_and_shows_delta():
    a, b, c = Column("sac"), Column("drq"), Column("smg")
    block = tables.Block(key="video_hard", title="t", corner="task", rows=["x", "y"], cols=[a, b, c], chosen=c)
    for row, means in (("x", (100, 300, 250)), ("y", (10, 20, 40))):
        for col, m in zip((a, b, c), means):
            block.cells[(row, col)] = tables.Stat(m, 5.0, 3)
    md = tables.markdown(block)
    lines = md.splitlines()
    assert lines[2] == "| task | sac | drq | smg | Δ smg |"
    assert lines[4] == "| x | 100 ± 5 | **300 ± 5** | _250 ± 5_ | -50 (17%) |"  # 50 / 300
    assert lines[5] == "| y | 10 ± 5 | _20 ± 5_ | **40 ± 5** | +20 (100%) |"
    assert "over 3 seeds" in md
    rows = tables.csv_rows(block)
    smg_x = next(r for r in rows if r["row"] == "x" and r["column"] == "smg")
    assert smg_x["rank"] == 2 and smg_x["delta"] == -50 and smg_x["delta_pct"] == pytest.approx(50 / 3)


def test_ablation_layout(tmp_path):
    """Variants of one method in a grid: the Table 3 layout, change from the full model and its mean."""
    sweep = tmp_path / "sweep"
    (sweep).mkdir()
    grid = {"name": "abl", "methods": ["smg"], "tasks": ["walker-walk", "cheetah-run"], "seeds": [0],
            "ablations": {"full": {}, "no_fore": {"no": ["fore"]}}}
    (sweep / "grid.json").write_text(json.dumps(grid))
    values = {("walker-walk", "full"): 800, ("walker-walk", "no_fore"): 600,
              ("cheetah-run", "full"): 300, ("cheetah-run", "no_fore"): 330}
    for (task, ab), v in values.items():
        write_run(sweep / "runs" / task / f"smg+{ab}" / "seed0", task, "smg", 0, {"video_hard": [v]},
                  **({"fore_weight": 0.0} if ab == "no_fore" else {}))
    used, _ = collect([sweep])
    cols = {r.column for r in used}
    assert {(c.label, c.variant) for c in cols} == {("smg+full", ""), ("smg+no_fore", "no-fore")}
    blocks = build_blocks(score_table(used), None)
    abl = next(b for b in blocks if b.kind == "ablation")
    assert abl.reference.label == "smg+full"
    # walker −200 (−25 %), cheetah +30 (+10 %): the average change is −7.5 %.
    no_fore = next(c for c in abl.cols if c.name == "no_fore")
    assert tables.average_changes(abl) == {no_fore: pytest.approx(-7.5)}
    md = tables.markdown(abl)
    assert "600 (-200, 25%)" in md and "330 (+30, 10%)" in md and "± 0" not in md  # one seed: n = 1 and "| average change |  | -8% |" in md
    # The same runs without the grid: the zero loss weight names the variant.
    used2, _ = collect(sorted((sweep / "runs").rglob("seed0")))
    assert {c.label for c in {r.column for r in used2}} == {"smg", "smg+no-fore"}


def test_iqm_by_hand():
    # 8 values: int(0.25 * 8) = 2 cut at each end → mean of the middle four.
    x = [1, 2, 3, 4, 5, 6, 7, 100]
    assert aggregates.iqm(x) == (3 + 4 + 5 + 6) / 4
    # 5 values: int(1.25) = 1 cut at each end.
    assert aggregates.iqm([10, 0, 30, 20, 1000]) == 20.0
    with pytest.raises(ValueError):
        aggregates.stratified_bootstrap([[1.0], []])


def test_stratified_bootstrap_matches_the_exact_bootstrap_distribution():
    """Two tasks × two runs: every bootstrap sample is one of 4 × 4 equally likely resamples, so the
    distribution of the bootstrap IQM is known exactly (enumerated here); the percentile CI is its 2.5 %
    and 97.5 % quantiles, and rliable 1.2.0 gives the same [5.5, 16.5]."""
    strata = [np.array([1.0, 3.0]), np.array([10.0, 30.0])]
    exact = {}
    for a in itertools.product(strata[0], repeat=2):
        for b in itertools.product(strata[1], repeat=2):
            v = aggregates.iqm([*a, *b])
            exact[v] = exact.get(v, 0) + 1 / 16
    assert exact == {5.5: 3 / 16, 6.5: 9 / 16, 15.5: 1 / 16, 16.5: 3 / 16}
    point, low, high = aggregates.iqm_ci(strata, reps=20_000, seed=1)
    assert (point, low, high) == (6.5, 5.5, 16.5)


def test_iqm_ci_matches_rliable():
    """rliable 1.2.0 (arch 7.2.0), ``get_interval_estimates({'a': scores}, lambda x:
    np.array([metrics.aggregate_iqm(x)]), reps=50000)`` on this (runs × tasks) matrix gave IQM 729.1 and
    95 % CIs whose ends, over 8 global NumPy seeds, ranged 650.6–651.6 (mean 651.1) and 789.2–789.6 (mean
    789.45). Ours draws other random numbers, so its ends agree within that Monte Carlo spread."""
    scores = np.array([[812., 905., 610., 244., 930.],
                       [760., 951., 402., 301., 874.],
                       [845., 612., 705., 198., 911.],
                       [798., 880., 655., 276., 620.]])
    point, low, high = aggregates.iqm_ci([scores[:, j] for j in range(scores.shape[1])], reps=50_000, seed=0)
    assert point == pytest.approx(729.1, abs=1e-9)
    assert abs(low - 651.1) < 1.5 and abs(high - 789.45) < 1.0
    try:  # a direct comparison too where rliable is installed (it is not a dependency)
        from rliable import library as rly, metrics
    except Exception:
        return
    np.random.seed(0)
    p, ci = rly.get_interval_estimates({"a": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=50_000)
    assert p["a"][0] == pytest.approx(point) and abs(ci["a"][0, 0] - low) < 1.5 and abs(ci["a"][1, 0] - high) < 1.0


def test_report_command_writes_tables_aggregates_and_curves(runs, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "smg_fast.cli", "report", *map(str, runs), "--out", str(out),
                           "--paper", "--bootstrap-reps", "2000"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out / "report.md").read_text()
    assert "| walker-walk | 500 ± 100 | **900 ± 0** | +400 (80%) |" in md  # train: sac 400/600, smg 900/900
    assert "Left out (not finished)" in md and "walker-walk_sac_s2" in md
    # Beside the paper: walker-walk video_hard SMG 814 ± 51 (Table 1), ours 700 → −114.
    assert "| walker-walk | smg | 700 ± 100 | 814 ± 51 (Table 1) | -114 |" in md
    rows = list(csv.DictReader(open(out / "results.csv")))
    r = next(r for r in rows if r["table"] == "video_hard" and r["task"] == "cheetah-run" and r["column"] == "smg")
    assert float(r["mean"]) == 300 and float(r["std"]) == 0 and r["rank"] == "1"
    assert float(r["paper_mean"]) == 303 and float(r["diff_vs_paper"]) == -3
    agg = {(a["family"], a["mode"], a["column"]): a for a in csv.DictReader(open(out / "aggregates.csv"))}
    # video_hard smg over the two tasks: values 800, 600, 300, 300 → IQM of 4 = mean of the middle two.
    a = agg[("dmc", "video_hard", "smg")]
    assert float(a["iqm"]) == (300 + 600) / 2 and int(a["runs"]) == 4 and int(a["strata"]) == 2
    assert float(a["iqm_low"]) <= float(a["iqm"]) <= float(a["iqm_high"])
    assert float(agg[("dmc", "all modes", "sac")]["mean"]) == np.mean([400, 600, 120, 200, 200, 400, 50, 150])
    for name in ("walker-walk.png", "cheetah-run.png", "all_tasks.png"):
        assert (out / "curves" / name).stat().st_size > 10_000


def test_curves_are_mean_and_std_across_seeds(runs):
    from smg_fast.experiments.paper_curves import across_seeds, collect_curves

    used, _ = collect(runs)
    curves = collect_curves(used)["walker-walk"]["train"][Column("sac")]
    steps, means, stds = across_seeds(curves)
    # step 10: halves of the final episodes (200, 300); step 20: 400, 600.
    assert steps == [10, 20] and means == [250.0, 500.0] and stds == [50.0, 100.0]


def test_report_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([sys.executable, "-m", "smg_fast.cli", "report", str(empty)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "no run directory" in proc.stderr
    unfinished = write_run(tmp_path / "u", "walker-walk", "sac", 0, {"train": [1.0]}, finished=False)
    proc = subprocess.run([sys.executable, "-m", "smg_fast.cli", "report", str(unfinished)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0 and "--include-unfinished" in proc.stderr


# ------------------------------------------------------------------------------------------------------
# The paper's numbers

def _paper_text() -> str:
    path = Path(os.environ.get("SMG_FAST_PAPER", PAPER))
    if not path.is_file():
        missing(PAPER_REASON, str(path))
    return path.read_text(encoding="utf-8")


NUM = re.compile(r"[+\-−]?\d+")
TASK_LINE = re.compile(r"^(cartpole|finger|walker|cheetah), (.*)$")
SECOND = {"cartpole": "swingup", "finger": "spin", "cheetah": "run"}


def _ints(text: str) -> list[int]:
    return [int(t.replace("−", "-")) for t in NUM.findall(text)]


def _section(text: str, start: str, end: str) -> list[str]:
    i = text.index(start)
    return text[i:text.index(end, i)].splitlines()


def _task(first: str, line: str) -> str:
    if first != "walker":
        return f"{first}-{SECOND[first]}"
    return "walker-stand" if "stand" in line else "walker-walk"


def _parse_compare_dmc(lines, block_names):
    """Rows 'cartpole, 175 606 ... 839 +121swingup ±23 ... ±16 17%' → {block: {task: (means, stds, delta)}}."""
    out, block = {}, -1
    for line in lines:
        if any(f"({b.replace('_', '-')}" in line.replace(" ", "") or f"({b})" in line for b in block_names) \
                and "DMControl" not in line:
            block += 1
            out[block_names[block]] = {}
            continue
        m = TASK_LINE.match(line.strip())
        if m:
            nums = _ints(m.group(2))
            assert len(nums) == 16, line
            out[block_names[block]][_task(m.group(1), line)] = (nums[:7], nums[8:15], (nums[7], nums[15]))
    return out


def _parse_compare_robot(lines):
    out = {}
    for i, line in enumerate(lines):
        m = re.match(r"^(train|test\d|Average) (.*)$", line.strip())
        if m and lines[i + 1].strip().startswith("±"):
            means = _ints(m.group(2))
            stds = _ints(lines[i + 1])
            assert len(means) == 8 and len(stds) == 8, line
            out[m.group(1).lower()] = (means[:7], stds[:7], (means[7], stds[7]))
    return out


def _parse_ablation(lines):
    out, avg = {}, None
    for line in lines:
        m = TASK_LINE.match(line.strip())
        if m:
            nums = _ints(m.group(2))
            assert len(nums) == 22, line
            out[_task(m.group(1), line)] = (nums[:12], nums[12:])
        elif line.startswith("Average"):
            avg = _ints(line)
    return out, avg


def test_transcribed_tables_match_the_paper_text():
    text = _paper_text()
    data = paper.load()
    methods = data["methods"]
    sections = {
        "1": (_section(text, "Table 1: DMControl results", "Table 1 reports"), ["video_easy", "video_hard"]),
        "6": (_section(text, "Table 6: DMControl results", "Table 6 shows"), ["color_easy", "color_hard"]),
        "7": (_section(text, "Table 7: Training", "For a more direct"), ["training", "average"]),
    }
    checked = 0
    for tid, (lines, names) in sections.items():
        parsed = _parse_compare_dmc(lines, names)
        table = data["tables"][tid]
        assert list(parsed) == names
        for name, block in zip(names, table["blocks"]):
            assert set(parsed[name]) == set(table["blocks"][block])
            for task, (means, stds, d) in parsed[name].items():
                row = table["blocks"][block][task]
                assert [row[m] for m in methods] == [[a, b] for a, b in zip(means, stds)], (tid, block, task)
                assert row["delta"] == list(d), (tid, block, task)
                checked += 15
    for tid, start, end, task in (("2", "Table 2: Robotic", "4.4 Ablation", "robot-peg-in-box"),
                                  ("8", "Table 8: Robotic", "The experiment results of robotic", "robot-reach")):
        parsed = _parse_compare_robot(_section(text, start, end))
        rows = data["tables"][tid]["blocks"][task]
        assert list(parsed) == list(rows) == ["train", "test1", "test2", "test3", "test4", "test5", "average"]
        for mode, (means, stds, d) in parsed.items():
            assert [rows[mode][m] for m in methods] == [[a, b] for a, b in zip(means, stds)], (tid, mode)
            assert rows[mode]["delta"] == list(d)
            checked += 15
    variants = ["full", "no-fore", "no-action", "no-back", "no-mask", "no-q-consistency"]
    for tid, start, end, block in (("3", "Table 3: Ablation", "To better grasp", "video_hard"),
                                   ("9", "Table 9: Ablation", "(a)ρ= 0.02", "average")):
        parsed, avg = _parse_ablation(_section(text, start, end))
        rows = data["tables"][tid]["blocks"][block]
        assert set(parsed) == set(rows)
        for task, (cells, changes) in parsed.items():
            assert [rows[task][v] for v in variants] == [cells[i:i + 2] for i in range(0, 12, 2)], (tid, task)
            assert [rows[task]["change"][v] for v in variants[1:]] == [changes[i:i + 2] for i in range(0, 10, 2)]
            checked += 22
        assert list(data["tables"][tid]["average_change_pct"][block].values()) == avg
    assert checked == 3 * 2 * 5 * 15 + 2 * 7 * 15 + 2 * 5 * 22


def test_report_arithmetic_reproduces_the_papers_own_columns():
    """The paper's Δ columns, ablation changes and averages follow from its means by the rules in
    smg_fast.experiments.tables: applying the report's code to the published means gives the published numbers."""
    data = paper.load()
    t = data["tables"]
    for tid in ("1", "2", "6", "7", "8"):
        for block, rows in t[tid]["blocks"].items():
            for row, cells in rows.items():
                stats = {m: tables.Stat(cells[m][0], cells[m][1], 4) for m in data["methods"]}
                d, pct = tables.delta(stats, "smg")
                assert [d, round(pct)] == cells["delta"], (tid, block, row)
    for tid in ("3", "9"):
        block, rows = next(iter(t[tid]["blocks"].items()))
        pcts = {}
        for task, cells in rows.items():
            full = tables.Stat(*cells["full"], 4)
            for v, (d, p) in cells["change"].items():
                got, got_pct = tables.change(full, tables.Stat(*cells[v], 4))
                assert [got, round(abs(got_pct))] == [d, p], (tid, task, v)
                pcts.setdefault(v, []).append(got_pct)
        for v, avg in t[tid]["average_change_pct"][block].items():
            assert round(sum(pcts[v]) / len(pcts[v])) == avg, (tid, v)
    # Table 7's average: the mean over the five settings (Tables 7 train, 6, 1) ± the std across them, of
    # the rounded published means, so within 1 of the published average.
    settings = [t["7"]["blocks"]["train"], t["6"]["blocks"]["color_easy"], t["6"]["blocks"]["color_hard"],
                t["1"]["blocks"]["video_easy"], t["1"]["blocks"]["video_hard"]]
    for task, cells in t["7"]["blocks"]["average"].items():
        for m in data["methods"]:
            s = tables.average_stat([tables.Stat(b[task][m][0], b[task][m][1], 4) for b in settings])
            assert abs(s.mean - cells[m][0]) <= 1 and abs(s.std - cells[m][1]) <= 1, (task, m, s, cells[m])
    for tid, task in (("2", "robot-peg-in-box"), ("8", "robot-reach")):
        rows = t[tid]["blocks"][task]
        for m in data["methods"]:
            s = tables.average_stat([tables.Stat(*rows[mode][m], 4) for mode in rows if mode != "average"])
            assert abs(s.mean - rows["average"][m][0]) <= 1 and abs(s.std - rows["average"][m][1]) <= 1, (tid, m)
    # Table 3's full model is Table 1's SMG in video_hard, Table 9's is Table 7's average.
    for task in t["3"]["blocks"]["video_hard"]:
        assert t["3"]["blocks"]["video_hard"][task]["full"] == t["1"]["blocks"]["video_hard"][task]["smg"]
        assert t["9"]["blocks"]["average"][task]["full"] == t["7"]["blocks"]["average"][task]["smg"]


def test_paper_lookup_and_tables_print():
    index = paper.lookup()
    assert index[("walker-walk", "video_hard", "smg", "")] == ("1", 814.0, 51.0)
    assert index[("cheetah-run", "video_hard", "smg", "no-q-consistency")] == ("3", 130.0, 37.0)
    assert index[("robot-reach", "test5", "srm", "")] == ("8", -8.0, 29.0)
    assert index[("finger-spin", "average", "smg", "no-back")] == ("9", 640.0, 115.0)
    proc = subprocess.run([sys.executable, "-m", "smg_fast.cli", "report", "--paper"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| cheetah-run | 56 ± 30 | 38 ± 26 | 118 ± 40 | 105 ± 13 | 87 ± 24 | _135 ± 44_ | **303 ± 46** | +168 (124%) |" \
        in proc.stdout
    assert "| average change |  | -15% | -22% | -23% | -30% | -56% |" in proc.stdout


def test_paper_results_ship_with_the_package():
    import smg_fast

    setup = (Path(smg_fast.__file__).parents[1] / "setup.py").read_text()
    assert '"experiments/paper_results.json"' in setup
    assert math.isclose(paper.load()["tables"]["8"]["blocks"]["robot-reach"]["test5"]["delta"][1], 462)


def test_distracting_cs_makes_a_table_per_intensity(tmp_path):
    """Runs evaluated in distracting_cs at different intensities (the intensity is in the mode's label,
    ``distracting_cs@0.1``, and in config.json): one table per intensity, in intensity order; the runs stay
    one column per method; the average over modes and the pooled aggregate keep to the paper's modes."""
    from smg_fast.experiments.report import aggregate_rows, make_report

    runs = []
    for algo, base in (("sac", 100), ("smg", 300)):
        for seed in range(2):
            for intensity in (0.2, 0.05):
                label = f"distracting_cs@{intensity:g}"
                finals = {"train": [base + 100 * seed] * 2, "video_hard": [base] * 2,
                          label: [base * (1 - intensity) + 10 * seed] * 2}
                runs.append(write_run(tmp_path / f"{algo}_s{seed}_i{intensity}", "walker-walk", algo, seed, finals,
                                      distracting_cs_intensity=intensity))
    used, left = collect(runs)
    assert not left and {r.column.label for r in used} == {"sac", "smg"}  # the intensity is no variant
    blocks = build_blocks(score_table(used), None)
    keys = [b.key for b in blocks if b.kind == "compare"]
    assert keys == ["train", "video_hard", "distracting_cs@0.05", "distracting_cs@0.2", "average"]
    b = _block(blocks, "distracting_cs@0.2")
    assert b.title == "DMControl, distracting_cs (intensity 0.2)"
    smg = next(c for c in b.cols if c.method == "smg")
    assert b.cells[("walker-walk", smg)].mean == pytest.approx(300 * 0.8 + 5)  # seeds 240 and 250
    avg = _block(blocks, "average")
    assert avg.title == "DMControl, average over train, video_hard"
    assert avg.cells[("walker-walk", smg)].mean == pytest.approx((350 + 300) / 2)
    agg = aggregate_rows(used, reps=200, seed=0)
    assert {r["mode"] for r in agg} == {"train", "video_hard", "distracting_cs@0.05", "distracting_cs@0.2",
                                        "all modes"}
    pooled = next(r for r in agg if r["mode"] == "all modes" and r["method"] == "smg")
    assert pooled["strata"] == 2  # walker-walk × (train, video_hard)
    text, _ = make_report(runs, tmp_path / "report", reps=0, curves=False)
    assert "**DMControl, distracting_cs (intensity 0.05)**" in text
