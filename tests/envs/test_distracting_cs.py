"""DMC-GB's distracting_cs mode against the benchmark's own code, on synthetic DAVIS-layout folders.

Expected values come from DMC-GB's ``src/env/distracting_control`` (commit ff9c0aa) run unchanged, outside
this repository, on the installed dm_control 1.0.50 / mujoco 3.17, with three shims only: ``tex_rgb`` as an
alias of ``tex_data`` (renamed in mujoco 3), Pillow's ``resize`` defaulting to NEAREST (Pillow 6.2, which
DMC-GB pins; later Pillows default to BICUBIC), and dmc2gym's action conversion (float32). The wrappers were
given ``seed=[0, episode, k]`` (k = 0 background, 1 camera, 2 colour; upstream passes none), the task seed 0,
and stepped with ``np.random.default_rng(0).uniform(-1, 1)`` actions at the action repeat shown, on folders
with the frame counts built below (the draws depend on the counts, not on the pictures). Run that way the
wrappers' rendered frames equalled this package's bit for bit in all six domains (30 agent steps, 2 episodes
each, action repeats 2, 3, 4 and 8); the numbers below are what they produce.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from smg_fast import envs
from smg_fast.data import MissingDataError
from smg_fast.envs.distracting import settings
from smg_fast.envs.distracting.synthetic import write_davis
from smg_fast.envs.distracting.videos import nearest_indices, resize_nearest
from smg_fast.tasks import env_kwargs

SMALL_COUNTS = [5, 7, 4, 9, 6, 3, 8, 5]            # frames of the first 8 training videos (intensity <= 0.2)
ALL_COUNTS = [(i % 5) + 2 for i in range(60)]     # frames of all 60 (intensity >= 0.3)


@pytest.fixture(scope="module")
def small_davis(tmp_path_factory):
    return write_davis(tmp_path_factory.mktemp("davis_small"), SMALL_COUNTS, size=(40, 24))


@pytest.fixture(scope="module")
def all_davis(tmp_path_factory):
    return write_davis(tmp_path_factory.mktemp("davis_all"), ALL_COUNTS, size=(24, 16))


def _make(task, intensity, data_dir, **kw):
    kw.setdefault("frame_stack", 1)
    return envs.make(task, "distracting_cs", seed=kw.pop("seed", 0), distracting_cs_intensity=intensity,
                     data_dir=data_dir, **kw)


# (task, intensity, action repeat, episode, video, frame index after reset and each of 12 agent steps,
#  direction, camera xpos and xmat after step 12, 'self' material RGB after step 12, 'grid' RGBA after reset)
UPSTREAM = [
    ('walker-walk', 0.1, 4, 0, 'boxing-fisheye',
     [7, 8, 6, 4, 2, 0, 2, 4, 6, 8, 7, 5, 3],
     [1, -1, -1, -1, -1, 1, 1, 1, 1, 1, -1, -1, -1],
     [1.0793603608525868, -2.005774289384785, 1.4632048317890014],
     [0.9810856398701251, -0.18002492816132726, 0.07114768078536468, 0.15343512019140268, 0.49912959984378563,
      -0.8528348647022074, 0.11801962181127766, 0.8476205918925587, 0.5173110293307418],
     [0.65271163, 0.560808, 0.2475061], [0.9043884, 0.92863095, 0.9113841, 1.0]),
    ('walker-walk', 0.1, 4, 3, 'bear',
     [4, 3, 1, 1, 3, 4, 2, 0, 2, 4, 3, 1, 1],
     [1, -1, -1, 1, 1, -1, -1, 1, 1, 1, -1, -1, 1],
     [1.2496154823809267, -2.249275743136953, 1.4453028628104287],
     [0.9850528046869309, -0.11250563019008508, 0.1304356360583375, 0.1677670826848408, 0.45494449371266205,
      -0.8745740183700562, 0.039053526675948816, 0.8833843958413922, 0.4670190908711436],
     [0.75384235, 0.49432465, 0.36562425], [0.9922605, 0.99633485, 0.9813863, 1.0]),
    ('cartpole-swingup', 0.2, 8, 0, 'cat-girl',
     [3, 2, 2, 3, 1, 4, 0, 4, 1, 3, 2, 2, 3],
     [1, -1, 1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1],
     [1.3925300824710538, -4.28576690984246, 0.2823495118443972],
     [0.919530780082276, -0.247679113408398, 0.3051527507044805, 0.24765559707410578, -0.23773190524784502,
      -0.9392285379315822, 0.305171836379357, 0.9392223368342872, -0.1572626855690547],
     [0.612999, 0.6403021, 0.18235786], [0.808777, 0.8572619, 0.8227682, 0.3]),
    ('reacher-easy', 0.5, 4, 0, 'snowboard',
     [3, 2, 0, 2, 3, 1, 1, 3, 2, 0, 2, 3, 1],
     [1, -1, 1, 1, -1, -1, 1, 1, -1, 1, 1, -1, -1],
     [0.5040730058116041, 0.06587398022448793, 0.8259175370373582],
     [0.6449267454670617, -0.5590503348561915, 0.5209865646900556, 0.6214801432729532, 0.7803932086508427,
      0.0680843018053687, -0.444662173115456, 0.27988930765591996, 0.8507834354059927],
     [0.41453952, 0.80403996, 0.21030758], [0.5219424, 0.64315474, 0.5569205, 0.0]),
    ('finger-spin', 0.05, 2, 0, 'bmx-bumps',
     [5, 6, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4],
     [1, 1, -1, -1, -1, -1, -1, -1, 1, 1, 1, 1, 1],
     [0.03303430178969901, -1.0032468207995358, 0.8856485662022682],
     [0.9973233093203353, -0.06669801889292067, 0.029959822464335317, 0.059605336270837195, 0.5043106623302631,
      -0.8614626862192303, 0.042348796610710365, 0.8609425823687495, 0.5069363365254593],
     [0.676311, 0.5348779, 0.27185595], [0.9521942, 0.9643155, 0.95569205, 0.3]),
    ('cheetah-run', 0.3, 4, 0, 'snowboard',
     [3, 2, 0, 2, 3, 1, 1, 3, 2, 0, 2, 3, 1],
     [1, -1, 1, 1, -1, -1, 1, 1, -1, 1, 1, -1, -1],
     [0.7224727368272815, -2.858490532219686, 1.1379719715227676],
     [0.8497277809185741, -0.43466237859644163, 0.2983811571934112, 0.34747237043890716, 0.036062058546878856,
      -0.93699652065252, 0.39651689764341996, 0.8998711822067896, 0.1816761000159144],
     [0.5581349, 0.682424, 0.14251827], [0.7131654, 0.78589284, 0.7341523, 1.0]),
    ('ball_in_cup-catch', 0.15, 4, 0, 'bus',
     [1, 2, 0, 2, 1, 1, 2, 0, 2, 1, 1, 2, 0],
     [1, -1, 1, 1, -1, 1, -1, 1, 1, -1, 1, -1, 1],
     [0.1259436360403873, -0.9852495577954156, 0.8983633311214436],
     [0.9545966736366567, -0.2739660798912301, 0.11699477659648884, 0.24045164866482427, 0.4767519057669816,
      -0.8455120489986638, 0.1758641388578073, 0.835254576411637, 0.5209813789831828],
     [0.6290674, 0.591212, 0.22125913], [0.85658276, 0.8929464, 0.86707616, 0.3]),
]


def _material(env, name):
    return env.physics.model.mat_rgba[env.physics.model.name2id(name, "material")]


@pytest.mark.parametrize("case", UPSTREAM, ids=lambda c: f"{c[0]}-{c[1]}-ar{c[2]}-ep{c[3]}")
def test_matches_the_benchmarks_wrappers(case, small_davis, all_davis):
    """Video choice, frame index and direction at every agent step, the camera pose and the colours: as
    DMC-GB's wrappers produce them (module doc)."""
    task, intensity, ar, episode, video, index, direction, xpos, xmat, self_rgb, grid_rgba = case
    env = _make(task, intensity, small_davis if intensity <= 0.2 else all_davis, action_repeat=ar)
    _, info = env.reset(options={"episode": episode})
    backdrop = env._distraction.backdrop
    assert info["video"] == video
    np.testing.assert_array_equal(_material(env, "grid"), np.float32(grid_rgba))  # the domain's floor alpha
    seen = [(backdrop.index, backdrop.direction)]
    rng = np.random.default_rng(0)
    for _ in range(12):
        env.step(rng.uniform(-1, 1, env.action_space.shape))
        seen.append((backdrop.index, backdrop.direction))
    assert seen == list(zip(index, direction))
    tracking = task.startswith(("walker", "cheetah"))  # the pose follows the simulated body: allow for libm
    tol = 1e-9 if tracking else 1e-12
    np.testing.assert_allclose(env.physics.data.cam_xpos[0], xpos, rtol=0, atol=tol)
    np.testing.assert_allclose(env.physics.data.cam_xmat[0], xmat, rtol=0, atol=tol)
    np.testing.assert_allclose(_material(env, "self")[:3], np.float32(self_rgb), rtol=0, atol=1e-7)
    env.close()


def test_settings_are_the_benchmarks():
    """suite_utils.py / arguments.py, value by value."""
    assert settings.INTENSITIES == (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
    assert [settings.num_videos(s) for s in settings.INTENSITIES] == [0, 2, 2, 4, 6, 8, 60, 60, 60]
    assert settings.videos(0.1) == ("bear", "bmx-bumps", "boat", "boxing-fisheye")
    assert len(set(settings.DAVIS_TRAIN_VIDEOS)) == 60 and settings.DAVIS_TRAIN_VIDEOS[-1] == "walking"
    assert {d: settings.ground_plane_alpha(d) for d in settings.DOMAINS} == {
        "reacher": 0.0, "cartpole": 0.3, "finger": 0.3, "cheetah": 1.0, "ball_in_cup": 0.3, "walker": 1.0}
    cam = settings.camera_settings("walker", 0.2)
    assert cam.horizontal_delta == cam.vertical_delta == cam.roll_delta == np.pi / 2 * 0.2
    assert (cam.vel_std, cam.max_vel, cam.max_zoom_in_percent, cam.max_zoom_out_percent) == (.1 * .2, .4 * .2,
                                                                                            .5 * .2, 1.5 * .2)
    assert (cam.roll_std, cam.max_roll_vel) == (np.pi / 300 * .2, np.pi / 50 * .2)
    assert cam.limit_to_upper_quadrant and not settings.camera_settings("reacher", 0.2).limit_to_upper_quadrant
    assert settings.color_settings(0.4) == settings.ColorSettings(max_delta=0.4, step_std=0.03 * 0.4)


def test_frames_resize_like_pillow_6_2():
    """Pillow 6.2's NEAREST resize (DMC-GB pins pillow==6.2.0, where it is resize()'s default). Indices from
    its ImagingScaleAffine x-table loop, compiled from the 6.2.0 source (src/libImaging/Geometry.c)."""
    c_samples = {854: [0, 1, 2, 426, 427, 851, 852, 853], 480: [0, 0, 1, 239, 240, 478, 479, 479],
                 40: [0, 0, 0, 19, 20, 39, 39, 39], 24: [0, 0, 0, 11, 12, 23, 23, 23]}
    c_sums = {854: 341200, 480: 191600, 40: 15600, 24: 9200}
    for src, expected in c_samples.items():
        idx = nearest_indices(src, 800)
        assert idx[[0, 1, 2, 399, 400, 797, 798, 799]].tolist() == expected and int(idx.sum()) == c_sums[src]
    img = np.random.default_rng(0).integers(0, 256, (48, 85, 3), dtype=np.uint8)
    ours = resize_nearest(img, 800, 800)
    np.testing.assert_array_equal(ours, np.asarray(Image.fromarray(img).resize((800, 800), Image.NEAREST)))
    assert resize_nearest(ours, 800, 800) is ours  # upstream skips frames already the sky's size


def test_sky_texture_is_the_resized_frame(small_davis):
    env = _make("cartpole-swingup", 0.2, small_davis)
    _, info = env.reset()
    backdrop = env._distraction.backdrop
    m = env.physics.model.ptr
    assert m.tex_height[0] == m.tex_width[0] == 800  # one face for all six, as upstream sets it
    path = small_davis / "davis" / "DAVIS" / "JPEGImages" / "480p" / info["video"] / f"{backdrop.index:05d}.jpg"
    decoded = np.asarray(Image.open(path).convert("RGB"))
    expected = np.asarray(Image.fromarray(decoded).resize((800, 800), Image.NEAREST)).reshape(-1)
    np.testing.assert_array_equal(m.tex_data[m.tex_adr[0]: m.tex_adr[0] + expected.size], expected)
    env.close()


def test_copy_upload_renders_like_mjr_upload_texture(small_davis):
    """The GPU copy made by copying mipmap levels (kept per frame of the video) holds upstream's texels
    (mjr_uploadTexture): same pixels, episode after episode, frames shown again included, and the same
    texels in every level of every face."""
    a = _make("finger-spin", 0.2, small_davis, distracting_upload="copy", frame_stack=3)
    b = _make("finger-spin", 0.2, small_davis, distracting_upload="mujoco", frame_stack=3)
    auto = _make("finger-spin", 0.2, small_davis, frame_stack=3)
    rng = np.random.default_rng(1)
    shown = []
    for episode in range(2):
        obs = [e.reset()[0] for e in (a, b, auto)]
        for _ in range(10):
            np.testing.assert_array_equal(obs[0], obs[1])
            np.testing.assert_array_equal(obs[2], obs[1])
            shown.append(a._distraction.sky._key)
            act = rng.uniform(-1, 1, a.action_space.shape)
            obs = [e.step(act)[0] for e in (a, b, auto)]
    assert len(set(shown)) < len(shown)  # frames were shown again: their kept mipmaps were used
    ca, cb = a._distraction.sky.read_cube(), b._distraction.sky.read_cube()
    assert all(np.array_equal(x, y) for fa, fb in zip(ca, cb) for x, y in zip(fa, fb))
    assert auto._distraction.sky.method in ("copy", "mujoco")
    for e in (a, b, auto):
        e.close()


def test_camera_pose_shows_on_even_control_steps_only(small_davis):
    """Updates fall on even control steps; the physics step recomputes the camera, so with an odd action
    repeat a render after an odd number of control steps sees the camera's default pose (as upstream's)."""
    env = _make("cartpole-swingup", 0.1, small_davis, action_repeat=3)
    plain = envs.make("cartpole-swingup", "train", seed=0, action_repeat=3)
    env.reset()
    plain.reset()
    act = np.zeros(env.action_space.shape)
    env.step(act)  # 3 control steps: odd
    plain.step(act)
    np.testing.assert_array_equal(env.physics.data.cam_xpos[0], plain.physics.data.cam_xpos[0])
    env.step(act)  # 6: even
    plain.step(act)
    assert not np.allclose(env.physics.data.cam_xpos[0], plain.physics.data.cam_xpos[0])
    env.close()
    plain.close()


def test_dynamics_untouched_and_intensity_zero_is_the_train_scene(small_davis):
    train = envs.make("walker-walk", "train", seed=3, episode_length=24)
    zero = _make("walker-walk", 0.0, small_davis, seed=3, frame_stack=3, episode_length=24)
    hard = _make("walker-walk", 0.2, small_davis, seed=3, frame_stack=3, episode_length=24)
    obs = [e.reset()[0] for e in (train, zero, hard)]
    np.testing.assert_array_equal(obs[0], obs[1])
    assert (obs[2] != obs[0]).mean() > 0.5
    rng = np.random.default_rng(0)
    for _ in range(6):
        act = rng.uniform(-1, 1, 6)
        out = [e.step(act) for e in (train, zero, hard)]
        np.testing.assert_array_equal(out[0][0], out[1][0])
        assert out[0][1] == out[1][1] == out[2][1]  # same rewards: the physics is the train scene's
        np.testing.assert_array_equal(train.physics.get_state(), hard.physics.get_state())
    for e in (train, zero, hard):
        e.close()


def test_episodes_are_seeded_by_seed_and_number(small_davis):
    """An episode's distractions depend on (seed, episode) only: the reset options reproduce any env's
    episode in any other; without options the e-th reset is episode e of the env's seed."""
    own = _make("walker-walk", 0.2, small_davis, seed=42, frame_stack=3)
    other = _make("walker-walk", 0.2, small_davis, seed=7, frame_stack=3)
    other.reset()  # history must not matter
    for _ in range(3):
        obs_own, info_own = own.reset()
    obs_other, info_other = other.reset(options={"episode": 2, "distraction_seed": 42})
    assert info_own["video"] == info_other["video"]
    def state(env):
        cam, backdrop = env._distraction.camera, env._distraction.backdrop
        return cam.radius, cam.h_angle, cam.roll, backdrop.index, _material(env, "self").tolist()

    assert state(own) == state(other)
    episode_2 = state(own)
    first = _make("walker-walk", 0.2, small_davis, seed=42, frame_stack=3)
    first.reset()
    own.reset(seed=42)  # a reseed restarts the count: episode 0 again
    assert state(own) == state(first) != episode_2
    for e in (own, other, first):
        e.close()


def test_errors_are_clear(small_davis, tmp_path):
    with pytest.raises(ValueError, match="reacher, cartpole, finger, cheetah, ball_in_cup, walker"):
        envs.make("hopper-stand", "distracting_cs", distracting_cs_intensity=0.1, data_dir=small_davis)
    with pytest.raises(ValueError, match="one of 0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5"):
        envs.make("walker-walk", "distracting_cs", distracting_cs_intensity=0.12, data_dir=small_davis)
    with pytest.raises(ValueError, match="needs distracting_cs_intensity"):
        envs.make("walker-walk", "distracting_cs", data_dir=small_davis)
    with pytest.raises(MissingDataError, match=r"smg-fast data download davis --accept-licence"):
        envs.make("walker-walk", "distracting_cs", distracting_cs_intensity=0.3, data_dir=small_davis)  # 8 of 60
    with pytest.raises(MissingDataError, match="bear, bmx-bumps"):
        envs.make("walker-walk", "distracting_cs", distracting_cs_intensity=0.05, data_dir=tmp_path)
    env = envs.make("walker-walk", "train", seed=0)
    with pytest.raises(ValueError, match="distracting_cs mode only"):
        env.reset(options={"distraction_seed": 3})
    env.close()


def test_jpeg_frames_decode_as_pillow_does(small_davis):
    """Frames are Pillow-decoded RGB; grayscale JPEGs (upstream cannot use them) are converted."""
    from smg_fast.envs.distracting.videos import read_jpeg

    buf = io.BytesIO()
    Image.new("L", (8, 4), 77).save(buf, format="JPEG")
    path = small_davis / "gray.jpg"
    path.write_bytes(buf.getvalue())
    assert read_jpeg(path).shape == (4, 8, 3)
    path.unlink()


@dataclass
class _Run:
    """What the evaluator reads of a run's config."""

    task: str = "walker-walk"
    seed: int = 0
    frame_stack: int = 3
    image_size: int = 84
    action_repeat: int = 4
    episode_length: int = 12  # 3 agent steps
    eval_start_seed: str = "train"
    distracting_cs_intensity: float = 0.1


class _PixelPolicy:
    """Actions from the newest frame's quadrant colours: other distractions, other actions."""

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


def test_evaluation_is_one_env_of_seed_plus_42_whatever_the_workers(small_davis, monkeypatch):
    """The evaluator's distracting_cs episodes: those of one env made with seed + 42 (upstream's test env:
    its gym id differs from the training env's, so its task is seeded seed + 42 too), reset after reset,
    with 1 or 2 workers and across evaluations."""
    from smg_fast.run.evaluate import Evaluator

    monkeypatch.setenv("SMG_FAST_DATA", str(small_davis))  # the workers are spawned: they read it
    run = _Run()
    policy = _PixelPolicy(6)
    one = envs.make(run.task, "distracting_cs", run.seed + 42, **env_kwargs(run))
    expected = []
    for _ in range(4):
        obs, info = one.reset()
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = one.step(policy.act(obs[None])[0])
            total, done = total + r, term or trunc
        expected.append((info["video"], total))
    one.close()
    assert len(set(expected)) == 4  # the episodes differ: the check can fail
    for workers in (1, 2):
        evaluator = Evaluator(run, ["distracting_cs"], workers)
        try:
            got = []
            for _ in range(2):
                returns = evaluator.evaluate(policy, 2)
                assert list(returns) == ["distracting_cs@0.1"]
                got += [(r["video"], r["return"]) for r in evaluator.last_episodes["distracting_cs@0.1"]]
        finally:
            evaluator.close()
        assert got == expected, workers
