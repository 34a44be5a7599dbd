"""The plain (train-mode) pixel environment: spaces, action repeat, episodes, frame stack, seeds, errors."""
from __future__ import annotations

import numpy as np
import pytest

from smg_fast import envs
from smg_fast.envs.tasks import camera_id

EPISODE = 24  # control steps: 6 agent steps of walker (action repeat 4)


@pytest.fixture(scope="module")
def walker():
    env = envs.make("walker-walk", seed=0, episode_length=EPISODE)
    yield env
    env.close()


def test_paper_action_repeats_and_cameras():
    assert envs.default_action_repeat("cartpole-swingup") == 8
    assert envs.default_action_repeat("finger-spin") == 2
    for task in ("walker-walk", "walker-stand", "cheetah-run", "reacher-easy", "ball_in_cup-catch"):
        assert envs.default_action_repeat(task) == 4
    assert camera_id("quadruped") == 2 and camera_id("walker") == 0


def test_spaces(walker):
    assert walker.observation_space.shape == (9, 84, 84) and walker.observation_space.dtype == np.uint8
    assert walker.action_space.shape == (6,)
    assert np.all(walker.action_space.low == -1) and np.all(walker.action_space.high == 1)
    assert walker.action_repeat == 4 and walker.max_episode_steps == EPISODE // 4
    obs, info = walker.reset(seed=0)
    assert obs.shape == (9, 84, 84) and obs.dtype == np.uint8 and walker.observation_space.contains(obs)


def test_matches_dm_control_rewards_pixels_and_truncation(walker):
    """Rewards are dm_control's summed over the repeats; the newest frame is camera 0 at 84x84, no crop."""
    from dm_control import suite

    raw = suite.load("walker", "walk", task_kwargs={"random": 0})
    walker.reset(seed=0)
    raw.reset()
    np.testing.assert_array_equal(walker.physics.get_state(), raw.physics.get_state())
    rng = np.random.default_rng(0)
    for t in range(walker.max_episode_steps):
        a = rng.uniform(-1, 1, 6)
        obs, reward, terminated, truncated, _ = walker.step(a)
        expected = sum(raw.step(((a + 1) / 2 * 2 - 1).astype(np.float32)).reward for _ in range(4))
        assert reward == pytest.approx(expected, abs=1e-9)
        assert terminated is False
        assert truncated is (t == walker.max_episode_steps - 1)
    np.testing.assert_array_equal(obs[-3:], raw.physics.render(84, 84, camera_id=0).transpose(2, 0, 1))
    with pytest.raises(RuntimeError, match="reset"):
        walker.step(np.zeros(6))


def test_frame_stack_oldest_first(walker):
    obs0, _ = walker.reset(seed=1)
    np.testing.assert_array_equal(obs0[0:3], obs0[6:9])
    np.testing.assert_array_equal(obs0[3:6], obs0[6:9])
    obs1, *_ = walker.step(np.full(6, 0.5))
    obs2, *_ = walker.step(np.full(6, -0.5))
    np.testing.assert_array_equal(obs1[0:6], obs0[3:9])  # shifted by one frame
    np.testing.assert_array_equal(obs2[0:6], obs1[3:9])
    np.testing.assert_array_equal(obs2[6:9], walker.render().transpose(2, 0, 1))
    assert not np.array_equal(obs2[6:9], obs1[6:9])  # the walker moved


def test_seeds_are_deterministic(walker):
    other = envs.make("walker-walk", seed=3, episode_length=EPISODE)
    actions = np.random.default_rng(1).uniform(-1, 1, (3, 6))
    runs = []
    for env, reset_seed in ((other, None), (walker, 3)):  # a fresh env == a reset with its seed
        obs, _ = env.reset(seed=reset_seed)
        frames = [obs] + [env.step(a)[0] for a in actions]
        runs.append(np.stack(frames))
    np.testing.assert_array_equal(runs[0], runs[1])
    first_other_seed, _ = walker.reset(seed=4)
    assert not np.array_equal(first_other_seed, runs[0][0])
    other.close()


def test_action_errors(walker):
    walker.reset(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        walker.step(np.array([0, 0, np.nan, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"out of bounds \[-1, 1\] at indices \[1\]"):
        walker.step(np.array([0, 1.5, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="shape"):
        walker.step(np.zeros(5))
    with pytest.raises(ValueError, match="float array"):
        walker.step(["a"] * 6)
    obs, *_ = walker.step(np.array([-1, 1, -1, 1, -1, 1], dtype=np.float32))  # the bounds are inclusive
    assert obs.shape == (9, 84, 84)


def test_other_suite_tasks_and_bad_names():
    env = envs.make("ball_in_cup-catch", seed=0, episode_length=8)
    assert env.action_repeat == 4 and env.max_episode_steps == 2 and env.action_space.shape == (2,)
    env.reset()
    assert env.step(np.zeros(2))[3] is False
    assert env.step(np.zeros(2))[3] is True  # truncated after 8 control steps
    env.close()
    with pytest.raises(ValueError, match="walker-walk"):
        envs.make("walker-wlak")
    with pytest.raises(ValueError, match="unknown mode"):
        envs.make("walker-walk", mode="video_medium")
