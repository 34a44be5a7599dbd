"""Bad inputs raise a clear Python error that names the offending argument, never crash."""
import pytest
import torch

import smg_fast.ops as ops

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

r = torch.rand
u8 = lambda *s: torch.randint(0, 256, s, dtype=torch.uint8)  # noqa: E731
OK_STACK, OK_MASK = (2, 9, 8, 8), (2, 3, 8, 8)
shifts = torch.zeros(2, 2, dtype=torch.long)

CASES = [
    # (id, call, exception, words that must appear in the message)
    ("composite fg int", lambda: ops.composite(u8(*OK_STACK), r(*OK_STACK), r(*OK_MASK)), TypeError, ["fg", "float"]),
    ("composite fg rank", lambda: ops.composite(r(9, 8, 8), r(9, 8, 8), r(3, 8, 8)), ValueError, ["fg", "4-D"]),
    ("composite channels not x3", lambda: ops.composite(r(2, 8, 8, 8), r(2, 8, 8, 8), r(2, 1, 8, 8)), ValueError, ["fg", "multiple of 3"]),
    ("composite bg shape", lambda: ops.composite(r(*OK_STACK), r(2, 9, 8, 7), r(*OK_MASK)), ValueError, ["bg", "shape"]),
    ("composite bg dtype", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK, dtype=torch.float64), r(*OK_MASK)), TypeError, ["bg", "dtype"]),
    ("composite mask channels", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(2, 2, 8, 8)), ValueError, ["mask", "channels"]),
    ("composite mask size", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(2, 3, 4, 4)), ValueError, ["mask", "height/width"]),
    ("composite mask batch", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(1, 3, 8, 8)), ValueError, ["mask", "batch"]),
    ("composite mask dtype", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(*OK_MASK, dtype=torch.float64)), TypeError, ["mask", "dtype"]),
    ("composite non-contiguous", lambda: ops.composite(r(2, 9, 8, 8).transpose(2, 3), r(*OK_STACK), r(*OK_MASK)), ValueError, ["fg", "contiguous"]),
    ("composite mask non-contiguous", lambda: ops.composite(r(*OK_STACK), r(*OK_STACK), r(2, 3, 8, 8).transpose(2, 3)), ValueError, ["mask", "contiguous"]),
    ("composite half", lambda: ops.composite(r(*OK_STACK).half(), r(*OK_STACK).half(), r(*OK_MASK).half()), TypeError, ["fg", "float32"]),
    ("attribution obs int32", lambda: ops.attribution_augment(torch.zeros(*OK_STACK, dtype=torch.int32), r(*OK_MASK), r(2, 3, 8, 8)), TypeError, ["obs", "uint8"]),
    ("attribution noise channels", lambda: ops.attribution_augment(u8(*OK_STACK), r(*OK_MASK), r(2, 4, 8, 8)), ValueError, ["noise", "3 channels"]),
    ("attribution noise size", lambda: ops.attribution_augment(u8(*OK_STACK), r(*OK_MASK), r(2, 3, 9, 8)), ValueError, ["noise", "height/width"]),
    ("attribution mask uint8", lambda: ops.attribution_augment(u8(*OK_STACK), u8(*OK_MASK), r(2, 3, 8, 8)), TypeError, ["mask", "float"]),
    ("attribution obs/mask dtype", lambda: ops.attribution_augment(r(*OK_STACK, dtype=torch.float64), r(*OK_MASK), r(2, 3, 8, 8)), TypeError, ["obs", "mask"]),
    ("attribution obs channels", lambda: ops.attribution_augment(u8(2, 10, 8, 8), r(*OK_MASK), r(2, 3, 8, 8)), ValueError, ["obs", "multiple of 3"]),
    ("overlay alpha > 1", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8), 1.5), ValueError, ["alpha", "[0, 1]"]),
    ("overlay alpha < 0", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8), -0.1), ValueError, ["alpha"]),
    ("overlay alpha nan", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8), float("nan")), ValueError, ["alpha"]),
    ("overlay images batch", lambda: ops.overlay(u8(*OK_STACK), r(3, 3, 8, 8)), ValueError, ["images", "batch"]),
    ("overlay images rank", lambda: ops.overlay(u8(*OK_STACK), r(3, 8, 8)), ValueError, ["images", "4-D"]),
    ("overlay images non-contiguous", lambda: ops.overlay(u8(*OK_STACK), r(2, 3, 8, 8).transpose(2, 3)), ValueError, ["images", "contiguous"]),
    ("overlay_backward image channels", lambda: torch.ops.smg_fast.overlay_backward(r(*OK_STACK), 0.5, 4, True, True), ValueError, ["image_channels"]),
    ("replay_gather frames dtype", lambda: ops.replay_gather(r(5, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long), shifts), TypeError, ["frames", "uint8"]),
    ("replay_gather slot range", lambda: ops.replay_gather(u8(5, 3, 8, 8), torch.tensor([0, 5]), torch.zeros(2, dtype=torch.long), shifts), ValueError, ["slots", "capacity"]),
    ("replay_gather pos length", lambda: ops.replay_gather(u8(5, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(3, dtype=torch.long), shifts), ValueError, ["pos"]),
    ("replay_gather negative pos", lambda: ops.replay_gather(u8(5, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.tensor([0, -1]), shifts), ValueError, ["pos", ">= 0"]),
    ("greenscreen float frames", lambda: ops.greenscreen(r(3, 8, 8), u8(3, 8, 8)), TypeError, ["frames", "uint8"]),
    ("greenscreen background dtype", lambda: ops.greenscreen(u8(3, 8, 8), r(3, 8, 8)), TypeError, ["background", "uint8"]),
    ("greenscreen not RGB", lambda: ops.greenscreen(u8(4, 8, 8), u8(4, 8, 8)), ValueError, ["frames", "[..., 3, H, W]"]),
    ("greenscreen shape mismatch", lambda: ops.greenscreen(u8(3, 8, 8), u8(3, 8, 9)), ValueError, ["background", "shape"]),
    ("greenscreen non-contiguous", lambda: ops.greenscreen(u8(3, 8, 8).transpose(1, 2), u8(3, 8, 8)), ValueError, ["frames", "contiguous"]),
    ("shift out of range", lambda: ops.random_shift(r(*OK_STACK), torch.tensor([[0, 9], [0, 0]])), ValueError, ["shifts", "[0, 8]"]),
    ("shift negative", lambda: ops.random_shift(r(*OK_STACK), torch.tensor([[-1, 0], [0, 0]])), ValueError, ["shifts"]),
    ("shift shape", lambda: ops.random_shift(r(*OK_STACK), torch.zeros(3, 2, dtype=torch.long)), ValueError, ["shifts", "[B, 2]"]),
    ("shift float offsets", lambda: ops.random_shift(r(*OK_STACK), torch.zeros(2, 2)), TypeError, ["shifts", "int64"]),
    ("shift negative pad", lambda: ops.random_shift(r(*OK_STACK), shifts, -1), ValueError, ["pad"]),
    ("shift obs rank", lambda: ops.random_shift(r(9, 8, 8), shifts), ValueError, ["obs", "4-D"]),
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
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from error message: {message}"


def test_at_least_twenty_bad_inputs_are_covered():
    assert len(CASES) >= 20


@pytest.mark.parametrize(
    "call",
    [
        lambda meta: ops.composite(r(*OK_STACK), r(*OK_STACK), meta(*OK_MASK)),
        lambda meta: ops.attribution_augment(u8(*OK_STACK), meta(*OK_MASK), r(2, 3, 8, 8)),
        lambda meta: ops.overlay(r(*OK_STACK), meta(2, 3, 8, 8)),
        lambda meta: ops.greenscreen(u8(3, 8, 8), meta(3, 8, 8).to(torch.uint8)),
        lambda meta: ops.random_shift(meta(*OK_STACK), shifts),
        lambda meta: ops.upsample_conv2d(r(2, 4, 5, 5), meta(3, 4, 3, 3)),
    ],
    ids=["composite", "attribution", "overlay", "greenscreen", "random_shift", "upsample_conv2d"],
)
def test_device_mismatch_is_reported(call):
    # Mixing devices must raise, not dispatch to one device's kernel with the other's pointers.
    meta = lambda *s: torch.empty(*s, device="meta")  # noqa: E731
    with pytest.raises(ValueError, match="same device"):
        call(meta)
