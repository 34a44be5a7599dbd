"""composite: values against the reference (hypothesis shapes), gradients (gradcheck, the reference's
autograd), opcheck, bad inputs and empty batches."""
import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch.autograd import gradcheck

import smg_fast.ops as ops
from op_inputs import DTYPES, OK_MASK, OK_STACK, geometry, grads, leaf, meta, r, stack, u8, raises_named_error
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


@given(geometry(), st.sampled_from(DTYPES))
def test_composite_matches_reference(g, dtype):
    b, f, h, w, per_frame, seed = g
    gen = torch.Generator().manual_seed(seed)
    fg, bg = stack(b, f, h, w, dtype, gen), stack(b, f, h, w, dtype, gen)
    mask = torch.rand(b, f if per_frame else 1, h, w, dtype=dtype, generator=gen)
    torch.testing.assert_close(ops.composite(fg, bg, mask), ref.composite(fg, bg, mask))


@pytest.mark.parametrize("mask_channels", [3, 1])
def test_composite_gradcheck(mask_channels):
    fg, bg = leaf(2, 9, 4, 5, seed=1), leaf(2, 9, 4, 5, seed=2)
    mask = leaf(2, mask_channels, 4, 5, seed=3)
    assert gradcheck(ops.composite, (fg, bg, mask))


def test_gradients_equal_reference_autograd():
    inputs = (leaf(4, 9, 8, 8), leaf(4, 9, 8, 8, seed=1), leaf(4, 3, 8, 8, seed=2))
    for a, b in zip(grads(ops.composite, *inputs), grads(ref.composite, *inputs)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    r = lambda *s, **kw: torch.rand(*s, generator=g, **kw)  # noqa: E731
    return [
        ("composite", (r(2, 9, 5, 5, requires_grad=True), r(2, 9, 5, 5, requires_grad=True),
                       r(2, 3, 5, 5, requires_grad=True))),
        ("composite", (r(2, 6, 5, 5), r(2, 6, 5, 5), r(2, 1, 5, 5))),
        ("composite_backward", (r(2, 9, 5, 5), r(2, 9, 5, 5), r(2, 9, 5, 5), r(2, 3, 5, 5))),
    ]


@pytest.mark.parametrize("case", _opcheck_cases(), ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(torch.ops.smg_fast, name.split()[0]).default, args)


CASES = [
    ("composite fg int", lambda: ops.composite(u8(*OK_STACK), r(*OK_STACK), r(*OK_MASK)), TypeError, ["fg", "float"]),
    ("composite fg rank", lambda: ops.composite(r(9, 8, 8), r(9, 8, 8), r(3, 8, 8)), ValueError, ["fg", "4-D"]),
    ("composite channels not x3", lambda: ops.composite(r(2, 8, 8, 8), r(2, 8, 8, 8), r(2, 1, 8, 8)), ValueError, ["fg", "multiple of 3"]),
    ("composite bg shape", lambda: ops.composite(r(*OK_STACK), r(2, 9, 8, 7), r(*OK_MASK)), ValueError, ["bg", "shape"]),
    ("composite bg dtype", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK, dtype=torch.float64), r(*OK_MASK)), TypeError, ["bg", "dtype"]),
    ("composite mask channels", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(2, 2, 8, 8)), ValueError, ["mask", "channels"]),
    ("composite mask size", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(2, 3, 4, 4)), ValueError, ["mask", "height/width"]),
    ("composite mask batch", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(1, 3, 8, 8)), ValueError, ["mask", "batch"]),
    ("composite mask dtype", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(*OK_MASK, dtype=torch.float64)), TypeError, ["mask", "dtype"]),
    ("composite non-contiguous", lambda: ops.composite(r(2, 9, 8, 8).transpose(2, 3), r(*OK_STACK), r(*OK_MASK)), ValueError, ["fg", "contiguous"]),
    ("composite mask non-contiguous", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(2, 3, 8, 8).transpose(2, 3)), ValueError, ["mask", "contiguous"]),
    ("composite half", lambda: ops.composite(r(*OK_STACK).half(), r(*OK_STACK).half(), r(*OK_MASK).half()), TypeError, ["fg", "float32"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    raises_named_error(case)


def test_device_mismatch_is_reported():
    # Mixing devices must raise, not dispatch to one device's kernel with the other's pointers.
    with pytest.raises(ValueError, match="same device"):
        ops.composite(r(*OK_STACK), r(*OK_STACK), meta(*OK_MASK))


def test_empty_batches():
    assert ops.composite(torch.rand(0, 9, 4, 4), torch.rand(0, 9, 4, 4), torch.rand(0, 3, 4, 4)).shape == (0, 9, 4, 4)
