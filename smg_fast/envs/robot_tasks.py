"""Physics and task logic of SMG's xArm tasks (reach, peg-in-box) on the current ``mujoco`` bindings.

Faithful to upstream's ``BaseEnv`` / ``ReachEnv`` / ``PegBoxEnv`` and the gym ``RobotEnv`` they subclass
(reference §6.2-6.3). Rendering, frame stacking and the gymnasium API live in :mod:`smg_fast.envs.robot`.
One :class:`ArmTask` owns a compiled model and its data (raw ``mujoco.MjModel`` / ``MjData``) and has no
other state than the episode's: goal, target, action norm.

mujoco-py -> mujoco mapping (where upstream relies on mujoco-py specifics):

* ``MjSim(nsubsteps=20).step()`` -> ``mj_step(m, d, 20)``; gym's ``_step_callback`` / ``_render_callback``
  ``sim.forward()`` -> ``mj_forward`` after the substeps, so positions, the grasp site and the renders see
  the post-step state, as upstream's did.
* gym's ``reset_mocap_welds`` wrote the identity pose into ``eq_data[i, 0:7]`` (MuJoCo 2.0's weld layout was
  the relative pose only). In current MuJoCo a weld row is anchor (0:3), relative position (3:6), relative
  quaternion (6:10), torque scale (10), ...: the identity goes into **columns 3:10** (relpos 0, relquat
  1 0 0 0), for **every** weld, the peg-to-hand weld (right_hand-B1) of peg-in-box included, as upstream.
* ``reset_mocap2body_xpos`` + ``mocap_set_action``: mocap pos/quat := link7's ``xpos``/``xquat``, then
  pos += the scaled action and quat += (0, 1, 0, 0), left **unnormalised** in ``data.mocap_quat``:
  MuJoCo normalises it when it computes the mocap body's ``xquat`` (as it did under mujoco-py).
  Upstream skips welds whose body2 is B0/B1/B9; the only other weld is the mocap-link7 one.
* ``ctrl_set_action``: both knuckle actuators are motors (biastype 0), so ``ctrl[:] = gripper``.
* ``sim.get_state()`` / ``set_state()`` restored time, qpos, qvel and act (not the mocap pose, not ctrl,
  not the solver warm start, which carried over from the previous episode). Here the state captured after
  setup is restored with ``mj_setState(mjSTATE_INTEGRATION)`` (which also restores warm start, ctrl and
  mocap, so every reset is bit-for-bit repeatable), then ``ctrl`` is set to 1, the value upstream's
  previous episode left with the fixed gripper command (only a fresh upstream env's very first episode
  settles with ctrl 0), and the mocap pose is overwritten by the reset as upstream's.
* Upstream took the post-setup state after a settle at a gripper target drawn from an *unseeded* RNG
  (gym's ``RobotEnv.__init__`` runs before ``env.seed``). Here that settle uses the centre of upstream's
  draw (its base position), so the state every reset starts from is the same for all seeds.
* ``_gripper_sync`` wrote ``qpos[10] = 0.1`` and ``qpos[12] = -0.5``; the joints are resolved by name here
  (``right_outer_knuckle_joint``, ``right_inner_knuckle_joint``) and checked to sit at those addresses.
* Peg-in-box's gripper target z is computed as upstream computes it, ``0.69603332 + 0.1`` before the z
  draw: one ulp below the literal ``0.79603332``, a difference contact dynamics grow to ~1e-5 m within
  an episode (the one difference issue 21's step-by-step comparison with upstream's code found).
* Upstream's RNG was gym's ``np_random`` (a hashed-seed ``RandomState``); here a ``numpy.random.Generator``
  given by the caller. The draws and their order are upstream's (gripper x, y[, z], then goal x, y).
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

N_SUBSTEPS = 20
SETTLE_STEPS = 10            # sim.step() calls after placing the mocap at reset (x 20 substeps)
ACTION_SCALE = 0.05          # metres of mocap motion per unit action per step
GRIPPER_ROTATION = np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32)  # pointing down
GRIPPER_LIFT = 0.17          # BaseEnv adds this to the sampled gripper target's z
CENTER_OF_TABLE = np.array([1.655, 0.3, 0.53625])
MIN_Z, MAX_Z = 0.6, 1.0
KNUCKLE_QPOS = (("right_outer_knuckle_joint", 10, 0.1), ("right_inner_knuckle_joint", 12, -0.5))
RESET_GRIPPER_CTRL = 1.0


def goal_distance(a: np.ndarray, b: np.ndarray, use_xyz: bool) -> float:
    """Upstream's ``goal_distance``: xy (or xyz) distance of positions rounded to 4 decimals."""
    if not use_xyz:
        a, b = a[:2], b[:2]
    return float(np.linalg.norm(np.around(a, 4) - np.around(b, 4), axis=-1))


def action_penalty(magnitude: float) -> float:
    """``np.square`` of upstream's float32 action norm, as a Python float (the rest is float64, as
    upstream's; a float32 here would make NumPy 2 compute the whole reward in float32)."""
    return float(np.square(np.float32(magnitude)))


@dataclass(frozen=True)
class TaskConstants:
    gripper_base: tuple           # gripper target before noise (before the +0.17 lift)
    gripper_z_noise: tuple        # U(low, high) added to z when use_xyz
    distance_threshold: float     # success when goal_distance(achieved, goal) < this
    gripper_z_raise: float = 0.0  # added to z after the x, y draws, before the z draw (upstream's order)

    def gripper_centre(self) -> np.ndarray:
        """The gripper target without noise, in upstream's float64 arithmetic (base, then the raise)."""
        target = np.array(self.gripper_base, dtype=np.float64)
        if self.gripper_z_raise:
            target[2] += self.gripper_z_raise
        return target


class ArmTask:
    """Base: the mocap-driven xArm with its two-knuckle gripper (upstream ``BaseEnv``)."""

    constants: TaskConstants

    def __init__(self, model: "mujoco.MjModel", data: "mujoco.MjData", *, use_xyz: bool,
                 n_substeps: int = N_SUBSTEPS):
        self.model, self.data = model, data
        self.use_xyz = bool(use_xyz)
        self.n_substeps = int(n_substeps)
        m = model
        self._mocap = int(m.body("robot0:mocap2").mocapid[0])
        self._link7 = m.body("link7").id
        self._grasp = m.site("grasp").id
        self._knuckles = []
        for name, upstream_adr, value in KNUCKLE_QPOS:
            adr = int(m.jnt_qposadr[m.joint(name).id])
            if adr != upstream_adr:  # upstream writes raw indices; a different joint order would break it
                raise RuntimeError(f"{name} is at qpos[{adr}], upstream's gripper reset writes qpos[{upstream_adr}]: "
                                   f"the scene's joint order differs from upstream's")
            self._knuckles.append((adr, value))
        if not np.all(m.actuator_biastype == mujoco.mjtBias.mjBIAS_NONE):
            raise RuntimeError("expected motor actuators (the gripper command is written to ctrl as is)")
        self.pos_ctrl_magnitude = 0.0
        self.goal = np.zeros(3)
        self.gripper_target = np.zeros(3)

        self._reset_welds()
        mujoco.mj_forward(m, data)
        self._place_gripper(self.constants.gripper_centre())
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        self._initial_state = np.empty(mujoco.mj_stateSize(m, spec))
        mujoco.mj_getState(m, data, self._initial_state, spec)

    # -- upstream BaseEnv pieces ---------------------------------------------------------------------

    def _reset_welds(self) -> None:
        """gym's ``reset_mocap_welds``: identity relative pose in every weld (columns 3:10, see module doc)."""
        m = self.model
        for i in range(m.neq):
            if m.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                m.eq_data[i, 3:6] = 0.0
                m.eq_data[i, 6:10] = (1.0, 0.0, 0.0, 0.0)

    def _place_gripper(self, gripper_target: np.ndarray) -> None:
        """``BaseEnv._sample_initial_pos`` after the draw: mocap to target (+0.17 z), knuckles, settle."""
        gripper_target[2] += GRIPPER_LIFT  # in place, as upstream: peg-in-box places the peg from it
        self.gripper_target = gripper_target
        d = self.data
        d.mocap_pos[self._mocap] = gripper_target
        d.mocap_quat[self._mocap] = GRIPPER_ROTATION
        for adr, value in self._knuckles:
            d.qpos[adr] = value
        for _ in range(SETTLE_STEPS):
            mujoco.mj_step(self.model, d, self.n_substeps)

    def _limit(self, pos_ctrl: np.ndarray) -> np.ndarray:
        """``_limit_gripper``: no further outward motion once the grasp site is outside the workspace."""
        g = self.data.site_xpos[self._grasp]
        cx, cy = CENTER_OF_TABLE[0] - 0.105, CENTER_OF_TABLE[1]
        if g[0] > cx + 0.15:
            pos_ctrl[0] = min(pos_ctrl[0], 0)
        if g[0] < cx - 0.15:
            pos_ctrl[0] = max(pos_ctrl[0], 0)
        if g[1] > cy + 0.15:
            pos_ctrl[1] = min(pos_ctrl[1], 0)
        if g[1] < cy - 0.15:
            pos_ctrl[1] = max(pos_ctrl[1], 0)
        if g[2] > MAX_Z:
            pos_ctrl[2] = min(pos_ctrl[2], 0)
        if g[2] < MIN_Z:
            pos_ctrl[2] = max(pos_ctrl[2], 0)
        return pos_ctrl

    # -- episode -------------------------------------------------------------------------------------

    def reset(self, rng: np.random.Generator) -> None:
        """gym ``RobotEnv.reset``: restore, sample the gripper (settle), place objects, sample the goal."""
        m, d = self.model, self.data
        mujoco.mj_setState(m, d, self._initial_state, mujoco.mjtState.mjSTATE_INTEGRATION)
        d.ctrl[:] = RESET_GRIPPER_CTRL
        self._place_gripper(self._draw_gripper_target(rng))
        self._place_objects()
        mujoco.mj_forward(m, d)
        self._sample_goal(rng)
        self.pos_ctrl_magnitude = 0.0  # BaseEnv._sample_goal: no action penalty at the episode start
        mujoco.mj_forward(m, d)        # upstream's _render_callback before the first frame

    def _draw_gripper_target(self, rng: np.random.Generator) -> np.ndarray:
        c = self.constants
        target = np.array(c.gripper_base, dtype=np.float64)
        target[0] += rng.uniform(-0.05, 0.1)
        target[1] += rng.uniform(-0.1, 0.1)
        if c.gripper_z_raise:  # peg-in-box: 0.69603332 + 0.1, one ulp below the literal 0.79603332
            target[2] += c.gripper_z_raise
        if self.use_xyz:
            target[2] += rng.uniform(*self.constants.gripper_z_noise)
        return target

    def _place_objects(self) -> None:
        pass

    def _sample_goal(self, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def refresh_goal(self) -> None:
        """``BaseEnv.step`` re-reads the goal from the scene before acting (``_sample_goal(new=False)``)."""
        raise NotImplementedError

    def apply_action(self, action4: np.ndarray) -> None:
        """``BaseEnv._set_action`` on (x, y, z, gripper) already in [-1, 1] (float32, like upstream's)."""
        action = np.asarray(action4, dtype=np.float32).copy()
        pos_ctrl, gripper = action[:3], action[3]
        self.pos_ctrl_magnitude = float(np.linalg.norm(pos_ctrl))  # before limiting and scaling
        pos_ctrl = self._limit(pos_ctrl)
        pos_ctrl *= np.float32(ACTION_SCALE)
        if not self.use_xyz:
            pos_ctrl[2] = 0
        d = self.data
        d.ctrl[:] = gripper
        d.mocap_pos[self._mocap] = d.xpos[self._link7] + pos_ctrl
        d.mocap_quat[self._mocap] = d.xquat[self._link7] + GRIPPER_ROTATION

    def advance(self) -> None:
        """``sim.step()`` (n_substeps MuJoCo steps), then ``sim.forward()``."""
        mujoco.mj_step(self.model, self.data, self.n_substeps)
        mujoco.mj_forward(self.model, self.data)

    @property
    def grasp_pos(self) -> np.ndarray:
        return self.data.site_xpos[self._grasp].copy()

    def achieved_goal(self) -> np.ndarray:
        raise NotImplementedError

    def distance(self) -> float:
        """The success criterion's distance: ``goal_distance(achieved, goal, use_xyz)``."""
        return goal_distance(self.achieved_goal(), self.goal, self.use_xyz)

    def is_success(self) -> bool:
        return self.distance() < self.constants.distance_threshold

    def reward(self) -> float:
        raise NotImplementedError

    def state(self) -> dict:
        """Privileged state (scripted policies, tests): grasp site, goal, achieved goal."""
        return {"grasp": self.grasp_pos, "goal": self.goal.copy(), "achieved": self.achieved_goal()}


class ReachTask(ArmTask):
    """``ReachEnv``: bring the grasp site over the red target (xy, or xyz with use_xyz)."""

    constants = TaskConstants(gripper_base=(1.2561169, 0.3, 0.62603332), gripper_z_noise=(-0.05, 0.1),
                              distance_threshold=0.05)

    def __init__(self, model, data, **kw):
        self._target = model.site("target0").id  # before ArmTask's setup
        super().__init__(model, data, **kw)

    def _sample_goal(self, rng) -> None:
        goal = np.array([1.605, 0.3, 0.58])
        goal[0] += rng.uniform(-0.1, 0.1)   # upstream: -0.05 - 0.05*sample_large .. (sample_large = 1)
        goal[1] += rng.uniform(-0.2, 0.2)
        self._set_goal(goal)

    def refresh_goal(self) -> None:
        self._set_goal(self.data.site_xpos[self._target].copy())

    def _set_goal(self, goal: np.ndarray) -> None:
        # The target site hangs off the world-aligned floor body at the origin: site_pos is world position.
        self.model.site_pos[self._target] = goal
        mujoco.mj_forward(self.model, self.data)
        self.goal = goal.copy()

    def achieved_goal(self) -> np.ndarray:
        return self.grasp_pos

    def reward(self) -> float:
        d = goal_distance(self.achieved_goal(), self.goal, self.use_xyz)
        if d < self.constants.distance_threshold:
            return 1.0
        return round(-3 * d - 0.5 * action_penalty(self.pos_ctrl_magnitude), 4)


class PegInBoxTask(ArmTask):
    """``PegBoxEnv``: the peg welded to the hand goes into the box (a free body) on the table."""

    # Upstream (peg_in_box.py _sample_initial_pos) starts z at 0.69603332 and adds 0.1 before the z draw.
    constants = TaskConstants(gripper_base=(1.2561169, 0.3, 0.69603332), gripper_z_noise=(-0.05, 0.05),
                              distance_threshold=0.08, gripper_z_raise=0.1)
    GOAL_OFFSET = np.array([0.0, 0.075, -0.035])  # box origin -> bottom centre of its inside

    def __init__(self, model, data, **kw):
        self._box_adr = int(model.jnt_qposadr[model.joint("box_hole:joint").id])
        self._peg_adr = int(model.jnt_qposadr[model.joint("object0:joint").id])
        self._peg_site = model.site("object0").id
        super().__init__(model, data, **kw)

    def _place_objects(self) -> None:
        """``_sample_object_pos``: the peg at the (lifted) gripper target - 0.08 z, orientation kept."""
        pos = self.gripper_target.copy()
        pos[2] -= 0.08
        self.data.qpos[self._peg_adr:self._peg_adr + 3] = pos

    def _sample_goal(self, rng) -> None:
        box = np.array([1.605, 0.3, 0.62])
        box[0] += rng.uniform(-0.1, 0.1)
        box[1] += rng.uniform(-0.2, 0.2)
        self.data.qpos[self._box_adr:self._box_adr + 3] = box  # orientation kept, as upstream
        self.goal = box + self.GOAL_OFFSET

    def refresh_goal(self) -> None:
        # The goal follows the box if the peg pushed it.
        self.goal = self.data.qpos[self._box_adr:self._box_adr + 3] + self.GOAL_OFFSET

    def achieved_goal(self) -> np.ndarray:
        return self.data.site_xpos[self._peg_site].copy()

    def reward(self) -> float:
        peg = self.achieved_goal()
        d_xy = goal_distance(peg, self.goal, use_xyz=False)
        d_xyz = goal_distance(peg, self.goal, use_xyz=True)
        reward = -action_penalty(self.pos_ctrl_magnitude)                # action penalty
        reward += -4 * d_xy                                              # move over the box
        if d_xy <= 0.05:
            reward += 10 - 20 * d_xyz                                    # and down into it
        return float(reward)


TASKS = {"robot-reach": ReachTask, "robot-peg-in-box": PegInBoxTask}
DEFAULT_ACTION_SPACE = {"robot-reach": "xy", "robot-peg-in-box": "xyz"}
