"""Sampling a batch of 64 (obs and next_obs, 9×84×84, shifted, float32) from the replay buffer: frames in
memory against frames in a memory-mapped file (``--set replay_storage=mmap``), the same gather kernel, on a
50k-transition buffer (1 GB of frames; the mapped file's pages are in the page cache here — a buffer larger
than memory reads from disk for the pages it misses)."""
import numpy as np
import pytest
import torch

from smg_fast.replay import ReplayBuffer

A, N = 6, 50_000


@pytest.fixture(scope="module", params=["memory", "mmap"])
def replay(request, tmp_path_factory):
    n = N if request.config.getoption("benchmark_disable") is False else 2_000
    path = tmp_path_factory.mktemp("replay") / "frames"
    buf = ReplayBuffer(n, (3, 84, 84), A, storage=request.param, path=str(path), seed=0)
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (64, 3, 84, 84), dtype=np.uint8))
    buf.add_first(frames[0])
    for t in range(n - 1):
        buf.add(np.zeros(A), 0.0, frames[t % 64], (t + 1) % 1000 == 0)
        if (t + 1) % 1000 == 0:
            buf.add_first(frames[(t + 7) % 64])
    return request.param, buf


@pytest.mark.benchmark(group="replay: sample batch 64 (obs + next_obs, shifted, float32)")
def test_replay_sample(benchmark, replay):
    storage, buf = replay
    benchmark.extra_info["storage"] = storage
    benchmark(buf.sample, 64)
