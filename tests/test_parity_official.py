"""Our SAC and DrQ against the official implementation, update for update (fixtures in
../shared/fixtures/official; see tests/official.py): float64 over four updates at 1e-9, float32 first update
against the float64 run at float32 tolerances (official.Expected)."""
import pytest
import torch

import smg_fast.ops as ops
from official import FP64, Replay, Tolerances, check_run, load_fixture

FP32_U1 = Tolerances(losses=1e-5, outputs=1e-4, grads=1e-4, params=1e-2, zero_grad_abs=1e-6, zero_change_abs=1e-4)


@pytest.mark.fast
@pytest.mark.parametrize("method", ["sac", "drq"])
def test_float64_four_updates_match_the_official_code(method):
    check_run(Replay(method, method), torch.float64, updates=4, tol=FP64)


@pytest.mark.parametrize("method", ["sac", "drq"])
def test_float32_first_update_matches_the_official_code(method):
    check_run(Replay(method, method), torch.float32, updates=1, tol=FP32_U1)


def test_drq_shift_draws_give_the_official_augmented_batch():
    """Our random_shift at the recorded offsets reproduces what the official sample_drq returned:
    replicate-pad 4, then a crop at (x = column, y = row) per sample; obs and next_obs independently."""
    fx = load_fixture("drq")
    for u in range(4):
        shifts = fx["draws"][u]["shift"]
        for key, s in zip(("obs", "next_obs"), shifts):
            got = ops.random_shift(fx["batch"][key], s.contiguous())
            assert torch.equal(got, fx["augmented"][u][key]), (u, key)


@pytest.mark.parametrize("bug, caught_at", [
    ({"discount": 0.985}, "critic loss"),           # the TD target's γ
    ({"critic_tau": 0.0105}, "critic_target.Q"),    # the Q heads' soft update 5 % off: only parameter changes see it
    ({"actor_log_std_max": 2.05}, "critic loss"),   # log σ's upper bound, 0.4 % of its range off
])
def test_float32_tolerances_still_fail_a_slightly_wrong_update(bug, caught_at):
    """The float32 comparison's tolerances grow where rounding moves a quantity (official.Expected), not
    where a wrong setting does: each of these updates, close to the official one, fails where it should."""
    with pytest.raises(AssertionError, match=caught_at):
        check_run(Replay("sac", "sac", overrides=bug), torch.float32, updates=1, tol=FP32_U1)
