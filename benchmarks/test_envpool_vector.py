"""The envpool comparison backend (``envpool_vector.py``): VectorEnv's API and this package's action-repeat
semantics, so that ``test_bench_envs.py`` compares like with like.

The tests that step envpool run where it is installed (``pip install '.[envpool]'``); CI does not
install it (~300 MB of assets), so there they are skipped and only the backend-free checks run."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from envpool_vector import EnvpoolVectorEnv, envpool_task_id

HAVE_ENVPOOL = importlib.util.find_spec("envpool") is not None
needs_envpool = pytest.mark.skipif(not HAVE_ENVPOOL, reason="envpool not installed (pip install '.[envpool]')")


def test_task_ids():
    assert envpool_task_id("walker-walk") == "WalkerWalk-v1"
    assert envpool_task_id("ball_in_cup-catch") == "BallInCupCatch-v1"
    assert envpool_task_id("cartpole-swingup") == "CartpoleSwingup-v1"
    with pytest.raises(ValueError, match="domain-task"):
        envpool_task_id("walker")


def test_test_modes_are_refused_before_envpool_is_needed():
    with pytest.raises(ValueError, match="train scene only"):
        EnvpoolVectorEnv("walker-walk", mode="video_hard")


@pytest.mark.skipif(HAVE_ENVPOOL, reason="envpool is installed")
def test_missing_envpool_names_the_install_command():
    with pytest.raises(ImportError, match=r"pip install '.\[envpool\]'"):
        EnvpoolVectorEnv("walker-walk")


@needs_envpool
def test_action_repeat_sums_rewards_and_keeps_the_last_frame():
    actions = np.random.default_rng(0).uniform(-1, 1, (6, 1, 6))
    rep = EnvpoolVectorEnv("walker-walk", num_envs=1, seed=3, action_repeat=3, frame_stack=2)
    one = EnvpoolVectorEnv("walker-walk", num_envs=1, seed=3, action_repeat=1, frame_stack=1)
    try:
        obs_r, _ = rep.reset()
        obs_1, _ = one.reset()
        np.testing.assert_array_equal(obs_r[0, :3], obs_1[0])  # same seed, same first frame
        np.testing.assert_array_equal(obs_r[0, 3:], obs_1[0])  # the stack starts as copies of it
        for a in actions:
            o, r, term, trunc, info = rep.step(a)
            total = 0.0
            for _ in range(3):
                o1, r1, *_ = one.step(a)
                total += r1[0]
            assert r[0] == pytest.approx(total, rel=1e-6, abs=1e-9)
            np.testing.assert_array_equal(o[0, 3:], o1[0])  # newest frame = the last control step's
            assert o.shape == (1, 6, 84, 84) and o.dtype == np.uint8
    finally:
        rep.close()
        one.close()


@needs_envpool
def test_episode_end_auto_resets_like_vector_env():
    v = EnvpoolVectorEnv("walker-walk", num_envs=2, seed=0, action_repeat=4, episode_length=16)
    try:
        v.reset()
        assert v.max_episode_steps == 4
        for t in range(4):
            obs, reward, term, trunc, info = v.step(np.zeros((2, 6)))
        assert trunc.all() and not term.any()
        assert (info["episode_length"] == 4).all() and np.isfinite(info["episode_return"]).all()
        assert (info["final_obs"] != obs).any()  # obs is the new episode's first stack
        np.testing.assert_array_equal(obs[:, :3], obs[:, 6:])  # ... made of copies of one frame
        obs, reward, term, trunc, info = v.step(np.zeros((2, 6)))
        assert not (term | trunc).any() and np.isnan(info["episode_return"]).all()
        v.send(np.zeros((1, 6)), env_ids=[1])
        with pytest.raises(RuntimeError, match="in flight"):
            v.send(np.zeros((1, 6)), env_ids=[1])
        obs, *_, info = v.recv()
        assert info["env_id"].tolist() == [1] and obs.shape == (1, 9, 84, 84)
        with pytest.raises(ValueError, match="out of bounds"):
            v.step(np.full((2, 6), 2.0))
        with pytest.raises(ValueError, match="NaN"):
            v.step(np.full((2, 6), np.nan))
    finally:
        v.close()
    with pytest.raises(RuntimeError, match="closed"):
        v.step(np.zeros((2, 6)))
