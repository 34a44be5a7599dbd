"""random_shift and sample_shifts: values against the reference and upstream's pad-then-crop, the identity and
the replicated edges, the offsets' range, gradients (gradcheck, the reference's autograd), opcheck, bad
inputs and empty batches."""
import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch.autograd import gradcheck

import smg_fast.ops as ops
from op_inputs import OK_STACK, grads, leaf, meta, r, shifts, raises_named_error
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


@given(
    st.integers(1, 4), st.integers(1, 6), st.integers(1, 12), st.integers(1, 12),
    st.integers(0, 6), st.sampled_from([torch.uint8, torch.float32, torch.float64]),
    st.integers(0, 2**31 - 1),
)
def test_random_shift_matches_reference(b, c, h, w, pad, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8, generator=gen).to(dtype)
    shifts = ops.sample_shifts(b, pad, generator=gen)
    assert torch.equal(ops.random_shift(obs, shifts, pad), ref.random_shift(obs, shifts, pad))


def test_random_shift_centre_is_identity_and_edges_replicate():
    obs = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    centre = torch.full((2, 2), 4)
    assert torch.equal(ops.random_shift(obs, centre, 4), obs)
    # Crop at the padded image's top-left corner: rows/cols before the image repeat its edge.
    corner = ops.random_shift(obs, torch.zeros(2, 2, dtype=torch.long), 4)
    assert torch.equal(corner[:, :, :5, :5], obs[:, :, :1, :1].expand(2, 3, 5, 5))
    assert torch.equal(corner[:, :, 4:, 4:], obs[:, :, :2, :2])


def test_random_shift_matches_kornia_style_crop():
    # Upstream: F.pad(replicate) then a crop whose top-left corner is (x, y) in the padded image.
    obs = torch.rand(3, 9, 84, 84)
    shifts = torch.tensor([[0, 8], [3, 5], [8, 0]])
    padded = torch.nn.functional.pad(obs, (4, 4, 4, 4), mode="replicate")
    expected = torch.stack([padded[i, :, y : y + 84, x : x + 84] for i, (x, y) in enumerate(shifts.tolist())])
    assert torch.equal(ops.random_shift(obs, shifts), expected)


def test_sample_shifts_covers_inclusive_range():
    s = ops.sample_shifts(4000, 4, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4000, 2) and s.dtype == torch.int64
    assert set(s.unique().tolist()) == set(range(9))


def test_random_shift_gradcheck():
    obs = leaf(3, 2, 5, 6)
    shifts = torch.tensor([[0, 4], [4, 1], [2, 2]])
    assert gradcheck(lambda o: ops.random_shift(o, shifts, 2), (obs,))
    # A pad wider than the image: every output pixel may read a border pixel.
    assert gradcheck(lambda o: ops.random_shift(o, torch.tensor([[0, 9], [9, 0], [5, 3]]), 5), (obs,))


def test_gradients_equal_reference_autograd():
    shifts = torch.tensor([[0, 8], [3, 5], [8, 0], [4, 4]])
    inputs = (leaf(4, 9, 8, 8),)
    fused, eager = grads(lambda o: ops.random_shift(o, shifts), *inputs), grads(lambda o: ref.random_shift(o, shifts), *inputs)
    for a, b in zip(fused, eager):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    r = lambda *s, **kw: torch.rand(*s, generator=g, **kw)  # noqa: E731
    u8 = lambda *s: torch.randint(0, 256, s, dtype=torch.uint8, generator=g)  # noqa: E731
    return [
        ("random_shift", (u8(2, 9, 6, 6), torch.tensor([[0, 8], [8, 3]]), 4)),
        ("random_shift", (r(2, 9, 6, 6, requires_grad=True), torch.tensor([[0, 2], [1, 1]]), 1)),
        ("random_shift_backward", (r(2, 9, 6, 6), torch.tensor([[0, 2], [1, 1]]), 1)),
    ]


@pytest.mark.parametrize("case", _opcheck_cases(), ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(torch.ops.smg_fast, name.split()[0]).default, args)


CASES = [
    ("shift out of range", lambda: ops.random_shift(r(*OK_STACK), torch.tensor([[0, 9], [0, 0]])), ValueError, ["shifts", "[0, 8]"]),
    ("shift negative", lambda: ops.random_shift(r(*OK_STACK), torch.tensor([[-1, 0], [0, 0]])), ValueError, ["shifts"]),
    ("shift shape", lambda: ops.random_shift(r(*OK_STACK), torch.zeros(3, 2, dtype=torch.long)), ValueError, ["shifts", "[B, 2]"]),
    ("shift float offsets", lambda: ops.random_shift(r(*OK_STACK), torch.zeros(2, 2)), TypeError, ["shifts", "int64"]),
    ("shift negative pad", lambda: ops.random_shift(r(*OK_STACK), shifts, -1), ValueError, ["pad"]),
    ("shift obs rank", lambda: ops.random_shift(r(9, 8, 8), shifts), ValueError, ["obs", "4-D"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    raises_named_error(case)


def test_device_mismatch_is_reported():
    # Mixing devices must raise, not dispatch to one device's kernel with the other's pointers.
    with pytest.raises(ValueError, match="same device"):
        ops.random_shift(meta(*OK_STACK), shifts)


def test_empty_batches():
    assert ops.random_shift(torch.rand(0, 9, 4, 4), torch.zeros(0, 2, dtype=torch.long)).shape == (0, 9, 4, 4)
