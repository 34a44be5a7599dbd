"""The evaluation protocol: every episode's video, colour entry and start state come from one schedule that
mirrors upstream's single, persistent test env, so per-episode returns do not depend on how many workers
run the evaluation (issue 21). Runs offline against the session's data folder (see tests/reference_files.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import reference_files
from smg_fast import envs
from smg_fast.envs.backgrounds import VideoSequence
from smg_fast.envs.episodes import initial_start_state
from smg_fast.run.evaluate import EpisodeSchedule, Evaluator, run_episodes
from smg_fast.tasks import DMC_MODES, env_kwargs


@dataclass
class Run:
    """What the evaluator reads of a run's config (as ``smg_fast.tasks.env_kwargs`` does)."""

    task: str
    seed: int = 0
    frame_stack: int = 3
    image_size: int = 84
    action_repeat: int = 4
    episode_length: int = 4  # control steps: 1 agent step at action repeat 4
    eval_start_seed: str = "train"


class PixelPolicy:
    """Deterministic and cheap: actions from the mean colours of the newest frame's quadrants, so that
    another colour entry, video or start state gives other actions. One observation at a time, in
    float64: no batch-dependent rounding."""

    def __init__(self, action_dim: int):
        self.w = np.random.default_rng(0).standard_normal((action_dim, 12))

    def act(self, obs, sample: bool = False) -> np.ndarray:
        out = []
        for o in np.asarray(obs):
            f = o[-3:].astype(np.float64) / 255.0
            h, w = f.shape[1] // 2, f.shape[2] // 2
            feats = np.concatenate([q.mean(axis=(1, 2)) for q in (f[:, :h, :w], f[:, :h, w:], f[:, h:, :w],
                                                                  f[:, h:, w:])])
            out.append(np.tanh(3.0 * self.w @ (feats - 0.5)))
        return np.stack(out).astype(np.float32)


def _upstream_colours(seed: int, n: int) -> list[int]:
    """Upstream's ColorWrapper of a test env: RandomState(seed + 42), randint(100) at every reset."""
    rng = np.random.RandomState(seed + 42)
    return [int(rng.randint(100)) for _ in range(n)]


# -- the schedule pinned to upstream's -----------------------------------------------------------------

# Upstream's VideoWrapper: _index = (_index + 1) % n_videos at every reset, from 0, across evaluations.
UPSTREAM_VIDEOS_3_PER_EVAL = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
# RandomState(42) / RandomState(43), randint(100), the first six resets (evaluations 1 and 2 of 3 episodes).
UPSTREAM_COLOURS = {0: [[51, 92, 14], [71, 60, 20]], 1: [[68, 64, 49], [21, 58, 16]]}


@pytest.mark.parametrize("mode,n_videos", [("video_easy", 10), ("video_hard", 100)])
def test_videos_of_evaluations_1_to_3_are_upstreams(mode, n_videos):
    names = [f"video{i}.mp4" for i in range(n_videos)]
    seq = VideoSequence(names, lambda i, seed: np.zeros((1, 3, 2, 2), np.uint8))
    for seed in (0, 1):
        schedule = EpisodeSchedule("walker-walk", mode, seed)
        shown = []
        for _ in range(3):
            episodes = []
            for _ in range(3):
                options = schedule.next()
                episodes.append(int(seq.at(options["episode"])[0][len("video"):-len(".mp4")]))
                schedule.started({"next_start_state": options["start_state"]})
            shown.append(episodes)
        assert shown == UPSTREAM_VIDEOS_3_PER_EVAL
    # The paper's tables use 5 episodes: evaluation 3 shows videos 11..15 (video_hard) / 1, 2, 3, 4, 5.
    assert [int(seq.at(n)[0][5:-4]) for n in range(10, 15)] == [(n + 1) % n_videos for n in range(10, 15)]


@pytest.mark.parametrize("mode", ["color_easy", "color_hard"])
@pytest.mark.parametrize("seed", [0, 1])
def test_colour_entries_of_the_first_evaluations_are_upstreams(mode, seed):
    schedule = EpisodeSchedule("walker-walk", mode, seed)
    drawn = []
    for _ in range(2):
        evaluation = []
        for _ in range(3):
            options = schedule.next()
            evaluation.append(options["color"])
            schedule.started({"next_start_state": options["start_state"]})
        drawn.append(evaluation)
    assert drawn == UPSTREAM_COLOURS[seed]
    assert sum(drawn, []) == _upstream_colours(seed, 6)
    # The old split over two workers (seed + 42 + i each) gave 51, 68, 92 for seed 0: not upstream's.


def test_schedule_refuses_to_assign_before_the_previous_reset_reported():
    schedule = EpisodeSchedule("walker-walk", "train", 0)
    schedule.next()
    with pytest.raises(RuntimeError, match="started"):
        schedule.next()
    with pytest.raises(ValueError, match="start_seed"):
        EpisodeSchedule("walker-walk", "train", 0, start_seed="random")


# -- invariance to the number of workers -----------------------------------------------------------------

class FirstWorkers:
    """The first ``k`` workers of a VectorEnv seen as a VectorEnv of ``k`` envs: what :func:`run_episodes`
    sees of an evaluation with ``k`` workers (one 3-worker VectorEnv per mode serves 1, 2 and 3 workers;
    the evaluator's own ``eval_envs`` path is exercised with a real agent below)."""

    def __init__(self, vec, k: int):
        self.vec, self.k, self.autoreset, self.obs_shape = vec, k, vec.autoreset, vec.obs_shape

    def __len__(self) -> int:
        return self.k

    def reset(self, env_ids, options):
        assert max(env_ids) < self.k
        return self.vec.reset(env_ids=env_ids, options=options)

    def send(self, actions, env_ids):
        assert max(env_ids) < self.k
        self.vec.send(actions, env_ids=env_ids)

    def recv(self):
        return self.vec.recv()


def _expected_videos(mode: str, episodes: int) -> list[str]:
    """Upstream's order over the files present: episode n shows item (n + 1) mod count (the reference data
    lacks video_easy 3, 4, 5 and 7, which are skipped)."""
    folder = reference_files.DATA / "dmcgb" / mode
    names = [f"video{i}.mp4" for i in range(100 if mode == "video_hard" else 10)]
    present = [n for n in names if (folder / n).is_file()]
    return [present[(n + 1) % len(present)] for n in range(episodes)]


@pytest.mark.parametrize("mode", DMC_MODES)
def test_returns_do_not_depend_on_workers_or_episodes_per_evaluation(mode):
    """1, 2 and 3 workers, 3 and 4 episodes per evaluation, two evaluations each: episode n has the same
    return everywhere, and the video / colour entry upstream's single test env gives it."""
    run = Run("walker-walk")
    policy = PixelPolicy(6)
    vec = envs.VectorEnv(run.task, mode, 3, run.seed, autoreset=False, **env_kwargs(run))
    by_episode: dict[int, float] = {}
    try:
        for workers in (1, 2, 3):
            for per_eval in (3, 4):
                schedule = EpisodeSchedule(run.task, mode, run.seed)
                records = []
                for _ in range(2):
                    records += run_episodes(FirstWorkers(vec, workers), policy, per_eval, schedule)
                assert [r["episode"] for r in records] == list(range(2 * per_eval))
                for r in records:
                    assert by_episode.setdefault(r["episode"], r["return"]) == r["return"], (workers, per_eval, r)
                if mode.startswith("video"):
                    assert [Path(r["video"]).name for r in records] == _expected_videos(mode, 2 * per_eval)
                if mode.startswith("color"):
                    assert [r["color_index"] for r in records] == _upstream_colours(run.seed, 2 * per_eval)
    finally:
        vec.close()
    assert sorted(by_episode) == list(range(8))
    assert len(set(by_episode.values())) == 8, by_episode  # the episodes do differ: the check can fail


def test_start_states_are_one_envs_sequence():
    """Chained through the resets, the start states are those of one env of the run's seed reset again and
    again: the stream upstream's test env draws from (its registration reuses the training seed, §5.4)."""
    run = Run("finger-spin", seed=4, action_repeat=2)  # finger draws until no contact: a variable count
    env = envs.make(run.task, "color_easy", 99, **env_kwargs(run))  # its own seed plays no part
    plain = envs.make(run.task, "train", run.seed, **env_kwargs(run))
    schedule = EpisodeSchedule(run.task, "color_easy", run.seed)
    try:
        for _ in range(5):
            _, info = env.reset(options=schedule.next())
            schedule.started(info)
            plain.reset()
            np.testing.assert_array_equal(env.physics.get_state(), plain.physics.get_state())
    finally:
        env.close()
        plain.close()


def test_robot_test_scene_does_not_depend_on_workers(robot_scenes):
    """robot-reach, test scene 2: each episode's gripper and goal come from one stream (upstream's test
    env: the training seed, four draws per reset), whichever of 1, 2 or 3 workers plays it."""
    run = Run("robot-reach", seed=3, action_repeat=1, episode_length=3)
    rng = np.random.default_rng(run.seed)
    expected_goals = []
    for _ in range(6):
        rng.uniform(-0.05, 0.1), rng.uniform(-0.1, 0.1)  # the gripper's x, y (reach acts in xy)
        expected_goals.append([1.605 + rng.uniform(-0.1, 0.1), 0.3 + rng.uniform(-0.2, 0.2)])
    vec = envs.VectorEnv(run.task, "test2", 3, run.seed, autoreset=False, **env_kwargs(run))
    results = []
    try:
        for workers in (1, 2, 3):
            schedule = EpisodeSchedule(run.task, "test2", run.seed)
            records = []
            for _ in range(2):
                records += run_episodes(FirstWorkers(vec, workers), PixelPolicy(2), 3, schedule)
            results.append([r["return"] for r in records])
            for r, goal in zip(records, expected_goals):
                np.testing.assert_allclose(r["goal"][:2], goal, rtol=0, atol=1e-15)
    finally:
        vec.close()
    assert results[0] == results[1] == results[2]
    assert len(set(results[0])) == 6


def test_evaluator_with_1_2_3_workers_and_a_real_agent():
    """``Evaluator(num_envs=1, 2, 3)`` with 3 and 4 episodes per evaluation and a SAC agent's deterministic
    policy (a small, untrained network: convolutions, projection, MLP): the same return for the same
    episode. (Batched convolutions round differently with the batch size, ~1e-7 here, so the evaluator
    feeds the policy one observation at a time.)"""
    from smg_fast.agent import make_agent
    from smg_fast.config import make_config

    cfg = make_config("cartpole-swingup", algo="sac", preset="quick", episode_length=16, seed=0,  # 2 steps
                      num_shared_layers=2, num_filters=8, hidden_dim=32, projection_dim=16)
    agent = make_agent(cfg, (9, 84, 84), 1)
    by_episode: dict[int, float] = {}
    for workers in (1, 2, 3):
        evaluator = Evaluator(cfg, ["train"], workers)
        fresh = evaluator.state_dict()
        try:
            for per_eval in (3, 4):
                evaluator.load_state_dict(fresh)  # the schedule from its start
                for _ in range(2):
                    returns = evaluator.evaluate(agent, per_eval)["train"]
                    for r, ret in zip(evaluator.last_episodes["train"], returns):
                        assert r["return"] == ret
                        assert by_episode.setdefault(r["episode"], ret) == ret, (workers, per_eval, r)
        finally:
            evaluator.close()
    assert sorted(by_episode) == list(range(8)) and len(set(by_episode.values())) == 8


def test_state_dict_resumes_the_schedules(tmp_path):
    """An evaluator restored from a saved state plays the episodes the interrupted one would have; the
    state is plain Python (loads with ``weights_only=True``)."""
    run = Run("walker-walk", seed=1)
    policy = PixelPolicy(6)
    a = Evaluator(run, ["color_hard"], 1)
    try:
        a.evaluate(policy, 2)
        torch.save(a.state_dict(), tmp_path / "evaluator.pt")
        second = a.evaluate(policy, 2)
        seen = a.last_episodes
    finally:
        a.close()
    b = Evaluator(run, ["color_hard"], 2)
    try:
        b.load_state_dict(torch.load(tmp_path / "evaluator.pt", weights_only=True))
        assert b.evaluate(policy, 2) == second
        assert b.last_episodes == seen
        assert [r["color_index"] for r in seen["color_hard"]] == _upstream_colours(run.seed, 4)[2:]
    finally:
        b.close()
    with pytest.raises(ValueError, match="start_seed"):
        Evaluator(run, ["color_hard"], 1, start_seed="eval").load_state_dict(torch.load(tmp_path / "evaluator.pt"))


def test_start_seed_option_seeds_the_start_states_with_seed_plus_42():
    run = Run("walker-walk", seed=2)
    upstream = EpisodeSchedule(run.task, "train", run.seed).next()["start_state"]
    offset = EpisodeSchedule(run.task, "train", run.seed, start_seed="eval").next()["start_state"]
    assert upstream == initial_start_state(run.task, 2)
    assert offset == initial_start_state(run.task, 44)
    assert Evaluator(run, ["train"], 1).start_seed == "train"


def test_run_episodes_needs_assignable_envs():
    class Auto:
        autoreset = True

    with pytest.raises(ValueError, match="autoreset=False"):
        run_episodes(Auto(), PixelPolicy(6), 1, EpisodeSchedule("walker-walk", "train", 0))


def test_an_evaluation_that_fails_in_a_later_mode_leaves_every_schedule_where_it_was():
    """A failure (or a cancellation: a background evaluation at a stop) in the second mode rewinds the first
    mode's schedule too: evaluated again, every mode plays the episodes it would have played."""
    run = Run("walker-walk", seed=1)
    policy = PixelPolicy(6)

    class FailsInColour(PixelPolicy):
        def act(self, obs, sample=False):
            if obs[0, -3:].std() > 0 and evaluator_in_colour[0]:
                raise RuntimeError("worker died")
            return super().act(obs, sample)

    evaluator_in_colour = [False]
    reference = Evaluator(run, ["train", "color_hard"], 1)
    evaluator = Evaluator(run, ["train", "color_hard"], 1)
    try:
        expected = reference.evaluate(policy, 2)
        before = evaluator.state_dict()

        def watch(mode, done):
            evaluator_in_colour[0] = mode == "color_hard"

        with pytest.raises(RuntimeError, match="worker died"):
            evaluator.evaluate(FailsInColour(6), 2, watch=watch)
        assert evaluator.state_dict() == before  # the train mode's schedule too
        evaluator_in_colour[0] = False
        assert evaluator.evaluate(policy, 2) == expected
    finally:
        reference.close(), evaluator.close()
