"""The action check every environment runs: one env's action or a batch of them, a float array of the
action space's shape, finite and inside the normalised box [-1, 1] (bounds inclusive).

:class:`~smg_fast.envs.dmc.DMCEnv` and :class:`~smg_fast.envs.robot.RobotEnv` check one action per
``step``; :class:`~smg_fast.envs.VectorEnv` checks a batch in the parent process, before anything is sent
to a worker, so a bad action never reaches (and kills) one.
"""
from __future__ import annotations

import numpy as np


def check_actions(actions, shape: tuple[int, ...], env_ids=None, context: str = "") -> np.ndarray:
    """``actions`` as a float64 array, or ValueError saying what is wrong with it.

    Args:
        actions: one action of shape ``shape`` (``env_ids`` None), or one row per id of ``env_ids``.
        shape: the action space's shape (one env's).
        env_ids: the env ids of a batch's rows, named in the errors; None for a single action, whose
            errors name the offending indices and values instead.
        context: appended to the shape error, e.g. ``" for walker-walk"``.
    """
    single = env_ids is None
    shape = tuple(shape)
    want = shape if single else (len(env_ids), *shape)
    noun = "action" if single else "actions"
    try:
        a = np.asarray(actions, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{noun} must be a float array of shape {want}: {e}") from None
    if a.shape != want:
        verb = "has" if single else "have"
        raise ValueError(f"{noun} {verb} shape {a.shape}, expected {want}{context}")
    nonfinite = ~np.isfinite(a)
    outside = np.abs(a) > 1.0  # False for NaN: those are reported as non-finite first
    if single:
        if nonfinite.any():
            bad = np.flatnonzero(nonfinite)
            raise ValueError(f"action has non-finite (NaN/inf) entries at indices {bad.tolist()}: {a.tolist()}")
        if outside.any():
            bad = np.flatnonzero(outside)
            raise ValueError(f"action out of bounds [-1, 1] at indices {bad.tolist()}: "
                             f"{a.ravel()[bad].tolist()}")
        return a
    ids = np.asarray(env_ids)
    rows = nonfinite.reshape(len(ids), -1).any(axis=1)
    if rows.any():
        raise ValueError(f"actions for envs {ids[rows].tolist()} have non-finite (NaN/inf) entries")
    rows = outside.reshape(len(ids), -1).any(axis=1)
    if rows.any():
        raise ValueError(f"actions for envs {ids[rows].tolist()} are out of bounds [-1, 1]")
    return a
