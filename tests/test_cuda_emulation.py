"""The CUDA kernels, executed on the CPU.

csrc/emulation/emulated_ops.cpp compiles every CUDA kernel (csrc/ops/cuda/*_kernel.cu), its launcher
and its tensor glue as plain C++ (csrc/ops/cuda/emulation.h turns each launch into a loop over
blocks and threads) and registers the ops as ``torch.ops.smg_fast_emu.*`` for CPU tensors. Each test
runs one kernel that way and compares it with the CPU kernel (``torch.ops.smg_fast.*``: bit for bit
where both do the same arithmetic in the same order) and with the pure-PyTorch reference.

Every kernel runs under two launch configurations: the natural grid (ceil(n / 256) blocks, the last
one partial at these odd sizes) and a grid capped at two blocks, so the grid-stride loops take
several turns (more elements than threads); the tests check from the emulator's launch record that
each configuration really happened.
"""
import math
import pathlib

import pytest
import torch
import torch.utils.cpp_extension as cpp_extension

import smg_fast.ops as ops
from smg_fast.ops import reference as ref

ROOT = pathlib.Path(__file__).resolve().parents[1]
THREADS = 256  # csrc/ops/cuda/launch.h: kThreads
CAPPED_BLOCKS = 2

OPS = [
    "composite", "composite_backward", "attribution_augment", "overlay", "overlay_backward",
    "greenscreen", "random_shift", "random_shift_backward", "upsample_conv2d",
    "upsample_conv2d_backward", "replay_gather",
]
# Odd sizes: no dimension a power of two, element counts not multiples of a block. The first is
# large enough for every kernel to need several grid-stride turns under the capped grid (and a
# partial last block under the natural one); the second fits in one partial block.
GEOMETRIES = [(3, 3, 13, 11), (1, 1, 5, 7), (2, 2, 9, 17)]  # batch, frames, height, width
BIG = GEOMETRIES[0]


def build_emulation():
    """Compiles the emulation library (one C++ unit, ~20 s; cached under build/emulation by ninja)."""
    build_dir = ROOT / "build" / "emulation"
    build_dir.mkdir(parents=True, exist_ok=True)
    cpp_extension.load(
        name="smg_fast_emulated",
        sources=[str(ROOT / "csrc" / "emulation" / "emulated_ops.cpp")],
        # -ffp-contract=off: the greenscreen tie formula must round as upstream's float64 Python.
        extra_cflags=["-O2", "-DSMG_CUDA_EMULATION", "-ffp-contract=off"],
        build_directory=str(build_dir),
        is_python_module=False,
    )
    return torch.ops.smg_fast_emu


@pytest.fixture(scope="module")
def emu():
    return build_emulation()


class LaunchCheck:
    """Checks the emulator's record of the last launch against the configuration under test."""

    def __init__(self, emu, cap):
        self.emu, self.cap = emu, cap

    def __call__(self, n, strided=False):
        """n: elements the kernel covers; strided: the capped grid must take several turns here."""
        grid_x, _, _, block_x, _, _, _ = self.emu._last_launch()
        assert block_x == THREADS
        blocks = math.ceil(n / THREADS)
        assert grid_x == (min(self.cap, blocks) if self.cap else blocks)
        if self.cap and strided:
            assert n > grid_x * block_x, "the capped grid must leave work for a second grid-stride turn"
        if not self.cap and strided:
            assert n % THREADS != 0, "the natural grid's last block must be partial here"


@pytest.fixture(params=["natural-grid", "grid-stride"])
def launch(request, emu):
    cap = CAPPED_BLOCKS if request.param == "grid-stride" else 0
    emu._set_max_blocks(cap)
    yield LaunchCheck(emu, cap)
    emu._set_max_blocks(0)


def grad_tol(dtype):
    """Gradients summed in another order than the reference's (0-255 pixel scale): float32 rounding."""
    return dict(rtol=1e-4, atol=1e-3) if dtype == torch.float32 else {}


def stack(b, f, h, w, dtype, gen):
    return torch.rand(b, 3 * f, h, w, dtype=dtype, generator=gen) * 255


def test_every_op_has_an_emulated_cuda_kernel(emu):
    for name in OPS:
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"smg_fast_emu::{name}", "CPU"), name


def test_invalid_launch_configuration_is_a_clear_error(emu):
    with pytest.raises(RuntimeError, match="_launch_invalid_config CUDA launch failed: invalid configuration"):
        emu._launch_invalid_config()


def test_kernels_run_no_thread_twice_and_skip_none(emu, launch):
    # Every output element written exactly once: a scatter of each element's index through the
    # shift kernel with the identity offsets gives back every index, under both launch configs.
    n = 3 * 7 * 11 * 13
    x = torch.arange(n, dtype=torch.float64).view(3, 7, 11, 13)
    out = emu.random_shift(x, torch.full((3, 2), 4), 4)
    launch(n)
    assert torch.equal(out, x)


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_frame", [True, False])
def test_composite(emu, launch, geometry, dtype, per_frame):
    b, f, h, w = geometry
    gen = torch.Generator().manual_seed(1)
    fg, bg = stack(b, f, h, w, dtype, gen), stack(b, f, h, w, dtype, gen)
    mask = torch.rand(b, f if per_frame else 1, h, w, dtype=dtype, generator=gen)
    out = emu.composite(fg, bg, mask)
    launch(fg.numel(), strided=geometry == BIG)
    assert torch.equal(out, torch.ops.smg_fast.composite(fg, bg, mask))
    torch.testing.assert_close(out, ref.composite(fg, bg, mask))

    grad = torch.randn(fg.shape, dtype=dtype, generator=gen)
    grads = emu.composite_backward(grad, fg, bg, mask)
    launch(mask.numel(), strided=geometry == BIG and per_frame)
    for got, cpu in zip(grads, torch.ops.smg_fast.composite_backward(grad, fg, bg, mask)):
        assert torch.equal(got, cpu)
    leaves = [t.clone().requires_grad_() for t in (fg, bg, mask)]
    expected = torch.autograd.grad(ref.composite(*leaves), leaves, grad)
    for got, exp in zip(grads, expected):
        torch.testing.assert_close(got, exp, **grad_tol(dtype))


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("obs_u8", [True, False])
@pytest.mark.parametrize("noise_u8", [True, False])
@pytest.mark.parametrize("noise_full_stack", [True, False])
def test_attribution_augment(emu, launch, geometry, dtype, obs_u8, noise_u8, noise_full_stack):
    b, f, h, w = geometry
    gen = torch.Generator().manual_seed(2)
    obs = torch.randint(0, 256, (b, 3 * f, h, w), dtype=torch.uint8, generator=gen)
    if not obs_u8:
        obs = obs.to(dtype)
    noise = torch.randint(0, 256, (b, 3 * f if noise_full_stack else 3, h, w), dtype=torch.uint8, generator=gen)
    if not noise_u8:
        noise = noise.to(dtype) / 255
    mask = torch.rand(b, f, h, w, dtype=dtype, generator=gen)
    out = emu.attribution_augment(obs, mask, noise)
    launch(obs.numel(), strided=geometry == BIG)
    assert out.dtype == dtype
    assert torch.equal(out, torch.ops.smg_fast.attribution_augment(obs, mask, noise))
    torch.testing.assert_close(out, ref.attribution_augment(obs, mask, noise))


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("obs_u8", [True, False])
@pytest.mark.parametrize("img_u8", [True, False])
@pytest.mark.parametrize("img_full_stack", [True, False])
def test_overlay(emu, launch, geometry, dtype, obs_u8, img_u8, img_full_stack):
    b, f, h, w = geometry
    gen = torch.Generator().manual_seed(3)
    obs = torch.randint(0, 256, (b, 3 * f, h, w), dtype=torch.uint8, generator=gen)
    if not obs_u8:
        obs = obs.to(dtype)
    nc = 3 * f if img_full_stack else 3
    img = torch.randint(0, 256, (b, nc, h, w), dtype=torch.uint8, generator=gen)
    if not img_u8:
        img = img.to(dtype) / 255
    out = emu.overlay(obs, img, 0.3)
    launch(obs.numel(), strided=geometry == BIG)
    assert torch.equal(out, torch.ops.smg_fast.overlay(obs, img, 0.3))
    torch.testing.assert_close(out, ref.overlay(obs, img, 0.3))


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("img_full_stack", [True, False])
@pytest.mark.parametrize("obs_grad,images_grad", [(True, True), (True, False), (False, True)])
def test_overlay_backward(emu, launch, geometry, dtype, img_full_stack, obs_grad, images_grad):
    b, f, h, w = geometry
    gen = torch.Generator().manual_seed(4)
    nc = 3 * f if img_full_stack else 3
    grad = torch.randn(b, 3 * f, h, w, dtype=dtype, generator=gen)
    gobs, gimg = emu.overlay_backward(grad, 0.3, nc, obs_grad, images_grad)
    launch(b * nc * h * w, strided=geometry == BIG)
    cpu_obs, cpu_img = torch.ops.smg_fast.overlay_backward(grad, 0.3, nc, obs_grad, images_grad)
    assert torch.equal(gobs, cpu_obs) and torch.equal(gimg, cpu_img)
    obs = torch.rand(b, 3 * f, h, w, dtype=dtype, generator=gen).requires_grad_()
    img = torch.rand(b, nc, h, w, dtype=dtype, generator=gen).requires_grad_()
    exp_obs, exp_img = torch.autograd.grad(ref.overlay(obs, img, 0.3), (obs, img), grad)
    if obs_grad:
        torch.testing.assert_close(gobs, exp_obs, **grad_tol(dtype))
    if images_grad:
        torch.testing.assert_close(gimg, exp_img, **grad_tol(dtype))


def _greenscreen_codes(frames):
    """math::greenscreen_key_int in Python: 1 keyed, 0 not, 2 a tie (decided by the float formula)."""
    r, g, b = (frames[..., c, :, :].long() for c in range(3))
    mx, mn = torch.maximum(torch.maximum(r, g), b), torch.minimum(torch.minimum(r, g), b)
    d = mx - mn
    hue = torch.where(g == mx, 3 * (b - r) + d, 12 * (g - r) - 11 * d)
    sat, val = 51 * d - 16 * mx, mx - 70
    out = (r == mx) | (hue < 0) | (sat < 0) | (val < 0)
    tie = (hue == 0) | (sat == 0) | (val == 0)
    return torch.where(out, 0, torch.where(tie, 2, 1))


@pytest.mark.parametrize("shape", [(5, 3, 37, 29), (3, 3, 1, 1), (2, 4, 3, 17, 9)])
def test_greenscreen(emu, launch, shape):
    gen = torch.Generator().manual_seed(5)
    frames = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    # Bias half the pixels towards DMC-GB's green so that many are keyed, and plant tie colours.
    green = torch.rand(shape[:-3] + shape[-2:], generator=gen) < 0.5
    frames[..., 1, :, :] = torch.where(green, frames[..., 1, :, :] | 0x80, frames[..., 1, :, :])
    frames[..., 0, :, :] = torch.where(green, frames[..., 0, :, :] & 0x3F, frames[..., 0, :, :])
    ties = torch.tensor([[60, 200, 30], [40, 70, 10], [10, 70, 80], [30, 180, 170]], dtype=torch.uint8)
    flat = frames.view(-1, 3, shape[-2] * shape[-1])
    for i, colour in enumerate(ties[: flat.shape[-1]]):
        flat[0, :, i] = colour
    background = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    out = emu.greenscreen(frames, background)
    launch(frames.numel() // 3, strided=shape == (5, 3, 37, 29))
    assert torch.equal(out, torch.ops.smg_fast.greenscreen(frames, background))
    assert torch.equal(out, ref.greenscreen(frames, background))
    codes = _greenscreen_codes(frames)
    if frames.numel() > 100:
        assert (codes == 1).any() and (codes == 0).any() and (codes == 2).any()


@pytest.mark.parametrize("geometry", [(3, 7, 13, 11), (1, 3, 5, 7), (2, 5, 17, 9)])  # b, c, h, w
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("pad", [0, 1, 4])
@pytest.mark.parametrize("shift_dtype", [torch.int64, torch.int32])
def test_random_shift(emu, launch, geometry, dtype, pad, shift_dtype):
    b, c, h, w = geometry
    gen = torch.Generator().manual_seed(6)
    obs = torch.randint(0, 256, geometry, dtype=torch.uint8, generator=gen).to(dtype)
    shifts = ops.sample_shifts(b, pad, generator=gen).to(shift_dtype)
    out = emu.random_shift(obs, shifts, pad)
    launch(obs.numel(), strided=geometry[0] == 3)
    assert torch.equal(out, torch.ops.smg_fast.random_shift(obs, shifts, pad))
    assert torch.equal(out, ref.random_shift(obs, shifts, pad))
    if dtype == torch.uint8:
        return
    grad = torch.randn(geometry, dtype=dtype, generator=gen)
    gobs = emu.random_shift_backward(grad, shifts, pad)
    launch(grad.numel(), strided=geometry[0] == 3)
    assert torch.equal(gobs, torch.ops.smg_fast.random_shift_backward(grad, shifts, pad))
    leaf = obs.clone().requires_grad_()
    (expected,) = torch.autograd.grad(ref.random_shift(leaf, shifts, pad), leaf, grad)
    torch.testing.assert_close(gobs, expected, **grad_tol(dtype))


@pytest.mark.parametrize("frame_stack", [1, 3, 4])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("pad", [0, 2])
def test_replay_gather(emu, launch, frame_stack, dtype, pad):
    gen = torch.Generator().manual_seed(7)
    capacity, h, w, n = 11, 9, 7, 6
    frames = torch.randint(0, 256, (capacity, 3, h, w), dtype=torch.uint8, generator=gen)
    # Slots near the ring's start (stacks wrap around to its end), positions at and after episode
    # starts (stacks repeat an episode's first frame).
    slots = torch.tensor([0, 1, 2, 10, 5, 3])
    pos = torch.tensor([0, 5, 1, 7, 2, 9])
    shifts = ops.sample_shifts(n, pad, generator=gen)
    out = emu.replay_gather(frames, slots, pos, shifts, frame_stack, pad, dtype)
    launch(n * 3 * frame_stack * h * w, strided=True)
    assert out.dtype == dtype
    assert torch.equal(out, torch.ops.smg_fast.replay_gather(frames, slots, pos, shifts, frame_stack, pad, dtype))
    assert torch.equal(out, ref.replay_gather(frames, slots, pos, shifts, frame_stack, pad, dtype))


# Tolerances against the float64 reference: 16-bit runs its GEMMs in that type (CPU: paired taps,
# emulated CUDA path: four GEMMs, so the two differ by rounding too).
UPCONV_TOL = {
    torch.float64: dict(rtol=1e-12, atol=1e-12),
    torch.float32: dict(rtol=1e-5, atol=1e-5),
    torch.bfloat16: dict(rtol=3e-2, atol=5e-2),
    torch.float16: dict(rtol=5e-3, atol=1e-2),
}


@pytest.mark.parametrize("dtype", list(UPCONV_TOL))
@pytest.mark.parametrize("shape", [(3, 5, 4, 5, 7), (1, 3, 2, 1, 1), (2, 20, 7, 9, 6)])  # b, cin, cout, h, w
@pytest.mark.parametrize("with_bias", [True, False])
def test_upsample_conv2d(emu, launch, dtype, shape, with_bias):
    b, cin, cout, h, w = shape
    gen = torch.Generator().manual_seed(8)
    x64 = torch.randn(b, cin, h, w, dtype=torch.float64, generator=gen)
    w64 = torch.randn(cout, cin, 3, 3, dtype=torch.float64, generator=gen) / (3 * cin**0.5)
    b64 = torch.randn(cout, dtype=torch.float64, generator=gen) if with_bias else None
    x, weight = x64.to(dtype), w64.to(dtype)
    bias = b64.to(dtype) if with_bias else None
    tol = UPCONV_TOL[dtype]

    out = emu.upsample_conv2d(x, weight, bias)
    launch(b * cout * 4 * h * w, strided=b > 1)  # the last kernel: interleave
    assert out.dtype == dtype
    exact = dict(rtol=0, atol=0) if dtype == torch.float64 else tol
    torch.testing.assert_close(out, torch.ops.smg_fast.upsample_conv2d(x, weight, bias), **exact)
    xr, wr = x.to(torch.float64), weight.to(torch.float64)
    br = bias.to(torch.float64) if with_bias else None
    torch.testing.assert_close(out.to(torch.float64), ref.upsample_conv2d(xr, wr, br), **tol)

    grad = torch.randn(b, cout, 2 * h, 2 * w, dtype=torch.float64, generator=gen).to(dtype)
    gx, gw, gb = emu.upsample_conv2d_backward(grad, x, weight)
    launch(b * cin * h * w, strided=b > 1)  # the last kernel: unpad
    for got, cpu in zip((gx, gw, gb), torch.ops.smg_fast.upsample_conv2d_backward(grad, x, weight)):
        assert got.dtype == dtype
        torch.testing.assert_close(got, cpu, **tol)
    leaves = [xr.clone().requires_grad_(), wr.clone().requires_grad_(), torch.zeros(cout, dtype=torch.float64, requires_grad=True)]
    expected = torch.autograd.grad(ref.upsample_conv2d(*leaves), leaves, grad.to(torch.float64))
    scale = {"rtol": tol["rtol"], "atol": tol["atol"] * (1 + 4 * b * h * w if dtype.itemsize == 2 else 1)}
    torch.testing.assert_close(gx.to(torch.float64), expected[0], **tol)
    torch.testing.assert_close(gw.to(torch.float64), expected[1], **scale)
    torch.testing.assert_close(gb.to(torch.float64), expected[2], **scale)
