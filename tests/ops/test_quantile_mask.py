"""SGQN's quantile mask (smg_fast.ops.quantile_mask) against upstream's loop, the reference and hand-computed
values, its partial-sort quantile against torch.quantile bit for bit, and bad inputs."""
import pytest
import torch

import smg_fast.ops as ops
from smg_fast.ops import reference as ref
from smg_fast.ops.quantile_mask import quantile_mask_upstream

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

f64 = torch.float64


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("quantile", [0.98, 0.9, 0.5, 0.0, 1.0])
def test_quantile_mask_equals_upstreams_loop(dtype, quantile):
    attr = torch.randn(4, 9, 84, 84, dtype=dtype, generator=torch.Generator().manual_seed(2))
    mask, q = ops.quantile_mask(attr, quantile)
    want_mask, want_q = quantile_mask_upstream(attr, quantile)
    assert mask.dtype == torch.bool and mask.shape == (4, 3, 84, 84) and q.shape == (4, 3)
    assert torch.equal(q, want_q)
    assert torch.equal(mask.repeat_interleave(3, dim=1), want_mask)
    if quantile == 0.98:  # interpolated 0.98 quantile of 7056 distinct values: 142 pixels per frame
        assert torch.equal(mask.sum(dim=(2, 3)), torch.full((4, 3), 142))


def test_quantile_mask_by_hand():
    # one sample, two frames of 2x2; the frame's saliency is the max over RGB of |a|
    a = torch.zeros(1, 6, 2, 2, dtype=f64)
    a[0, 0] = torch.tensor([[1.0, -4.0], [0.5, 0.0]])
    a[0, 1] = torch.tensor([[0.0, 0.0], [-2.0, 3.0]])  # frame 0 saliency [[1, 4], [2, 3]]
    a[0, 3:] = torch.tensor([[5.0, 5.0], [1.0, 2.0]])  # frame 1 saliency [[5, 5], [1, 2]]
    mask, q = ops.quantile_mask(a, 0.5)
    # sorted [1, 2, 3, 4]: position 0.5 * 3 = 1.5 -> 2.5; sorted [1, 2, 5, 5] -> 3.5
    assert torch.equal(q, torch.tensor([[2.5, 3.5]], dtype=f64))
    assert torch.equal(mask[0, 0], torch.tensor([[False, True], [False, True]]))
    assert torch.equal(mask[0, 1], torch.tensor([[True, True], [False, False]]))
    mask, q = ops.quantile_mask(a, 1.0)  # the max; >= keeps ties
    assert torch.equal(mask[0, 1], torch.tensor([[True, True], [False, False]]))



@pytest.mark.parametrize("quantile", [0.98, 0.5])
def test_reference_is_upstreams_loop_one_channel_per_frame(quantile):
    attr = torch.randn(3, 9, 20, 20, dtype=f64, generator=torch.Generator().manual_seed(3))
    mask, q = ops.quantile_mask(attr, quantile)
    want_mask, want_q = ref.quantile_mask(attr, quantile)
    assert want_mask.shape == mask.shape == (3, 3, 20, 20)
    assert torch.equal(mask, want_mask) and torch.equal(q, want_q)


SALIENCY_BAD = [
    ("attribution int", lambda: ops.quantile_mask(torch.ones(1, 3, 2, 2, dtype=torch.int64), 0.5), TypeError, ["attribution"]),
    ("attribution rank", lambda: ops.quantile_mask(torch.ones(3, 2, 2), 0.5), ValueError, ["attribution", "4-D"]),
    ("attribution channels", lambda: ops.quantile_mask(torch.ones(1, 4, 2, 2), 0.5), ValueError, ["multiple of 3"]),
    ("quantile > 1", lambda: ops.quantile_mask(torch.ones(1, 3, 2, 2), 1.5), ValueError, ["quantile"]),
]


@pytest.mark.parametrize("case", SALIENCY_BAD, ids=[c[0] for c in SALIENCY_BAD])
def test_saliency_bad_inputs(case):
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), str(info.value)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_partial_sort_quantile_is_torch_quantile_bit_for_bit(dtype):
    from smg_fast.ops.quantile_mask import quantile_last_dim

    g = torch.Generator().manual_seed(3)
    for n in (1, 2, 7, 7056):
        x = torch.randn(4, 3, n, generator=g, dtype=dtype)
        x[0, 0, : (n + 1) // 2] = 1.0  # ties
        if n > 2:
            x[1, 1, 1] = float("nan")  # a NaN row gives NaN, as torch.quantile's
        for q in (0.0, 0.02, 1 / 3, 0.5, 0.9, 0.98, 0.999, 1.0):
            got, want = quantile_last_dim(x, q), torch.quantile(x, q, dim=-1)
            assert torch.equal(got.isnan(), want.isnan()) and torch.equal(got.nan_to_num(), want.nan_to_num()), (n, q)
