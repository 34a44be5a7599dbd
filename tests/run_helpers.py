"""Driving ``smg-fast`` as a user would, for the tests of faults and recovery: in-process (``cli.main``, the
installed command's code path) over the real training loop with synthetic stand-ins (no rendering, no
networks), or as a real subprocess where signals and kill -9 need one."""
from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from smg_fast import cli
from synthetic import synthetic_trainer

SIZE, A = 8, 2
# Checkpoints every 10 steps of 10-step episodes, a 40-transition replay (its window spans several segments).
SYNTH_FLAGS = ["--task", "cartpole-swingup", "--algo", "sac", "--preset", "quick", "--steps", "30",
               "--batch-size", "4", "--eval-modes", "train", "--eval-episodes", "1", "--checkpoint-every", "10",
               "--set", "init_steps=10", "--set", "burst_updates=5", "--set", "updates_per_step=1",
               "--set", "replay_capacity=40", "--set", "eval_freq=10000", "--no-progress", "--no-pictures"]
RECORDS = ("frames", "frame_pos", "next_slot", "action", "reward", "not_done", "oldest_needed")


def run_synthetic(cfg, resume: bool = False, previous_checkpoint: bool = False, **kw):
    """The real loop over the synthetic stand-ins; ``kw`` goes to synthetic_trainer (``evaluator`` may be a
    function of the config)."""
    kw = {"image_size": SIZE, "action_dim": A, "episode_steps": 10, "batch_size": 4, **kw}
    if callable(kw.get("evaluator")):
        kw["evaluator"] = kw["evaluator"](cfg)
    trainer = synthetic_trainer(cfg, resume=resume, previous_checkpoint=previous_checkpoint, **kw)
    try:
        trainer.run()
    finally:
        trainer.close()
    return Path(cfg.run_dir)


def synthetic_train(**kw):
    """A stand-in for smg_fast.run.trainer.train: the real loop over the synthetic env, agent and evaluator."""
    def train(cfg, resume=False, progress=True, previous_checkpoint=False):
        return run_synthetic(cfg, resume=resume, previous_checkpoint=previous_checkpoint, **kw)
    return train


def smg(*argv: str, capsys) -> tuple[int, str, str]:
    """(exit status, stderr, stdout) of ``smg-fast ARGV`` run in-process."""
    try:
        cli.main(list(argv))
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    out = capsys.readouterr()
    return code, out.err, out.out


def fails(status: int, *needles: str, argv, capsys, lines: int = 1) -> str:
    """The command fails with ``status``, at most ``lines`` lines on stderr naming every needle, no traceback."""
    code, err, _ = smg(*argv, capsys=capsys)
    assert code == status, err
    assert "Traceback" not in err, err
    assert 1 <= len(err.strip().splitlines()) <= lines, err
    for needle in needles:
        assert needle in err, err
    return err


def manifest(run_dir) -> dict:
    return json.loads((Path(run_dir) / "checkpoint.json").read_text())


def assert_same_replay(a: dict, b: dict) -> None:
    """Two assembled checkpoints (load_checkpoint) hold the same transitions: none lost, none twice."""
    for key in ("frames_added", "transitions_added", "first_valid", "capacity"):
        assert a["replay"][key] == b["replay"][key], key
    for key in RECORDS:
        assert torch.equal(torch.as_tensor(a["replay"][key]), torch.as_tensor(b["replay"][key])), key


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str):
    """A tmpfs of ``size`` mounted at ``path`` (a real disk that fills up: ENOSPC from the kernel); the test is
    skipped, saying why, where this machine does not let the test mount one (it needs root)."""
    path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        pytest.skip(f"a real full disk needs a small tmpfs and mounting one failed here: {out.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill_disk(folder: Path, leave: int = 0) -> Path:
    """Write a file into ``folder`` until its disk has not one byte left, then give back ``leave`` bytes (a write
    then fails part-way); returns the file (delete it to free the space again)."""
    filler = Path(folder) / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
        if leave:
            os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler
