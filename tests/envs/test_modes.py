"""DMC-GB evaluation modes: colours, greenscreen videos, their sequence and determinism."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from smg_fast import envs
from smg_fast.data import MissingDataError
from smg_fast.data.colors import load_colors
from smg_fast.envs.backgrounds import decode_video, procedural_videos
from smg_fast.ops.reference import greenscreen_mask

TASK, EPISODE = "walker-walk", 16  # 4 agent steps


def _self_rgba(env):
    import mujoco

    m = env.physics.model.ptr
    return m.mat_rgba[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_MATERIAL, "self")]


@pytest.fixture(scope="module")
def train_env():
    env = envs.make(TASK, "train", seed=5, episode_length=EPISODE)
    yield env
    env.close()


@pytest.fixture(scope="module")
def video_envs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missing video_easy files; tested below
        made = {m: envs.make(TASK, m, seed=5, episode_length=EPISODE) for m in ("video_easy", "video_hard")}
    yield made
    for env in made.values():
        env.close()


@pytest.mark.parametrize("mode", ["color_easy", "color_hard"])
def test_color_modes_draw_entries_and_recolour(mode, train_env):
    env = envs.make(TASK, mode, seed=5, episode_length=EPISODE)
    colors = load_colors(mode)
    rng = np.random.RandomState(5)  # upstream ColorWrapper's draw
    train_obs, _ = train_env.reset(seed=5)
    default_rgba = _self_rgba(train_env).copy()
    for _ in range(2):
        obs, info = env.reset()
        assert info["color_index"] == rng.randint(100)
        entry = colors[info["color_index"]]
        np.testing.assert_allclose(_self_rgba(env), np.append(entry["self_rgb"], 1.0), atol=1e-7)
    assert not np.allclose(_self_rgba(env), default_rgba)
    obs, _ = env.reset(seed=5)  # same physics state as the train env: only colours differ
    np.testing.assert_array_equal(env.physics.get_state(), train_env.physics.get_state())
    changed = (obs[-3:] != train_obs[-3:]).any(axis=0)
    assert changed[:40].mean() > 0.9  # sky
    assert changed[70:].mean() > 0.9  # floor
    env.close()


@pytest.mark.parametrize("task,mode", [("walker-walk", "color_hard"), ("cartpole-swingup", "video_hard"),
                                       ("finger-spin", "color_easy")])
def test_inplace_edit_renders_like_xml_reload(task, mode):
    """Editing mjModel in place gives the pixels of DMC-GB's XML edit + physics reload, episode after episode."""
    kw = dict(seed=2, episode_length=16, background_source="procedural")
    a = envs.make(task, mode, appearance="inplace", **kw)
    b = envs.make(task, mode, appearance="xml", **kw)
    actions = np.random.default_rng(0).uniform(-1, 1, (2, *a.action_space.shape))
    for _ in range(3):
        oa, ia = a.reset()
        ob, ib = b.reset()
        assert ia == ib
        np.testing.assert_array_equal(oa, ob)
        for act in actions:
            np.testing.assert_array_equal(a.step(act)[0], b.step(act)[0])
    a.close()
    b.close()


@pytest.mark.parametrize("mode", ["video_easy", "video_hard"])
def test_video_modes_replace_keyed_pixels(mode, video_envs):
    env = video_envs[mode]
    env.reset(seed=5)
    for _ in range(2):
        obs, *_ = env.step(np.zeros(6))
    raw, bg, new = env.raw_frame, env.background_frame, obs[-3:]
    np.testing.assert_array_equal(raw[:, 0, 0], [51, 204, 51])  # the sky is DMC-GB's key green
    key = greenscreen_mask(raw)
    np.testing.assert_array_equal(new[:, key], bg[:, key])
    np.testing.assert_array_equal(new[:, ~key], raw[:, ~key])
    assert key[:30].mean() > 0.9  # the sky is replaced in both modes
    floor = key[-15:].mean()
    if mode == "video_hard":
        assert floor > 0.9  # ... and the floor (and its shadows) only in video_hard
    else:
        assert floor < 0.05


def test_video_sequence_frames_and_resize(video_envs, data_dir):
    """Videos in upstream's order (first episode: video1; absent files skipped); one frame per step;
    frames resized exactly as upstream (float/255, bilinear, x255, truncation)."""
    env = video_envs["video_easy"]
    names = [env.reset(seed=5)[1]["video"]]
    names += [env.reset()[1]["video"] for _ in range(2)]
    assert [n.rsplit("/", 1)[1] for n in names] == ["video1.mp4", "video2.mp4", "video6.mp4"]
    env.reset(seed=5)
    full = decode_video(data_dir / "dmcgb" / "video_easy" / "video1.mp4")
    for t in range(3):
        x = torch.from_numpy(full[t]).float().unsqueeze(0) / 255.0
        up = (F.interpolate(x, size=(84, 84), mode="bilinear", align_corners=False) * 255.0).byte()[0].numpy()
        np.testing.assert_array_equal(env.background_frame, up)
        env.step(np.zeros(6))


def test_missing_video_easy_files_warn_once(monkeypatch):
    import warnings

    from smg_fast import data
    from smg_fast.errors import Notice

    monkeypatch.setattr(data, "_warned_videos", set())
    with pytest.warns(Notice, match=r"4 of 10 .*video3\.mp4.*smg-fast data download dmcgb"):
        envs.make(TASK, "video_easy", seed=0, episode_length=EPISODE).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second env of the same folder says nothing more
        envs.make(TASK, "video_easy", seed=0, episode_length=EPISODE).close()


def test_video_modes_are_deterministic(video_envs):
    env = video_envs["video_hard"]
    fresh = envs.make(TASK, "video_hard", seed=11, episode_length=EPISODE)
    runs = []
    for e, s in ((fresh, None), (env, 11)):
        obs, info = e.reset(seed=s)
        runs.append((info["video"], np.stack([obs] + [e.step(np.full(6, 0.3))[0] for _ in range(2)])))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    fresh.close()


def test_background_frames_wrap_around():
    env = envs.make(TASK, "video_hard", seed=0, episode_length=40, background_source="procedural")
    env._videos = procedural_videos((84, 84), seed=0, n_frames=3)  # a 3-frame video to see the wrap
    env.reset()
    video = env._background
    for t in range(5):
        np.testing.assert_array_equal(env.background_frame, video[t % 3])
        env.step(np.zeros(6))
    env.close()


def test_video_sequence_order_with_offset_and_stride():
    seq = procedural_videos((8, 8), seed=0, n_videos=10, n_frames=2)
    assert [seq.next()[0] for _ in range(11)] == [f"procedural{i % 10}" for i in range(1, 12)]  # upstream
    seq.offset, seq.stride = 1, 3
    seq.reset()
    assert [seq.next()[0] for _ in range(4)] == ["procedural2", "procedural5", "procedural8", "procedural1"]


def test_procedural_backgrounds():
    seq = procedural_videos((84, 84), seed=1)
    name, a = seq.next()
    assert name == "procedural1" and a.shape == (100, 3, 84, 84) and a.dtype == np.uint8
    seq.reset(1)
    np.testing.assert_array_equal(seq.next()[1], a)  # same seed, same video
    seq.reset(2)
    assert not np.array_equal(seq.next()[1], a)
    assert (a[0] != a[10]).mean() > 0.5  # it moves
    assert a.std() > 20  # textured, not flat
    assert greenscreen_mask(a[:5]).mean() < 0.5  # not all key colour


def test_missing_data_names_the_command(tmp_path):
    for mode in ("color_easy", "video_hard"):
        with pytest.raises(MissingDataError, match="smg-fast data download dmcgb"):
            envs.make(TASK, mode, data_dir=tmp_path)


# -- assigned episodes (the evaluator's protocol, smg_fast.envs.episodes) ---------------------------------

def test_reset_options_assign_colour_and_start_state():
    """Given an episode's options, any env plays the same episode: its colour entry, and its initial state
    drawn from the given stream; the env's own sequences stay untouched."""
    from smg_fast.envs.episodes import initial_start_state

    a = envs.make(TASK, "color_hard", seed=5, episode_length=EPISODE)
    b = envs.make(TASK, "color_hard", seed=77, episode_length=EPISODE)
    plain = envs.make(TASK, "train", seed=9, episode_length=EPISODE)
    b.reset()  # some history first: it must not matter
    options = {"episode": 3, "color": 17, "start_state": initial_start_state(TASK, 9)}
    (oa, ia), (ob, ib) = a.reset(options=options), b.reset(options=options)
    np.testing.assert_array_equal(oa, ob)
    assert ia["color_index"] == ib["color_index"] == 17 and ia["episode"] == 3
    assert ia["next_start_state"] == ib["next_start_state"]
    plain.reset()  # the stream of an env of seed 9: same initial state
    np.testing.assert_array_equal(a.physics.get_state(), plain.physics.get_state())
    a.reset(options={"color": 17, "start_state": ia["next_start_state"]})  # chained: that env's second episode
    plain.reset()
    np.testing.assert_array_equal(a.physics.get_state(), plain.physics.get_state())
    _, info = a.reset()  # without options: the env's own colour draws, from their start
    assert info["color_index"] == np.random.RandomState(5).randint(100) and "next_start_state" not in info
    for bad, what in (({"colour": 1}, "unknown reset options"), ({"color": 100}, "100 entries"),
                      ({"color": -1}, "'color'"), ({"episode": 1.5}, "'episode'"),
                      ({"start_state": {"bit_generator": "PCG64"}}, "MT19937")):
        with pytest.raises(ValueError, match=what):
            a.reset(options=bad)
    with pytest.raises(ValueError, match="colour modes"):
        plain.reset(options={"color": 1})
    for env in (a, b, plain):
        env.close()


def test_reset_option_episode_picks_upstreams_video():
    env = envs.make(TASK, "video_easy", seed=0, episode_length=EPISODE, background_source="procedural")
    assert env.reset(options={"episode": 4})[1]["video"] == "procedural5"    # (4 + 1) mod 10
    assert env.reset(options={"episode": 19})[1]["video"] == "procedural0"   # wraps
    assert env.reset()[1]["video"] == "procedural1"  # the env's own counter did not move
    env.close()
