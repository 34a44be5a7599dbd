"""The one action check shared by DMCEnv, RobotEnv and VectorEnv (no simulator needed)."""
from __future__ import annotations

import numpy as np
import pytest

from smg_fast.envs.actions import check_actions


def test_single_action():
    a = check_actions([0.5, -1, 1], (3,))
    assert a.dtype == np.float64 and a.tolist() == [0.5, -1.0, 1.0]  # the bounds are inclusive
    with pytest.raises(ValueError, match=r"action has shape \(2,\), expected \(3,\) for walker-walk"):
        check_actions([0, 0], (3,), context=" for walker-walk")
    with pytest.raises(ValueError, match=r"non-finite \(NaN/inf\) entries at indices \[1, 2\]"):
        check_actions([0, np.nan, np.inf], (3,))
    with pytest.raises(ValueError, match=r"out of bounds \[-1, 1\] at indices \[0\]: \[-1.5\]"):
        check_actions([-1.5, 0, 0], (3,))
    with pytest.raises(ValueError, match=r"float array of shape \(3,\)"):
        check_actions(["a", "b", "c"], (3,))


def test_batch_names_the_envs():
    a = check_actions(np.zeros((2, 3)), (3,), env_ids=[4, 7])
    assert a.shape == (2, 3)
    with pytest.raises(ValueError, match=r"actions have shape \(3, 3\), expected \(2, 3\)"):
        check_actions(np.zeros((3, 3)), (3,), env_ids=[4, 7])
    with pytest.raises(ValueError, match=r"actions for envs \[7\] have non-finite"):
        check_actions([[0, 0, 0], [0, np.nan, 0]], (3,), env_ids=[4, 7])
    with pytest.raises(ValueError, match=r"actions for envs \[4, 7\] are out of bounds"):
        check_actions(np.full((2, 3), 1.01), (3,), env_ids=[4, 7])
