"""SMG's xArm tasks (reach, peg-in-box) on the current mujoco: scenes, API, reward, success, dynamics.

The API, reward and episode tests run on any scenes that compile (``robot_scenes``: upstream's, or the synthetic
stand-ins of a clone without the reference data); what pins upstream's looks or dynamics needs upstream's
files (``robot_data``).
"""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from smg_fast import envs
from smg_fast.data import MissingDataError
from smg_fast.envs.robot import ROBOT_MODES, make_robot
from smg_fast.envs.robot_assets import fix_malformed_numbers, load_scene
from smg_fast.envs.episodes import initial_start_state
from smg_fast.envs.robot_tasks import PegInBoxTask

TASKS = ("robot-reach", "robot-peg-in-box")
# Per scene: the flat colour of texgeom (skybox, floor, pedestal and block share it) and the table texture.
SCENES = {
    "train": ((1, 1, 1), None),
    "test1": ((1, 0.5, 1), "texture/table1.png"),
    "test2": ((0.5, 0.9, 0.8), "texture/carpet-black.png"),
    "test3": ((0.5, 0.1, 0.1), "texture/concrete.png"),
    "test4": ((0.1, 0.5, 0.8), "texture/light_wood.png"),  # "0.1 0.5 0.8." upstream, rewritten
    "test5": ((0.3, 0.2, 0), "texture/sponge.png"),
}


@pytest.fixture(scope="module")
def reach(robot_scenes):
    env = make_robot("robot-reach", seed=0)
    yield env
    env.close()


@pytest.fixture(scope="module")
def peg(robot_scenes):
    env = make_robot("robot-peg-in-box", seed=0)
    yield env
    env.close()


# -- scenes ---------------------------------------------------------------------------------------------

def test_malformed_literal_rewrite():
    text, n = fix_malformed_numbers('<t rgb1="0.1 0.5 0.8." rgb2="1. 1 1." a="-.5." name="v0.8."/>0.8.')
    assert n == 2
    assert text == '<t rgb1="0.1 0.5 0.8" rgb2="1. 1 1." a="-.5" name="v0.8."/>0.8.'


def test_test4_needs_the_rewrite_and_loads_with_it(robot_data):
    with pytest.raises(ValueError, match="rgb1"):  # current MuJoCo rejects the file as it is on disk
        mujoco.MjModel.from_xml_path(str(robot_data / "robot" / "reach_test4.xml"))
    for task in TASKS:
        for mode in ROBOT_MODES:
            scene = load_scene(task, mode)
            assert scene.rewrites == ({"shared_test4.xml": 5} if mode == "test4" else {}), (task, mode)
            mujoco.MjModel.from_xml_string(scene.xml, scene.assets)


@pytest.mark.parametrize("task", TASKS)
def test_every_scene_loads_renders_and_differs(task, robot_data):
    listing = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in (robot_data / "robot").rglob("*"))
    frames = {}
    for mode in ROBOT_MODES:
        env = make_robot(task, mode, seed=0)
        obs, _ = env.reset()
        assert obs.shape == (9, 84, 84) and obs.dtype == np.uint8
        frames[mode] = obs[-3:].astype(np.int16)
        assert frames[mode].std() > 10, f"{task} {mode} renders a flat image"

        rgb, table_file = SCENES[mode]
        m = env.physics.model.ptr
        tex = m.texture("texgeom")
        first_pixel = m.tex_data[tex.adr[0]: tex.adr[0] + 3]
        np.testing.assert_allclose(first_pixel, np.array(rgb) * 255, atol=1)  # the scene's colour, compiled
        table_tex = m.mat_texid[m.material("table_mat_white").id, mujoco.mjtTextureRole.mjTEXROLE_RGB]
        assert m.texture(table_tex).name == ("arm_tex" if table_file is None else "table_tex")
        if table_file is not None:
            assert table_file in load_scene(task, mode).assets
        env.close()
    for mode in ROBOT_MODES[1:]:  # same state (seed), other scene: the pixels differ clearly
        assert np.abs(frames[mode] - frames["train"]).mean() > 10, mode
    # Nothing was written into the data directory.
    assert listing == sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                             for p in (robot_data / "robot").rglob("*"))


def test_render_is_upright(robot_data, reach):
    """The red target lies on the table, in front of the camera: the lower part of an upright image."""
    obs, _ = reach.reset(seed=0)
    frame = obs[-3:].astype(int)
    red = (frame[0] > 150) & (frame[1] < 60) & (frame[2] < 60)
    assert red.sum() > 10
    assert np.nonzero(red)[0].mean() > 50  # rows; the arm comes in from the top


def test_missing_data_names_the_download_command(tmp_path):
    with pytest.raises(MissingDataError, match="smg-fast data download robot"):
        make_robot("robot-reach", data_dir=tmp_path)
    (tmp_path / "robot").mkdir()
    (tmp_path / "robot" / "reach.xml").write_text('<mujoco><include file="shared.xml"/></mujoco>')
    with pytest.raises(MissingDataError, match="robot/shared.xml"):
        make_robot("robot-reach", data_dir=tmp_path)


# -- API ------------------------------------------------------------------------------------------------

def test_spaces_episode_and_errors(reach, peg):
    assert reach.action_space.shape == (2,) and peg.action_space.shape == (3,)
    for env in (reach, peg):
        assert env.observation_space.shape == (9, 84, 84) and env.observation_space.dtype == np.uint8
        assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
        assert env.max_episode_steps == 50 and env.action_repeat == 1
    obs, info = reach.reset(seed=0)
    assert reach.observation_space.contains(obs) and info["goal"].shape == (3,)
    np.testing.assert_array_equal(obs[0:3], obs[6:9])  # a reset fills the stack with the first frame
    for bad, what in (([np.nan, 0], "non-finite"), ([1.5, 0], "out of bounds"), ([0, 0, 0], "shape"),
                      ("xy", "float")):
        with pytest.raises(ValueError, match=what):
            reach.step(bad)
    obs1, *_ = reach.step([0.5, 0.5])
    np.testing.assert_array_equal(obs1[0:6], obs[3:9])  # oldest frame first: the stack shifted by one
    with pytest.raises(ValueError, match="mode"):
        make_robot("robot-reach", "color_hard")
    with pytest.raises(ValueError, match="robot task"):
        make_robot("robot-push")
    with pytest.raises(ValueError, match="action repeat"):
        make_robot("robot-reach", action_repeat=2)


def test_truncation_after_episode_length(robot_scenes):
    env = make_robot("robot-reach", "test1", seed=0, episode_length=3, action_space="xyz", frame_stack=2,
                     image_size=64)
    obs, _ = env.reset()
    assert obs.shape == (6, 64, 64) and env.action_space.shape == (3,)
    flags = [env.step(np.zeros(3))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3))
    env.close()
    env.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        env.reset()


def test_determinism_under_seeds(reach):
    other = make_robot("robot-reach", seed=5)
    actions = np.random.default_rng(0).uniform(-1, 1, (4, 2))

    def rollout(env, seed):
        obs, info = env.reset(seed=seed)
        out = [obs, info["goal"]]
        for a in actions:
            obs, reward, *_ = env.step(a)
            out += [obs, reward, env.privileged_state()["grasp"]]
        return out

    rollout(reach, 1)  # some history first: reset(seed) must not depend on it
    a, b = rollout(reach, 7), rollout(other, 7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = rollout(other, 8)
    assert not np.array_equal(a[1], c[1])  # another seed draws another goal
    other.close()


def test_reset_options_draw_from_the_given_stream(reach):
    """The evaluator hands each episode its place in one start-state stream: the same gripper and goal as
    an env reset with that seed, episode after episode, whatever the env's own history."""
    _, first = reach.reset(seed=11)
    _, second = reach.reset()
    reach.reset(seed=2)
    _, a = reach.reset(options={"start_state": initial_start_state("robot-reach", 11), "episode": 0})
    _, b = reach.reset(options={"start_state": a["next_start_state"], "episode": 1})
    np.testing.assert_array_equal(a["goal"], first["goal"])
    np.testing.assert_array_equal(b["goal"], second["goal"])
    assert (a["episode"], b["episode"]) == (0, 1)
    with pytest.raises(ValueError, match="colour modes"):
        reach.reset(options={"color": 1})
    with pytest.raises(ValueError, match="PCG64"):
        reach.reset(options={"start_state": initial_start_state("walker-walk", 0)})


# -- physics, reward, success -----------------------------------------------------------------------------

def test_welds_and_gripper_after_reset(robot_data, peg):
    m, d = peg.physics.model.ptr, peg.physics.data.ptr
    welds = np.flatnonzero(m.eq_type == mujoco.mjtEq.mjEQ_WELD)
    assert len(welds) == 2  # mocap-link7 and right_hand-B1 (the peg)
    np.testing.assert_array_equal(m.eq_data[welds, 3:10], [[0, 0, 0, 1, 0, 0, 0]] * 2)
    peg.reset(seed=0)  # upstream teleports the peg below the hand after the settle: the weld pulls it in
    assert np.linalg.norm(d.body("B1").xpos - d.body("right_hand").xpos) > 0.05
    for _ in range(10):
        peg.step(np.zeros(3))
    # The gripper points down (link7's quat near (0, 1, 0, 0)) and the peg's B1 sits on the hand.
    assert abs(d.body("link7").xquat[1]) > 0.99
    assert np.linalg.norm(d.body("B1").xpos - d.body("right_hand").xpos) < 0.01
    # The mocap quat is link7's + (0, 1, 0, 0), unnormalised; MuJoCo uses it normalised.
    q = d.mocap_quat[0]
    assert np.linalg.norm(q) > 1.9
    np.testing.assert_allclose(d.xquat[m.body("robot0:mocap2").id], q / np.linalg.norm(q), atol=1e-12)


def test_reach_reward_and_success_at_placed_goals(reach):
    reach.reset(seed=0)
    sim = reach.sim
    grasp = sim.grasp_pos
    target = sim.model.site("target0").id

    def place(offset, action_norm=0.0):
        sim.model.site_pos[target] = grasp + np.array([*offset, -0.05])
        mujoco.mj_forward(sim.model, sim.data)
        sim.refresh_goal()
        sim.pos_ctrl_magnitude = action_norm
        return sim.reward(), sim.is_success()

    assert place((0, 0)) == (1.0, True)            # at the target: the maximal reward (z does not count)
    assert place((0.03, 0.0393)) == (1.0, True)    # d = 0.0494 < 0.05
    assert place((0.3, 0.4)) == (-1.5, False)      # d = 0.5: -3 d
    assert place((0.3, 0.4), 1.0) == (-2.0, False)  # - 0.5 |action|^2
    r, _ = place((0.0, 0.0612))
    assert r == round(-3 * 0.0612, 4)

    # Through step(): goal on the grasp site, a still arm -> reward 1 and sticky success.
    sim.model.site_pos[target] = sim.grasp_pos
    mujoco.mj_forward(sim.model, sim.data)
    _, reward, _, _, info = reach.step(np.zeros(2))
    assert reward == 1.0 and info["success"] and info["is_success"]
    sim.model.site_pos[target] = sim.grasp_pos + [0.3, 0, 0]
    mujoco.mj_forward(sim.model, sim.data)  # step() re-reads the goal from the site's world position
    _, reward, _, _, info = reach.step(np.zeros(2))
    assert reward < -0.8 and not info["success"] and info["is_success"]  # "any success" stays


def test_peg_reward_and_success_at_placed_goals(peg):
    peg.reset(seed=0)
    sim = peg.sim
    adr = sim.model.jnt_qposadr[sim.model.joint("box_hole:joint").id]

    def place(offset, action_norm=0.0):
        peg_pos = sim.achieved_goal()
        sim.data.qpos[adr:adr + 3] = peg_pos + np.array(offset) - PegInBoxTask.GOAL_OFFSET
        mujoco.mj_forward(sim.model, sim.data)
        sim.refresh_goal()
        sim.pos_ctrl_magnitude = action_norm
        return sim.reward(), sim.is_success()

    r, ok = place((0, 0, 0))
    assert r == pytest.approx(10, abs=1e-3) and ok    # the peg at the goal: the maximal reward
    r, ok = place((0.03, 0.04, 0.0))                   # d_xy = 0.05: in the box's catchment, still staged
    assert r == pytest.approx(10 - 4 * 0.05 - 20 * 0.05, abs=1e-3) and ok
    r, ok = place((0, 0, 0.07))                        # above the goal: success needs d_xyz < 0.08
    assert r == pytest.approx(10 - 20 * 0.07, abs=1e-3) and ok
    r, ok = place((0, 0, 0.09))
    assert not ok
    r, ok = place((0.3, 0.4, 0.0), action_norm=1.0)   # far: -4 d_xy - |action|^2
    assert r == pytest.approx(-4 * 0.5 - 1, abs=1e-3) and not ok


def _scripted(env, seed):
    """Move the achieved goal (grasp site / peg) toward the goal using privileged state. The peg travels
    0.15 m above the goal, clear of the box walls (it would push the box, and the goal with it), and
    goes down once it is above the box."""
    obs, info = env.reset(seed=seed)
    rewards = []
    for _ in range(env.max_episode_steps):
        s = env.privileged_state()
        delta = s["goal"] - s["achieved"]
        if np.linalg.norm(delta[:2]) > 0.01:
            delta[2] += 0.15
        a = np.clip(delta / 0.05 * 1.5, -1, 1)[: env.action_space.shape[0]]
        obs, reward, terminated, truncated, info = env.step(a)
        rewards.append(reward)
    return rewards, info


def _reachable_seeds(env, n, y_range):
    """Seeds whose goal the workspace limits let the arm reach: upstream draws goals up to y = 0.5
    (reach) or 0.575 (peg-in-box), but stops the grasp site moving outward beyond y = 0.45."""
    seeds = []
    for seed in range(100):
        _, info = env.reset(seed=seed)
        if y_range[0] < info["goal"][1] < y_range[1]:
            seeds.append(seed)
        if len(seeds) == n:
            return seeds


def test_scripted_policy_solves_reach(robot_data, reach):
    for seed in _reachable_seeds(reach, 2, (0.12, 0.48)):
        rewards, info = _scripted(reach, seed)
        assert info["is_success"] and info["success"], seed
        assert rewards[0] < 0 and rewards[-1] == 1.0
        assert sum(rewards) > 20  # upstream's best returns are below 50; the paper's SMG about 30


def test_scripted_policy_solves_peg_in_box(robot_data, peg):
    for seed in _reachable_seeds(peg, 2, (0.15, 0.46)):
        rewards, info = _scripted(peg, seed)
        assert info["is_success"] and info["success"], seed
        assert rewards[0] < 0 and rewards[-1] > 9  # the peg in the box
        assert sum(rewards) > 150  # the paper's SMG: about 237


# Positions after 50 steps of the scripted policy (grasp site, peg, goal), computed with upstream's
# arithmetic: peg-in-box's gripper target z is 0.69603332 + 0.1 (then the z draw, then + 0.17), one ulp
# below the literal 0.79603332 it used to be, which contact dynamics grew to ~4e-5 m in seed 1 (7e-9 in
# seed 0). Pinned for this MuJoCo build (mujoco==3.17.0, x86-64).
PEG_AFTER_50_STEPS = {
    0: {"grasp": [1.5047729078238605, 0.474995264291214, 0.8278286170503145],
        "achieved": [1.508358823945418, 0.4875111227699429, 0.7349363552554069],
        "goal": [1.508346052170357, 0.5003971802690611, 0.5849883142568874]},
    1: {"grasp": [1.693353946672403, 0.2935906328956381, 0.6239875342316364],
        "achieved": [1.694536152751222, 0.2998033882496108, 0.5951391312779153],
        "goal": [1.6947266736762603, 0.2997907972458406, 0.5845014975882519]},
}


@pytest.mark.parametrize("seed", [0, 1])
def test_peg_in_box_follows_upstreams_arithmetic(robot_data, peg, seed):
    peg.reset(seed=seed)
    rng = np.random.default_rng(seed)  # the gripper draws of this seed, in upstream's order
    x, y, z = rng.uniform(-0.05, 0.1), rng.uniform(-0.1, 0.1), rng.uniform(-0.05, 0.05)
    target = np.array([1.2561169, 0.3, 0.69603332])  # upstream's _sample_initial_pos, step by step
    target[0] += x
    target[1] += y
    target[2] += 0.1
    target[2] += z
    target[2] += 0.17  # BaseEnv._sample_initial_pos
    np.testing.assert_array_equal(peg.sim.gripper_target, target)
    assert target[2] != 0.79603332 + z + 0.17  # the literal's value: one ulp off for these seeds
    _scripted(peg, seed)
    state = peg.privileged_state()
    for key, expected in PEG_AFTER_50_STEPS[seed].items():
        np.testing.assert_allclose(state[key], expected, rtol=0, atol=1e-9, err_msg=key)


# -- VectorEnv --------------------------------------------------------------------------------------------

def test_vector_env_runs_a_robot_task(robot_scenes):
    single = make_robot("robot-peg-in-box", "test2", seed=3)
    first, _ = single.reset()
    single.close()
    with envs.VectorEnv("robot-peg-in-box", "test2", num_envs=2, seed=3) as vec:
        obs, info = vec.reset()
        assert obs.shape == (2, 9, 84, 84) and vec.action_space.shape == (3,) and vec.max_episode_steps == 50
        np.testing.assert_array_equal(obs[0], first)  # env 0 = make(task, mode, seed)
        assert not np.array_equal(obs[0], obs[1])     # env 1 has seed + 1
        for _ in range(3):
            obs, reward, terminated, truncated, info = vec.step(np.full((2, 3), 0.5))
        assert np.isfinite(reward).all() and not terminated.any() and not truncated.any()
        assert all("is_success" in d for d in info["env_infos"])
