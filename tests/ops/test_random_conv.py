"""random_conv (SVEA's random convolution): values against upstream's loop and hand-computed kernels,
gradients (gradcheck, the reference's autograd), a compiled trace, the kernels' draws, and bad inputs."""
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import smg_fast.ops as ops
from op_inputs import f64, gen, u8

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("obs_u8", [True, False])
@pytest.mark.parametrize("shape", [(4, 9, 13, 11), (2, 3, 5, 5), (3, 6, 1, 7)])
def test_random_conv_matches_upstream_loop(dtype, obs_u8, shape):
    x = u8(*shape) if obs_u8 else (torch.rand(*shape, generator=gen()) * 255).to(dtype)
    kernels = torch.randn(shape[0], 3, 3, 3, 3, generator=gen(1)).to(dtype)
    out = ops.random_conv(x, kernels)
    ref = ops.reference.random_conv(x, kernels)
    assert out.dtype == dtype and out.shape == shape
    torch.testing.assert_close(out, ref, rtol=1e-12 if dtype == torch.float64 else 1e-5, atol=1e-9 if dtype == torch.float64 else 1e-3)


def test_random_conv_hand_computed_values():
    """Known kernels: the zero kernel gives 255·sigmoid(0) = 127.5; a centre-tap identity gives
    255·sigmoid(x/255); a kernel reading the left neighbour replicates the border (replicate pad 1);
    not clipped to the input range; one kernel per sample, shared by its frames."""
    x = u8(2, 6, 4, 5).double()
    zero = torch.zeros(3, 3, 3, 3, **f64)
    ident = zero.clone()
    for c in range(3):
        ident[c, c, 1, 1] = 1.0
    out = ops.random_conv(x, torch.stack([zero, ident]))
    assert torch.equal(out[0], torch.full_like(out[0], 127.5))
    torch.testing.assert_close(out[1], 255 * torch.sigmoid(x[1] / 255), rtol=1e-15, atol=1e-12)
    left = zero.clone()
    for c in range(3):
        left[c, c, 1, 0] = 1.0  # output (i, j) reads input (i, j − 1)
    out = ops.random_conv(x, torch.stack([left, left]))
    shifted = torch.cat([x[..., :1], x[..., :-1]], dim=-1)  # column −1 replicates column 0
    torch.testing.assert_close(out, 255 * torch.sigmoid(shifted / 255), rtol=1e-15, atol=1e-12)
    # the output of a dark image under the zero kernel is 127.5, far above its input range
    assert ops.random_conv(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), zero[None].float()).min() == 127.5


def test_random_conv_gradcheck_and_reference_gradients():
    x = (torch.rand(2, 6, 4, 5, generator=gen(), **f64) * 255).requires_grad_()
    k = torch.randn(2, 3, 3, 3, 3, generator=gen(1), **f64).requires_grad_()
    assert gradcheck(ops.random_conv, (x, k))
    grad = torch.linspace(-1, 1, x.numel(), **f64).view_as(x)
    fast = torch.autograd.grad(ops.random_conv(x, k), (x, k), grad)
    ref = torch.autograd.grad(ops.reference.random_conv(x, k), (x, k), grad)
    for a, b in zip(fast, ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_random_conv_compiles_without_graph_breaks():
    x, k = torch.rand(2, 9, 6, 6, generator=gen()) * 255, torch.randn(2, 3, 3, 3, 3, generator=gen(1))
    compiled = torch.compile(ops.random_conv, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x, k), ops.random_conv(x, k))


def test_random_conv_draws_are_standard_normal_per_sample():
    from smg_fast.agent.draws import Draws

    d = Draws(0, torch.device("cpu"))
    k = d.conv_kernels(4000)
    assert k.shape == (4000, 3, 3, 3, 3) and k.dtype == torch.float32
    assert abs(float(k.mean())) < 0.01 and abs(float(k.std()) - 1) < 0.01
    assert not torch.equal(k[0], k[1])
    offsets = d.crop_offsets(5000, 16)
    assert offsets.shape == (5000, 2) and int(offsets.min()) == 0 and int(offsets.max()) == 15


CONV_BAD = [
    ("x channels", lambda: ops.random_conv(torch.rand(2, 8, 5, 5), torch.randn(2, 3, 3, 3, 3)), ValueError, ["x", "multiple of 3"]),
    ("x rank", lambda: ops.random_conv(torch.rand(9, 5, 5), torch.randn(9, 3, 3, 3, 3)), ValueError, ["x", "4-D"]),
    ("x dtype", lambda: ops.random_conv(torch.zeros(2, 9, 5, 5, dtype=torch.int32), torch.randn(2, 3, 3, 3, 3)), TypeError, ["x", "uint8"]),
    ("kernels dtype", lambda: ops.random_conv(u8(2, 9, 5, 5), torch.zeros(2, 3, 3, 3, 3, dtype=torch.long)), TypeError, ["kernels", "float"]),
    ("kernels shape", lambda: ops.random_conv(u8(2, 9, 5, 5), torch.randn(2, 3, 3, 5, 5)), ValueError, ["kernels", "[B, 3, 3, 3, 3]"]),
    ("kernels batch", lambda: ops.random_conv(u8(2, 9, 5, 5), torch.randn(3, 3, 3, 3, 3)), ValueError, ["kernels", "[2, 3, 3, 3, 3]"]),
    ("dtype mismatch", lambda: ops.random_conv(torch.rand(2, 9, 5, 5, **f64), torch.randn(2, 3, 3, 3, 3)), TypeError, ["kernels", "dtype"]),
    ("device", lambda: ops.random_conv(u8(2, 9, 5, 5), torch.randn(2, 3, 3, 3, 3, device="meta")), ValueError, ["kernels", "device"]),
]


@pytest.mark.parametrize("case", CONV_BAD, ids=lambda c: c[0])
def test_random_conv_bad_inputs(case):
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_random_conv_of_the_official_fixture_kernels_is_the_formula():
    """The formula of the fixture README on one frame, written out with conv2d (kernel k for sample k)."""
    x, k = u8(2, 9, 6, 7).float(), torch.randn(2, 3, 3, 3, 3, generator=gen(3))
    out = ops.random_conv(x, k)
    frame = x[1, 3:6][None] / 255
    want = torch.sigmoid(F.conv2d(F.pad(frame, (1, 1, 1, 1), mode="replicate"), k[1])) * 255
    torch.testing.assert_close(out[1, 3:6], want[0])
