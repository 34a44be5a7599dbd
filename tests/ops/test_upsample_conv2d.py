"""upsample_conv2d: values against the reference (float64 to 1e-12, float32 at the decoders' shapes, bf16 and
fp16), autocast, gradients (gradcheck, the reference's autograd), opcheck, a compiled trace under autocast,
bad inputs and empty batches."""
import hypothesis.strategies as st
import pytest
import torch
from hypothesis import given
from torch.autograd import gradcheck

import smg_fast.ops as ops
from op_inputs import grads, leaf, meta, r, u8, raises_named_error
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


@given(
    st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9),
    st.booleans(), st.integers(0, 2**31 - 1),
)
def test_upsample_conv2d_matches_reference(b, cin, cout, h, w, with_bias, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, cin, h, w, dtype=torch.float64, generator=gen)
    weight = torch.randn(cout, cin, 3, 3, dtype=torch.float64, generator=gen)
    bias = torch.randn(cout, dtype=torch.float64, generator=gen) if with_bias else None
    torch.testing.assert_close(
        ops.upsample_conv2d(x, weight, bias), ref.upsample_conv2d(x, weight, bias), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("cin,cout,size", [(128, 64, 21), (64, 4, 42), (32, 128, 21)])
def test_upsample_conv2d_decoder_shapes_float32_relative_error(cin, cout, size):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, cin, size, size, generator=gen).relu()
    weight = torch.randn(cout, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
    bias = torch.randn(cout, generator=gen)
    out, expected = ops.upsample_conv2d(x, weight, bias), ref.upsample_conv2d(x, weight, bias)
    rel = ((out - expected).norm() / expected.norm()).item()
    assert rel < 1e-4, rel


def _rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("batch,cin,cout,size", [(3, 128, 64, 21), (3, 64, 4, 42), (30, 64, 4, 42)])
def test_upsample_conv2d_16bit_matches_float64_reference(dtype, batch, cin, cout, size):
    """bf16 / fp16 inputs (what autocast feeds the op): GEMMs in that dtype (on the CPU with paired
    column taps), tap sums of the weights and the weight gradient accumulated in float; error of the
    order of the dtype's rounding. Batch 30 at 64→4 runs three cache blocks, the last one partial."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cin, size, size, generator=gen).relu()
    weight = torch.randn(cout, cin, 3, 3, generator=gen) * (2 / (9 * cin)) ** 0.5
    bias = torch.randn(cout, generator=gen)
    grad = torch.randn(batch, cout, 2 * size, 2 * size, generator=gen)
    x16, w16, b16 = (t.to(dtype).requires_grad_() for t in (x, weight, bias))
    out = ops.upsample_conv2d(x16, w16, b16)
    out.backward(grad.to(dtype))
    x64, w64, b64 = (t.to(dtype).double().requires_grad_() for t in (x, weight, bias))  # same inputs
    expected = ref.upsample_conv2d(x64, w64, b64)
    expected.backward(grad.to(dtype).double())
    assert out.dtype == dtype and x16.grad.dtype == w16.grad.dtype == b16.grad.dtype == dtype
    tol = 1e-2 if dtype == torch.bfloat16 else 2e-3
    assert _rel(out, expected) < tol
    for ours, theirs in ((x16.grad, x64.grad), (w16.grad, w64.grad), (b16.grad, b64.grad)):
        assert _rel(ours, theirs) < tol


def test_upsample_conv2d_follows_autocast_like_conv2d():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 5, 6, generator=gen, requires_grad=True)
    weight = torch.randn(4, 8, 3, 3, generator=gen, requires_grad=True)
    bias = torch.randn(4, generator=gen, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ops.upsample_conv2d(x, weight, bias)
        expected = ref.upsample_conv2d(x, weight, bias)  # F.conv2d under autocast
        x64 = x.detach().double()
        kept = ops.upsample_conv2d(x64, weight.detach().double(), None)  # float64 is not cast
    assert out.dtype == expected.dtype == torch.bfloat16 and kept.dtype == torch.float64
    assert _rel(out, expected) < 1e-2
    out.float().sum().backward()
    # Gradients reach the float32 leaves as float32, through autocast's casts.
    assert x.grad.dtype == weight.grad.dtype == bias.grad.dtype == torch.float32
    torch.testing.assert_close(bias.grad, torch.full_like(bias, 2 * 10 * 12.0))  # batch × output pixels
    with torch.autocast("cpu", enabled=False):
        assert ops.upsample_conv2d(x, weight, bias).dtype == torch.float32


@pytest.mark.parametrize("with_bias", [True, False])
def test_upsample_conv2d_gradcheck(with_bias):
    x, w = leaf(2, 3, 4, 5), leaf(4, 3, 3, 3, seed=1)
    args = (x, w, leaf(4, seed=2)) if with_bias else (x, w)
    assert gradcheck(ops.upsample_conv2d, args)


def test_gradients_equal_reference_autograd():
    inputs = (leaf(2, 16, 6, 7), leaf(8, 16, 3, 3, seed=1), leaf(8, seed=2))
    for a, b in zip(grads(ops.upsample_conv2d, *inputs), grads(ref.upsample_conv2d, *inputs)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    r = lambda *s, **kw: torch.rand(*s, generator=g, **kw)  # noqa: E731
    return [
        ("upsample_conv2d", (r(2, 4, 5, 6, requires_grad=True), r(3, 4, 3, 3, requires_grad=True),
                             r(3, requires_grad=True))),
        ("upsample_conv2d", (r(2, 4, 5, 6), r(3, 4, 3, 3), None)),
        ("upsample_conv2d_backward", (r(2, 3, 10, 12), r(2, 4, 5, 6), r(3, 4, 3, 3))),
        ("upsample_conv2d bf16", (r(2, 4, 5, 6, dtype=torch.bfloat16, requires_grad=True),
                                  r(3, 4, 3, 3, dtype=torch.bfloat16, requires_grad=True),
                                  r(3, dtype=torch.bfloat16, requires_grad=True))),
        ("upsample_conv2d_backward bf16", (r(2, 3, 10, 12, dtype=torch.bfloat16), r(2, 4, 5, 6, dtype=torch.bfloat16),
                                           r(3, 4, 3, 3, dtype=torch.bfloat16))),
    ]


@pytest.mark.parametrize("case", _opcheck_cases(), ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(torch.ops.smg_fast, name.split()[0]).default, args)


def test_torch_compile_traces_upsample_conv2d_under_autocast():
    def up(x, weight, bias):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return ops.upsample_conv2d(torch.relu(x), weight, bias)

    g = torch.Generator().manual_seed(0)
    x, weight, bias = torch.randn(2, 4, 3, 3, generator=g), torch.randn(5, 4, 3, 3, generator=g), torch.randn(5, generator=g)
    compiled = torch.compile(up, backend="aot_eager", fullgraph=True)
    out = compiled(x, weight, bias)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, up(x, weight, bias))


CASES = [
    ("upconv weight 5x5", lambda: ops.upsample_conv2d(r(2, 4, 5, 5), r(3, 4, 5, 5)), ValueError, ["weight", "3x3"]),
    ("upconv channel mismatch", lambda: ops.upsample_conv2d(r(2, 4, 5, 5), r(3, 5, 3, 3)), ValueError, ["weight", "C_in"]),
    ("upconv bias shape", lambda: ops.upsample_conv2d(r(2, 4, 5, 5), r(3, 4, 3, 3), r(4)), ValueError, ["bias", "[C_out]"]),
    ("upconv weight dtype", lambda: ops.upsample_conv2d(r(2, 4, 5, 5), r(3, 4, 3, 3, dtype=torch.float64)), TypeError, ["weight", "dtype"]),
    ("upconv x int", lambda: ops.upsample_conv2d(u8(2, 4, 5, 5), r(3, 4, 3, 3)), TypeError, ["x", "float32", "bfloat16"]),
    ("upconv bf16 x, float32 weight", lambda: ops.upsample_conv2d(r(2, 4, 5, 5, dtype=torch.bfloat16), r(3, 4, 3, 3)), TypeError, ["weight", "dtype"]),
    ("upconv x rank", lambda: ops.upsample_conv2d(r(4, 5, 5), r(3, 4, 3, 3)), ValueError, ["x", "4-D"]),
    ("upconv x non-contiguous", lambda: ops.upsample_conv2d(r(2, 4, 5, 5).transpose(2, 3), r(3, 4, 3, 3)), ValueError, ["x", "contiguous"]),
    ("upconv x None", lambda: torch.ops.smg_fast.upsample_conv2d(None, r(3, 4, 3, 3)), ValueError, ["x", "None"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    raises_named_error(case)


def test_device_mismatch_is_reported():
    # Mixing devices must raise, not dispatch to one device's kernel with the other's pointers.
    with pytest.raises(ValueError, match="same device"):
        ops.upsample_conv2d(r(2, 4, 5, 5), meta(3, 4, 3, 3))


def test_empty_batches():
    assert ops.upsample_conv2d(torch.rand(0, 2, 3, 3), torch.rand(4, 2, 3, 3)).shape == (0, 4, 6, 6)
