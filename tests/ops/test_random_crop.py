"""random_crop (SODA's 100 → 84 crop): values against the reference at every corner, both device paths,
gradients (gradcheck, the reference's autograd), opcheck of the registered crop ops, a compiled trace, the
offsets' range as upstream draws them, and bad inputs."""
import importlib

import pytest
import torch
from torch.autograd import gradcheck

import smg_fast.ops as ops
from op_inputs import f64, gen, u8
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


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
    assert torch.equal(out, ref.random_crop(x, offsets, size))
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
    want = ref.random_crop(x, torch.stack([rows, cols], 1), 12)
    pairs = list(zip(rows.tolist(), cols.tolist()))
    assert torch.equal(rc._crop_gather(x, rows, cols, 12), want) and torch.equal(rc._crop_copies(x, pairs, 12), want)
    if dtype.is_floating_point:
        grad = torch.rand(4, 6, 12, 12, generator=gen(), dtype=dtype)
        assert torch.equal(rc._uncrop_scatter(grad, rows, cols, 19, 23), rc._uncrop_copies(grad, pairs, 19, 23))


def test_random_crop_of_a_channels_last_batch():
    x = u8(3, 9, 20, 20).float().contiguous(memory_format=torch.channels_last)
    offsets = torch.tensor([[0, 3], [4, 4], [2, 0]])
    assert torch.equal(ops.random_crop(x, offsets, 16), ref.random_crop(x, offsets, 16))


def test_random_crop_gradcheck_and_reference_gradients():
    x = torch.rand(3, 2, 7, 6, generator=gen(), **f64).requires_grad_()
    offsets = torch.tensor([[0, 2], [3, 0], [1, 1]])
    assert gradcheck(lambda t: ops.random_crop(t, offsets, 4), (x,))
    grad = torch.linspace(-1, 1, 3 * 2 * 4 * 4, **f64).view(3, 2, 4, 4)
    (g_fast,) = torch.autograd.grad(ops.random_crop(x, offsets, 4), x, grad)
    (g_ref,) = torch.autograd.grad(ref.random_crop(x, offsets, 4), x, grad)
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
