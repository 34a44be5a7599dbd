"""Nothing silently wrong (issue 25, items 5 and 6), driven through ``smg-fast``: aggregates that would mix
runs (other methods or settings in one row, one seed counted twice), a resume whose config.json no longer
matches its checkpoint, and values the command line used to coerce without a word (a mode given twice,
fractional updates per step, a flag and ``--set`` of the same key, empty values). Each is one line on stderr
with exit status 2 (1 for the run directory that disagrees with itself), found before anything starts.
The sweep's checks of every run's command are in tests/test_sweep.py."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smg_fast.config import make_config
from smg_fast.run import checkpoint as ckpt
from smg_fast.run import trainer as trainer_module
from run_helpers import SYNTH_FLAGS, fails, smg, synthetic_train

QUICK = ["--task", "cartpole-swingup", "--preset", "quick", "--no-progress", "--no-pictures"]


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setattr(trainer_module, "train", synthetic_train())


def finished_run(path: Path, algo: str = "sac", seed: int = 0, value: float = 100.0, **settings) -> Path:
    """A run directory as a finished run leaves it for the report: config.json and final_eval.csv."""
    path.mkdir(parents=True)
    cfg = make_config("cartpole-swingup", algo, "quick", seed=seed, **settings)
    ckpt.write_config(path, cfg)
    (path / "final_eval.csv").write_text(f"mode,seed,mean_return,std_return,episodes\ntrain,seed {seed},{value},0,1\n")
    (path / "checkpoint.json").write_text("{}")  # eval checks that one exists; these tests never load it
    return path


# ---- aggregates refuse to mix -----------------------------------------------------------------------------

def test_eval_refuses_runs_of_other_methods_settings_or_the_same_seed_twice(tmp_path, capsys):
    sac0 = finished_run(tmp_path / "sac0")
    sac1 = finished_run(tmp_path / "sac1", seed=1)
    drq1 = finished_run(tmp_path / "drq1", algo="drq", seed=1)
    big = finished_run(tmp_path / "big", seed=2, batch_size=8)
    copy = tmp_path / "copy"
    shutil.copytree(sac0, copy)
    base = ["eval", "--modes", "train", "--episodes", "1", "--envs", "1", "--no-progress", "--run"]
    fails(2, "--run: the runs are of different methods (sac: ", f"drq: {drq1}", "evaluate one method at a time",
          argv=[*base, str(sac0), str(sac1), str(drq1)], capsys=capsys)
    fails(2, "--run: the runs differ in batch_size", f"batch_size=8: {big}", argv=[*base, str(sac0), str(big)],
          capsys=capsys)
    for twice in ([str(sac0), str(copy)], [str(sac1), str(sac1)]):
        fails(2, "are the same seed", "of the same configuration", "give each seed once",
              argv=[*base, str(sac0), *twice], capsys=capsys)


def test_report_never_counts_a_copy_of_a_seed_as_another_seed(tmp_path, capsys):
    """A copied run directory is the same seed: counted once, and the report says so; two runs of one seed that
    disagree cannot be one seed's results and are refused."""
    import csv

    runs = tmp_path / "runs"
    finished_run(runs / "s0", value=100.0)
    finished_run(runs / "s1", seed=1, value=300.0)
    finished_run(runs / "drq0", algo="drq", value=50.0)  # another column: fine
    shutil.copytree(runs / "s1", runs / "s1-copy")
    code, err, out = smg("report", str(runs), "--out", str(tmp_path / "rep"), "--bootstrap-reps", "0", "--no-curves",
                         capsys=capsys)
    assert code == 0, err
    sac = next(r for r in csv.DictReader(open(tmp_path / "rep" / "results.csv")) if r["column"].startswith("sac"))
    assert int(sac["seeds"]) == 2 and float(sac["mean"]) == 200.0  # not 3 seeds, not (100 + 300 + 300) / 3
    assert f"Runs of the same seed, counted once: {runs / 's1'} = {runs / 's1-copy'} (seed 1)" in out
    finished_run(runs / "s1-other", seed=1, value=250.0)
    fails(2, "are the same seed (1) of cartpole-swingup, sac@quick, with different train results",
          argv=["report", str(runs), "--out", str(tmp_path / "rep2"), "--bootstrap-reps", "0", "--no-curves"],
          capsys=capsys)
    assert not (tmp_path / "rep2").exists()


@pytest.mark.parametrize("edit, needles", [
    ({"algo": "drq"}, ["algo: config.json says 'drq', the checkpoint 'sac'"]),
    ({"task": "walker-walk"}, ["task: config.json says 'walker-walk', the checkpoint 'cartpole-swingup'"]),
    ({"frame_stack": 4}, ["frame_stack: config.json says 4, the checkpoint 3"]),
    ({"critic_lr": 0.5}, ["critic_lr"]),
], ids=["method", "task", "shape", "setting"])
def test_resume_refuses_a_config_json_that_no_longer_matches_its_checkpoint(tmp_path, capsys, edit, needles):
    run_dir = tmp_path / "r"
    code, err, _ = smg("train", *SYNTH_FLAGS, "--steps", "20", "--run-dir", str(run_dir), capsys=capsys)
    assert code == 0, err
    cfg = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**cfg, **edit}))
    fails(1, "config.json no longer matches the checkpoint", *needles, "restore config.json",
          argv=["train", "--resume", str(run_dir), "--steps", "30", "--no-progress", "--no-pictures"], capsys=capsys)
    assert ckpt.load_checkpoint(run_dir)["step"] == 20  # nothing was run
    (run_dir / "config.json").write_text(json.dumps(cfg))
    code, err, _ = smg("train", "--resume", str(run_dir), "--steps", "30", "--no-progress", "--no-pictures",
                       capsys=capsys)
    assert code == 0, err


# ---- no silent coercion -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, needles", [
    (["train", *QUICK, "--eval-modes", "train,color_hard,train"], ["--eval-modes train,color_hard,train",
                                                                   "train is given twice"]),
    (["train", *QUICK, "--set", "eval_modes=train,train"], ["--set eval_modes=train,train", "given twice"]),
    (["random", "--task", "cartpole-swingup", "--modes", "train,train"], ["--modes train,train", "given twice"]),
    (["train", *QUICK, "--set", "updates_per_step=0.7"], ["--set updates_per_step=0.7: must be a number in (0, 64] "
                                                          "that is whole", "1/k"]),
    (["train", *QUICK, "--set", "updates_per_step=2.5"], ["--set updates_per_step=2.5: must be"]),
    (["train", *QUICK, "--set", "seed=5", "--seed", "7"], ["--seed 7 and --set seed=5 both set seed: give it once"]),
    (["train", *QUICK, "--no-recon", "--set", "recon_weight=1"], ["--no-recon and --set recon_weight=1 both set"]),
    (["train", *QUICK, "--eval-modes", "train", "--set", "eval_modes=train"], ["--eval-modes train and --set "
                                                                               "eval_modes=train both set"]),
    (["train", *QUICK, "--eval-modes", ""], ["--eval-modes: an empty value"]),
    (["train", *QUICK, "--eval-modes="], ["--eval-modes: an empty value"]),
    (["train", *QUICK, "--run-dir", ""], ["--run-dir: an empty value"]),
    (["train", *QUICK, "--set", "eval_modes="], ["--set eval_modes=: eval_modes has an empty value"]),
    (["train", *QUICK, "--set", "seed= "], ["--set seed= : seed has an empty value"]),
    (["train", "--resume", ""], ["--resume: an empty value"]),
    (["eval", "--run", "x", "--out", ""], ["--out: an empty value"]),
    (["data", "download", "dmcgb", "--dir", ""], ["--dir: an empty value"]),
    (["data", "verify", "--dir", ""], ["--dir: an empty value"]),
], ids=lambda x: " ".join(x) if isinstance(x, list) and x and x[0] in ("train", "eval", "random", "data") else None)
def test_values_that_used_to_be_coerced_are_refused(argv, needles, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fails(2, *needles, argv=argv, capsys=capsys)
    assert list(tmp_path.iterdir()) == []  # nothing made, not even a default run directory


def test_fractions_the_loop_can_honour_are_kept():
    from smg_fast.run.trainer import updates_due

    for rate, every, per in ((0.5, 2, 1), (0.25, 4, 1), (1 / 3, 3, 1), (0.333333, 3, 1), (1, 1, 1), (2, 1, 2)):
        cfg = make_config("walker-walk", "sac", "quick", updates_per_step=rate, init_steps=10, burst_updates=1)
        counts = [updates_due(cfg, s)[0] for s in range(11, 11 + 12)]
        assert sum(counts) == 12 // every * per, (rate, counts)
