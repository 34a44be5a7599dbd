"""Pick a headless OpenGL backend for MuJoCo before anything imports dm_control.

dm_control reads ``MUJOCO_GL`` once, when its renderer module is first imported; left unset it picks
GLFW, which fails without a display. On a machine whose GL stack is broken a renderer can also die or
hang in a worker process. So the choice is made here, up front, by rendering one tiny frame in a child
process with a timeout:

* a user-set ``MUJOCO_GL`` is respected (only verified, so a bad value fails at once with a clear error);
* otherwise ``egl`` then ``osmesa`` are tried, and the first that renders is exported in ``MUJOCO_GL``
  (child processes, e.g. :class:`~smg_fast.envs.VectorEnv` workers, inherit it);
* the verified value is also exported as ``SMG_FAST_GL_VERIFIED`` so that children skip the probe.
"""
from __future__ import annotations

import os
import subprocess
import sys

CANDIDATES = ("egl", "osmesa")
VERIFIED_ENV_VAR = "SMG_FAST_GL_VERIFIED"
PROBE_TIMEOUT_S = 60.0

_PACKAGES = {"egl": "libegl1 libgl1 libgles2 libegl-mesa0 libgl1-mesa-dri", "osmesa": "libosmesa6"}

# One tiny render through dm_control, exactly the path the environments use.
_PROBE = (
    "from dm_control import mujoco\n"
    "p = mujoco.Physics.from_xml_string('<mujoco><worldbody><light pos=\"0 0 1\"/>"
    "<geom size=\".1\"/></worldbody></mujoco>')\n"
    "img = p.render(16, 16)\n"
    "assert img.shape == (16, 16, 3), img.shape\n"
)


class RenderingUnavailableError(RuntimeError):
    pass


def probe(backend: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Render one frame with ``MUJOCO_GL=backend`` in a child process: None if it worked, else why not."""
    env = dict(os.environ, MUJOCO_GL=backend)
    env.pop("PYOPENGL_PLATFORM", None)  # dm_control derives it from MUJOCO_GL
    try:
        res = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"a test render with MUJOCO_GL={backend} did not finish within {timeout:g} s"
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or [f"exit code {res.returncode}"]
        return f"MUJOCO_GL={backend}: {tail[0]}"
    return None


def _install_hint() -> str:
    return ("Install a headless GL stack, e.g. `apt-get install libegl1 libgl1 libgles2` for EGL (plus "
            "Mesa's `libegl-mesa0 libgl1-mesa-dri` on machines without a GPU driver: llvmpipe renders on "
            "the CPU) or `apt-get install libosmesa6` for OSMesa, or set MUJOCO_GL to a backend that works "
            "here.")


def _renderer_already_imported() -> bool:
    return any(m == "dm_control._render" or m.startswith("dm_control._render.") for m in sys.modules)


def ensure_gl_backend(candidates: tuple[str, ...] = CANDIDATES, timeout: float = PROBE_TIMEOUT_S) -> str:
    """Make sure ``MUJOCO_GL`` names a backend that renders here; return it. Raises, never hangs."""
    user = os.environ.get("MUJOCO_GL")
    if user and os.environ.get(VERIFIED_ENV_VAR) == user:
        return user
    if user:
        why = probe(user, timeout)
        if why:
            raise RenderingUnavailableError(
                f"MUJOCO_GL={user} is set but cannot render: {why}. Unset it to let smg-fast pick "
                f"one of {', '.join(candidates)}, or install its libraries "
                f"({_PACKAGES.get(user, 'see the MuJoCo docs')}). {_install_hint()}")
        os.environ[VERIFIED_ENV_VAR] = user
        return user
    if _renderer_already_imported():
        raise RenderingUnavailableError(
            "dm_control's renderer was imported before MUJOCO_GL was set, so it picked GLFW, which needs "
            "a display. Import smg_fast.envs (or call smg_fast.envs.ensure_gl_backend()) before "
            "dm_control, or set MUJOCO_GL=egl (or osmesa) in the environment.")
    reasons = []
    for backend in candidates:
        why = probe(backend, timeout)
        if why is None:
            os.environ["MUJOCO_GL"] = backend
            os.environ[VERIFIED_ENV_VAR] = backend
            return backend
        reasons.append(why)
    raise RenderingUnavailableError(
        "no headless OpenGL backend works here (" + "; ".join(reasons) + "). " + _install_hint())
