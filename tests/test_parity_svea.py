"""Our SVEA against the official implementation, update for update (fixture ../shared/fixtures/official/svea.pt;
harness in tests/official.py): float64 over four updates at 1e-9, float32 first update against the float64 run at
float32 tolerances (official.Expected). Besides the harness's losses, module outputs, gradients and parameters,
the random-convolution half of the critic batch is compared with the official ``random_conv`` output."""
import pytest
import torch

from official import FP64, Replay, Tolerances, check_run

FP32_U1 = Tolerances(losses=1e-5, outputs=1e-4, grads=1e-4, params=2e-3, zero_grad_abs=1e-6, zero_change_abs=1e-4)


def keep_augmented_batch(agent, fx, u, dtype):
    """Record the batch the update's ``augment`` hook returns (τ(o) is compared after the update)."""
    real = type(agent).augment

    def augment(b, step):
        agent.augmented_batch = real(agent, b, step)
        return agent.augmented_batch

    agent.augment = augment


def check_random_conv(agent, fx, u, *, exp, tol, where, **_):
    exp.recorded(agent.augmented_batch.obs_aug, lambda r: r["tensors"]["random_conv_out.1"], tol.outputs,
                 f"{where} random_conv(obs)")


SVEA = Replay("svea", "svea", prepare=keep_augmented_batch, check=check_random_conv)


@pytest.mark.fast
def test_svea_float64_four_updates_match_the_official_code():
    check_run(SVEA, torch.float64, updates=4, tol=FP64)


def test_svea_float32_first_update_matches_the_official_code():
    check_run(SVEA, torch.float32, updates=1, tol=FP32_U1)

