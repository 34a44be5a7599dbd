"""Our SAC and DrQ against the official implementation, update for update (fixtures in
../shared/fixtures/official; see tests/official.py): float64 over four updates at 1e-9, float32 first update
at the README's suggested tolerances."""
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
