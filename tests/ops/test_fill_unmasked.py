"""SGQN's masked observation (smg_fast.ops.fill_unmasked) against hand-computed values and upstream's
multiply-then-assign (the reference), its gradient, and bad inputs."""
import pytest
import torch

import smg_fast.ops as ops
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

f64 = torch.float64


def test_fill_unmasked():
    obs = torch.arange(2 * 6 * 2 * 2, dtype=f64).view(2, 6, 2, 2)
    mask = torch.zeros(2, 2, 2, 2, dtype=torch.bool)
    mask[0, 0, 0, 1] = mask[1, 1, 1, 0] = True
    out = ops.fill_unmasked(obs, mask, torch.tensor(-7.0, dtype=f64))
    want = torch.full_like(obs, -7.0)
    want[0, 0:3, 0, 1] = obs[0, 0:3, 0, 1]
    want[1, 3:6, 1, 0] = obs[1, 3:6, 1, 0]
    assert torch.equal(out, want)
    # the repeated 3-channel mask (upstream's) gives the same; upstream's obs * mask + index fill too
    full = mask.repeat_interleave(3, dim=1)
    assert torch.equal(ops.fill_unmasked(obs, full, -7.0), want)
    upstream = obs * full
    upstream[full < 1] = -7.0
    assert torch.equal(upstream, want)
    # gradients reach obs where it is kept
    leaf = obs.clone().requires_grad_()
    ops.fill_unmasked(leaf, mask, 3.0).sum().backward()
    assert torch.equal(leaf.grad, full.to(f64))


SALIENCY_BAD = [
    ("fill obs uint8", lambda: ops.fill_unmasked(torch.ones(1, 3, 2, 2, dtype=torch.uint8), torch.ones(1, 1, 2, 2, dtype=torch.bool), 0.0), TypeError, ["obs"]),
    ("fill mask float", lambda: ops.fill_unmasked(torch.ones(1, 3, 2, 2), torch.ones(1, 1, 2, 2), 0.0), TypeError, ["mask", "bool"]),
    ("fill mask shape", lambda: ops.fill_unmasked(torch.ones(1, 3, 2, 2), torch.ones(1, 2, 2, 2, dtype=torch.bool), 0.0), ValueError, ["mask"]),
    ("fill value shape", lambda: ops.fill_unmasked(torch.ones(1, 3, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bool), torch.ones(2)), ValueError, ["value"]),
]


@pytest.mark.parametrize("case", SALIENCY_BAD, ids=[c[0] for c in SALIENCY_BAD])
def test_saliency_bad_inputs(case):
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("repeated", [False, True])
def test_reference_is_upstreams_multiply_then_assign(repeated):
    """The reference (upstream's obs * mask, then the unmasked pixels set) gives the op's values and
    gradient, for the per-frame and the repeated 3-channel mask."""
    g = torch.Generator().manual_seed(1)
    obs = (torch.rand(3, 9, 5, 6, generator=g, dtype=f64) * 255).requires_grad_()
    mask = torch.rand(3, 3, 5, 6, generator=g) < 0.3
    if repeated:
        mask = mask.repeat_interleave(3, dim=1)
    value = torch.tensor(17.5, dtype=f64)
    out, want = ops.fill_unmasked(obs, mask, value), ref.fill_unmasked(obs, mask, value)
    assert torch.equal(out, want)
    grad = torch.linspace(-1, 1, out.numel(), dtype=f64).view_as(out)
    assert torch.equal(*(torch.autograd.grad(y, obs, grad)[0] for y in (out, want)))
