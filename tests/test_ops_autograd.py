"""Gradients (float64 gradcheck against finite differences, and against the reference's autograd),
the stop-gradients SMG relies on, torch.library.opcheck and a torch.compile(fullgraph=True) trace."""
import pytest
import torch
from torch.autograd import gradcheck

import smg_fast.ops as ops
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

f64 = dict(dtype=torch.float64)


def leaf(*shape, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g, **f64) * scale).requires_grad_()


@pytest.mark.parametrize("mask_channels", [3, 1])
def test_composite_gradcheck(mask_channels):
    fg, bg = leaf(2, 9, 4, 5, seed=1), leaf(2, 9, 4, 5, seed=2)
    mask = leaf(2, mask_channels, 4, 5, seed=3)
    assert gradcheck(ops.composite, (fg, bg, mask))


def test_attribution_gradcheck_reaches_obs_only():
    obs, mask, noise = leaf(2, 6, 3, 4, scale=255), leaf(2, 2, 3, 4, seed=1), leaf(2, 3, 3, 4, seed=2)
    assert gradcheck(lambda o: ops.attribution_augment(o, mask.detach(), noise.detach()), (obs,))
    # The mask and noise are stop-gradient inputs, as in SMG (smg.py:214).
    ops.attribution_augment(obs, mask, noise).sum().backward()
    assert obs.grad is not None and mask.grad is None and noise.grad is None


def test_overlay_gradcheck():
    obs, img = leaf(2, 9, 3, 4, scale=255), leaf(2, 3, 3, 4, seed=1)
    assert gradcheck(lambda o, i: ops.overlay(o, i, 0.3), (obs, img))
    full = leaf(2, 9, 3, 4, seed=2)
    assert gradcheck(lambda o, i: ops.overlay(o, i, 0.7), (obs, full))
    # uint8 observations (replay data) carry no gradient; the image still gets one
    u8 = torch.randint(0, 256, (2, 9, 3, 4), dtype=torch.uint8)
    assert gradcheck(lambda i: ops.overlay(u8, i, 0.5), (img,))


def test_random_shift_gradcheck():
    obs = leaf(3, 2, 5, 6)
    shifts = torch.tensor([[0, 4], [4, 1], [2, 2]])
    assert gradcheck(lambda o: ops.random_shift(o, shifts, 2), (obs,))
    # A pad wider than the image: every output pixel may read a border pixel.
    assert gradcheck(lambda o: ops.random_shift(o, torch.tensor([[0, 9], [9, 0], [5, 3]]), 5), (obs,))


@pytest.mark.parametrize("with_bias", [True, False])
def test_upsample_conv2d_gradcheck(with_bias):
    x, w = leaf(2, 3, 4, 5), leaf(4, 3, 3, 3, seed=1)
    args = (x, w, leaf(4, seed=2)) if with_bias else (x, w)
    assert gradcheck(ops.upsample_conv2d, args)


def _grads(fn, *inputs):
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*inputs)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out))
    return [out.detach()] + [t.grad for t in inputs]


@pytest.mark.parametrize(
    "name,make",
    [
        ("composite", lambda: (leaf(4, 9, 8, 8), leaf(4, 9, 8, 8, seed=1), leaf(4, 3, 8, 8, seed=2))),
        ("random_shift", lambda: (leaf(4, 9, 8, 8),)),
        ("overlay", lambda: (leaf(4, 9, 8, 8, scale=255), leaf(4, 3, 8, 8, seed=1))),
        ("upsample_conv2d", lambda: (leaf(2, 16, 6, 7), leaf(8, 16, 3, 3, seed=1), leaf(8, seed=2))),
    ],
)
def test_gradients_equal_reference_autograd(name, make):
    inputs = make()
    shifts = torch.tensor([[0, 8], [3, 5], [8, 0], [4, 4]])
    fused = {"composite": ops.composite, "upsample_conv2d": ops.upsample_conv2d, "overlay": ops.overlay,
             "random_shift": lambda o: ops.random_shift(o, shifts)}[name]
    eager = {"composite": ref.composite, "upsample_conv2d": ref.upsample_conv2d, "overlay": ref.overlay,
             "random_shift": lambda o: ref.random_shift(o, shifts)}[name]
    for a, b in zip(_grads(fused, *inputs), _grads(eager, *inputs)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    r = lambda *s, **kw: torch.rand(*s, generator=g, **kw)  # noqa: E731
    u8 = lambda *s: torch.randint(0, 256, s, dtype=torch.uint8, generator=g)  # noqa: E731
    return [
        ("composite", (r(2, 9, 5, 5, requires_grad=True), r(2, 9, 5, 5, requires_grad=True),
                       r(2, 3, 5, 5, requires_grad=True))),
        ("composite", (r(2, 6, 5, 5), r(2, 6, 5, 5), r(2, 1, 5, 5))),
        ("composite_backward", (r(2, 9, 5, 5), r(2, 9, 5, 5), r(2, 9, 5, 5), r(2, 3, 5, 5))),
        ("attribution_augment", (u8(2, 9, 5, 5), r(2, 3, 5, 5), r(2, 3, 5, 5))),
        ("attribution_augment", ((r(2, 9, 5, 5) * 255).requires_grad_(), r(2, 3, 5, 5), u8(2, 9, 5, 5))),
        ("overlay", (u8(2, 9, 5, 5), r(2, 3, 5, 5), 0.5)),
        ("overlay", ((r(2, 9, 5, 5) * 255).requires_grad_(), r(2, 3, 5, 5, requires_grad=True), 0.25)),
        ("overlay_backward", (r(2, 9, 5, 5), 0.5, 3, True, True)),
        ("overlay_backward", (r(2, 9, 5, 5), 0.25, 9, False, True)),
        ("greenscreen", (u8(2, 3, 3, 5, 5), u8(2, 3, 3, 5, 5))),
        ("replay_gather", (u8(6, 3, 5, 5), torch.tensor([0, 5, 2]), torch.tensor([0, 3, 1]),
                           torch.tensor([[0, 8], [4, 4], [8, 1]]), 3, 4, None)),
        ("random_shift", (u8(2, 9, 6, 6), torch.tensor([[0, 8], [8, 3]]), 4)),
        ("random_shift", (r(2, 9, 6, 6, requires_grad=True), torch.tensor([[0, 2], [1, 1]]), 1)),
        ("random_shift_backward", (r(2, 9, 6, 6), torch.tensor([[0, 2], [1, 1]]), 1)),
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


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_fullgraph_traces_through_the_ops(backend):
    def decoder_step(x, weight, bias, fg, bg, mask, obs_u8, noise, shifts):
        h = ops.upsample_conv2d(torch.relu(x), weight, bias)
        recon = ops.composite(fg * torch.sigmoid(h[:, :1]), bg, mask)
        aug = ops.attribution_augment(ops.random_shift(obs_u8, shifts), mask.detach(), noise)
        frames = obs_u8.view(-1, 3, 6, 6)
        keyed = ops.greenscreen(frames, frames.flip(0))
        return recon.square().mean() + ops.overlay(aug, noise).mean() + keyed.float().mean()

    g = torch.Generator().manual_seed(0)
    args = [
        torch.randn(2, 4, 3, 3, generator=g, requires_grad=True),
        torch.randn(2, 4, 3, 3, generator=g, requires_grad=True),
        torch.randn(2, generator=g, requires_grad=True),
        torch.rand(2, 6, 6, 6, generator=g, requires_grad=True),
        torch.rand(2, 6, 6, 6, generator=g, requires_grad=True),
        torch.rand(2, 2, 6, 6, generator=g, requires_grad=True),
        torch.randint(0, 256, (2, 6, 6, 6), dtype=torch.uint8, generator=g),
        torch.rand(2, 3, 6, 6, generator=g),
        torch.tensor([[0, 8], [5, 2]]),
    ]
    compiled = torch.compile(decoder_step, fullgraph=True, backend=backend)
    eager_out = decoder_step(*args)
    eager_grads = torch.autograd.grad(eager_out, [a for a in args if a.requires_grad])
    compiled_out = compiled(*args)
    compiled_grads = torch.autograd.grad(compiled_out, [a for a in args if a.requires_grad])
    torch.testing.assert_close(compiled_out, eager_out)
    for a, b in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(a, b)


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
