"""A newcomer's first hour (issue 29): offline data one hint away, honest expectations, consistent tables and
warnings, commands that work as printed. (Progress that never stalls: tests/test_progress.py.)"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from smg_fast import cli
from smg_fast.config import make_config
from smg_fast.experiments import references
from smg_fast.experiments.references import PAPER, RANDOM
from smg_fast.run import checkpoint as ckpt


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path_factory, data_dir):
    monkeypatch.setenv("SMG_FAST_DATA", str(data_dir))
    monkeypatch.setenv("SMG_FAST_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        cli.main(list(argv))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.err, out.out


# ---- 3. offline data -------------------------------------------------------------------------------------

def test_unreachable_download_names_smg_fast_data_and_the_manifest(tmp_path, capsys):
    from smg_fast.cli import data
    from smg_fast.data import _manifest_table

    assert data.main(["dmcgb", "--dir", str(tmp_path), "--base-url", "http://127.0.0.1:9"]) == 1
    error = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(error) == 1
    for needle in ("cannot reach 127.0.0.1:9", "$SMG_FAST_DATA_URL", "point $SMG_FAST_DATA at a folder",
                   _manifest_table.__file__, "smg-fast doctor", "112 file(s) not fetched"):
        assert needle in error[0], (needle, error[0])


def test_doctor_says_which_missing_files_matter_for_which_modes(tmp_path, monkeypatch, reference_data):
    import shutil

    from smg_fast.doctor import data_report

    (tmp_path / "dmcgb" / "video_easy").mkdir(parents=True)
    # upstream's own files: the doctor verifies each against the manifest's git blob id
    shutil.copy(reference_data / "dmcgb" / "color_hard.json", tmp_path / "dmcgb" / "color_hard.json")
    for i in (0, 1):
        shutil.copy(reference_data / "dmcgb" / "video_easy" / f"video{i}.mp4", tmp_path / "dmcgb" / "video_easy")
    monkeypatch.setenv("SMG_FAST_DATA", str(tmp_path))
    rows = dict(data_report())
    assert rows["DMC-GB color_hard"] == "1/1 verified"
    assert rows["DMC-GB color_easy"].startswith("0/1: color_easy cannot run (the other modes can)")
    easy = rows["DMC-GB video_easy"]
    assert easy.startswith("2/10 videos verified (video2, video3, video4, video5, video6, video7, video8, video9 "
                           "missing)")
    assert "runs over the 2 present" in easy and "the other modes are unaffected" in easy
    assert "smg-fast data download dmcgb" in easy
    assert rows["DMC-GB video_hard"].startswith("0/100 videos: video_hard cannot run")
    assert rows["robot scenes"].startswith("0/40 files") and "smg-fast data download robot" in rows["robot scenes"]
    assert "only --overlay-source places365 needs it" in rows["Places365"]
    assert rows["DMC modes that run"] == "train, color_hard, video_easy (2 of 10 videos)"


def test_doctor_on_the_reference_folder_explains_video_easy_6_of_10(monkeypatch, reference_data):
    from smg_fast.doctor import data_report

    monkeypatch.setenv("SMG_FAST_DATA", str(reference_data))
    rows = dict(data_report())
    assert rows["DMC-GB video_easy"].startswith("6/10 videos verified (video3, video4, video5, video7 missing): video_easy "
                                                "runs over the 6 present")
    assert "video_easy (6 of 10 videos)" in rows["DMC modes that run"]


# ---- 4. honest expectations ------------------------------------------------------------------------------

def stop_at_once(monkeypatch):
    """``train`` stand-in: the run stops before its first step (what is said before it is what is tested)."""
    from smg_fast.run import trainer

    def stopped(cfg, **kw):
        Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
        raise trainer.TrainingStopped(signal.SIGINT, Path(cfg.run_dir), 0)

    monkeypatch.setattr(trainer, "train", stopped)


def test_a_cpu_run_of_days_says_so_once_at_the_start(tmp_path, monkeypatch, capsys):
    stop_at_once(monkeypatch)
    argv = ["train", "--task", "cartpole-swingup", "--eval-modes", "train", "--replay-capacity", "1000",
            "--no-progress", "--run-dir", str(tmp_path / "paper")]
    code, err, _ = run(argv, capsys)
    assert code == 128 + signal.SIGINT
    notes = [line for line in err.splitlines() if "warning:" in line]
    assert len(notes) == 1, err
    assert notes[0].startswith("smg-fast train: warning: this run's 500,000 steps take about 11 days on a CPU")
    assert "smg updates at about 1.9 s each" in notes[0]
    assert "`smg-fast train --task cartpole-swingup --algo smg --preset quick` (about 11 minutes)" in notes[0]
    assert "--device cuda" in notes[0]
    # The quick preset (minutes) says nothing of the kind.
    code, err, _ = run(["train", "--task", "cartpole-swingup", "--preset", "quick", "--no-progress",
                        "--run-dir", str(tmp_path / "quick")], capsys)
    assert code == 128 + signal.SIGINT and "warning:" not in err, err


def test_projected_cpu_time_follows_the_measured_update_costs():
    from smg_fast.run.eta import CPU_UPDATE_SECONDS, Eta, projected_cpu_seconds

    smg = make_config("walker-walk", "smg", "paper")
    updates = Eta(smg, 5).updates_left(0)
    assert updates == 1000 + 498_999  # the burst at step 1000, then one per step to 499,999
    assert projected_cpu_seconds(smg) >= updates * CPU_UPDATE_SECONDS["smg"]
    assert projected_cpu_seconds(smg, step=499_000) < projected_cpu_seconds(smg) / 100
    sac = make_config("walker-walk", "sac", "paper")
    assert projected_cpu_seconds(sac) < projected_cpu_seconds(smg) / 4
    quick = make_config("cartpole-swingup", "smg", "quick")
    assert 5 * 60 < projected_cpu_seconds(quick) < 30 * 60


def finished_run(tmp_path) -> Path:
    from synthetic import synthetic_trainer

    cfg = make_config("walker-walk", "sac", "quick", train_steps=30, init_steps=10, burst_updates=2,
                      updates_per_step=1, replay_capacity=40, checkpoint_every=10, eval_freq=10_000,
                      eval_modes=("train",), eval_episodes=1, batch_size=4)
    cfg.run_dir = str(tmp_path / "run")
    trainer = synthetic_trainer(cfg, image_size=8, action_dim=2, episode_steps=10, batch_size=4)
    try:
        trainer.run()
    finally:
        trainer.close()
    return Path(cfg.run_dir)


def test_a_finished_run_keeps_one_verified_checkpoint(tmp_path):
    run_dir = finished_run(tmp_path)
    before = json.loads((run_dir / "checkpoint.json").read_text())
    assert before["previous"]["step"] == 20
    old_state = run_dir / before["previous"]["state"]["file"]
    freed = ckpt.keep_only_last(run_dir)
    after = json.loads((run_dir / "checkpoint.json").read_text())
    assert after["previous"] is None and after["state"] == before["state"] and after["segments"] == before["segments"]
    assert not old_state.exists() and freed >= before["previous"]["state"]["bytes"]
    named = {Path(after["state"]["file"]).name, *(Path(s["file"]).name for s in after["segments"]),
             "manifest-0000000030.json"}  # the recovery copy of the last manifest, which it equals
    assert {p.name for p in (run_dir / "checkpoint").iterdir()} == named
    assert json.loads((run_dir / "checkpoint" / "manifest-0000000030.json").read_text()) == after
    assert ckpt.load_checkpoint(run_dir)["step"] == 30
    assert ckpt.keep_only_last(run_dir) == 0  # nothing more to drop


def test_a_damaged_last_checkpoint_keeps_the_previous_one(tmp_path):
    run_dir = finished_run(tmp_path)
    manifest = json.loads((run_dir / "checkpoint.json").read_text())
    state = run_dir / manifest["state"]["file"]
    data = bytearray(state.read_bytes())
    data[100] ^= 0xFF
    state.write_bytes(bytes(data))
    assert ckpt.keep_only_last(run_dir) == 0
    assert json.loads((run_dir / "checkpoint.json").read_text()) == manifest
    assert (run_dir / manifest["previous"]["state"]["file"]).exists()
    assert ckpt.load_checkpoint(run_dir, previous=True)["step"] == 20


# ---- 5. tables and warnings ------------------------------------------------------------------------------

def test_one_episode_says_n_1_not_plus_minus_zero():
    from smg_fast.run.evaluate import mean_std, results_table, seed_cells

    assert mean_std([26.06]) == "26.1 (n = 1)" and mean_std([1.0, 3.0]) == "2.0 ± 1.0"
    cells, _, _ = seed_cells({"seed 0": {"train": [26.06]}}, "train")
    assert cells == ["26.1 (n = 1)"]
    md, _ = results_table({"seed 0": {"train": [5.0]}, "seed 1": {"train": [7.0, 9.0]}}, ["train"])
    assert "| train | 5.0 (n = 1) | 8.0 ± 1.0 | 6.5 ± 1.5 |" in md and "± 0.0" not in md


def test_eval_fills_the_random_policy_column_for_every_mode_the_footnote_covers():
    """``smg-fast eval --modes all`` on a quick run (trained with three modes): one random-policy measurement
    serves every DMC mode, so no mode's cell is empty; the paper's column covers the evaluated modes too."""
    cfg = make_config("cartpole-swingup", "smg", "quick")
    modes = ["train", "color_easy", "color_hard", "video_easy", "video_hard"]
    refs = references.run_references(cfg, modes=modes)
    assert set(refs[RANDOM]) == set(modes) and len(set(refs[RANDOM].values())) == 1
    assert set(refs[PAPER]) == set(modes)
    per_seed = {"seed 0": {m: [20.0, 22.0] for m in modes}}
    md, rows = references.comparison_table(per_seed, modes, refs, cfg)
    table = [line for line in md.splitlines() if line.startswith("| ") and "mode" not in line]
    assert len(table) == 5 and all("–" not in line for line in table), md
    assert "one measurement serves every mode" in md
    assert all(r["random_mean"] != "" for r in rows)


def test_warnings_are_one_line_each_once_in_the_clis_voice(capsys):
    import warnings

    from smg_fast.cli.common import show_warnings, warn

    restore = show_warnings("smg-fast eval")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            for _ in range(2):
                warn("the learning curves were not drawn: no display")
                warnings.warn("a library's\nwarning", UserWarning)
    finally:
        restore()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "smg-fast eval: warning: the learning curves were not drawn: no display"
    assert err[1].startswith("smg-fast eval: warning: a library's warning (UserWarning from test_first_hour.py:")
    assert len(err) == 2


def test_missing_videos_are_one_warning_through_the_cli(capfd, monkeypatch):
    """The reference folder holds 6 of video_easy's 10 videos: the check before the run, the evaluation's
    main process and each worker all meet the gap; the user reads about it once, on one line."""
    from smg_fast import data

    monkeypatch.setattr(data, "_warned_videos", set())
    code = 0
    try:
        cli.main(["random", "--task", "cartpole-swingup", "--modes", "video_easy", "--episodes", "2", "--envs", "2",
                  "--no-progress"])
    except SystemExit as e:
        code = e.code
    err = capfd.readouterr().err
    assert code == 0, err
    lines = [line for line in err.splitlines() if "video_easy videos are missing" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("smg-fast random: warning: 4 of 10 DMC-GB video_easy videos are missing in ")
    assert "UserWarning" not in err and "warnings.warn" not in err


# ---- 6. commands as printed -------------------------------------------------------------------------------

def test_hints_print_the_command_the_user_ran(monkeypatch, tmp_path):
    from smg_fast import command

    script = tmp_path / ".venv" / "bin" / "smg-fast"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(command.shutil, "which", lambda name: None)  # not on the PATH (no venv activated)
    assert command.program(".venv/bin/smg-fast") == ".venv/bin/smg-fast"
    assert command.program(str(script)) == "./.venv/bin/smg-fast"
    monkeypatch.setattr(command.shutil, "which", lambda name: str(script) if name == "smg-fast" else None)
    assert command.program(str(script)) == "smg-fast"  # activated: the bare name works
    main = str(Path(cli.__file__).with_name("__main__.py"))
    (tmp_path / ".venv" / "bin" / "python").write_text("")
    monkeypatch.setattr(command.sys, "executable", str(tmp_path / ".venv" / "bin" / "python"))
    assert command.program(main) == "./.venv/bin/python -m smg_fast.cli"
    monkeypatch.setattr(command.shutil, "which", lambda name: command.sys.executable)
    assert command.program(main) == "python -m smg_fast.cli"
    assert command.program("/usr/bin/pytest") == "smg-fast"  # outside the command line

    from smg_fast.run.trainer import TrainingStopped

    monkeypatch.setattr(command.sys, "argv", [".venv/bin/smg-fast", "train"])
    monkeypatch.setattr(command.shutil, "which", lambda name: None)
    stopped = TrainingStopped(signal.SIGINT, Path("runs/x"), 10)
    assert str(stopped).endswith("continue with: .venv/bin/smg-fast train --resume runs/x")
    from smg_fast.data import missing_message

    assert "`.venv/bin/smg-fast data download dmcgb`" in missing_message("x", Path("d"), "dmcgb")
