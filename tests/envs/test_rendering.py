"""Headless GL backend selection: picks a working backend, respects the user's, fails fast and clearly."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from smg_fast.envs import rendering

REPO = Path(__file__).resolve().parents[2]


def _run(code: str, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", rendering.VERIFIED_ENV_VAR)}
    env.update(env_overrides, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_picks_a_backend_that_renders_when_unset():
    res = _run("import os\nfrom smg_fast import envs\n"
               "b = envs.ensure_gl_backend()\n"
               "assert os.environ['MUJOCO_GL'] == b == os.environ['SMG_FAST_GL_VERIFIED']\n"
               "env = envs.make('walker-walk', episode_length=4)\n"
               "print(b, env.reset()[0].max())\n")
    assert res.returncode == 0, res.stderr
    backend, brightest = res.stdout.split()
    assert backend in rendering.CANDIDATES and int(brightest) > 0


def test_fails_fast_naming_the_debian_packages():
    start = time.monotonic()
    res = _run("from smg_fast.envs import rendering\n"
               "rendering.ensure_gl_backend(candidates=('no-such-backend',))\n")
    assert res.returncode != 0
    assert "libegl1 libgl1 libgles2" in res.stderr and "libosmesa6" in res.stderr
    assert time.monotonic() - start < 60


def test_a_broken_user_setting_is_reported_not_replaced():
    res = _run("from smg_fast.envs import rendering\nrendering.ensure_gl_backend()\n", MUJOCO_GL="bogus")
    assert res.returncode != 0
    assert "MUJOCO_GL=bogus is set but cannot render" in res.stderr


def test_probe_times_out_instead_of_hanging():
    start = time.monotonic()
    why = rendering.probe("egl", timeout=0.01)
    assert why is not None and "did not finish" in why
    assert time.monotonic() - start < 5
