"""Replay buffer: frame stacks rebuilt by index match a naive buffer of full stacks, across episode
ends and ring wrap-around; sampling, shifts, checkpoints and the memory check."""
import numpy as np
import pytest
import torch

import smg_fast.ops as ops
from smg_fast.replay import ReplayBuffer

K, H, W, A = 3, 5, 6, 2


class NaiveReplay:
    """Upstream's semantics spelled out: a FrameStack deque per episode, full obs/next_obs stored."""

    def __init__(self):
        self.items = []

    def reset(self, frame):
        self.stack = [frame] * K

    def step(self, action, reward, frame, terminated):
        obs = torch.cat(self.stack)
        self.stack = self.stack[1:] + [frame]
        self.items.append((obs, action, reward, torch.cat(self.stack), 0.0 if terminated else 1.0))


def fill(capacity, episode_lengths, seed=0, terminate_last=False):
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(capacity, (3, H, W), A, frame_stack=K, pad=2, seed=seed)
    naive = NaiveReplay()
    frame = lambda: torch.from_numpy(rng.integers(0, 256, (3, H, W), dtype=np.uint8))  # noqa: E731
    for length in episode_lengths:
        f0 = frame()
        buf.add_first(f0)
        naive.reset(f0)
        for t in range(length):
            a = torch.from_numpy(rng.uniform(-1, 1, A).astype(np.float32))
            r, f = float(rng.normal()), frame()
            term = terminate_last and t == length - 1
            buf.add(a, r, f, term)
            naive.step(a, r, f, term)
    return buf, naive


def check_all_valid(buf, naive):
    idx = torch.arange(buf.first_valid, buf.transitions_added)
    centre = torch.full((2 * len(idx), 2), buf.pad, dtype=torch.long)
    got = buf.batch(idx, centre)
    for j, i in enumerate(idx.tolist()):
        obs, a, r, nxt, nd = naive.items[i]
        assert torch.equal(got["obs"][j], obs.float()), f"obs of transition {i}"
        assert torch.equal(got["next_obs"][j], nxt.float()), f"next_obs of transition {i}"
        assert torch.equal(got["action"][j], a)
        assert got["reward"][j, 0].item() == pytest.approx(r)
        assert got["not_done"][j, 0].item() == nd


def test_stacks_across_episode_boundaries():
    buf, naive = fill(capacity=100, episode_lengths=[1, 2, 5, 3], terminate_last=True)
    assert len(buf) == 11 and buf.first_valid == 0
    check_all_valid(buf, naive)


def test_first_frame_is_repeated_after_reset():
    buf, naive = fill(capacity=50, episode_lengths=[4])
    got = buf.batch(torch.tensor([0]), torch.full((2, 2), buf.pad))
    first = buf.frames[0].float()
    assert torch.equal(got["obs"][0], torch.cat([first, first, first]))
    assert torch.equal(got["next_obs"][0, :6], torch.cat([first, first]))


@pytest.mark.parametrize("capacity", [4, 7, 13, 31])
def test_wrap_around_drops_transitions_whose_frames_were_overwritten(capacity):
    buf, naive = fill(capacity, episode_lengths=[6, 1, 9, 4, 12, 3], seed=capacity)
    assert buf.frames_added == sum([6, 1, 9, 4, 12, 3]) + 6
    assert 0 < len(buf) < buf.transitions_added
    check_all_valid(buf, naive)
    # The transition just before first_valid needs a frame that is gone.
    oldest_kept = buf.frames_added - capacity
    assert buf._oldest_needed[(buf.first_valid - 1) % capacity] < oldest_kept


def test_sample_shapes_and_shifts_match_random_shift():
    buf, naive = fill(capacity=60, episode_lengths=[10, 10])
    batch = buf.sample(16)
    assert batch["obs"].shape == (16, 3 * K, H, W) and batch["obs"].dtype == torch.float32
    assert batch["action"].shape == (16, A) and batch["reward"].shape == (16, 1)
    # Same indices, explicit shifts: equal to shifting the unshifted stacks.
    idx = torch.arange(0, 20)
    shifts = ops.sample_shifts(40, buf.pad, generator=torch.Generator().manual_seed(1))
    shifted = buf.batch(idx, shifts)
    plain = buf.batch(idx, torch.full((40, 2), buf.pad))
    assert torch.equal(shifted["obs"], ops.random_shift(plain["obs"], shifts[:20], buf.pad))
    assert torch.equal(shifted["next_obs"], ops.random_shift(plain["next_obs"], shifts[20:], buf.pad))


def test_sampling_is_uniform_over_valid_transitions():
    buf, _ = fill(capacity=40, episode_lengths=[30, 30])
    counts = torch.zeros(buf.transitions_added)
    for _ in range(300):
        counts.index_add_(0, buf.sample(64, shift=False)["index"], torch.ones(64))
    valid = counts[buf.first_valid :]
    assert counts[: buf.first_valid].sum() == 0
    expected = 300 * 64 / len(buf)
    assert valid.min() > 0.6 * expected and valid.max() < 1.4 * expected


def test_state_dict_round_trip_resumes_identically():
    buf, _ = fill(capacity=25, episode_lengths=[7, 9, 12])
    state = buf.state_dict()
    clone = ReplayBuffer(25, (3, H, W), A, frame_stack=K, pad=2, seed=123)
    clone.load_state_dict(state)
    a, b = buf.sample(8), clone.sample(8)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(26, (3, H, W), A, frame_stack=K).load_state_dict(state)


def test_errors():
    buf = ReplayBuffer(10, (3, H, W), A, frame_stack=K)
    with pytest.raises(RuntimeError, match="no complete transition"):
        buf.sample(4)
    with pytest.raises(RuntimeError, match="add_first"):
        buf.add(np.zeros(A), 0.0, torch.zeros(3, H, W, dtype=torch.uint8), False)
    with pytest.raises(ValueError, match="frame must be uint8"):
        buf.add_first(torch.zeros(3, H, W))
    with pytest.raises(MemoryError, match="lower the capacity"):
        ReplayBuffer(10**12, (3, 84, 84), 6)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(3, (3, H, W), A, frame_stack=3)


def test_mmap_storage_samples_what_memory_storage_samples(tmp_path):
    """storage='mmap' keeps the frames in a file (the same ring, the same gather kernel): the same
    batches as in memory, and the frames are on disk."""
    rng = np.random.default_rng(0)
    mem = ReplayBuffer(30, (3, H, W), A, frame_stack=K, seed=4)
    mapped = ReplayBuffer(30, (3, H, W), A, frame_stack=K, seed=4, storage="mmap", path=str(tmp_path / "frames"))
    for buf in (mem, mapped):
        buf.add_first(torch.from_numpy(np.full((3, H, W), 7, np.uint8)))
    for t in range(45):
        frame = torch.from_numpy(rng.integers(0, 256, (3, H, W), dtype=np.uint8))
        a = rng.uniform(-1, 1, A)
        for buf in (mem, mapped):
            buf.add(a, float(t), frame, False)
    a, b = mem.sample(8), mapped.sample(8)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    on_disk = np.fromfile(tmp_path / "frames", dtype=np.uint8).reshape(30, 3, H, W)
    assert np.array_equal(on_disk, mem.frames.numpy())
    with pytest.raises(ValueError, match="mmap"):
        ReplayBuffer(30, (3, H, W), A, storage="mmap")  # no path
    with pytest.raises(ValueError, match="storage"):
        ReplayBuffer(30, (3, H, W), A, storage="disk")
