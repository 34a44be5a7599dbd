"""``smg-fast demo``: run every fused op on SMG's real training shapes, check it against its
pure-PyTorch reference and print how much faster it is (a quick, rough cut of the benchmarks)."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

import smg_fast.ops as ops
from smg_fast.ops import reference as ref

B, C, H, W = 64, 9, 84, 84


@dataclass
class Case:
    name: str
    shape: str
    fused: Callable[[], torch.Tensor]
    reference: Callable[[], torch.Tensor]
    exact: bool = False


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (first-call dispatch, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _fwd_bwd(fn, *inputs, grad):
    def run():
        leaves = [t.detach().requires_grad_() if t.is_floating_point() else t for t in inputs]
        out = fn(*leaves)
        out.backward(grad)
        return out.detach()

    return run


def cases(seed: int = 0, device: str | torch.device = "cpu") -> list[Case]:
    """Every fused op at SMG's training shapes, with its reference, on ``device``."""
    g = torch.Generator().manual_seed(seed)
    rand = lambda *s: torch.rand(*s, generator=g).to(device)  # noqa: E731
    obs_u8 = (rand(B, C, H, W) * 255).to(torch.uint8)
    fg, bg, mask = rand(B, C, H, W) * 255, rand(B, C, H, W) * 255, rand(B, 3, H, W)
    grad = rand(B, C, H, W)
    noise = rand(B, 3, H, W)
    shifts = ops.sample_shifts(B, generator=g).to(device)
    frames = obs_u8.view(3 * B, 3, H, W).clone()
    frames[:, :, : H // 2] = torch.tensor([51, 204, 51], dtype=torch.uint8, device=device)[:, None, None]
    background = (rand(3 * B, 3, H, W) * 255).to(torch.uint8)
    ring = (rand(1000, 3, H, W) * 255).to(torch.uint8)
    slots = (rand(2 * B) * 1000).long()
    pos = (rand(2 * B) * 5).long()
    gather_shifts = ops.sample_shifts(2 * B, generator=g).to(device)
    x = rand(3 * B, 128, 21, 21)
    w, b = rand(64, 128, 3, 3) * 0.05, rand(64)
    up_grad = rand(3 * B, 64, 42, 42)
    return [
        Case("composite fwd+bwd", "[64,9,84,84]", _fwd_bwd(ops.composite, fg, bg, mask, grad=grad),
             _fwd_bwd(ref.composite, fg, bg, mask, grad=grad)),
        Case("attribution_augment (uint8 obs)", "[64,9,84,84]", lambda: ops.attribution_augment(obs_u8, mask, noise),
             lambda: ref.attribution_augment(obs_u8, mask, noise)),
        Case("overlay fwd+bwd", "[64,9,84,84]", _fwd_bwd(ops.overlay, fg, noise, grad=grad),
             _fwd_bwd(ref.overlay, fg, noise, grad=grad)),
        Case("random_shift (uint8)", "[64,9,84,84]", lambda: ops.random_shift(obs_u8, shifts),
             lambda: ref.random_shift(obs_u8, shifts), exact=True),
        Case("greenscreen", "[192,3,84,84]", lambda: ops.greenscreen(frames, background),
             lambda: ref.greenscreen_torch(frames, background), exact=True),
        Case("replay_gather (batch of obs + next_obs)", "[128,9,84,84] from [1000,3,84,84]",
             lambda: ops.replay_gather(ring, slots, pos, gather_shifts, 3),
             lambda: ref.replay_gather(ring, slots, pos, gather_shifts, 3), exact=True),
        Case("upsample_conv2d fwd+bwd", "[192,128,21,21]→[192,64,42,42]",
             _fwd_bwd(ops.upsample_conv2d, x, w, b, grad=up_grad),
             _fwd_bwd(ref.upsample_conv2d, x, w, b, grad=up_grad)),
    ]


def greenscreen_vs_python_loop(seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (3, H, W), dtype=np.uint8)
    frame[:, : H // 2] = np.array([51, 204, 51], np.uint8)[:, None, None]
    background = rng.integers(0, 256, (3, H, W), dtype=np.uint8)
    loop = _median_seconds(lambda: ref.greenscreen_python_loop(frame, background), 3)
    batch = torch.from_numpy(np.repeat(frame[None], 3 * B, 0))
    bg = torch.from_numpy(np.repeat(background[None], 3 * B, 0))
    fused = _median_seconds(lambda: ops.greenscreen(batch, bg), 20) / (3 * B)
    return loop, fused


def main(repeats: int = 5) -> None:
    print(f"smg-fast demo: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CUDA kernels built: {ops.has_cuda_kernels()}")
    print(f"{'op':34s} {'shape':32s} {'fused ms':>9s} {'eager ms':>9s} {'speed-up':>8s}  check")
    for case in cases():
        out_f, out_r = case.fused(), case.reference()
        if case.exact:
            ok = torch.equal(out_f, out_r)
        else:
            ok = torch.allclose(out_f.float(), out_r.float(), rtol=1e-4, atol=1e-3)
        t_f = _median_seconds(case.fused, repeats)
        t_r = _median_seconds(case.reference, repeats)
        print(f"{case.name:34s} {case.shape:32s} {t_f * 1e3:9.2f} {t_r * 1e3:9.2f} {t_r / t_f:7.1f}x  "
              f"{'matches reference' if ok else 'MISMATCH'}")
        if not ok:
            raise SystemExit(f"{case.name}: fused op disagrees with its reference")
    loop, fused = greenscreen_vs_python_loop()
    print(f"greenscreen per 84x84 frame: upstream Python loop {loop * 1e3:.2f} ms, fused {fused * 1e6:.1f} us "
          f"({loop / fused:,.0f}x)")
    print("Full benchmarks: pytest benchmarks/ --benchmark-only")
