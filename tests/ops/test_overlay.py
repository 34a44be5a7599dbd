"""overlay: values against the reference and DMC-GB's formula, gradients (gradcheck, the reference's autograd),
opcheck and bad inputs."""
import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch.autograd import gradcheck

import smg_fast.ops as ops
from op_inputs import DTYPES, OK_STACK, geometry, grads, leaf, meta, r, u8, raises_named_error
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


@given(geometry(), st.sampled_from(DTYPES), st.booleans(), st.booleans(), st.floats(0, 1))
def test_overlay_matches_reference(g, dtype, obs_u8, img_u8, alpha):
    b, f, h, w, _, seed = g
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 256, (b, 3 * f, h, w), dtype=torch.uint8, generator=gen)
    if not obs_u8:
        obs = obs.to(dtype)
    img = torch.randint(0, 256, (b, 3, h, w), dtype=torch.uint8, generator=gen)
    if not img_u8:
        img = img.to(dtype) / 255
    out = ops.overlay(obs, img, alpha)
    expected_dtype = dtype if not (obs_u8 and img_u8) else torch.float32
    assert out.dtype == expected_dtype
    torch.testing.assert_close(out, ref.overlay(obs, img, alpha))


def test_overlay_matches_dmcgb_formula():
    # DMC-GB: ((1 − α)·(x/255) + α·img)·255 with α = 0.5, img repeated over the 3 frames.
    x = torch.randint(0, 256, (2, 9, 5, 5)).float()
    img = torch.rand(2, 3, 5, 5)
    upstream = ((1 - 0.5) * (x / 255.0) + 0.5 * img.repeat(1, 3, 1, 1)) * 255.0
    torch.testing.assert_close(ops.overlay(x, img), upstream)


def test_overlay_gradcheck():
    obs, img = leaf(2, 9, 3, 4, scale=255), leaf(2, 3, 3, 4, seed=1)
    assert gradcheck(lambda o, i: ops.overlay(o, i, 0.3), (obs, img))
    full = leaf(2, 9, 3, 4, seed=2)
    assert gradcheck(lambda o, i: ops.overlay(o, i, 0.7), (obs, full))
    # uint8 observations (replay data) carry no gradient; the image still gets one
    u8 = torch.randint(0, 256, (2, 9, 3, 4), dtype=torch.uint8)
    assert gradcheck(lambda i: ops.overlay(u8, i, 0.5), (img,))


def test_gradients_equal_reference_autograd():
    inputs = (leaf(4, 9, 8, 8, scale=255), leaf(4, 3, 8, 8, seed=1))
    for a, b in zip(grads(ops.overlay, *inputs), grads(ref.overlay, *inputs)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    r = lambda *s, **kw: torch.rand(*s, generator=g, **kw)  # noqa: E731
    u8 = lambda *s: torch.randint(0, 256, s, dtype=torch.uint8, generator=g)  # noqa: E731
    return [
        ("overlay", (u8(2, 9, 5, 5), r(2, 3, 5, 5), 0.5)),
        ("overlay", ((r(2, 9, 5, 5) * 255).requires_grad_(), r(2, 3, 5, 5, requires_grad=True), 0.25)),
        ("overlay_backward", (r(2, 9, 5, 5), 0.5, 3, True, True)),
        ("overlay_backward", (r(2, 9, 5, 5), 0.25, 9, False, True)),
    ]


@pytest.mark.parametrize("case", _opcheck_cases(), ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(torch.ops.smg_fast, name.split()[0]).default, args)


CASES = [
    ("overlay alpha > 1", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8), 1.5), ValueError, ["alpha", "[0, 1]"]),
    ("overlay alpha < 0", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8), -0.1), ValueError, ["alpha"]),
    ("overlay alpha nan", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8), float("nan")), ValueError, ["alpha"]),
    ("overlay images batch", lambda: ops.overlay(u8(*OK_STACK), r(3, 3, 8, 8)), ValueError, ["images", "batch"]),
    ("overlay images rank", lambda: ops.overlay(u8(*OK_STACK), r(3, 8, 8)), ValueError, ["images", "4-D"]),
    ("overlay images non-contiguous", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8).transpose(2, 3)), ValueError, ["images", "contiguous"]),
    ("overlay_backward image channels", lambda: torch.ops.smg_fast.overlay_backward(r(*OK_STACK), 0.5, 4, True, True), ValueError, ["image_channels"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    raises_named_error(case)


def test_device_mismatch_is_reported():
    # Mixing devices must raise, not dispatch to one device's kernel with the other's pointers.
    with pytest.raises(ValueError, match="same device"):
        ops.overlay(r(*OK_STACK), meta(2, 3, 8, 8))
