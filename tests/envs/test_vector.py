"""VectorEnv: results equal single envs, auto-reset convention, async subsets, crashes and clean shutdown."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from smg_fast import envs
from smg_fast.data import MissingDataError

TASK, EPISODE = "walker-walk", 12  # 3 agent steps per episode


def _gone(pid: int, within: float = 10.0) -> bool:
    """True once ``pid`` no longer exists (or is a zombie nobody will reap)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def vec():
    v = envs.VectorEnv(TASK, "train", num_envs=2, seed=10, episode_length=EPISODE)
    yield v
    v.close()


def test_results_match_single_envs_with_same_step_autoreset(vec):
    singles = [envs.make(TASK, "train", seed=10 + i, episode_length=EPISODE) for i in range(2)]
    obs, info = vec.reset(seed=10)
    assert obs.shape == (2, 9, 84, 84) and obs.dtype == np.uint8
    np.testing.assert_array_equal(info["env_id"], [0, 1])
    for i, s in enumerate(singles):
        np.testing.assert_array_equal(obs[i], s.reset()[0])
    actions = np.random.default_rng(0).uniform(-1, 1, (vec.max_episode_steps, 2, 6))
    for t, a in enumerate(actions):
        obs, reward, terminated, truncated, info = vec.step(a)
        last = t == vec.max_episode_steps - 1
        assert truncated.tolist() == [last, last] and not terminated.any()
        for i, s in enumerate(singles):
            o, r, _, _, _ = s.step(a[i])
            assert reward[i] == r
            np.testing.assert_array_equal(info["final_obs"][i], o)  # the transition's true next obs
            if last:  # the returned obs already starts the next episode
                np.testing.assert_array_equal(obs[i], s.reset()[0])
                assert info["episode_length"][i] == vec.max_episode_steps
            else:
                np.testing.assert_array_equal(obs[i], o)
                assert np.isnan(info["episode_return"][i])
    for s in singles:
        s.close()


def test_send_recv_subsets(vec):
    vec.reset(seed=0)
    vec.send(np.zeros((1, 6)), env_ids=[1])
    with pytest.raises(RuntimeError, match="in flight"):
        vec.send(np.zeros((1, 6)), env_ids=[1])
    vec.send(np.zeros((1, 6)), env_ids=[0])
    obs, reward, term, trunc, info = vec.recv(batch_size=1)  # the first to finish
    assert len(info["env_id"]) == 1 and obs.shape == (1, 9, 84, 84)
    first = int(info["env_id"][0])
    obs, *_, info = vec.recv()
    assert info["env_id"].tolist() == [1 - first]
    with pytest.raises(RuntimeError, match="send"):
        vec.recv()


def test_recv_returns_exactly_batch_size_when_more_have_finished(vec):
    vec.reset(seed=0)
    vec.send(np.zeros((2, 6)))
    time.sleep(2.0)  # both workers have replied by now; recv(1) must still hand back one
    obs, *_, first = vec.recv(batch_size=1)
    assert len(first["env_id"]) == 1 and obs.shape == (1, 9, 84, 84)
    obs, *_, second = vec.recv()
    assert sorted(first["env_id"].tolist() + second["env_id"].tolist()) == [0, 1]


def test_bad_actions_raise_and_leave_it_usable(vec):
    vec.reset()
    with pytest.raises(ValueError, match=r"envs \[1\].*NaN"):
        vec.step(np.array([[0.0] * 6, [np.nan] + [0.0] * 5]))
    with pytest.raises(ValueError, match="out of bounds"):
        vec.step(np.full((2, 6), 2.0))
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.zeros((3, 6)))
    obs, *_ = vec.step(np.zeros((2, 6)))
    assert obs.shape == (2, 9, 84, 84)


def test_killed_worker_raises_quickly_and_leaves_no_orphans():
    v = envs.VectorEnv(TASK, "train", num_envs=2, seed=0, episode_length=EPISODE)
    v.reset()
    pids = v.pids
    os.kill(pids[1], signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"worker 1 .*killed by signal 9"):
        for _ in range(10):
            v.step(np.zeros((2, 6)))
    assert time.monotonic() - start < 5.0
    assert all(_gone(p) for p in pids)
    with pytest.raises(RuntimeError, match="closed"):
        v.reset()


def test_worker_exceptions_reach_the_caller(tmp_path):
    with pytest.raises(MissingDataError, match="smg-fast data download dmcgb"):
        envs.VectorEnv(TASK, "color_hard", num_envs=1, seed=0, data_dir=tmp_path)


def test_close_and_interpreter_exit_leave_no_orphans(tmp_path):
    v = envs.VectorEnv(TASK, "train", num_envs=1, seed=0, episode_length=EPISODE)
    pids = v.pids
    v.close()
    v.close()  # idempotent
    assert all(_gone(p) for p in pids)

    script = tmp_path / "exit_without_close.py"
    script.write_text(
        "from smg_fast import envs\n"
        "if __name__ == '__main__':\n"
        f"    v = envs.VectorEnv({TASK!r}, 'train', num_envs=2, seed=0, episode_length={EPISODE})\n"
        "    v.reset()\n"
        "    print(*v.pids, flush=True)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(repo)))
    assert res.returncode == 0, res.stderr
    child_pids = [int(p) for p in res.stdout.split()]
    assert len(child_pids) == 2 and all(_gone(p) for p in child_pids)


def test_video_envs_share_out_the_upstream_video_sequence():
    """N envs show videos 1..N in their first episodes, N+1..2N in their second: one upstream env's order."""
    v = envs.VectorEnv(TASK, "video_easy", num_envs=2, seed=0, episode_length=4, background_source="procedural")
    _, info = v.reset()
    assert [d["video"] for d in info["env_infos"]] == ["procedural1", "procedural2"]
    *_, truncated, info = v.step(np.zeros((2, 6)))
    assert truncated.all()
    assert [d["reset_info"]["video"] for d in info["env_infos"]] == ["procedural3", "procedural4"]
    v.close()


def test_assigned_resets_without_autoreset():
    """The evaluator's protocol: envs reset one by one with their episode's options, and a finished env
    waits for its next assignment instead of resetting itself."""
    v = envs.VectorEnv(TASK, "color_easy", num_envs=2, seed=0, episode_length=4, autoreset=False)
    try:
        obs, info = v.reset(env_ids=[1], options=[{"color": 7, "episode": 0}])
        assert obs.shape == (1, 9, 84, 84) and info["env_id"].tolist() == [1]
        assert info["env_infos"][0]["color_index"] == 7 and info["env_infos"][0]["episode"] == 0
        with pytest.raises(RuntimeError, match=r"envs \[0\] need a reset"):
            v.step(np.zeros((2, 6)))
        v.reset(env_ids=[0], options={"color": 3})
        obs, reward, terminated, truncated, info = v.step(np.zeros((2, 6)))  # 1 agent step: both end
        assert truncated.all() and np.isfinite(info["episode_return"]).all()
        np.testing.assert_array_equal(info["final_obs"], obs)  # no new episode was started
        assert all("reset_info" not in d for d in info["env_infos"])
        with pytest.raises(RuntimeError, match=r"envs \[0, 1\] need a reset"):
            v.step(np.zeros((2, 6)))
        v.reset(env_ids=[0])
        v.send(np.zeros((1, 6)), env_ids=[0])
        with pytest.raises(RuntimeError, match=r"pending for envs \[0\]"):
            v.reset(env_ids=[0])
        _, info = v.reset(env_ids=[1], options=[{"color": 9}])  # while env 0 steps
        assert info["env_infos"][0]["color_index"] == 9
        v.recv()
        with pytest.raises(ValueError, match="one per env"):
            v.reset(env_ids=[0, 1], options=[{"color": 1}])
    finally:
        v.close()
