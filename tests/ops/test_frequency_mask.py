"""SRM's frequency masking (smg_fast.ops.frequency_mask): the real per-channel FFT formulation against the
official 3-D FFT one, the removed ring, gradients, opcheck, a compiled graph that takes each ring as data,
and bad inputs."""
import pytest
import torch
from torch._dynamo.utils import counters
from torch.autograd import gradcheck

import smg_fast.ops as ops
from smg_fast.ops import reference as ref
from smg_fast.ops import ring_mask

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


def obs(*shape, dtype=torch.float64, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 255


def ring(x, low, high):
    """The ring SRM removes from x's images, its frequencies compared in x's dtype (as upstream and the agent)."""
    return ring_mask(*x.shape[-2:], low, high, x.dtype)


@pytest.mark.parametrize("shape", [(4, 9, 84, 84), (2, 6, 15, 20), (3, 3, 7, 8)])
@pytest.mark.parametrize("limits", [(0.0, 0.04), (0.31, 0.36), (0.15, 0.16), (0.2, 0.2), (0.0, 0.5), (0.45, 0.5)])
def test_equals_the_official_3d_formulation_in_float64(shape, limits):
    """Per-channel rfft2 / irfft2 == 3-D FFT over (RGB, H, W), ring removed, inverse, real part: the mask
    ignores the colour frequency and is symmetric (Hermitian spectrum, real inverse). Observed largest
    difference ~1e-13 on 0-255 pixels; asserted <= 1e-10."""
    x = obs(*shape)
    got, want = ops.frequency_mask(x, ring(x, *limits)), ref.frequency_mask(x, ring(x, *limits))
    assert got.dtype == torch.float64 and got.shape == x.shape
    assert float((got - want).abs().max()) <= 1e-10
    # The 3-D formulation's discarded imaginary part is rounding only: the equivalence is exact.
    b, c, h, w = shape
    spec = torch.fft.fftn(x.view(b, c // 3, 3, h, w), dim=(2, 3, 4)) * ~ring_mask(h, w, *limits, torch.float64)
    assert float(torch.fft.ifftn(spec, dim=(2, 3, 4)).imag.abs().max()) <= 1e-10


def test_float32_agrees_with_float64():
    x = obs(2, 9, 84, 84)
    got = ops.frequency_mask(x.float(), ring(x.float(), 0.1, 0.15))
    assert got.dtype == torch.float32
    want = ref.frequency_mask(x, ring(x, 0.1, 0.15))
    assert float((got.double() - want).norm() / want.norm()) < 1e-6


def test_ring_is_the_square_band_between_the_limits():
    # 84 pixels: |fftfreq| = k/84; [0.04, 0.08) holds k = 4..6 (k = 3 is 0.0357, k = 7 is 0.0833)
    removed = ring_mask(84, 84, 0.04, 0.08, torch.float64)
    k = torch.arange(84)
    k = torch.minimum(k, 84 - k)  # |frequency index|
    cheb = torch.maximum(k[:, None], k[None, :])
    assert torch.equal(removed, (cheb >= 4) & (cheb <= 6))
    # low = 0 removes the DC component: every image's mean becomes 0
    x = obs(2, 6, 84, 84)
    assert float(ops.frequency_mask(x, ring(x, 0.0, 0.01)).mean(dim=(2, 3)).abs().max()) < 1e-10
    # low == high removes nothing: an FFT round trip
    assert float((ops.frequency_mask(x, ring(x, 0.2, 0.2)) - x).abs().max()) < 1e-10
    # the lower limit is inclusive, the upper exclusive (exact grid frequencies 0.25 = 21/84, 0.5)
    assert ring_mask(84, 84, 0.25, 0.3)[21, 0] and not ring_mask(84, 84, 0.2, 0.25)[21, 0]
    assert not ring_mask(84, 84, 0.45, 0.5).any(dim=1)[42]  # the Nyquist row |f| = 0.5 is never below 0.5


def test_removes_exactly_the_ring_frequencies():
    """A sum of two cosines, one inside the ring and one outside: only the outside one survives."""
    h = w = 84
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    inside = torch.cos(2 * torch.pi * (5 * yy + 2 * xx) / 84)  # max(|fy|, |fx|) = 5/84 ~ 0.060
    outside = torch.cos(2 * torch.pi * (1 * yy + 12 * xx) / 84)  # 12/84 ~ 0.143
    x = (100 + 50 * inside + 30 * outside).expand(1, 3, h, w).contiguous()
    out = ops.frequency_mask(x, ring(x, 0.05, 0.07))
    assert torch.allclose(out, (100 + 30 * outside).expand(1, 3, h, w), atol=1e-9)


def test_gradcheck_and_self_adjoint_backward():
    x = obs(1, 3, 5, 6).requires_grad_()
    removed = ring(x, 0.1, 0.3)
    assert gradcheck(lambda t: ops.frequency_mask(t, removed), (x,))
    g = obs(1, 3, 5, 6, seed=1)
    (grad,) = torch.autograd.grad(ops.frequency_mask(x, removed), x, g)
    # the backward is the same projection applied to the incoming gradient, and equals the reference's
    assert torch.allclose(grad, ops.frequency_mask(g, removed), atol=1e-12)
    (ref_grad,) = torch.autograd.grad(ref.frequency_mask(x, removed), x, g)
    assert torch.allclose(grad, ref_grad, atol=1e-10)


def test_opcheck():
    for x in (obs(2, 3, 6, 7, dtype=torch.float32), obs(2, 6, 8, 8).requires_grad_()):
        torch.library.opcheck(torch.ops.smg_fast.frequency_mask.default, (x, ring(x, 0.1, 0.3)))


def test_compiles_without_graph_breaks():
    x = obs(2, 3, 8, 8)
    removed = ring(x, 0.1, 0.2)
    fn = torch.compile(lambda t: ops.frequency_mask(t * 1.0, removed) + 1, fullgraph=True, backend="eager")
    assert torch.allclose(fn(x), ops.frequency_mask(x, removed) + 1)


def test_a_new_ring_is_new_data_for_a_compiled_graph():
    """SRM draws a ring per update: the compiled update takes it as a tensor input, so every ring runs the
    graph compiled for the first one."""
    torch._dynamo.reset()
    counters.clear()
    fn = torch.compile(lambda t, r: ops.frequency_mask(t, r) * 2, fullgraph=True, backend="aot_eager")
    x = obs(2, 6, 12, 12)
    for limits in ((0.1, 0.2), (0.31, 0.36), (0.0, 0.04)):
        assert torch.equal(fn(x, ring(x, *limits)), ops.frequency_mask(x, ring(x, *limits)) * 2)
    assert counters["stats"]["unique_graphs"] == 1 and dict(counters["graph_break"]) == {}
    torch._dynamo.reset()


R44 = ring_mask(4, 4, 0.1, 0.2)
ASYMMETRIC = torch.zeros(4, 4, dtype=torch.bool)
ASYMMETRIC[0, 1] = True  # without its mirror [0, 3]

BAD = [
    ("uint8 obs", lambda: ops.frequency_mask(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), R44), TypeError, ["obs", "float32"]),
    ("half obs", lambda: ops.frequency_mask(torch.zeros(1, 3, 4, 4, dtype=torch.float16), R44), TypeError, ["obs"]),
    ("3-D obs", lambda: ops.frequency_mask(torch.zeros(3, 4, 4), R44), ValueError, ["obs", "4-D"]),
    ("channels", lambda: ops.frequency_mask(torch.zeros(1, 4, 4, 4), R44), ValueError, ["obs", "multiple of 3"]),
    ("negative low", lambda: ring_mask(4, 4, -0.1, 0.2), ValueError, ["low"]),
    ("nan high", lambda: ring_mask(4, 4, 0.1, float("nan")), ValueError, ["high"]),
    ("high < low", lambda: ring_mask(4, 4, 0.3, 0.2), ValueError, ["high", "low"]),
    ("not a tensor", lambda: ops.frequency_mask([[1.0]], R44), TypeError, ["obs"]),
    ("removed float", lambda: ops.frequency_mask(torch.zeros(1, 3, 4, 4), R44.float()), TypeError, ["removed", "bool"]),
    ("removed shape", lambda: ops.frequency_mask(torch.zeros(1, 3, 4, 5), R44), ValueError, ["removed", "[H, W] = [4, 5]"]),
    ("removed device", lambda: ops.frequency_mask(torch.zeros(1, 3, 4, 4), R44.to("meta")), ValueError, ["removed", "device"]),
    ("removed asymmetric", lambda: ops.frequency_mask(torch.zeros(1, 3, 4, 4), ASYMMETRIC), ValueError, ["removed", "symmetric"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_inputs_raise_named_errors(case):
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), str(info.value)
