"""attribution_augment: values against the reference (hypothesis shapes, uint8 and float inputs), the gradient
reaching obs only, opcheck and bad inputs."""
import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch.autograd import gradcheck

import smg_fast.ops as ops
from op_inputs import DTYPES, OK_MASK, OK_STACK, geometry, leaf, meta, r, u8, raises_named_error
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


@given(geometry(), st.sampled_from(DTYPES), st.booleans(), st.booleans(), st.booleans())
def test_attribution_matches_reference(g, dtype, obs_u8, noise_u8, noise_full_stack):
    b, f, h, w, per_frame, seed = g
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 256, (b, 3 * f, h, w), dtype=torch.uint8, generator=gen)
    if not obs_u8:
        obs = obs.to(dtype)
    nc = 3 * f if noise_full_stack else 3
    noise = torch.randint(0, 256, (b, nc, h, w), dtype=torch.uint8, generator=gen)
    if not noise_u8:
        noise = noise.to(dtype) / 255
    mask = torch.rand(b, f if per_frame else 1, h, w, dtype=dtype, generator=gen)
    out = ops.attribution_augment(obs, mask, noise)
    assert out.dtype == dtype
    torch.testing.assert_close(out, ref.attribution_augment(obs, mask, noise))


def test_attribution_gradcheck_reaches_obs_only():
    obs, mask, noise = leaf(2, 6, 3, 4, scale=255), leaf(2, 2, 3, 4, seed=1), leaf(2, 3, 3, 4, seed=2)
    assert gradcheck(lambda o: ops.attribution_augment(o, mask.detach(), noise.detach()), (obs,))
    # The mask and noise are stop-gradient inputs, as in SMG (smg.py:214).
    ops.attribution_augment(obs, mask, noise).sum().backward()
    assert obs.grad is not None and mask.grad is None and noise.grad is None


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    r = lambda *s, **kw: torch.rand(*s, generator=g, **kw)  # noqa: E731
    u8 = lambda *s: torch.randint(0, 256, s, dtype=torch.uint8, generator=g)  # noqa: E731
    return [
        ("attribution_augment", (u8(2, 9, 5, 5), r(2, 3, 5, 5), r(2, 3, 5, 5))),
        ("attribution_augment", ((r(2, 9, 5, 5) * 255).requires_grad_(), r(2, 3, 5, 5), u8(2, 9, 5, 5))),
    ]


@pytest.mark.parametrize("case", _opcheck_cases(), ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(torch.ops.smg_fast, name.split()[0]).default, args)


CASES = [
    ("attribution obs int32", lambda: ops.attribution_augment(torch.zeros(*OK_STACK, dtype=torch.int32), r(*OK_MASK), r(2, 3, 8, 8)), TypeError, ["obs", "uint8"]),
    ("attribution noise channels", lambda: ops.attribution_augment(u8(*OK_STACK), r(*OK_MASK), r(2, 4, 8, 8)), ValueError, ["noise", "3 channels"]),
    ("attribution noise size", lambda: ops.attribution_augment(u8(*OK_STACK), r(*OK_MASK), r(2, 3, 9, 8)), ValueError, ["noise", "height/width"]),
    ("attribution mask uint8", lambda: ops.attribution_augment(u8(*OK_STACK), u8(*OK_MASK), r(2, 3, 8, 8)), TypeError, ["mask", "float"]),
    ("attribution obs/mask dtype", lambda: ops.attribution_augment(r(*OK_STACK, dtype=torch.float64), r(*OK_MASK), r(2, 3, 8, 8)), TypeError, ["obs", "mask"]),
    ("attribution obs channels", lambda: ops.attribution_augment(u8(2, 10, 8, 8), r(*OK_MASK), r(2, 3, 8, 8)), ValueError, ["obs", "multiple of 3"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    raises_named_error(case)


def test_device_mismatch_is_reported():
    # Mixing devices must raise, not dispatch to one device's kernel with the other's pointers.
    with pytest.raises(ValueError, match="same device"):
        ops.attribution_augment(u8(*OK_STACK), meta(*OK_MASK), r(2, 3, 8, 8))
