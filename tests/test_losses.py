"""Each SMG loss term against a value computed by hand on tiny inputs, and its stop-gradients."""
import pytest
import torch

from smg_fast.agent import losses as L


def full(value, *shape, grad=False):
    return torch.full(shape, float(value), dtype=torch.float64, requires_grad=grad)


def test_reconstruction():
    fore, back, obs = full(10, 1, 3, 2, 2), full(20, 1, 3, 2, 2), full(15, 1, 3, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.5, 0.25]]]], dtype=torch.float64)
    # recon = 10m + 20(1−m) = [[10, 20], [15, 17.5]]; |recon − 15| = [[5, 5], [0, 2.5]] in each channel
    assert L.reconstruction(fore, back, mask, obs).item() == pytest.approx(12.5 / 4)


def test_mask_ratio():
    mask = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]], [[0.1, 0.1], [0.1, 0.1]]]], dtype=torch.float64)
    # frame means 0.5 and 0.1, ρ = 0.1 → ((0.4)² + 0²) / 2
    assert L.mask_ratio(mask, 0.1).item() == pytest.approx(0.08)


def test_background_uses_255_eps_for_every_frame():
    pred = full(0, 1, 6, 1, 2)
    noise = torch.tensor([[[[10, 20]], [[30, 40]], [[50, 60]]]], dtype=torch.uint8)
    assert L.background(pred, noise).item() == pytest.approx(35.0)
    assert L.background(full(255, 1, 6, 1, 2), full(1.0, 1, 3, 1, 2)).item() == pytest.approx(0.0)


def test_inverse_dynamics():
    assert L.inverse_dynamics(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)).item() == pytest.approx(2.5)


def test_fore_consistency_value_and_stop_gradient():
    fore_aug, mask_aug = full(2, 1, 3, 1, 1, grad=True), full(0.5, 1, 1, 1, 1, grad=True)
    fore, mask = full(4, 1, 3, 1, 1, grad=True), full(0.5, 1, 1, 1, 1, grad=True)
    loss = L.fore_consistency(fore_aug, mask_aug, fore, mask)
    assert loss.item() == pytest.approx(1.0)  # |2·0.5 − 4·0.5|
    loss.backward()
    assert fore_aug.grad is not None and mask_aug.grad is not None
    assert fore.grad is None and mask.grad is None  # the target F(o)·M(o) is detached


def test_q_consistency_value_and_stop_gradient():
    q1a, q2a = torch.tensor([[1.0]], requires_grad=True), torch.tensor([[0.0]], requires_grad=True)
    q1, q2 = torch.tensor([[3.0]], requires_grad=True), torch.tensor([[1.0]], requires_grad=True)
    loss = L.q_consistency(q1a, q2a, q1, q2)
    assert loss.item() == pytest.approx(4.0 + 1.0)
    loss.backward()
    assert q1.grad is None and q2.grad is None and q1a.grad.item() == pytest.approx(-4.0)


def test_td_target():
    args = dict(discount=0.99, q1_next=torch.tensor([[2.0]]), q2_next=torch.tensor([[3.0]]),
                alpha=torch.tensor(0.1), log_pi_next=torch.tensor([[-1.0]]))
    y = L.td_target(torch.tensor([[1.0]]), torch.tensor([[1.0]]), **args)
    assert y.item() == pytest.approx(1 + 0.99 * (2.0 + 0.1))
    assert L.td_target(torch.tensor([[1.0]]), torch.tensor([[0.0]]), **args).item() == pytest.approx(1.0)


def test_per_frame_masks_each_rgb_frame_with_its_own_channel():
    img = torch.arange(12, dtype=torch.float64).view(1, 6, 1, 2)
    mask = torch.tensor([[[[1.0, 0.0]], [[0.5, 2.0]]]], dtype=torch.float64)
    out = L.per_frame(img, mask)
    assert torch.equal(out[0, :3, 0, 1], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(out[0, 3:, 0], img[0, 3:, 0] * torch.tensor([0.5, 2.0], dtype=torch.float64))
