"""distracting_cs through the command line: its setting's rule and errors, and (slow) a tiny run that trains,
evaluates in distracting_cs at two intensities, visualizes and reports, on a synthetic DAVIS folder."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smg_fast import cli
from smg_fast.envs.distracting.synthetic import write_davis

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def davis_dir(tmp_path_factory):
    return write_davis(tmp_path_factory.mktemp("davis"), [4, 3, 5, 2], size=(64, 36))


def _run(argv, capsys) -> tuple[int, str]:
    try:
        cli.main(list(argv))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, status, needle", [
    (["train", "--eval-modes", "train,distracting_cs"], 2,
     "distracting_cs_intensity=None (the paper preset's value): must be set to evaluate distracting_cs: one of 0, "
     "0.025, 0.05, 0.1"),
    (["train", "--eval-modes", "distracting_cs", "--set", "distracting_cs_intensity=0.12"], 2,
     "--set distracting_cs_intensity=0.12: must be one of 0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5 (DMC-GB's"),
    (["train", "--task", "hopper-stand", "--eval-modes", "distracting_cs", "--set", "distracting_cs_intensity=0.1"], 2,
     "distracting_cs is defined for the domains reacher, cartpole, finger, cheetah, ball_in_cup, walker only"),
    (["train", "--eval-modes", "distracting_cs", "--set", "distracting_cs_intensity=0.3"], 1,
     "smg-fast data download davis --accept-licence"),
    (["random", "--task", "walker-walk", "--modes", "distracting_cs"], 2,
     "distracting_cs needs an intensity: add --set distracting_cs_intensity=X"),
    (["random", "--task", "walker-walk", "--modes", "train", "--set", "frame_stack=2"], 2,
     "only distracting_cs_intensity can be set here"),
])
def test_setting_errors_are_one_line(argv, status, needle, davis_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SMG_FAST_DATA", str(davis_dir))  # four videos: enough for 0.1, not for 0.3
    if argv[0] == "train":
        argv = [*argv, "--run-dir", str(tmp_path / "r")]
    code, err = _run(argv, capsys)
    assert code == status, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_all_still_means_smgs_five_modes():
    from smg_fast.tasks import named_modes_of, parse_modes

    assert parse_modes("all", "walker-walk") == ("train", "color_easy", "color_hard", "video_easy", "video_hard")
    assert parse_modes("train,distracting_cs", "cartpole-swingup") == ("train", "distracting_cs")
    assert "distracting_cs" not in named_modes_of("hopper-stand") + named_modes_of("robot-reach")


@pytest.mark.slow
def test_train_eval_visualize_report(davis_dir, tmp_path):
    """A tiny SMG run evaluated in train and distracting_cs (intensity 0.1), then `eval` at 0.05, `visualize`
    and `report`: the distracting_cs results carry their intensity, and report makes a table of each."""
    env = {**os.environ, "SMG_FAST_DATA": str(davis_dir), "SMG_FAST_CACHE": str(tmp_path / "cache")}
    run = tmp_path / "run"

    def smg_fast(*args, timeout=600):
        proc = subprocess.run([sys.executable, "-m", "smg_fast.cli", *args], capture_output=True, text=True,
                              env=env, timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    smg_fast("train", "--task", "cartpole-swingup", "--preset", "quick", "--steps", "16", "--batch-size", "4",
             "--eval-modes", "train,distracting_cs", "--eval-episodes", "1", "--run-dir", str(run), "--no-progress",
             "--no-pictures", "--set", "distracting_cs_intensity=0.1", "--set", "episode_length=64",
             "--set", "init_steps=8", "--set", "burst_updates=2", "--set", "eval_freq=8", "--set", "eval_envs=1",
             "--set", "checkpoint_every=8", "--set", "replay_capacity=64", "--set", "mask_warmup=0")
    with open(run / "eval.csv") as f:
        modes = [r["mode"] for r in csv.DictReader(f)]
    assert modes and modes == ["train", "distracting_cs@0.1"] * (len(modes) // 2)
    with open(run / "final_eval.csv") as f:
        final = {r["mode"]: r for r in csv.DictReader(f)}
    assert final["distracting_cs@0.1"]["random_mean"] == final["train"]["random_mean"] != ""  # same dynamics

    out = smg_fast("eval", "--run", str(run), "--modes", "distracting_cs", "--set", "distracting_cs_intensity=0.05",
                   "--episodes", "2", "--envs", "2", "--no-progress")
    assert "distracting_cs@0.05" in out and (run / "eval_table_distracting_cs@0.05.md").is_file()

    smg_fast("visualize", "--run", str(run), "--modes", "distracting_cs", "--no-progress",
             "--out", str(tmp_path / "pictures"))
    assert (tmp_path / "pictures" / "explain_distracting_cs.png").is_file()
    assert (tmp_path / "pictures" / "episode.mp4").stat().st_size > 0

    text = smg_fast("report", str(run), "--out", str(tmp_path / "report"), "--bootstrap-reps", "0", "--no-curves",
                    "--paper")
    assert "DMControl, distracting_cs (intensity 0.1)" in text and "DMControl, train" in text
