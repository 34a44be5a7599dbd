"""Each fused op against its pure-PyTorch reference, on fixed and hypothesis-drawn shapes."""
import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given

import smg_fast.ops as ops
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

DTYPES = [torch.float32, torch.float64]


def stack(b, f, h, w, dtype=torch.float32, gen=None):
    return torch.rand(b, 3 * f, h, w, dtype=dtype, generator=gen) * 255


@st.composite
def geometry(draw):
    return (
        draw(st.integers(1, 4)),  # batch
        draw(st.integers(1, 3)),  # frames
        draw(st.integers(1, 13)),  # height
        draw(st.integers(1, 13)),  # width
        draw(st.booleans()),  # one mask channel per frame (else shared)
        draw(st.integers(0, 2**31 - 1)),  # seed
    )


@given(geometry(), st.sampled_from(DTYPES))
def test_composite_matches_reference(g, dtype):
    b, f, h, w, per_frame, seed = g
    gen = torch.Generator().manual_seed(seed)
    fg, bg = stack(b, f, h, w, dtype, gen), stack(b, f, h, w, dtype, gen)
    mask = torch.rand(b, f if per_frame else 1, h, w, dtype=dtype, generator=gen)
    torch.testing.assert_close(ops.composite(fg, bg, mask), ref.composite(fg, bg, mask))


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


@given(
    st.integers(1, 4), st.integers(1, 6), st.integers(1, 12), st.integers(1, 12),
    st.integers(0, 6), st.sampled_from([torch.uint8, torch.float32, torch.float64]),
    st.integers(0, 2**31 - 1),
)
def test_random_shift_matches_reference(b, c, h, w, pad, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8, generator=gen).to(dtype)
    shifts = ops.sample_shifts(b, pad, generator=gen)
    assert torch.equal(ops.random_shift(obs, shifts, pad), ref.random_shift(obs, shifts, pad))


def test_random_shift_centre_is_identity_and_edges_replicate():
    obs = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).view(2, 3, 6, 6)
    centre = torch.full((2, 2), 4)
    assert torch.equal(ops.random_shift(obs, centre, 4), obs)
    # Crop at the padded image's top-left corner: rows/cols before the image repeat its edge.
    corner = ops.random_shift(obs, torch.zeros(2, 2, dtype=torch.long), 4)
    assert torch.equal(corner[:, :, :5, :5], obs[:, :, :1, :1].expand(2, 3, 5, 5))
    assert torch.equal(corner[:, :, 4:, 4:], obs[:, :, :2, :2])


def test_random_shift_matches_kornia_style_crop():
    # Upstream: F.pad(replicate) then a crop whose top-left corner is (x, y) in the padded image.
    obs = torch.rand(3, 9, 84, 84)
    shifts = torch.tensor([[0, 8], [3, 5], [8, 0]])
    padded = torch.nn.functional.pad(obs, (4, 4, 4, 4), mode="replicate")
    expected = torch.stack([padded[i, :, y : y + 84, x : x + 84] for i, (x, y) in enumerate(shifts.tolist())])
    assert torch.equal(ops.random_shift(obs, shifts), expected)


def test_sample_shifts_covers_inclusive_range():
    s = ops.sample_shifts(4000, 4, generator=torch.Generator().manual_seed(0))
    assert s.shape == (4000, 2) and s.dtype == torch.int64
    assert set(s.unique().tolist()) == set(range(9))


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


def test_greenscreen_keys_upstream_green_and_keeps_grey():
    frames = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    frames[0, :, 0, 0] = torch.tensor([51, 204, 51])  # DMC-GB's skybox green (0.2, 0.8, 0.2)
    frames[0, :, 0, 1] = torch.tensor([128, 128, 128])  # grey: hue 0, never keyed
    frames[0, :, 1, 0] = torch.tensor([10, 40, 10])  # green but V < 70
    frames[0, :, 1, 1] = torch.tensor([200, 40, 40])  # red
    background = torch.full_like(frames, 7)
    out = ops.greenscreen(frames, background)
    assert torch.equal(out[0, :, 0, 0], torch.tensor([7, 7, 7], dtype=torch.uint8))
    assert torch.equal(out[0, :, 0, 1:], frames[0, :, 0, 1:])
    assert torch.equal(out[0, :, 1], frames[0, :, 1])


def test_greenscreen_matches_python_loop_on_random_and_boundary_colours():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (3, 24, 24), dtype=np.uint8)
    # Colours on the rule's edges: V = 70, H = 100°, H = 185°, S = 80 (ties in exact arithmetic).
    edges = [(0, 65, 70), (0, 70, 70), (40, 70, 10), (20, 70, 0), (0, 66, 72), (0, 60, 70), (47, 60, 47)]
    for i, rgb in enumerate(edges):
        frame[:, 0, i] = rgb
    background = rng.integers(0, 256, (3, 24, 24), dtype=np.uint8)
    expected = ref.greenscreen_python_loop(frame, background)
    out = ops.greenscreen(torch.from_numpy(frame), torch.from_numpy(background)).numpy()
    assert np.array_equal(out, expected)


def test_greenscreen_bit_exact_on_every_rgb_colour():
    # All 2^24 colours as one 4096×4096 frame: the kernel's decision equals the vectorised NumPy rule
    # (itself checked against upstream's per-pixel loop above) for every colour.
    idx = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(idx >> 16) & 255, (idx >> 8) & 255, idx & 255]).astype(np.uint8).reshape(3, 4096, 4096)
    expected = ref.greenscreen_mask(rgb)
    frames = torch.from_numpy(rgb)
    keyed = (ops.greenscreen(frames, 255 - frames) != frames).any(0).numpy()
    assert expected.sum() > 3_000_000
    assert np.array_equal(keyed, expected)


@given(st.lists(st.integers(1, 3), min_size=0, max_size=2), st.integers(1, 9), st.integers(1, 9),
       st.integers(0, 2**31 - 1))
def test_greenscreen_any_leading_dims(lead, h, w, seed):
    gen = torch.Generator().manual_seed(seed)
    shape = (*lead, 3, h, w)
    frames = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    frames.view(-1, 3, h, w)[:, 1] |= 0x80  # plenty of green
    background = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    assert torch.equal(ops.greenscreen(frames, background), ref.greenscreen(frames, background))


def test_empty_batches():
    assert ops.composite(torch.rand(0, 9, 4, 4), torch.rand(0, 9, 4, 4), torch.rand(0, 3, 4, 4)).shape == (0, 9, 4, 4)
    assert ops.random_shift(torch.rand(0, 9, 4, 4), torch.zeros(0, 2, dtype=torch.long)).shape == (0, 9, 4, 4)
    assert ops.upsample_conv2d(torch.rand(0, 2, 3, 3), torch.rand(4, 2, 3, 3)).shape == (0, 4, 6, 6)
    assert ops.greenscreen(torch.zeros(0, 3, 4, 4, dtype=torch.uint8), torch.zeros(0, 3, 4, 4, dtype=torch.uint8)).shape == (0, 3, 4, 4)
