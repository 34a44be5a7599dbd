"""Every user mistake of issue 18's list, driven through the command line: one or two lines on stderr naming the
flag or file and what is allowed, exit status 2 (a value that cannot work) or 1 (something missing or failing
at run time), no traceback unless --debug; found before any environment starts or any directory is created.

Most cases call ``smg_fast.cli.main`` in-process (the same code path as the installed command, seconds
instead of minutes); a few run ``python -m smg_fast.cli`` to check the real entry point. Runs that need a
checkpoint are made by the real training loop over synthetic stand-ins (synthetic): no rendering,
no networks.
"""
from __future__ import annotations

import errno
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from smg_fast.run import checkpoint as ckpt
from smg_fast import cli
from smg_fast.config import make_config
from smg_fast.run.directory import RunLock
from reference_files import needs_data
from synthetic import synthetic_trainer
import run_helpers
from run_helpers import smg as run

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--task", "cartpole-swingup", "--preset", "quick", "--no-progress", "--no-pictures"]
SIZE, A = 8, 2
# A short run over the synthetic stand-ins (see run_synthetic): checkpoints at steps 10, 20, 30.
SYNTH = dict(train_steps=30, init_steps=10, burst_updates=5, updates_per_step=1, replay_capacity=40,
             checkpoint_every=10, eval_freq=10_000, eval_modes=("train",), eval_episodes=1, batch_size=4)
SYNTH_FLAGS = ["--task", "cartpole-swingup", "--algo", "sac", "--preset", "quick", "--steps", "30",
               "--batch-size", "4", "--eval-modes", "train", "--eval-episodes", "1", "--checkpoint-every", "10",
               "--set", "init_steps=10", "--set", "burst_updates=5", "--set", "updates_per_step=1",
               "--set", "replay_capacity=40", "--set", "eval_freq=10000", "--no-progress", "--no-pictures"]


def fails(status: int, *needles: str, argv, capsys, lines: int = 2) -> str:
    return run_helpers.fails(status, *needles, argv=argv, capsys=capsys, lines=lines)


def run_synthetic(cfg, resume: bool = False, **kw):
    trainer = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4, resume=resume,
                                **kw)
    try:
        trainer.run()
    finally:
        trainer.close()
    return Path(cfg.run_dir)


def synthetic_train(**kw):
    """A stand-in for smg_fast.run.trainer.train that runs the real loop over the synthetic env and agent."""
    def train(cfg, resume=False, progress=True, previous_checkpoint=False):
        return run_synthetic(cfg, resume=resume, **kw)
    return train


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished sac run directory (config.json, checkpoints at steps 20 and 30)."""
    cfg = make_config("cartpole-swingup", "sac", "quick", **SYNTH)
    cfg.run_dir = str(tmp_path_factory.mktemp("runs") / "finished")
    return run_synthetic(cfg)


@pytest.fixture
def copy_of(finished, tmp_path):
    dest = tmp_path / "run"
    shutil.copytree(finished, dest)
    return dest


# ---- values: exit status 2, before anything starts -------------------------------------------------------

@pytest.mark.parametrize("argv, needles", [
    (["--steps", "0"], ["--steps 0: must be at least 3", "frame_stack + 1 = 4"]),
    (["--steps", "-5"], ["--steps -5: must be at least 3"]),
    (["--steps", "2"], ["--steps 2: must be at least 3", "min(replay_capacity, steps + 1)"]),
    (["--batch-size", "0"], ["--batch-size 0: must be an integer in [1, "]),
    (["--batch-size", "-3"], ["--batch-size -3: must be an integer in [1, "]),
    (["--seed", "-1"], ["--seed -1: must be an integer in [0, "]),
    (["--eval-episodes", "0"], ["--eval-episodes 0: must be an integer in [1, "]),
    (["--eval-envs", "0"], ["--eval-envs 0: must be an integer in [1, "]),
    (["--eval-freq", "0"], ["--eval-freq 0: must be an integer in [1, "]),
    (["--checkpoint-every", "-1"], ["--checkpoint-every -1: must be an integer in [1, "]),
    (["--replay-capacity", "3"], ["--replay-capacity 3: must be at least frame_stack + 1 = 4"]),
    (["--attribution-prob", "1.5"], ["--attribution-prob 1.5: must be a number in [0, 1]"]),
    (["--mask-warmup", "-1"], ["--mask-warmup -1: must be an integer >= 0"]),
    (["--task", "bogus"], ["--task bogus: not a task", "walker-walk", "robot-reach"]),
    (["--task", "walker-wlak"], ["--task walker-wlak: not a task", "did you mean walker-walk"]),
    (["--task", "robot-grasp"], ["--task robot-grasp: not a task", "robot-peg-in-box"]),
    (["--eval-modes", "bogus"], ["--eval-modes bogus: unknown eval modes bogus", "video_hard"]),
    (["--set", "precision=nonsense"], ["--set precision=nonsense: must be one of fp32, bf16"]),
    (["--set", "fused_ops=maybe"], ["--set fused_ops=maybe", "true/false"]),
    (["--set", "discount=2"], ["--set discount=2: must be a number in [0, 1]"]),
    (["--set", "critic_tau=nan"], ["--set critic_tau=nan: must be a number in [0, 1]"]),
    (["--set", "init_steps=0"], ["--set init_steps=0: must be an integer in [1, "]),
    (["--set", "updates_per_step=0"], ["--set updates_per_step=0: must be a number in (0, 64]"]),
    (["--set", "replay_storage=disk"], ["--set replay_storage=disk: must be one of memory, mmap"]),
    (["--set", "image_size=64"], ["--set image_size=64: must be 84 for smg"]),
    (["--set", "num_shared_layers=40"], ["--set num_shared_layers=40: leaves no pixels"]),
    (["--set", "batch_szie=3"], ["unknown setting 'batch_szie'", "did you mean batch_size"]),
    (["--set", "task=walker-run"], ["--set task=walker-run: give it as --task"]),
    (["--set", "init_steps"], ["--set init_steps: expected KEY=VALUE"]),
    (["--precision", "fp16"], ["invalid choice: 'fp16'", "smg-fast train --help"]),
    (["--steps", "many"], ["argument --steps: invalid int value: 'many'"]),
    (["--previous-checkpoint"], ["--previous-checkpoint applies only with --resume"]),
])
def test_train_value_mistakes(argv, needles, tmp_path, capsys):
    run_dir = tmp_path / "run"
    fails(2, *needles, argv=["train", *QUICK, "--run-dir", str(run_dir), *argv], capsys=capsys)
    assert not run_dir.exists()  # nothing created


def test_a_mistake_in_the_paper_preset_names_the_flag_too(tmp_path, capsys):
    fails(2, "--set shift_pad=42: must be below image_size / 2 = 42", capsys=capsys,
          argv=["train", "--task", "walker-walk", "--run-dir", str(tmp_path / "r"), "--set", "shift_pad=42"])


def test_debug_shows_the_traceback_before_or_after_the_subcommand(tmp_path, capsys):
    for argv in (["--debug", "train", "--steps", "0"], ["train", "--steps", "0", "--debug"]):
        code, err, _ = run(*argv, *QUICK, "--run-dir", str(tmp_path / "r"), capsys=capsys)
        assert code == 2 and "Traceback" in err and "UsageError" in err
        assert err.strip().splitlines()[-1] == "smg-fast train: error: --steps 0: must be at least 3: the replay " \
                                               "keeps min(replay_capacity, steps + 1) transitions and needs " \
                                               "frame_stack + 1 = 4"


# ---- this machine: exit status 1, before anything starts --------------------------------------------------

def test_overlay_source_that_does_not_exist(tmp_path, capsys):
    fails(1, "--overlay-source folder:/nonexistent: overlay folder /nonexistent does not exist", capsys=capsys,
          argv=["train", *QUICK, "--overlay-source", "folder:/nonexistent", "--run-dir", str(tmp_path / "r")])
    # typed through --set: the message quotes what was typed
    fails(1, "--set overlay_source=folder:/nonexistent: overlay folder /nonexistent does not exist", capsys=capsys,
          argv=["train", *QUICK, "--set", "overlay_source=folder:/nonexistent", "--run-dir", str(tmp_path / "r")])
    empty = tmp_path / "no-images"
    empty.mkdir()
    fails(1, "no images", str(empty), capsys=capsys,
          argv=["train", *QUICK, "--overlay-source", f"folder:{empty}", "--run-dir", str(tmp_path / "r")])
    fails(2, "--overlay-source pictures: must be procedural, places365 or folder:PATH", capsys=capsys,
          argv=["train", *QUICK, "--overlay-source", "pictures", "--run-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_places365_not_installed_names_the_download_command(tmp_path, monkeypatch, capsys, data_dir):
    data = tmp_path / "data"
    shutil.copytree(data_dir / "dmcgb", data / "dmcgb", ignore=shutil.ignore_patterns("video*"))
    monkeypatch.setenv("SMG_FAST_DATA", str(data))
    fails(1, "--overlay-source places365", "smg-fast data download places365", capsys=capsys,
          argv=["train", *QUICK, "--eval-modes", "train", "--overlay-source", "places365",
                "--run-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("argv", [
    ["train", *QUICK, "--device", "cuda"],
    ["eval", "--run", "RUN", "--device", "cuda"],
    ["visualize", "--run", "RUN", "--device", "cuda:1"],
    ["doctor", "--device", "cuda"],
])
def test_cuda_without_a_gpu(argv, finished, tmp_path, capsys):
    argv = [str(finished) if a == "RUN" else a for a in argv]
    if argv[0] == "train":
        argv += ["--run-dir", str(tmp_path / "r")]
    fails(1, "no CUDA device is available to PyTorch here", "use --device cpu", argv=argv, capsys=capsys)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv", [["train", *QUICK, "--device", "gpu"], ["doctor", "--device", "tpu"]])
def test_a_device_that_is_not_one(argv, tmp_path, capsys):
    fails(2, "must be cpu, cuda or cuda:N", argv=argv + (["--run-dir", str(tmp_path)] if "train" in argv
                                                                      else []), capsys=capsys)


def test_missing_evaluation_data_fails_before_any_directory_is_made(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SMG_FAST_DATA", str(tmp_path / "no-data"))
    fails(1, "color_hard.json", "smg-fast data download", capsys=capsys,
          argv=["train", *QUICK, "--eval-modes", "train,color_hard", "--run-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_unknown_task_leaves_no_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fails(2, "--task bogus-task: not a task", argv=["train", "--task", "bogus-task"], capsys=capsys)
    assert not (tmp_path / "runs").exists()


def test_a_run_that_fails_to_start_removes_the_directory_it_made(tmp_path, monkeypatch, capsys):
    from smg_fast.run import trainer as train
    from smg_fast.data import MissingDataError

    def fail_to_start(cfg, **kw):
        Path(cfg.run_dir).mkdir(parents=True)
        (Path(cfg.run_dir) / "run.lock").write_text("1\n")
        raise MissingDataError("a file the environment needs is missing")

    monkeypatch.setattr(train, "train", fail_to_start)
    fails(1, "a file the environment needs is missing", argv=["train", *SYNTH_FLAGS, "--run-dir",
                                                              str(tmp_path / "r")], capsys=capsys)
    assert not (tmp_path / "r").exists()


def test_replay_that_does_not_fit_in_memory(tmp_path, monkeypatch, capsys):
    from smg_fast import replay

    monkeypatch.setattr(replay, "available_memory", lambda device: 2**30)  # 1 GiB free
    fails(1, "the replay buffer of 500,000 transitions needs", "replay_storage=mmap", capsys=capsys,
          argv=["train", "--task", "walker-walk", "--eval-modes", "train", "--run-dir", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


# ---- run directories --------------------------------------------------------------------------------------

def test_fresh_run_refuses_a_directory_with_run_files(tmp_path, capsys):
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "train.csv").write_text("step,episode\n1000,1\n")
    fails(1, f"{stale} already holds run files (train.csv)", "delete them", capsys=capsys,
          argv=["train", *QUICK, "--run-dir", str(stale)])
    assert (stale / "train.csv").read_text() == "step,episode\n1000,1\n"


def test_fresh_run_into_a_finished_run_says_resume(finished, capsys):
    fails(1, "already holds run files", f"--resume {finished}", argv=["train", *QUICK, "--run-dir", str(finished)],
          capsys=capsys)


def test_read_only_run_directory_fails_at_once(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.geteuid() != 0:  # permission bits apply: in-process
            fails(1, f"run directory {ro / 'run'}: {ro} is not writable", capsys=capsys,
                  argv=["train", *QUICK, "--run-dir", str(ro / "run")])
            return
        # root writes anywhere: run the command without the capability that lets it (CAP_DAC_OVERRIDE)
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a read-only directory cannot be made")
        caps = "-dac_override,-dac_read_search"
        proc = subprocess.run([setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", sys.executable, "-m",
                               "smg_fast.cli", "train", *QUICK, "--run-dir", str(ro / "run")],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"smg-fast train: error: run directory {ro / 'run'}: {ro} is not writable (choose another --run-dir)"]
    finally:
        ro.chmod(0o755)
    assert not any(ro.iterdir())


def test_resume_of_a_missing_or_empty_directory(tmp_path, capsys):
    fails(1, f"--resume {tmp_path / 'nope'}: no such directory", argv=["train", "--resume", str(tmp_path / "nope")],
          capsys=capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(1, f"--resume {empty}: it holds no config.json", argv=["train", "--resume", str(empty)], capsys=capsys)
    (empty / "config.json").write_text(json.dumps(make_config("cartpole-swingup", "sac", "quick").to_dict()))
    fails(1, "it holds no checkpoint yet", argv=["train", "--resume", str(empty)], capsys=capsys)


@pytest.mark.parametrize("argv, needles", [
    (["--preset", "quick"], ["--preset cannot apply to a run that exists"]),
    (["--run-dir", "elsewhere"], ["--run-dir cannot apply to a run that exists"]),
    (["--seed", "3"], ["disagrees with the run's config", "seed: run has 0, command line says 3"]),
    (["--set", "batch_size=8"], ["disagrees", "batch_size"]),
    (["--eval-modes", "bogus"], ["--eval-modes bogus: unknown eval modes bogus for cartpole-swingup"]),
    (["--steps", "20"], ["--steps 20: the run's checkpoint is at step 30", "--steps 30 or more"]),
    (["--steps", "2"], ["--steps 2: the run's checkpoint is at step 30"]),
])
def test_resume_flags_that_cannot_apply(argv, needles, finished, capsys):
    fails(2, *needles, argv=["train", "--resume", str(finished), *argv], capsys=capsys)


def test_resume_may_switch_compile_and_extend_but_keeps_every_other_setting(finished):
    args = cli.build_parser().parse_args(["train", "--resume", str(finished), "--compile", "--steps", "40"])
    from smg_fast.cli.train import resume_config

    cfg = resume_config(args, {"train_steps": 40}, {})
    saved = json.loads((finished / "config.json").read_text())
    assert cfg.agent.compile is True and cfg.train_steps == 40 and saved["compile"] is False
    assert {k: v for k, v in cfg.to_dict().items() if k not in ("compile", "train_steps", "eval_modes")} == {
        k: v for k, v in saved.items() if k not in ("compile", "train_steps", "eval_modes")}


def test_corrupted_and_truncated_checkpoints_are_refused_naming_the_file(copy_of, capsys):
    m = json.loads((copy_of / "checkpoint.json").read_text())
    state_file = copy_of / m["state"]["file"]
    good = state_file.read_bytes()
    data = bytearray(good)
    data[1000:5096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    state_file.write_bytes(bytes(data))
    fails(1, f"{state_file} is corrupted", "the previous checkpoint (step 20)", "--previous-checkpoint",
          argv=["train", "--resume", str(copy_of), "--no-progress"], capsys=capsys)
    state_file.write_bytes(bytes(good))
    seg = copy_of / m["segments"][-1]["file"]
    seg.write_bytes(seg.read_bytes()[:100])
    fails(1, f"{seg} is truncated", argv=["train", "--resume", str(copy_of), "--no-progress"], capsys=capsys)
    fails(1, f"{seg} is truncated", argv=["eval", "--run", str(copy_of), "--modes", "train"], capsys=capsys)


def test_a_second_resume_on_a_directory_in_use_names_the_holder(copy_of, capsys):
    with RunLock(copy_of):
        fails(1, f"{copy_of} is in use by another smg-fast process (pid {os.getpid()})",
              argv=["train", "--resume", str(copy_of), "--no-progress"], capsys=capsys)


def test_disk_full_while_checkpointing_is_one_message_and_the_last_checkpoint_stays(tmp_path, monkeypatch, capsys):
    from smg_fast.run import trainer as train

    real, calls = ckpt.atomic_save, {"n": 0}

    def full(obj, path):
        calls["n"] += 1
        if calls["n"] > 2:  # the first checkpoint (state and one replay segment) is written
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(obj, path)

    monkeypatch.setattr(ckpt, "atomic_save", full)
    monkeypatch.setattr(train, "train", synthetic_train())
    run_dir = tmp_path / "r"
    fails(1, "the disk is full", "the last good checkpoint (step 10) is intact", capsys=capsys,
          argv=["train", *SYNTH_FLAGS, "--run-dir", str(run_dir)])
    monkeypatch.setattr(ckpt, "atomic_save", real)
    assert ckpt.load_checkpoint(run_dir)["step"] == 10


def test_stop_signal_inside_the_burst_then_resume_and_extend(tmp_path, monkeypatch, capsys):
    """SIGTERM after the 3rd of 50 burst updates: exit status 143 and the resume command; --resume finishes the
    run; --resume --steps 40 extends the finished run (its table beside the random policy)."""
    from smg_fast.run import trainer as train

    def stop_after_3(n):
        if n == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    run_dir = tmp_path / "r"
    monkeypatch.setattr(train, "train", synthetic_train(update_hook=stop_after_3))
    code, err, _ = run("train", *SYNTH_FLAGS, "--set", "burst_updates=50", "--run-dir", str(run_dir), capsys=capsys)
    assert code == 128 + signal.SIGTERM and "Traceback" not in err
    assert f"SIGTERM at step 10: checkpoint saved; continue with: smg-fast train --resume {run_dir}" in err
    state = ckpt.load_checkpoint(run_dir)
    assert state["step"] == 10 and state["updates_done_at_step"] == 3

    monkeypatch.setattr(train, "train", synthetic_train())
    code, err, out = run("train", "--resume", str(run_dir), "--no-progress", capsys=capsys)
    assert code == 0, err
    assert ckpt.load_checkpoint(run_dir)["step"] == 30 and "| train | 0.0 (n = 1) |" in out
    code, err, out = run("train", "--resume", str(run_dir), "--steps", "40", "--no-progress", capsys=capsys)
    assert code == 0, err
    assert ckpt.load_checkpoint(run_dir)["step"] == 40 and "Evaluation at step 40" in out
    assert "random policy" in (run_dir / "final_eval.md").read_text()


# ---- eval, visualize, random, doctor, demo ----------------------------------------------------------------

def _smg_run_without_weights(tmp_path) -> Path:
    """An smg run directory that passes the directory checks (its checkpoint is never read by these tests)."""
    run_dir = tmp_path / "smg"
    run_dir.mkdir()
    ckpt.write_config(run_dir, make_config("cartpole-swingup", "smg", "quick"))
    (run_dir / "checkpoint.json").write_text("{}")
    return run_dir


@pytest.mark.parametrize("argv, status, needles", [
    (["eval", "--run", "@RUN", "--episodes", "0"], 2, ["--episodes 0: must be an integer in [1, "]),
    (["eval", "--run", "@RUN", "--envs", "0"], 2, ["--envs 0: must be an integer in [1, "]),
    (["eval", "--run", "@RUN", "--modes", "bogus"], 2,
     ["--modes bogus: unknown eval modes bogus for cartpole-swingup"]),
    (["eval", "--run", "@PLAIN"], 1, ["--run @PLAIN: not an smg-fast run directory (it holds no config.json)"]),
    (["eval", "--run", "@MISSING"], 1, ["--run @MISSING: no such directory"]),
    (["eval", "--run", "@NOCKPT"], 1, ["--run @NOCKPT: the run holds no checkpoint yet"]),
    (["eval", "--run", "@RUN", "--out", "@PLAIN/file/eval"], 1, ["--out @PLAIN/file/eval.md: @PLAIN/file is not a "
                                                                "writable directory"]),
    (["visualize", "--run", "@PLAIN"], 1, ["--run @PLAIN: not an smg-fast run directory"]),
    (["visualize", "--run", "@NOCKPT"], 1, ["the run holds no checkpoint yet"]),
    (["visualize", "--run", "@RUN"], 1, ["a sac run; visualize draws SMG's masks"]),
    (["visualize", "--run", "@SMG", "--modes", "bogus"], 2, ["--modes bogus: unknown eval modes bogus"]),
    (["visualize", "--run", "@SMG", "--video-mode", "test1"], 2, ["--video-mode test1: unknown eval modes test1"]),
    (["random", "--task", "bogus"], 2, ["--task bogus: not a task"]),
    (["random", "--task", "cartpole-swingup", "--episodes", "0"], 2, ["--episodes 0: must be an integer in [1, "]),
    (["random", "--task", "cartpole-swingup", "--envs", "-1"], 2, ["--envs -1: must be an integer in [1, "]),
    (["random", "--task", "cartpole-swingup", "--seed", "-1"], 2, ["--seed -1: must be an integer in [0, "]),
    (["random", "--task", "cartpole-swingup", "--action-repeat", "0"], 2, ["--action-repeat 0: must be an integer"]),
    (["random", "--task", "cartpole-swingup", "--modes", "test1"], 2, ["--modes test1: unknown eval modes test1"]),
    (["random", "--task", "robot-reach", "--action-repeat", "4"], 2,
     ["--action-repeat 4: must be 1 for the robot tasks"]),
    (["doctor", "--repeats", "0"], 2, ["--repeats 0: must be an integer in [1, "]),
    (["demo", "--repeats", "0"], 2, ["--repeats 0: must be an integer in [1, "]),
])
def test_eval_visualize_random_doctor_demo_mistakes(argv, status, needles, finished, tmp_path, capsys):
    not_a_run = tmp_path / "plain"
    not_a_run.mkdir()
    (not_a_run / "file").write_text("")
    no_checkpoint = tmp_path / "nockpt"
    no_checkpoint.mkdir()
    (no_checkpoint / "config.json").write_text(json.dumps(make_config("cartpole-swingup", "sac", "quick").to_dict()))
    names = {"@RUN": str(finished), "@PLAIN": str(not_a_run), "@MISSING": str(tmp_path / "missing"),
             "@NOCKPT": str(no_checkpoint), "@SMG": str(_smg_run_without_weights(tmp_path))}
    def fill(text):
        return functools.reduce(lambda t, kv: t.replace(*kv), names.items(), text)

    argv, needles = [fill(a) for a in argv], [fill(n) for n in needles]
    fails(status, *needles, argv=argv, capsys=capsys)
    assert not (finished / "eval_table.md").exists() and not (finished / "pictures").exists()


# ---- sweep, report, data download -------------------------------------------------------------------------

def test_sweep_and_report_mistakes(tmp_path, capsys):
    fails(1, "smg-fast sweep: ", "none.toml does not exist", argv=["sweep", str(tmp_path / "none.toml")],
          capsys=capsys)
    grid = tmp_path / "g.toml"
    grid.write_text('methods = ["sac"]\ntasks = ["cartpole-swingup"]\nseeds = 1\n')
    fails(1, "--run-cpus must be > 0", argv=["sweep", str(grid), "--run-cpus", "0", "--dry-run"], capsys=capsys)
    for flag, value, need in (("--max-concurrent", "0", "an integer >= 1"), ("--retries", "-1", "an integer >= 0"),
                              ("--poll", "0", "a number > 0"), ("--cpus", "-2", "a number > 0")):
        fails(2, f"smg-fast sweep: error: {flag} ", f": must be {need}", capsys=capsys,
              argv=["sweep", str(grid), flag, value, "--dry-run"])
    fails(2, "smg-fast report: error: --decimals -1: must be an integer >= 0", argv=["report", "--decimals", "-1"],
          capsys=capsys)
    fails(1, "smg-fast report: /nonexistent does not exist", argv=["report", "/nonexistent"], capsys=capsys)
    fails(1, "smg-fast report: give run or sweep directories", argv=["report"], capsys=capsys)
    fails(2, "argument --decimals: invalid int value", argv=["report", "--decimals", "x"], capsys=capsys)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_data_download_bad_url_and_force_against_a_bad_mirror(tmp_path, capsys):
    from smg_fast.data import manifest

    fails(2, "--base-url 'notaurl' is not a URL", argv=["data", "download", "--base-url", "notaurl", "--dir",
                                                         str(tmp_path / "d")], capsys=capsys, lines=1)
    e = manifest.entry("robot/reach.xml")
    good = (needs_data(e.local) / e.local).read_bytes()  # upstream's bytes: the packaged blob id is theirs
    dest = tmp_path / "data" / e.local
    dest.parent.mkdir(parents=True)
    dest.write_bytes(good)
    served = tmp_path / "srv" / e.repo / e.commit / e.path
    served.parent.mkdir(parents=True)
    served.write_bytes(good.replace(b"<", b"[", 1))  # the mirror serves bad bytes
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=tmp_path / "srv"))
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        code, err, _ = run("data", "download", "robot", "--only", e.local, "--force", "--dir", str(tmp_path / "data"),
                           "--base-url", f"http://127.0.0.1:{httpd.server_address[1]}", capsys=capsys)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == 1 and "the verified local copy is kept" in err and "Traceback" not in err
    assert dest.read_bytes() == good


# ---- the real entry point and the build ------------------------------------------------------------------

def test_random_with_an_unknown_task_through_the_installed_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "smg_fast.cli", "random", "--task", "bogus"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "smg-fast random: error: --task bogus: not a task: give a dm_control suite task as domain-task (e.g. "
        "walker-walk, cartpole-swingup) or robot-reach / robot-peg-in-box"]


# ---- the rules themselves ---------------------------------------------------------------------------------

def test_every_setting_of_every_method_has_a_rule_and_every_preset_passes_them():
    """A new setting (or method) is declared with its rule (smg_fast.rules.setting), so that a bad value is
    refused by name; the few checked by another module say which (rules.Elsewhere)."""
    from smg_fast.agent import METHODS
    from smg_fast.config import PRESETS, setting_defaults, settings
    from smg_fast.tasks import PAPER_TASKS

    for algo in METHODS:
        declared = settings(algo)
        assert set(declared) == set(setting_defaults(algo))  # every setting --set can name
        missing = {k for k, s in declared.items() if s.rule is None}
        assert not missing, f"{algo}: settings declared without a rule (smg_fast.rules.setting): {sorted(missing)}"
        for task in [*PAPER_TASKS, "ball_in_cup-catch"]:
            for preset in PRESETS:
                make_config(task, algo, preset)  # the shipped settings break no rule
