"""The training loop end to end on CPU (a tiny real run), checkpoints, resume after kill -9. Not timed:
correctness only. The command line's errors (bad values, run directories, missing data) are in
tests/test_cli_errors.py."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from smg_fast.config import make_config
from smg_fast.run.checkpoint import load_checkpoint
from smg_fast.run.trainer import NonFiniteLossError, Trainer, updates_due

TINY = [
    "--task", "cartpole-swingup", "--preset", "quick", "--steps", "32", "--batch-size", "4",
    "--eval-episodes", "1", "--eval-modes", "train", "--no-progress",
    "--set", "episode_length=64", "--set", "init_steps=8", "--set", "burst_updates=2",
    "--set", "updates_per_step=1", "--set", "eval_freq=100000", "--set", "eval_envs=1",
    "--set", "checkpoint_every=8", "--set", "replay_capacity=64", "--set", "mask_warmup=8",
]


def cli(*args, env=None, command="train", **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "smg_fast.cli", command, *args], capture_output=True,
                          text=True, timeout=600, env=env, **kw)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "full"
    out = cli(*TINY, "--run-dir", str(run))
    assert out.returncode == 0, out.stderr[-3000:]
    return run, out.stdout


@pytest.mark.fast
def test_tiny_run_writes_logs_checkpoint_table_and_pictures(full_run):
    run, stdout = full_run
    for name in ("config.json", "train.csv", "eval.csv", "checkpoint.json", "final_eval.md", "final_eval.csv",
                 "curves.png", "pictures/explain_train.png"):
        assert (run / name).exists(), name
    train_rows = (run / "train.csv").read_text().splitlines()
    assert train_rows[0].startswith("step,episode,episode_return") and len(train_rows) == 1 + 4
    assert "aux/recon_loss" in train_rows[0] and "critic/loss" in train_rows[0]
    assert "| train |" in stdout and "Evaluation at step 32" in stdout
    assert "wall time " in stdout and "waiting for the environment" in stdout and (run / "run_summary.json").exists()
    # beside a random policy on the same (shortened) episodes; no paper column: its episodes are 1000 steps
    header = next(line for line in (run / "final_eval.md").read_text().splitlines() if line.startswith("| mode"))
    assert "| mode | seed 0 | random policy |" in stdout and "paper" not in header, header
    state = load_checkpoint(run)
    assert state["step"] == 32 and state["replay"]["transitions_added"] == 32


def _checkpoint_step(run: Path) -> int:
    try:
        return load_checkpoint(run)["step"]
    except Exception:  # not written yet (the rename is atomic: never a torn file)
        return -1


def test_resume_after_kill_continues_as_if_never_stopped(full_run, tmp_path):
    run_full, _ = full_run
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "smg_fast.cli", "train", *TINY, "--run-dir", str(run),
                             "--no-pictures"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _checkpoint_step(run) < 16 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _checkpoint_step(run)
    assert 8 <= killed_at < 32, f"checkpoint step when killed: {killed_at}"
    out = cli("--resume", str(run), "--no-pictures")
    assert out.returncode == 0, out.stderr[-3000:]
    a, b = load_checkpoint(run_full), load_checkpoint(run)
    assert a["step"] == b["step"] == 32 and a["episode"] == b["episode"]
    for key in ("frames", "frame_pos", "next_slot", "action", "reward", "not_done"):
        assert torch.equal(a["replay"][key], b["replay"][key]), key
    for name in ("actor", "critic", "predictor"):
        for k, v in a["agent"][name].items():
            torch.testing.assert_close(b["agent"][name][k], v, rtol=0, atol=0, msg=f"{name}.{k}")
    rows_a = (run_full / "train.csv").read_text().splitlines()
    rows_b = (run / "train.csv").read_text().splitlines()
    assert [r.split(",")[:3] for r in rows_a] == [r.split(",")[:3] for r in rows_b]


def test_sigterm_stops_after_the_step_with_a_checkpoint_and_resume_finishes(tmp_path):
    """SIGTERM (as Ctrl-C) mid-run: the loop finishes its step, checkpoints there (mid-episode is
    fine), exits with 128 + 15 and says how to resume; the resumed run completes the budget."""
    run = tmp_path / "stopped"
    args = [*TINY, "--steps", "48", "--run-dir", str(run), "--no-pictures"]
    proc = subprocess.Popen([sys.executable, "-m", "smg_fast.cli", "train", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _checkpoint_step(run) < 8 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM at step" in err and f"--resume {run}" in err and "Traceback" not in err
    state = load_checkpoint(run)
    assert 8 <= state["step"] < 48 and state["replay"]["transitions_added"] == state["step"]
    out = cli("--resume", str(run), "--no-pictures")
    assert out.returncode == 0, out.stderr[-3000:]
    state = load_checkpoint(run)
    assert state["step"] == 48 and state["replay"]["transitions_added"] == 48


def test_bf16_run_through_the_cli(tmp_path):
    import json

    run = tmp_path / "bf16"
    out = cli(*TINY, "--run-dir", str(run), "--precision", "bf16", "--no-pictures")
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"
    rows = (run / "train.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    losses = [float(last[header.index(k)]) for k in ("critic/loss", "aux/recon_loss", "actor/loss")]
    assert all(np.isfinite(losses))
    assert load_checkpoint(run)["step"] == 32


def test_nonfinite_loss_stops_with_a_checkpoint_naming_the_loss(tmp_path, monkeypatch):
    cfg = make_config("cartpole-swingup", "sac", "quick", batch_size=4, init_steps=4, burst_updates=1,
                      updates_per_step=1, episode_length=64, train_steps=16, eval_modes=("train",),
                      eval_episodes=1, eval_envs=1, replay_capacity=32)
    cfg.run_dir = str(tmp_path / "nan")
    trainer = Trainer(cfg, progress=False)
    try:
        real = trainer.agent.update

        def poisoned(replay, step):
            metrics = real(replay, step)
            metrics["critic/loss"] = torch.tensor(float("nan"))
            return metrics

        monkeypatch.setattr(trainer.agent, "update", poisoned)
        with pytest.raises(NonFiniteLossError, match="critic/loss"):
            trainer.run()
        assert (tmp_path / "nan" / "checkpoint_nonfinite.json").exists()
    finally:
        trainer.close()


def test_update_schedule_counts():
    cfg = make_config("walker-walk", "smg", "paper")
    assert updates_due(cfg, 999) == (0, 999)
    assert updates_due(cfg, 1000) == (1000, 1000)  # upstream's burst, all at step 1000
    assert updates_due(cfg, 1001) == (1, 1001)
    quick = make_config("walker-walk", "smg", "quick")  # one update every 2nd step
    assert updates_due(quick, quick.init_steps) == (quick.burst_updates, quick.init_steps // 2)
    assert [updates_due(quick, s)[0] for s in range(402, 406)] == [1, 0, 1, 0]
    assert updates_due(quick, 402)[1] % 2 == 1 and updates_due(quick, 404)[1] % 2 == 0


def test_random_policy_baseline_is_seeded_bounded_and_tabled(tmp_path):
    from gymnasium.spaces import Box

    from smg_fast.run.evaluate import RandomPolicy, random_policy_returns

    policy = RandomPolicy(Box(-np.ones(2, np.float32), np.array([1.0, 0.5], np.float32)), seed=3)
    a = policy.act(np.zeros((5, 9, 84, 84), np.uint8))
    assert a.shape == (5, 2) and a.dtype == np.float32
    assert (a >= -1).all() and (a[:, 0] <= 1).all() and (a[:, 1] <= 0.5).all()

    cfg = make_config("cartpole-balance", action_repeat=8, episode_length=64)
    first = random_policy_returns(cfg, ["train"], episodes=2, num_envs=2, seed=5)
    again = random_policy_returns(cfg, ["train"], episodes=2, num_envs=2, seed=5)
    assert first == again and len(first["train"]) == 2
    # DMC rewards lie in [0, 1] per control step: 64 control steps bound an episode's return.
    assert all(0.0 <= r <= 64.0 for r in first["train"])

    out = cli("--task", "cartpole-balance", "--episodes", "2", "--envs", "1", "--action-repeat", "8",
              "--out", str(tmp_path / "rand"), command="random")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| train | " in out.stdout and "action repeat 8" in out.stdout
    assert (tmp_path / "rand.md").is_file() and (tmp_path / "rand.csv").read_text().startswith("mode,seed")


def test_robot_task_trains_and_evaluates_on_its_test_scenes_through_the_cli(tmp_path, robot_scenes):
    run = tmp_path / "robot"
    out = cli("--task", "robot-reach", "--preset", "quick", "--steps", "24", "--batch-size", "4",
              "--eval-episodes", "1", "--eval-modes", "train,test3", "--no-progress", "--no-pictures",
              "--set", "init_steps=8", "--set", "burst_updates=2", "--set", "updates_per_step=1",
              "--set", "eval_freq=100000", "--set", "eval_envs=1", "--set", "replay_capacity=64",
              "--set", "mask_warmup=8", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr[-3000:]
    state = load_checkpoint(run)
    assert state["step"] == 24 and state["config"]["mask_ratio"] == 0.12 and state["action_dim"] == 2
    modes = {line.split(",")[1] for line in (run / "eval.csv").read_text().splitlines()[1:]}
    assert modes == {"train", "test3"}
    ev = cli("--run", str(run), "--modes", "train,test5", "--episodes", "1", "--envs", "1", command="eval")
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "test5" in ev.stdout and (run / "eval_table.md").exists() and (run / "eval_table.csv").exists()


def test_eval_out_into_a_folder_that_does_not_exist_yet_writes_the_table_there(full_run, tmp_path):
    """The folder of --out is made when the table is written (the check up front found where it can be made);
    the table is printed before it is written, so it is never lost."""
    run, _ = full_run
    out = tmp_path / "new" / "folder" / "table"
    ev = cli("--run", str(run), "--modes", "train", "--episodes", "1", "--envs", "1", "--no-progress", "--out",
             str(out), command="eval")
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "| train |" in ev.stdout and f"written: {out}.md, {out}.csv" in ev.stdout
    assert (tmp_path / "new" / "folder" / "table.md").read_text().startswith("| mode")
