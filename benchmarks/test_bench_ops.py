"""Fused ops vs their pure-PyTorch references, at SMG's training shapes, in one run.

    pytest benchmarks/test_bench_ops.py --benchmark-only
    python benchmarks/summarize.py .benchmarks/<...>.json   # speed-up table for docs/ops.md

Each group holds the fused op and its reference on identical inputs; compare ratios within a run
(timings move ±20 % between runs on these machines). Image ops: batch 64 of 9×84×84 (three stacked
RGB frames); decoder layers: 192 frames (64 samples × 3 frames), as SMG's decoders run.
"""
import numpy as np
import pytest
import torch

import smg_fast.ops as ops
from smg_fast.ops import reference as ref

B, C, H, W = 64, 9, 84, 84
IMPLS = {"fused": ops, "reference": ref}


def _rand(*shape, scale=1.0, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def _fwd_bwd(fn, inputs, grad):
    leaves = [t.detach().requires_grad_() if t.is_floating_point() else t for t in inputs]
    out = fn(*leaves)
    out.backward(grad)


COMPOSITE = {"fused": ops.composite, "reference": ref.composite, "upstream eager": ref.composite_upstream}


@pytest.mark.parametrize("impl", COMPOSITE)
@pytest.mark.benchmark(group="composite fwd+bwd [64,9,84,84]")
def test_composite(benchmark, impl):
    fg, bg, mask = _rand(B, C, H, W, scale=255), _rand(B, C, H, W, scale=255, seed=1), _rand(B, 3, H, W, seed=2)
    grad = _rand(B, C, H, W, seed=3)
    benchmark(_fwd_bwd, COMPOSITE[impl], (fg, bg, mask), grad)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.benchmark(group="attribution fwd+bwd (float obs) [64,9,84,84]")
def test_attribution(benchmark, impl):
    obs, mask, noise = _rand(B, C, H, W, scale=255), _rand(B, 3, H, W, seed=1), _rand(B, 3, H, W, seed=2)
    grad = _rand(B, C, H, W, seed=3)
    fn = IMPLS[impl].attribution_augment
    benchmark(_fwd_bwd, lambda o, m, n: fn(o, m.detach(), n.detach()), (obs, mask, noise), grad)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.benchmark(group="attribution fwd (uint8 replay obs) [64,9,84,84]")
def test_attribution_uint8(benchmark, impl):
    obs = (_rand(B, C, H, W) * 255).to(torch.uint8)
    mask, noise = _rand(B, 3, H, W, seed=1), _rand(B, 3, H, W, seed=2)
    benchmark(IMPLS[impl].attribution_augment, obs, mask, noise)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.benchmark(group="overlay fwd+bwd [64,9,84,84]")
def test_overlay(benchmark, impl):
    obs, img, grad = _rand(B, C, H, W, scale=255), _rand(B, 3, H, W, seed=1), _rand(B, C, H, W, seed=2)
    benchmark(_fwd_bwd, IMPLS[impl].overlay, (obs, img), grad)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.benchmark(group="random_shift fwd (uint8) [64,9,84,84]")
def test_random_shift(benchmark, impl):
    obs = (_rand(B, C, H, W) * 255).to(torch.uint8)
    shifts = ops.sample_shifts(B, generator=torch.Generator().manual_seed(0))
    benchmark(IMPLS[impl].random_shift, obs, shifts)


def _dmc_like_frames(n, seed=0):
    """Frames that look like DMC-GB's video modes: green key sky, textured floor, a body."""
    rng = np.random.default_rng(seed)
    f = np.empty((n, 3, H, W), np.uint8)
    f[:, :, : H // 2] = np.array([51, 204, 51], np.uint8)[:, None, None]
    f[:, :, H // 2 :] = rng.integers(20, 120, (n, 3, H - H // 2, W), dtype=np.uint8)
    f[:, :, 20:60, 30:50] = np.array([178, 127, 76], np.uint8)[:, None, None]
    return torch.from_numpy(f), torch.from_numpy(rng.integers(0, 256, f.shape, dtype=np.uint8))


GREEN = {
    "fused": ops.greenscreen,
    "torch reference": ref.greenscreen_torch,
    "numpy reference": ref.greenscreen,
}


@pytest.mark.parametrize("impl", GREEN)
@pytest.mark.benchmark(group="greenscreen 192 frames [192,3,84,84]")
def test_greenscreen(benchmark, impl):
    frames, background = _dmc_like_frames(3 * B)
    benchmark(GREEN[impl], frames, background)


@pytest.mark.benchmark(group="greenscreen 192 frames [192,3,84,84]")
def test_greenscreen_python_loop(benchmark):
    # Upstream's per-pixel loop on one frame, ×192 frames.
    frames, background = _dmc_like_frames(1)
    f, bg = frames[0].numpy(), background[0].numpy()
    benchmark.extra_info["frames_per_call"] = 1
    benchmark.extra_info["scale_to_frames"] = 3 * B
    benchmark.pedantic(ref.greenscreen_python_loop, (f, bg), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.benchmark(group="greenscreen 1 frame (one env step) [3,84,84]")
def test_greenscreen_one_frame(benchmark, impl):
    frames, background = _dmc_like_frames(1)
    fn = ops.greenscreen if impl == "fused" else ref.greenscreen_torch
    benchmark(fn, frames[0], background[0])


DECODER_LAYERS = {
    # SMG decoder (modules.py:375-420) at 192 frames: up×2 → conv 128→64, up×2 → conv 64→(3+1).
    "128to64@21": (128, 64, 21),
    "64to4@42": (64, 4, 42),
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layer", DECODER_LAYERS)
def test_upsample_conv2d(benchmark, impl, layer):
    cin, cout, size = DECODER_LAYERS[layer]
    benchmark.group = f"upsample_conv2d fwd+bwd {layer} [192,{cin},{size},{size}]"
    x = _rand(3 * B, cin, size, size)
    weight = _rand(cout, cin, 3, 3, seed=1) * 0.05
    bias = _rand(cout, seed=2)
    grad = _rand(3 * B, cout, 2 * size, 2 * size, seed=3)
    benchmark.pedantic(_fwd_bwd, (IMPLS[impl].upsample_conv2d, (x, weight, bias), grad), rounds=5, warmup_rounds=1)


# ---- the baselines' augmentations (SODA's random crop, SVEA's random convolution) -----------------


CROP = {"op": ops.random_crop, "reference (per-sample slices)": ops.reference.random_crop}


@pytest.mark.parametrize("impl", CROP)
@pytest.mark.parametrize("batch", [64, 256])
def test_random_crop(benchmark, impl, batch):
    """SODA's 100 → 84 crop of uint8 replay stacks: RL batches of 64, the SODA batch of 256."""
    benchmark.group = f"random_crop 100->84 uint8 [{batch},9,100,100]"
    x = (_rand(batch, C, 100, 100) * 255).to(torch.uint8)
    offsets = ops.sample_crop_offsets(batch, 100, 84, generator=torch.Generator().manual_seed(0))
    benchmark(CROP[impl], x, offsets, 84)


CONV = {"grouped conv": ops.random_conv, "upstream loop (reference)": ops.reference.random_conv}


@pytest.mark.parametrize("impl", CONV)
@pytest.mark.benchmark(group="random_conv fwd [64,9,84,84]")
def test_random_conv(benchmark, impl):
    """SVEA's augmentation of a shifted batch (float 0-255; only the forward runs in training)."""
    obs = _rand(B, C, H, W, scale=255)
    kernels = torch.randn(B, 3, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    benchmark.pedantic(CONV[impl], (obs, kernels), rounds=5, warmup_rounds=1)
