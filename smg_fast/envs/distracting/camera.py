"""Camera jitter of ``distracting_cs`` (DMC-GB's ``camera.py``, ``DistractingCameraEnv``).

The camera lives on a sphere around what it looks at: the origin of its starting position for a fixed
camera, the agent's centre of mass (body 1's subtree) for a tracking one. At each reset, from the camera's
random stream: uniform angles, radius and roll within their ranges, then a velocity of random direction
(``randn(3)``, normalised) and uniform speed, and a uniform roll velocity. At each update (the reset, then
every second control step): the velocity takes a random-walk step (``randn(3)``, then ``randn()`` for
the roll), is capped, moves the camera, which is clipped to its ranges (the velocity becoming the move
actually made), and the camera is pointed at the look-at point (without roll in the upper-quadrant
domains, by the shortest rotation from straight down for reacher), then rolled. The pose is written into
``data.cam_xpos`` / ``data.cam_xmat``, where the next render reads it; the next physics step recomputes
the camera, so a pose set at an odd control step would not be seen (none is: updates fall on even steps).

The arithmetic follows upstream's expression by expression (the tests compare poses bit for bit with the
benchmark's code run on the same physics).
"""
from __future__ import annotations

import copy

import numpy as np

from .settings import CameraSettings

_FIXED, _TRACKCOM = 0, 2  # mjtCamLight: the two camera modes upstream supports


def cart_to_sphere(cart) -> np.ndarray:
    """(radius, azimuth from +x, polar angle from +z)."""
    r = np.sqrt(np.sum(cart ** 2.))
    azimuth = np.arctan2(cart[1], cart[0])
    polar = np.arctan2(np.sqrt(np.sum(cart[:2] ** 2.)), cart[2])
    return np.array([r, azimuth, polar])


def sphere_to_cart(sphere) -> np.ndarray:
    r, azimuth, polar = sphere
    return np.array([r * np.sin(polar) * np.cos(azimuth),
                     r * np.sin(polar) * np.sin(azimuth),
                     r * np.cos(polar)])


def euler_to_matrix(t) -> np.ndarray:
    """Rotation matrix of Euler angles (x, y, z) = ``t``, Rz·Ry·Rx, written out."""
    s0, s1, s2 = np.sin(t[0]), np.sin(t[1]), np.sin(t[2])
    c0, c1, c2 = np.cos(t[0]), np.cos(t[1]), np.cos(t[2])
    return np.array([
        [c1 * c2, s0 * s1 * c2 - s2 * c0, s1 * c0 * c2 + s0 * s2],
        [s2 * c1, s0 * s1 * s2 + c0 * c2, s1 * s2 * c0 - s0 * c2],
        [-s1, s0 * c1, c0 * c1],
    ])


def axis_angle_matrix(cos_t, sin_t, a) -> np.ndarray:
    """Rodrigues' rotation by the angle of (``cos_t``, ``sin_t``) about the unit axis ``a``."""
    k = 1. - cos_t
    return np.stack([
        [cos_t + a[0] ** 2. * k, a[0] * a[1] * (1 - cos_t) - a[2] * sin_t, a[0] * a[2] * (1 - cos_t) + a[1] * sin_t],
        [a[1] * a[0] * (1 - cos_t) + a[2] * sin_t, cos_t + a[1] ** 2. * (1 - cos_t), a[1] * a[2] * k - a[0] * sin_t],
        [a[2] * a[0] * k - a[1] * sin_t, a[2] * a[1] * k + a[0] * sin_t, cos_t + (a[2] ** 2.) * k],
    ])


def roll_matrix(roll) -> np.ndarray:
    """Rotation by ``roll`` about the camera's viewing axis (z)."""
    axis = np.array([0., 0., 1.])
    axis = axis / np.sqrt(np.sum(axis ** 2.))
    return axis_angle_matrix(np.cos(roll), np.sin(roll), axis)


def look_at_level(target, eye) -> np.ndarray:
    """Camera orientation (flat 3×3) from ``eye`` towards ``target`` with no roll (yaw and pitch only)."""
    d = target - eye
    d /= np.sqrt(np.sum(d ** 2.))
    yaw = np.arctan2(d[0], d[1])
    pitch = np.arctan2(d[2], np.sqrt(np.sum(d[:2] ** 2.)))
    pitch += np.pi / 2.  # a MuJoCo camera looks along its -z axis: straight down at zero angles
    return euler_to_matrix([pitch, 0., -yaw]).flatten()


def look_at_shortest(target, eye) -> np.ndarray:
    """Camera orientation from ``eye`` towards ``target`` by the shortest rotation from looking straight
    down (some roll, but no flip at the poles: upstream's choice for reacher's top-down camera)."""
    d = target - eye
    d /= np.sqrt(np.sum(d ** 2.))
    down = np.array([0., 0., -1.])
    axis = np.cross(down, d)
    sin_t = np.sqrt(np.sum(axis ** 2.))
    cos_t = np.dot(d, down)
    axis /= (np.sqrt(np.sum(axis ** 2.)) + .0001)
    return axis_angle_matrix(cos_t, sin_t, axis)


def look_at_point(physics, camera_id: int) -> np.ndarray:
    """The point the camera looks at, as far along its axis as the agent (body 1's subtree) is from it."""
    pos = physics.named.data.cam_xpos[camera_id]
    dist = pos - physics.named.data.subtree_com[1]
    dist = np.sqrt(np.sum(dist ** 2.))
    view = np.reshape(copy.deepcopy(physics.named.data.cam_xmat[camera_id]), (3, 3))
    return np.dot(view, np.array([0., 0., -dist])) + pos


class CameraJitter:
    """The camera's state and its updates (see the module doc)."""

    def __init__(self, settings: CameraSettings, camera_id: int = 0):
        self.s = settings
        self.camera_id = int(camera_id)
        self.tracking: bool | None = None

    def setup(self, physics, rng: np.random.RandomState) -> None:
        """Ranges from the camera's current (default) pose, then the episode's starting state."""
        s, cid = self.s, self.camera_id
        mode = int(physics.model.cam_mode[cid])
        if mode not in (_FIXED, _TRACKCOM):
            raise ValueError(f"camera {cid} has mode {mode}; distracting_cs supports fixed and trackcom cameras")
        self.tracking = mode == _TRACKCOM
        self.initial_look_at = look_at_point(physics, cid)
        start = copy.deepcopy(physics.named.data.cam_xpos[cid])
        if self.tracking:
            start -= physics.named.data.subtree_com[1]
        r, azimuth, polar = cart_to_sphere(start)
        self.vel_scaling = r / 4.  # most domains start 4 away; nearer cameras move slower
        self.max_h, self.min_h = azimuth + s.horizontal_delta, azimuth - s.horizontal_delta
        self.max_v, self.min_v = polar + s.vertical_delta, polar - s.vertical_delta
        if s.limit_to_upper_quadrant:
            self.max_v, self.min_v = min(self.max_v, np.pi / 2.), max(self.min_v, 0.)
            self.max_h, self.min_h = min(self.max_h, 0.), max(self.min_h, -np.pi)
        self.max_roll, self.min_roll = s.roll_delta, -s.roll_delta
        self.min_radius = max(r - r * s.max_zoom_in_percent, 0.)
        self.max_radius = r + r * s.max_zoom_out_percent

        self.h_angle = rng.uniform(self.min_h, self.max_h)
        self.v_angle = rng.uniform(self.min_v, self.max_v)
        self.radius = rng.uniform(self.min_radius, self.max_radius)
        self.roll = rng.uniform(self.min_roll, self.max_roll)
        vel = rng.randn(3)
        vel /= np.sqrt(np.sum(vel ** 2.))
        vel *= rng.uniform(0., s.max_vel)
        self.vel = vel
        self.roll_vel = rng.uniform(-s.max_roll_vel, s.max_roll_vel)

    def update(self, physics, rng: np.random.RandomState) -> None:
        """One update: move the camera (random-walk velocity, clipped to the ranges) and set its pose."""
        s = self.s
        self.vel += rng.randn(3) * s.vel_std * self.vel_scaling
        self.roll_vel += rng.randn() * s.roll_std
        norm = np.sqrt(np.sum(self.vel ** 2.))
        if norm > s.max_vel * self.vel_scaling:
            self.vel *= (s.max_vel * self.vel_scaling) / norm
        self.roll_vel = np.clip(self.roll_vel, -s.max_roll_vel, s.max_roll_vel)

        cart = sphere_to_cart([self.radius, self.h_angle, self.v_angle])
        moved = cart_to_sphere(cart + self.vel)
        moved = [np.clip(moved[0], self.min_radius, self.max_radius),
                 np.clip(moved[1], self.min_h, self.max_h),
                 np.clip(moved[2], self.min_v, self.max_v)]
        self.vel = sphere_to_cart(moved) - cart
        self.radius, self.h_angle, self.v_angle = moved
        roll = np.clip(self.roll + self.roll_vel, self.min_roll, self.max_roll)
        self.roll_vel = roll - self.roll
        self.roll = roll
        self._set_pose(physics, sphere_to_cart(moved))

    def _set_pose(self, physics, pos) -> None:
        look = look_at_level if self.s.limit_to_upper_quadrant else look_at_shortest
        if self.tracking:
            pos += physics.named.data.subtree_com[1]  # agent-centred to world coordinates
            orientation = look(look_at_point(physics, self.camera_id), pos)
        else:
            orientation = look(self.initial_look_at, pos)
        xmat = np.dot(np.reshape(orientation, (3, 3)), roll_matrix(self.roll))
        physics.named.data.cam_xpos[self.camera_id] = pos
        physics.named.data.cam_xmat[self.camera_id] = xmat.flatten()
