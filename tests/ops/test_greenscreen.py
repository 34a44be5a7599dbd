"""greenscreen: DMC-GB's keying rule against upstream's per-pixel loop and the vectorised references (every
RGB colour, boundary colours, any leading dimensions), opcheck, bad inputs and empty batches."""
import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from hypothesis import given

import smg_fast.ops as ops
from op_inputs import meta, r, u8, raises_named_error
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


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


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    u8 = lambda *s: torch.randint(0, 256, s, dtype=torch.uint8, generator=g)  # noqa: E731
    return [
        ("greenscreen", (u8(2, 3, 3, 5, 5), u8(2, 3, 3, 5, 5))),
    ]


@pytest.mark.parametrize("case", _opcheck_cases(), ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(torch.ops.smg_fast, name.split()[0]).default, args)


CASES = [
    ("greenscreen float frames", lambda: ops.greenscreen(r(3, 8, 8), u8(3, 8, 8)), TypeError, ["frames", "uint8"]),
    ("greenscreen background dtype", lambda: ops.greenscreen(u8(3, 8, 8), r(3, 8, 8)), TypeError, ["background", "uint8"]),
    ("greenscreen not RGB", lambda: ops.greenscreen(u8(4, 8, 8), u8(4, 8, 8)), ValueError, ["frames", "[..., 3, H, W]"]),
    ("greenscreen shape mismatch", lambda: ops.greenscreen(u8(3, 8, 8), u8(3, 8, 9)), ValueError, ["background", "shape"]),
    ("greenscreen non-contiguous", lambda: ops.greenscreen(u8(3, 8, 8).transpose(1, 2), u8(3, 8, 8)), ValueError, ["frames", "contiguous"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    raises_named_error(case)


def test_device_mismatch_is_reported():
    # Mixing devices must raise, not dispatch to one device's kernel with the other's pointers.
    with pytest.raises(ValueError, match="same device"):
        ops.greenscreen(u8(3, 8, 8), meta(3, 8, 8).to(torch.uint8))


def test_empty_batches():
    assert ops.greenscreen(torch.zeros(0, 3, 4, 4, dtype=torch.uint8), torch.zeros(0, 3, 4, 4, dtype=torch.uint8)).shape == (0, 3, 4, 4)
