"""The baselines' augmentations: random_crop (SODA's 100 → 84 crop) and random_conv (SVEA's random
convolution) against their references and hand-computed values, gradients (gradcheck, the reference's
autograd), torch.library.opcheck of the registered crop ops, a torch.compile trace, the draws' ranges, and
bad inputs."""
import importlib

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import smg_fast.ops as ops

f64 = dict(dtype=torch.float64)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def u8(*shape, seed=0):
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen(seed))


# ---- random_crop ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("shape,size", [((5, 9, 100, 100), 84), ((3, 6, 12, 17), 7), ((2, 3, 8, 8), 8), ((1, 1, 5, 4), 1)])
def test_random_crop_matches_reference_at_every_corner(dtype, shape, size):
    x = u8(*shape).to(dtype)
    b, _, h, w = shape
    g = gen(1)
    offsets = torch.stack([torch.randint(0, h - size + 1, (b,), generator=g),
                           torch.randint(0, w - size + 1, (b,), generator=g)], dim=1)
    offsets[0] = torch.tensor([h - size, w - size])  # the largest valid offsets are accepted
    out = ops.random_crop(x, offsets, size)
    assert out.dtype == dtype and out.shape == (b, shape[1], size, size) and out.is_contiguous()
    assert torch.equal(out, ops.reference.random_crop(x, offsets, size))
    r, c = offsets[0].tolist()
    assert torch.equal(out[0], x[0, :, r:r + size, c:c + size])  # (row, column), upstream's (w1, h1)
    assert torch.equal(ops.random_crop(x, offsets.int(), size), out)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float64])
def test_random_crop_gpu_path_gather_and_scatter_equal_the_cpu_copies(dtype):
    """The op picks block copies on CPU and one window gather / scatter on a GPU: both paths, run here on
    CPU, give the reference's crop and gradient."""
    rc = importlib.import_module("smg_fast.ops.random_crop")  # the module (ops.random_crop is the function)

    x = u8(4, 6, 19, 23).to(dtype)
    rows, cols = torch.tensor([0, 3, 7, 2]), torch.tensor([9, 0, 4, 9])
    want = ops.reference.random_crop(x, torch.stack([rows, cols], 1), 12)
    pairs = list(zip(rows.tolist(), cols.tolist()))
    assert torch.equal(rc._crop_gather(x, rows, cols, 12), want) and torch.equal(rc._crop_copies(x, pairs, 12), want)
    if dtype.is_floating_point:
        grad = torch.rand(4, 6, 12, 12, generator=gen(), dtype=dtype)
        assert torch.equal(rc._uncrop_scatter(grad, rows, cols, 19, 23), rc._uncrop_copies(grad, pairs, 19, 23))


def test_random_crop_of_a_channels_last_batch():
    x = u8(3, 9, 20, 20).float().contiguous(memory_format=torch.channels_last)
    offsets = torch.tensor([[0, 3], [4, 4], [2, 0]])
    assert torch.equal(ops.random_crop(x, offsets, 16), ops.reference.random_crop(x, offsets, 16))


def test_random_crop_gradcheck_and_reference_gradients():
    x = torch.rand(3, 2, 7, 6, generator=gen(), **f64).requires_grad_()
    offsets = torch.tensor([[0, 2], [3, 0], [1, 1]])
    assert gradcheck(lambda t: ops.random_crop(t, offsets, 4), (x,))
    grad = torch.linspace(-1, 1, 3 * 2 * 4 * 4, **f64).view(3, 2, 4, 4)
    (g_fast,) = torch.autograd.grad(ops.random_crop(x, offsets, 4), x, grad)
    (g_ref,) = torch.autograd.grad(ops.reference.random_crop(x, offsets, 4), x, grad)
    assert torch.equal(g_fast, g_ref)
    # the gradient lands in each sample's window only
    assert torch.equal(g_fast[1, :, 3:7, 0:4], grad[1]) and g_fast[1, :, :3].abs().sum() == 0


@pytest.mark.parametrize("args", [
    lambda: (torch.rand(2, 9, 10, 10, requires_grad=True), torch.tensor([[0, 3], [2, 1]]), 7),
    lambda: (u8(3, 6, 9, 11), torch.tensor([[0, 0], [1, 4], [2, 2]]), 7),
])
def test_random_crop_opcheck(args):
    torch.library.opcheck(torch.ops.smg_fast.random_crop.default, args())


def test_random_crop_backward_opcheck():
    grad, offsets = torch.rand(2, 3, 4, 4), torch.tensor([[0, 1], [2, 0]])
    torch.library.opcheck(torch.ops.smg_fast.random_crop_backward.default, (grad, offsets, 6, 5))


def test_sample_crop_offsets_never_draw_the_largest_offset():
    """upstream draws random_(0, crop_max): 0..15 for 100 → 84, never 16 (README quirk 12)."""
    offsets = ops.sample_crop_offsets(20000, 100, 84, generator=gen())
    assert offsets.dtype == torch.int64 and offsets.shape == (20000, 2)
    for axis in range(2):
        assert set(offsets[:, axis].unique().tolist()) == set(range(16))
    with pytest.raises(ValueError, match="image_size"):
        ops.sample_crop_offsets(2, 84, 84)


def test_random_crop_compiles_without_graph_breaks():
    def f(x, offsets):
        return ops.random_crop(x, offsets, 5).square().sum()

    x = torch.rand(2, 3, 8, 8, generator=gen(), requires_grad=True)
    offsets = torch.tensor([[1, 3], [0, 2]])
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    (g1,) = torch.autograd.grad(compiled(x, offsets), x)
    (g0,) = torch.autograd.grad(f(x, offsets), x)
    torch.testing.assert_close(g1, g0)


CROP_BAD = [
    ("x rank", lambda: ops.random_crop(torch.rand(9, 10, 10), torch.zeros(9, 2, dtype=torch.long), 4), ValueError, ["x", "4-D"]),
    ("x dtype", lambda: ops.random_crop(torch.zeros(2, 3, 10, 10, dtype=torch.int32), torch.zeros(2, 2, dtype=torch.long), 4), TypeError, ["x", "uint8"]),
    ("offsets float", lambda: ops.random_crop(torch.rand(2, 3, 10, 10), torch.zeros(2, 2), 4), TypeError, ["offsets", "int64"]),
    ("offsets shape", lambda: ops.random_crop(torch.rand(2, 3, 10, 10), torch.zeros(3, 2, dtype=torch.long), 4), ValueError, ["offsets", "[B, 2]"]),
    ("offset too large", lambda: ops.random_crop(torch.rand(2, 3, 10, 10), torch.tensor([[0, 0], [7, 0]]), 4), ValueError, ["offsets", "[0, 6]"]),
    ("offset negative", lambda: ops.random_crop(torch.rand(2, 3, 10, 10), torch.tensor([[0, -1], [0, 0]]), 4), ValueError, ["offsets"]),
    ("size too large", lambda: ops.random_crop(torch.rand(2, 3, 10, 10), torch.zeros(2, 2, dtype=torch.long), 11), ValueError, ["size", "larger"]),
    ("size not int", lambda: ops.random_crop(torch.rand(2, 3, 10, 10), torch.zeros(2, 2, dtype=torch.long), 4.0), ValueError, ["size"]),
    ("offsets device", lambda: ops.random_crop(torch.rand(2, 3, 10, 10), torch.zeros(2, 2, dtype=torch.long, device="meta"), 4), ValueError, ["offsets", "device"]),
]


@pytest.mark.parametrize("case", CROP_BAD, ids=lambda c: c[0])
def test_random_crop_bad_inputs(case):
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


# ---- random_conv ------------------------------------------------------------------------------------


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
