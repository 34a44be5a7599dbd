"""Faults a run meets while it runs (issue 25, items 2-4), driven through ``smg-fast`` as a user would, each
ending in one line, exit status 1, nothing lost and the run resumable:

* data damaged on disk (a truncated video, colour tables that are not JSON, have too few entries or wrong
  keys): training, eval, random and doctor name the file and the repair command before anything starts;
  ``smg-fast data verify`` lists them; a file damaged after the start fails the evaluation, which saves a
  checkpoint first (the evaluation runs first when resumed);
* divergence: a NaN/inf action never reaches the environment, a NaN loss is named with the step of the update
  where it went non-finite first; ``checkpoint_nonfinite`` is written and the last good checkpoint kept;
* a real full disk (a small tmpfs, ENOSPC from the kernel) while a checkpoint is serialised, while a log is
  written, and for the mmap replay (allocated up front: an error, not SIGBUS); SIGHUP like SIGTERM.

The loop is the real one over synthetic stand-ins (tests/synthetic.py) unless a test says otherwise."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from smg_fast.run import checkpoint as ckpt
from smg_fast.run import trainer as trainer_module
from run_helpers import (SYNTH_FLAGS, assert_same_replay, fails, fill_disk, small_tmpfs, smg,
                         synthetic_train)
from synthetic import NullEvaluator, SamplingAgent
import reference_files as ref

TESTS = Path(__file__).parent
QUICK = ["--task", "cartpole-swingup", "--preset", "quick", "--no-progress", "--no-pictures"]


def data_copy(root: Path) -> Path:
    """The session's data folder (upstream's files or the synthetic stand-ins, tests/reference_files.py) as a
    folder of links (the files stay where they are), so that a test can damage one file by replacing its link
    with a real file."""
    for src in ref.DATA.rglob("*"):
        if src.is_file():
            dest = root / src.relative_to(ref.DATA)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(src)
    return root


def damage(root: Path, local: str, content: bytes) -> Path:
    path = root / local
    path.unlink()
    path.write_bytes(content)
    return path


def truncated(local: str) -> bytes:
    data = (ref.DATA / local).read_bytes().rstrip(b"\0")  # a stand-in's padding (tests/synthetic_data.py) is no content
    return data[: len(data) // 3]


def colours() -> list:
    return json.loads((ref.DATA / "dmcgb" / "color_hard.json").read_text())


DAMAGES = {
    "truncated video": ("dmcgb/video_easy/video1.mp4", "video_easy", lambda: truncated("dmcgb/video_easy/video1.mp4")),
    "one byte flipped in a video": ("dmcgb/video_hard/video7.mp4", "video_hard", lambda: (
        lambda d: d[:5000] + bytes([d[5000] ^ 0xFF]) + d[5001:])((ref.DATA / "dmcgb/video_hard/video7.mp4").read_bytes())),
    "colours not JSON": ("dmcgb/color_hard.json", "color_hard", lambda: b'[{"grid_rgb1": [0.1, 0.2'),
    "colours too few": ("dmcgb/color_hard.json", "color_hard", lambda: json.dumps(colours()[:50], indent=0).encode()),
    "colours wrong keys": ("dmcgb/color_hard.json", "color_hard", lambda: json.dumps(
        [{("sky" if k == "skybox_rgb" else k): v for k, v in e.items()} for e in colours()], indent=0).encode()),
}


# ---- data verified before it is used ---------------------------------------------------------------------

@pytest.mark.parametrize("case", list(DAMAGES))
def test_damaged_data_is_named_before_anything_starts(case, tmp_path, monkeypatch, capsys):
    local, mode, content = DAMAGES[case]
    data = data_copy(tmp_path / "data")
    bad = damage(data, local, content())
    monkeypatch.setenv("SMG_FAST_DATA", str(data))
    needles = [f"{bad} is damaged", "smg-fast data download dmcgb"]
    fails(1, *needles, argv=["train", *QUICK, "--eval-modes", f"train,{mode}", "--run-dir", str(tmp_path / "r")],
          capsys=capsys)
    assert not (tmp_path / "r").exists()
    fails(1, *needles, argv=["random", "--task", "cartpole-swingup", "--modes", mode], capsys=capsys)
    from smg_fast import doctor

    rows = dict(doctor.data_report())
    assert any("DAMAGED" in v and bad.name in v for v in rows.values()), rows
    code, err, out = smg("data", "verify", "dmcgb", "--dir", str(data), capsys=capsys)
    assert code == 1 and f"DAMAGED {bad}" in out and "--force" in out, out + err


def test_eval_names_a_damaged_file_before_it_loads_any_agent(tmp_path, monkeypatch, capsys):
    from smg_fast.config import make_config

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ckpt.write_config(run_dir, make_config("cartpole-swingup", "sac", "quick"))
    (run_dir / "checkpoint.json").write_text("{}")  # never read: the data check comes first
    data = data_copy(tmp_path / "data")
    bad = damage(data, "dmcgb/color_hard.json", b"not json")
    monkeypatch.setenv("SMG_FAST_DATA", str(data))
    fails(1, f"{bad} is damaged", argv=["eval", "--run", str(run_dir), "--modes", "color_hard"], capsys=capsys)


def test_data_verify_and_doctor_pass_a_good_copy(tmp_path, capsys, monkeypatch):
    # `data verify` hashes every file again: upstream's bytes, not stand-ins
    ref.needs_data("dmcgb/color_easy.json", "dmcgb/color_hard.json", "dmcgb/video_hard/video3.mp4")
    data = data_copy(tmp_path / "data")
    code, err, out = smg("data", "verify", "dmcgb", "--dir", str(data), capsys=capsys)
    assert code == 0, out + err
    assert "dmcgb: 108/112 verified, 4 absent" in out and "matches the manifest" in out
    monkeypatch.setenv("SMG_FAST_DATA", str(data))
    from smg_fast import doctor

    rows = dict(doctor.data_report())
    assert rows["DMC-GB video_hard"] == "100/100 videos verified"
    assert rows["DMC-GB color_easy"] == rows["DMC-GB color_hard"] == "1/1 verified"
    assert rows["DMC-GB video_easy"].startswith("6/10 videos verified (video3, video4, video5, video7 missing)")
    monkeypatch.setattr(doctor, "check_ops", lambda device, repeats=3, on_result=None: [])
    assert doctor.main("cpu", repeats=1, out=sys.stdout) == 0
    damage(data, "dmcgb/video_hard/video3.mp4", truncated("dmcgb/video_hard/video3.mp4"))
    assert doctor.main("cpu", repeats=1, out=sys.stdout) == 1  # content, not counts
    assert "DAMAGED: video3.mp4" in capsys.readouterr().out


def test_verification_is_cached_by_size_and_modification_time(tmp_path, monkeypatch):
    from smg_fast.data import download, verify

    data = data_copy(tmp_path / "data")
    monkeypatch.setenv("SMG_FAST_DATA", str(data))
    verify.check_modes(["video_hard", "color_easy"])  # hashes and records every file
    hashed = []
    real = download.git_blob_id_of_file
    monkeypatch.setattr(download, "git_blob_id_of_file", lambda p: hashed.append(Path(p).name) or real(p))
    verify.check_modes(["video_hard", "color_easy"])
    assert hashed == []  # nothing hashed again: a start stays fast
    path = data / "dmcgb" / "video_hard" / "video5.mp4"
    flipped = bytearray(path.read_bytes())
    flipped[100] ^= 1
    damage(data, "dmcgb/video_hard/video5.mp4", bytes(flipped))  # same size, new modification time
    with pytest.raises(Exception, match="video5.mp4 is damaged: its content differs from upstream"):
        verify.check_modes(["video_hard"])
    assert hashed == ["video5.mp4"]


def test_an_evaluation_that_fails_during_training_saves_a_checkpoint_first(tmp_path, monkeypatch, capsys):
    """A video damaged after the run started (the check at the start passed): the evaluation at step 20 fails
    in its worker. A checkpoint at step 20 is written first, the message says so; once the file is repaired,
    --resume runs that evaluation first and finishes, eval.csv holding each evaluation once."""
    from smg_fast.run.evaluate import Evaluator

    data = data_copy(tmp_path / "data")
    monkeypatch.setenv("SMG_FAST_DATA", str(data))
    video = "dmcgb/video_easy/video1.mp4"

    def damage_it(n):
        if n == 1:  # the first update, at step 10: after the start's checks
            damage(data, video, truncated(video))

    evaluator = lambda cfg: Evaluator(cfg, cfg.eval_modes, 1)  # noqa: E731 - real envs, real videos
    monkeypatch.setattr(trainer_module, "train", synthetic_train(
        evaluator=evaluator, action_dim=1, agent=SamplingAgent(1, 4, update_hook=damage_it)))
    run_dir = tmp_path / "r"
    flags = [f if f != "train" else "video_easy" for f in SYNTH_FLAGS]
    flags[flags.index("eval_freq=10000")] = "eval_freq=20"
    flags += ["--set", "episode_length=80"]  # the evaluation's episodes: 10 agent steps
    fails(1, "the evaluation at step 20 failed", "video1.mp4", "a checkpoint at step 20 was saved first",
          f"smg-fast train --resume {run_dir}", argv=["train", *flags, "--run-dir", str(run_dir)], capsys=capsys,
          lines=2)  # and the one-line warning that 4 of video_easy's 10 videos are not in upstream's repository
    state = ckpt.load_checkpoint(run_dir)
    assert state["step"] == 20 and state["pending_eval"] == {"step": 20, "policy": None}  # the agent's own weights
    (data / video).unlink()
    (data / video).symlink_to(ref.DATA / video)  # repaired
    monkeypatch.setattr(trainer_module, "train", synthetic_train(evaluator=evaluator, action_dim=1))
    code, err, _ = smg("train", "--resume", str(run_dir), "--no-progress", "--no-pictures", capsys=capsys)
    assert code == 0, err
    steps = [int(r.split(",")[0]) for r in (run_dir / "eval.csv").read_text().splitlines()[1:]]
    assert steps == [20, 30]


def test_an_evaluation_failure_keeps_the_evaluation_pending_across_a_resume(tmp_path, monkeypatch, capsys):
    """The same with a stand-in evaluator that fails at its second evaluation: the run's transitions are those
    of a run that never failed, and eval.csv has every evaluation step once."""
    class FailsOnce(NullEvaluator):
        def evaluate(self, agent, episodes, progress=None, watch=None):
            if self.evaluations == 1:
                raise RuntimeError("worker 0 died\n(a multi-line\ntraceback from the worker)")
            return super().evaluate(agent, episodes)

    flags = [*SYNTH_FLAGS[:SYNTH_FLAGS.index("eval_freq=10000")], "eval_freq=10",
             *SYNTH_FLAGS[SYNTH_FLAGS.index("eval_freq=10000") + 1:]]
    monkeypatch.setattr(trainer_module, "train", synthetic_train())
    code, err, _ = smg("train", *flags, "--run-dir", str(tmp_path / "ref"), capsys=capsys)
    assert code == 0, err
    monkeypatch.setattr(trainer_module, "train", synthetic_train(evaluator=FailsOnce()))
    run_dir = tmp_path / "r"
    fails(1, "the evaluation at step 20 failed (RuntimeError: traceback from the worker)",
          argv=["train", *flags, "--run-dir", str(run_dir)], capsys=capsys)
    monkeypatch.setattr(trainer_module, "train", synthetic_train())
    code, err, _ = smg("train", "--resume", str(run_dir), "--no-progress", "--no-pictures", capsys=capsys)
    assert code == 0, err
    assert_same_replay(ckpt.load_checkpoint(run_dir), ckpt.load_checkpoint(tmp_path / "ref"))
    rows = (run_dir / "eval.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [10, 20, 30]


# ---- divergence caught before the environment ------------------------------------------------------------

class NaNAt(SamplingAgent):
    """A synthetic agent whose ``key`` metric turns NaN in the updates from step ``loss_step`` on and whose
    actions turn NaN at ``action_step`` (the loop acts at step s after s - 6 updates: a burst of 5 at step 10,
    then one per step)."""

    def __init__(self, loss_step=None, action_step=None, key="critic/loss"):
        super().__init__(2, 4)
        self.loss_step, self.action_step, self.key = loss_step, action_step, key

    def act(self, obs, sample=False):
        a = super().act(obs, sample)
        return a * np.nan if self.action_step is not None and self.updates >= self.action_step - 6 else a

    def update(self, replay, step):
        metrics = super().update(replay, step)
        metrics["actor/loss"] = torch.tensor(1.0)
        if self.loss_step is not None and step >= self.loss_step:
            metrics[self.key] = torch.tensor(float("nan"))
        return metrics


class NoNaNEnv:
    """What dm_control does with a NaN action: refuse it (here: fail the test)."""

    @staticmethod
    def wrap(env):
        real = env.step

        def step(action):
            assert np.isfinite(action).all(), "a NaN/inf action reached the environment"
            return real(action)

        env.step = step
        return env


def test_a_nan_action_never_reaches_the_environment(tmp_path, monkeypatch, capsys):
    from synthetic import SyntheticEnv

    real_init = SyntheticEnv.__init__

    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        NoNaNEnv.wrap(self)

    monkeypatch.setattr(SyntheticEnv, "__init__", init)
    monkeypatch.setattr(trainer_module, "train", synthetic_train(agent=NaNAt(loss_step=14, action_step=16,
                                                                            key="actor/loss")))
    run_dir = tmp_path / "r"
    fails(1, "the policy's action at step 16 is NaN/inf", "actor/loss became NaN/inf first, in an update at step 14",
          f"{run_dir / 'checkpoint_nonfinite.json'}", "the last good checkpoint, step 10, is untouched",
          argv=["train", *SYNTH_FLAGS, "--run-dir", str(run_dir)], capsys=capsys)
    assert ckpt.load_checkpoint(run_dir)["step"] == 10
    assert ckpt.load_checkpoint(run_dir, name="checkpoint_nonfinite.json")["step"] == 16


def test_a_nan_loss_names_the_loss_that_went_first_and_its_step(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(trainer_module, "train", synthetic_train(agent=NaNAt(loss_step=13)))
    run_dir = tmp_path / "r"
    fails(1, "critic/loss became NaN/inf first, in an update at step 13; stopped at step 20",
          "the last good checkpoint, step 10, is untouched", argv=["train", *SYNTH_FLAGS, "--run-dir", str(run_dir)],
          capsys=capsys)
    assert ckpt.load_checkpoint(run_dir)["step"] == 10
    code, err, _ = smg("train", "--resume", str(run_dir), "--no-progress", "--no-pictures", capsys=capsys)
    assert code == 1 and "critic/loss became NaN/inf first" in err  # resumable: it diverges again, as it should


@pytest.mark.slow
def test_a_huge_learning_rate_stops_before_the_environment_with_the_state_saved(tmp_path):
    """A real run (cartpole, SAC) with learning rates of 1e30: the actor's weights overflow after the first
    updates; the NaN action is caught before dm_control sees it."""
    run_dir = tmp_path / "nan"
    out = subprocess.run([sys.executable, "-m", "smg_fast.cli", "train", *QUICK, "--algo", "sac", "--steps", "32",
                          "--batch-size", "4", "--eval-episodes", "1", "--eval-modes", "train", "--set",
                          "episode_length=64", "--set", "init_steps=8", "--set", "burst_updates=2", "--set",
                          "updates_per_step=1", "--set", "eval_freq=100000", "--set", "eval_envs=1", "--set",
                          "checkpoint_every=8", "--set", "replay_capacity=64", "--set", "actor_lr=1e30",
                          "--set", "critic_lr=1e30", "--run-dir", str(run_dir)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "is NaN/inf" in lines[0] and "became NaN/inf first, in an update at step 8" in lines[0], lines[0]
    assert (run_dir / "checkpoint_nonfinite.json").is_file()
    assert ckpt.load_checkpoint(run_dir)["step"] == 8


# ---- a real full disk, SIGHUP ----------------------------------------------------------------------------

def test_a_full_disk_inside_the_serializer_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    """The disk fills up while the step-20 checkpoint is written (after its state file, before its replay
    segment: torch's serializer meets ENOSPC in the middle of the segment's frames, 84×84 here so that they
    bypass the file's buffer, and reports it as "unexpected pos"); once space is freed the run resumes and
    finishes with the transitions of a run that never stopped."""
    monkeypatch.setattr(trainer_module, "train", synthetic_train(image_size=84))
    code, err, _ = smg("train", *SYNTH_FLAGS, "--run-dir", str(tmp_path / "ref"), capsys=capsys)
    assert code == 0, err
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        run_dir = disk / "r"
        filler = []
        seen = {"n": 0}

        def after(name):
            if name == "state":
                seen["n"] += 1
                if seen["n"] == 2:
                    filler.append(fill_disk(disk, leave=100_000))  # room for part of the segment's frames

        monkeypatch.setattr(ckpt, "_after_phase", after)
        fails(1, "could not write the checkpoint at step 20", "the disk is full", "replay-",
              "the last good checkpoint (step 10) is intact", f"smg-fast train --resume {run_dir}",
              # checkpoints written in the loop: the disk fills at a known point of the run
              argv=["train", *SYNTH_FLAGS, "--set", "async_checkpoint=false", "--run-dir", str(run_dir)],
              capsys=capsys)
        assert not list(run_dir.rglob(".*.tmp-*"))  # no temporary file left on the full disk
        assert ckpt.load_checkpoint(run_dir)["step"] == 10
        monkeypatch.setattr(ckpt, "_after_phase", lambda name: None)
        filler[0].unlink()
        code, err, _ = smg("train", "--resume", str(run_dir), "--no-progress", "--no-pictures", capsys=capsys)
        assert code == 0, err
        assert_same_replay(ckpt.load_checkpoint(run_dir), ckpt.load_checkpoint(tmp_path / "ref"))


def test_a_full_disk_at_a_log_write_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        run_dir = disk / "r"
        filler = []
        seen = {"n": 0}

        def after(name):
            if name == "prune":
                seen["n"] += 1
                if seen["n"] == 2:  # after the step-20 checkpoint: the final evaluation's log cannot be written
                    filler.append(fill_disk(disk))

        monkeypatch.setattr(ckpt, "_after_phase", after)
        monkeypatch.setattr(trainer_module, "train", synthetic_train())
        fails(1, "could not write the run's log at step 30: the disk is full",
              "the last good checkpoint (step 20) is intact", f"smg-fast train --resume {run_dir}",
              # checkpoints written in the loop: a background write could still be pruning when the disk fills
              argv=["train", *SYNTH_FLAGS, "--set", "async_checkpoint=false", "--run-dir", str(run_dir)],
              capsys=capsys)
        monkeypatch.setattr(ckpt, "_after_phase", lambda name: None)
        filler[0].unlink()
        code, err, out = smg("train", "--resume", str(run_dir), "--no-progress", "--no-pictures", capsys=capsys)
        assert code == 0, err
        assert "Evaluation at step 30" in out
        train_steps = [int(r.split(",")[0]) for r in (run_dir / "train.csv").read_text().splitlines()[1:]]
        assert train_steps == [10, 20, 30]


def test_an_mmap_replay_that_does_not_fit_the_disk_is_refused_before_the_run_starts(tmp_path, capsys):
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        fails(1, "replay_storage=mmap: the replay's frames need", "has 0.01 GiB free",
              argv=["train", *QUICK, "--eval-modes", "train", "--set", "replay_storage=mmap",
                    "--replay-capacity", "2000", "--run-dir", str(disk / "r")], capsys=capsys)
        assert not (disk / "r").exists()


MMAP = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from smg_fast.replay import ReplayBuffer
    from run_helpers import fill_disk
    buf = ReplayBuffer(100, (3, 84, 84), 2, storage="mmap", path={path!r})  # 2.1 MB of frames on a 4 MB disk
    fill_disk({disk!r})
    rng = np.random.default_rng(0)
    buf.add_first(rng.integers(0, 256, (3, 84, 84), dtype=np.uint8))
    for t in range(150):  # every slot written, the ring wrapped
        buf.add(np.zeros(2), 0.0, rng.integers(0, 256, (3, 84, 84), dtype=np.uint8), False)
    print("frames", buf.frames_added)
""")


def test_an_mmap_replay_is_allocated_up_front_so_a_disk_filled_later_cannot_kill_the_run(tmp_path):
    """Sparse, its pages would get their blocks when first written: on a full disk the process dies with SIGBUS
    (exit -7). Allocated when made, the frames are written whatever the disk's state."""
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        code = MMAP.format(tests=str(TESTS), path=str(disk / "replay.frames"), disk=str(disk))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
        assert "frames 151" in out.stdout
        from smg_fast.errors import NotAvailableError
        from smg_fast.replay import ReplayBuffer

        (disk / "filler").unlink()
        (disk / "replay.frames").unlink()
        with pytest.raises(NotAvailableError, match=r"needs 0.01 GiB on its disk, which has 0.00 GiB free"):
            ReplayBuffer(400, (3, 84, 84), 2, storage="mmap", path=str(disk / "big.frames"))  # 8.5 MB
        assert not (disk / "big.frames").exists()


HUP = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from smg_fast.run import trainer
    from smg_fast import cli
    from run_helpers import SYNTH_FLAGS, synthetic_train
    from synthetic import SamplingAgent
    trainer.train = synthetic_train(agent=SamplingAgent(2, 4, update_hook=lambda n: time.sleep(0.05)))
    cli.main(["train", *SYNTH_FLAGS, "--steps", "400", "--run-dir", {run_dir!r}])
""")


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_closed_terminal_stops_the_run_with_a_checkpoint_like_sigterm(tmp_path, sig, capsys, monkeypatch):
    run_dir = tmp_path / "r"
    code = HUP.format(tests=str(TESTS), run_dir=str(run_dir))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.time() + 300
    while not (run_dir / "checkpoint.json").is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    name = signal.Signals(sig).name
    assert proc.returncode == 128 + sig, err[-3000:]
    assert f"{name} at step" in err and f"--resume {run_dir}" in err and "Traceback" not in err
    state = ckpt.load_checkpoint(run_dir)
    assert 10 <= state["step"] < 400 and f"{name} at step {state['step']}:" in err
    assert state["replay"]["transitions_added"] == state["step"]
    monkeypatch.setattr(trainer_module, "train", synthetic_train())
    code, err, _ = smg("train", "--resume", str(run_dir), "--steps", str(state["step"] + 10), "--no-progress",
                       "--no-pictures", capsys=capsys)
    assert code == 0, err
    assert ckpt.load_checkpoint(run_dir)["step"] == state["step"] + 10


def test_sighup_from_a_terminal_that_is_gone_still_saves_and_exits_129(tmp_path, capsys, monkeypatch):
    """The run's stdout and stderr are a terminal (a pty) that is closed before SIGHUP arrives, as when an ssh
    session drops: every write to it fails with EIO. The message cannot be shown, but the checkpoint is written
    and the exit status says what happened."""
    import pty

    run_dir = tmp_path / "r"
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    code = HUP.format(tests=str(TESTS), run_dir=str(run_dir))
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    os.close(slave)
    deadline = time.time() + 300
    while not (run_dir / "checkpoint.json").is_file() and time.time() < deadline and proc.poll() is None:
        try:
            os.read(master, 65536)  # keep the terminal's buffer from filling
        except OSError:
            pass
        time.sleep(0.05)
    os.close(master)  # the terminal is gone
    time.sleep(0.2)
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=300) == 128 + signal.SIGHUP
    state = ckpt.load_checkpoint(run_dir)
    assert 10 <= state["step"] < 400 and state["replay"]["transitions_added"] == state["step"]
    monkeypatch.setattr(trainer_module, "train", synthetic_train())
    code, err, _ = smg("train", "--resume", str(run_dir), "--steps", str(state["step"] + 10), "--no-progress",
                       "--no-pictures", capsys=capsys)
    assert code == 0, err
