"""The first run explains itself (issue 18): its final table and curves put the returns beside a uniform random
policy's (measured without rendering, once per task, and cached) and the paper's number for the same task,
mode and method; curves with one evaluation are readable; evaluation shows progress. Offline, against the
session's data folder (see tests/reference_files.py)."""
from __future__ import annotations

import csv

import pytest

from smg_fast.experiments import run_curves as plots

from smg_fast.experiments import references
from smg_fast.config import make_config
from smg_fast.experiments.references import PAPER, RANDOM, Reference


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SMG_FAST_CACHE", str(tmp_path / "cache"))


# ---- the random policy ------------------------------------------------------------------------------------

@pytest.mark.parametrize("task, mode, length", [("cartpole-swingup", "train", 40), ("robot-reach", "test3", 12)])
def test_skipping_the_pixels_does_not_change_a_random_policys_returns(task, mode, length, request):
    if task.startswith("robot"):
        request.getfixturevalue("robot_scenes")
    blind = references.play_random(task, mode, 8, length, episodes=3, seed=5)
    rendered = references.play_random(task, mode, 8, length, episodes=3, seed=5, render=True)
    assert blind == rendered and len(set(blind)) == 3  # three different episodes, each the same both ways


def test_dmc_modes_change_the_appearance_not_the_returns():
    """Why one measurement on the training scene serves every DMC mode."""
    returns = {m: references.play_random("walker-walk", m, 4, 24, episodes=2, seed=1, render=True)
               for m in ("train", "color_hard", "video_hard")}
    assert returns["train"] == returns["color_hard"] == returns["video_hard"]
    assert references.measured_modes("walker-walk", ["color_hard", "video_easy"]) == {"color_hard": "train",
                                                                                     "video_easy": "train"}
    assert references.measured_modes("robot-reach", ["train", "test1"]) == {"train": "train", "test1": "test1"}


def test_random_policy_is_measured_once_then_read_from_the_cache(monkeypatch, tmp_path):
    first = references.random_policy("cartpole-swingup", ["train", "video_hard"], 8, 80, episodes=4)
    assert first["train"] == first["video_hard"] and first["train"].n == 4
    files = list((tmp_path / "cache" / "random_policy").iterdir())
    assert len(files) == 1 and "cartpole-swingup-train-ar8-len80-n4-seed0" in files[0].name

    def refuse(*args, **kw):
        raise AssertionError("measured again instead of read from the cache")

    monkeypatch.setattr(references, "play_random", refuse)
    again = references.random_policy("cartpole-swingup", ["color_easy"], 8, 80, episodes=4)
    assert again["color_easy"] == first["train"]
    with pytest.raises(AssertionError, match="measured again"):  # another episode length is another key
        references.random_policy("cartpole-swingup", ["train"], 8, 96, episodes=4)
    monkeypatch.undo()
    monkeypatch.setenv("SMG_FAST_CACHE", "none")
    assert references.cache_dir() is None
    assert references.random_policy("cartpole-swingup", ["train"], 8, 40, episodes=2)["train"].n == 2


# ---- the paper -------------------------------------------------------------------------------------------

def test_paper_numbers_for_the_runs_task_mode_method_and_variant():
    cfg = make_config("cartpole-swingup", "smg", "quick")
    refs = references.run_paper_references(cfg)
    assert refs["train"] == Reference(858.0, 9.0, 4, "Table 7")
    assert refs["video_hard"] == Reference(764.0, 32.0, 4, "Table 1")
    ablated = make_config("cartpole-swingup", "smg", "quick", mask_weight=0.0, eval_modes=("video_hard",))
    assert references.variant_of(ablated) == "no-mask"
    assert references.run_paper_references(ablated)["video_hard"].mean == 590.0  # Table 3
    both = make_config("cartpole-swingup", "smg", "quick", mask_weight=0.0, back_weight=0.0)
    assert references.variant_of(both) is None and references.run_paper_references(both) == {}
    assert references.run_paper_references(make_config("cartpole-swingup", "drq", "quick"))["train"].note
    # Returns of shorter episodes are on another scale than the paper's: no paper column then.
    assert references.run_paper_references(make_config("cartpole-swingup", "smg", "quick", episode_length=64)) == {}


# ---- the final table -------------------------------------------------------------------------------------

def test_final_table_puts_the_run_beside_the_random_policy_and_the_paper(tmp_path):
    from smg_fast.run.directory import final_returns

    cfg = make_config("cartpole-swingup", "smg", "quick")
    refs = {RANDOM: {m: Reference(120.0, 56.0, 20, "20 episodes") for m in cfg.eval_modes},
            PAPER: references.run_paper_references(cfg)}
    returns = {"train": [90.0, 91.0], "color_hard": [90.5, 90.7], "video_hard": [400.0, 420.0]}
    md, rows = references.comparison_table({"seed 0": returns}, list(cfg.eval_modes), refs, cfg, step=1000)
    lines = md.splitlines()
    assert lines[0] == "| mode | seed 0 | random policy | paper (smg, 500k steps) |"
    assert lines[2] == "| train | 90.5 ± 0.5 | 120.0 ± 56.0 | 858 ± 9 (Table 7) |"
    assert lines[4] == "| video_hard | 410.0 ± 10.0 | 120.0 ± 56.0 | 764 ± 32 (Table 1) |"
    assert "one measurement serves every mode" in md and "after 500,000 steps" in md
    assert "after 1,000 steps (0.2% of the paper's 500,000): above the random policy's spread in 1 of 3 modes" in md
    references.write_comparison(md, rows, tmp_path / "final_eval")
    with open(tmp_path / "final_eval.csv", newline="") as f:
        got = list(csv.DictReader(f))
    assert got[0]["mode"] == "train" and float(got[0]["random_mean"]) == 120.0 and got[0]["paper_table"] == "Table 7"
    # What the sweep and report read of a finished run is unchanged.
    assert final_returns(tmp_path)[0] == {"train": 90.5, "color_hard": 90.6, "video_hard": 410.0}

    md, _ = references.comparison_table({"seed 0": {"train": [90.0]}}, ["train"], refs, cfg, step=1000)
    assert "not distinguishable from a random policy yet" in md
    ablated = make_config("cartpole-swingup", "smg", "quick", mask_weight=0.0, eval_modes=("video_hard",))
    refs = {RANDOM: {}, PAPER: references.run_paper_references(ablated)}
    md, _ = references.comparison_table({"seed 0": {"video_hard": [300.0]}}, ["video_hard"], refs, ablated)
    assert md.splitlines()[0].endswith("| paper (smg no-mask, 500k steps) |") and "590 ± 84 (Table 3)" in md


# ---- the curves ------------------------------------------------------------------------------------------

def test_curves_with_one_evaluation_show_the_references_in_range(tmp_path):
    from matplotlib.figure import Figure

    series = {("smg", "train"): [{1000.0: 90.2}], ("smg", "video_hard"): [{1000.0: 91.0}]}
    refs = {RANDOM: {"train": Reference(120.0, 56.0, 20), "video_hard": Reference(120.0, 56.0, 20)},
            PAPER: {"train": Reference(858.0, 9.0, 4), "video_hard": Reference(764.0, 32.0, 4)}}
    ax = Figure().subplots()
    plots._draw(ax, series, "evaluation", None, refs, x_max=1000)
    lo, hi = ax.get_ylim()
    assert lo <= 0 and hi >= 858 and ax.get_xlim()[0] == 0 and ax.get_xlim()[1] >= 1000
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "random policy: 120 ± 56" in labels and "paper, train: 858" in labels
    assert [line.get_marker() for line in ax.get_lines()[:2]] == ["o", "s"]  # apart where they overlap
    assert sorted(t.get_text() for t in ax.texts) == ["90", "91"]  # a lone point carries its value

    run = tmp_path / "run"
    run.mkdir()
    (run / "eval.csv").write_text("step,mode,mean_return,std_return,episodes,returns\n"
                                  "1000,train,90.2,0.1,2,90.1 90.3\n1000,video_hard,91.0,0,2,91 91\n")
    (run / "train.csv").write_text("step,episode,episode_return\n125,1,100.0\n250,2,110.0\n")
    out = plots.plot_learning_curves([run], tmp_path / "curves.png", references=refs, x_max=1000)
    assert out.stat().st_size > 10_000


# ---- progress ----------------------------------------------------------------------------------------------

def test_evaluation_shows_a_progress_bar_and_returns_the_same(capsys):
    from smg_fast.run.evaluate import Evaluator, RandomPolicy

    cfg = make_config("cartpole-swingup", "sac", "quick", episode_length=24)  # 3 agent steps per episode
    results = []
    for bar in (False, True):
        evaluator = Evaluator(cfg, ["train"], 1)
        try:
            policy = RandomPolicy(evaluator._env("train", 2).action_space, 0)
            results.append(evaluator.evaluate(policy, 2, bar=bar))
        finally:
            evaluator.close()
    assert results[0] == results[1]
    err = capsys.readouterr().err
    assert "cartpole-swingup train:" in err and "/6 [" in err  # 2 episodes of 3 steps
