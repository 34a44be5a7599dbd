"""Checkpoints: incremental replay segments (bytes independent of the replay's fill), atomic at every phase
(a process killed in any phase leaves the previous checkpoint loadable), integrity records (corrupted or
truncated files refused, the previous checkpoint offered), disk-full handling, the run-directory lock, a
stop inside the update burst that resumes where it stopped, and extending a finished run. The loop runs
over synthetic stand-ins (synthetic): no rendering, no networks."""
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from smg_fast.run import checkpoint as ckpt
from smg_fast.config import make_config
from smg_fast.replay import ReplayBuffer
from smg_fast.run.directory import RunDirError, RunLock
from synthetic import synthetic_trainer
from smg_fast.run.trainer import TrainingStopped

SIZE, A = 8, 2


def config(run_dir, **kw):
    values = dict(train_steps=60, init_steps=10, burst_updates=5, updates_per_step=1, replay_capacity=40,
                  checkpoint_every=20, eval_freq=10_000, eval_modes=("train",), eval_episodes=1, batch_size=4)
    values.update(kw)
    cfg = make_config("walker-walk", "sac", "quick", **values)
    cfg.run_dir = str(run_dir)
    return cfg


def run(cfg, **kw):
    trainer = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4, **kw)
    try:
        trainer.run()
    finally:
        trainer.close()
    return trainer


def manifest(run_dir):
    return json.loads((Path(run_dir) / "checkpoint.json").read_text())


def test_segments_hold_only_what_was_added_and_old_ones_are_pruned(tmp_path):
    cfg = config(tmp_path / "r", train_steps=100, replay_capacity=40)
    run(cfg)
    m = manifest(tmp_path / "r")
    # The window of a 40-transition ring at step 100 needs only the last segments; the rest were deleted.
    assert m["step"] == 100 and m["segments"][-1]["frames_to"] == 110  # 100 steps + 10 resets
    assert all(s["frames_to"] > 110 - 40 for s in m["segments"])
    on_disk = sorted(p.name for p in (tmp_path / "r" / "checkpoint").iterdir())
    named = {Path(s["file"]).name for e in (m, m["previous"]) for s in e["segments"]}
    named |= {Path(m["state"]["file"]).name, Path(m["previous"]["state"]["file"]).name}
    named |= {f"manifest-{e['step']:010d}.json" for e in (m, m["previous"])}  # the copies for recovery
    assert set(on_disk) == named
    # Each segment holds the frames between two checkpoints (20 steps + 2 resets): equal sizes.
    sizes = [s["bytes"] for s in m["segments"]]
    assert max(sizes) <= 1.05 * min(sizes)


@pytest.mark.parametrize("storage", ["memory", "mmap"])
def test_resume_rebuilds_the_replay_exactly(tmp_path, storage):
    full = run(config(tmp_path / "full", replay_storage=storage))
    cut = config(tmp_path / "cut", train_steps=40, replay_storage=storage)
    run(cut)
    cut.train_steps = 60
    resumed = synthetic_trainer(cut, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4, resume=True)
    try:
        resumed.run()
    finally:
        resumed.close()
    a, b = full.replay, resumed.replay
    for name in ("frames", "frame_pos", "next_slot", "action", "reward", "not_done"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (a.frames_added, a.transitions_added, a.first_valid) == (b.frames_added, b.transitions_added, b.first_valid)
    assert torch.equal(a.sample(8)["obs"], b.sample(8)["obs"])  # same generator state too


def test_export_import_round_trip_across_the_ring_wrap():
    """Segments exported at checkpoints while the ring wraps, imported oldest first into a fresh buffer,
    give the same buffer (records of the window, counters, sampling)."""
    rng = np.random.default_rng(0)
    frame = lambda: torch.from_numpy(rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8))  # noqa: E731
    buf = ReplayBuffer(13, (3, SIZE, SIZE), A, seed=1)
    segments, f0, t0 = [], 0, 0
    buf.add_first(frame())
    for t in range(40):
        if t % 7 == 6:
            buf.add_first(frame())
        buf.add(rng.uniform(-1, 1, A), float(t), frame(), t % 11 == 10)
        if t % 9 == 8 or t == 39:
            segments.append(buf.export_range(f0, t0))
            f0, t0 = buf.frames_added, buf.transitions_added
    assert segments[1]["frames_from"] == segments[0]["frames_to"]
    clone = ReplayBuffer(13, (3, SIZE, SIZE), A, seed=5)
    clone.load_small_state(buf.small_state())
    for seg in segments:
        clone.import_range(seg)
    for name in ("frames", "frame_pos", "next_slot", "action", "reward", "not_done"):
        assert torch.equal(getattr(buf, name), getattr(clone, name)), name
    assert np.array_equal(buf._oldest_needed, clone._oldest_needed)
    assert torch.equal(buf.sample(6)["obs"], clone.sample(6)["obs"])


CRASH = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from smg_fast.run import checkpoint as ckpt
    from test_checkpoint import config, run
    phase = {phase!r}
    calls = {{"n": 0}}
    def after(name):
        if name == phase:
            calls["n"] += 1
            if calls["n"] == 2:  # the second checkpoint: the first must survive
                os._exit(9)
    ckpt._after_phase = after
    run(config({run_dir!r}, train_steps=60, checkpoint_every=20))
""")


@pytest.mark.parametrize("phase", ["state", "segment", "manifest", "prune"])
def test_a_process_killed_in_any_phase_leaves_a_loadable_checkpoint(tmp_path, phase):
    run_dir = tmp_path / "r"
    code = CRASH.format(tests=str(Path(__file__).parent), phase=phase, run_dir=str(run_dir))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 9, out.stderr[-2000:]
    state = ckpt.load_checkpoint(run_dir)
    # Killed before the new manifest: the first checkpoint (step 20); after it: the second (step 40).
    assert state["step"] == (40 if phase in ("manifest", "prune") else 20)
    assert state["replay"]["transitions_added"] == state["step"]
    cfg = config(run_dir, train_steps=60, checkpoint_every=20)
    resumed = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4, resume=True)
    try:
        resumed.run()
    finally:
        resumed.close()
    assert manifest(run_dir)["step"] == 60


def test_corrupted_or_truncated_checkpoints_are_refused_and_the_previous_one_loads(tmp_path):
    run_dir = tmp_path / "r"
    run(config(run_dir))
    m = manifest(run_dir)
    state_file = run_dir / m["state"]["file"]
    data = bytearray(state_file.read_bytes())
    data[1000:5096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    state_file.write_bytes(bytes(data))
    with pytest.raises(ckpt.CheckpointError, match="corrupted") as e:
        ckpt.load_checkpoint(run_dir)
    assert str(state_file) in str(e.value) and f"step {m['previous']['step']}" in str(e.value)
    assert "--previous-checkpoint" in str(e.value)
    assert ckpt.load_checkpoint(run_dir, previous=True)["step"] == m["previous"]["step"]
    seg = run_dir / m["segments"][-1]["file"]
    seg.write_bytes(seg.read_bytes()[:100])
    with pytest.raises(ckpt.CheckpointError, match="truncated"):
        ckpt.load_state(run_dir)


def test_disk_full_while_checkpointing_keeps_the_last_good_one(tmp_path, monkeypatch):
    run_dir = tmp_path / "r"
    cfg = config(run_dir)
    trainer = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4)
    real = ckpt.atomic_save
    calls = {"n": 0}

    def full(obj, path):
        calls["n"] += 1
        if calls["n"] > 2:  # the first checkpoint's state and segment succeed
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(obj, path)

    monkeypatch.setattr(ckpt, "atomic_save", full)
    try:
        with pytest.raises(ckpt.CheckpointError, match="the disk is full.*last good checkpoint \\(step 20\\) is intact"):
            trainer.run()
    finally:
        trainer.close()
    assert ckpt.load_checkpoint(run_dir)["step"] == 20
    assert not [p for p in (run_dir / "checkpoint").iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_a_run_directory_is_locked_while_in_use(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    with RunLock(run_dir):
        with pytest.raises(RunDirError, match=f"pid {os.getpid()}"):
            RunLock(run_dir).acquire()
        code = f"from smg_fast.run.directory import RunLock; RunLock({str(run_dir)!r}).acquire()"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode != 0 and f"in use by another smg-fast process (pid {os.getpid()})" in out.stderr
    RunLock(run_dir).acquire().release()  # free again


def test_a_stop_inside_the_update_burst_takes_effect_after_one_update_and_resumes_there(tmp_path):
    run_dir = tmp_path / "r"
    cfg = config(run_dir, init_steps=10, burst_updates=50, train_steps=30)

    def stop_after_7(n):
        if n == 7:
            os.kill(os.getpid(), signal.SIGTERM)

    trainer = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4,
                                update_hook=stop_after_7)
    try:
        with pytest.raises(TrainingStopped):
            trainer.run()
    finally:
        trainer.close()
    assert trainer.agent.updates == 7
    state = ckpt.load_checkpoint(run_dir)
    assert state["step"] == 10 and state["updates_done_at_step"] == 7
    resumed = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4, resume=True)
    try:
        resumed.run()
    finally:
        resumed.close()
    # the rest of the burst (43), then one update per step for steps 11..29
    assert resumed.agent.updates == 7 + 43 + 19


def test_resume_with_more_steps_extends_a_finished_run(tmp_path):
    run_dir = tmp_path / "r"
    cfg = config(run_dir, train_steps=30)
    run(cfg)
    cfg.train_steps = 50
    trainer = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=10, batch_size=4, resume=True)
    try:
        trainer.run()
    finally:
        trainer.close()
    assert manifest(run_dir)["step"] == 50
    steps = [int(r.split(",")[0]) for r in (run_dir / "train.csv").read_text().splitlines()[1:]]
    assert steps == list(range(10, 51, 10))
