"""Device-resident replay buffer that stores every rendered frame once.

Upstream keeps stacked ``obs`` and ``next_obs`` through Python ``LazyFrames`` and rebuilds each batch
in a Python loop before copying it to the GPU. Here each frame is one uint8 slot in a ring on the
training device; a transition records the slot of the frame it led to, and a batch is gathered, stacked
and randomly shifted by one compiled kernel (:func:`smg_fast.ops.replay_gather`). 500k transitions of
84×84 RGB frames take ≈10.6 GB.

Conventions (as upstream's ``FrameStack``/``ReplayBuffer``): after a reset the stack repeats the first
frame; ``not_done`` is 0 only for a true termination (time-limit truncation keeps bootstrapping);
obs and next_obs get independent shifts (``sample_drq``).
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import torch

import smg_fast.ops as ops


def available_memory(device: torch.device) -> int:
    """Bytes that can still be allocated on ``device`` (free GPU memory, or MemAvailable on CPU)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62  # unknown platform: do not block


STORAGES = ("memory", "mmap")


def reserve_file(path: str, nbytes: int) -> None:
    """Create ``path`` with ``nbytes`` allocated on its disk. A memory-mapped file that is merely sized (sparse)
    gets its blocks when a page is first written, and a full disk then kills the process with SIGBUS in the
    middle of a run; allocated up front, a full disk is an error here, before anything starts."""
    import errno

    from smg_fast.errors import NotAvailableError

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        raise NotAvailableError(f"replay_storage=mmap: cannot create {path}: {e.strerror or e}") from None
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as e:
        os.close(fd)
        fd = None
        os.unlink(path)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
            raise NotAvailableError(
                f"replay_storage=mmap: {path} needs {nbytes / 2**30:.2f} GiB on its disk, which has "
                f"{free / 2**30:.2f} GiB free: free space, lower --replay-capacity, or keep the replay in memory "
                "(--set replay_storage=memory)") from None
        raise NotAvailableError(f"replay_storage=mmap: cannot allocate {path}: {e.strerror or e}") from None
    finally:
        if fd is not None:
            os.close(fd)


class ReplayBuffer:
    """``storage="memory"``: frames in memory on ``device``. ``storage="mmap"``: frames in a memory-mapped
    file ``path`` (CPU only; for capacities beyond memory: the page cache keeps what fits), sampled by the
    same gather kernel. Either way a checkpoint saves only what was added since the previous one
    (:meth:`export_range`, :meth:`import_range`)."""

    def __init__(
        self,
        capacity: int,
        frame_shape: tuple[int, int, int],
        action_dim: int,
        *,
        frame_stack: int = 3,
        pad: int = 4,
        device: str | torch.device = "cpu",
        seed: int = 0,
        storage: str = "memory",
        path: str | None = None,
    ):
        if capacity < frame_stack + 1:
            raise ValueError(f"capacity must be at least frame_stack + 1 = {frame_stack + 1}, got {capacity}")
        if len(frame_shape) != 3 or frame_shape[0] != 3:
            raise ValueError(f"frame_shape must be (3, H, W), got {frame_shape}")
        self.capacity, self.frame_shape, self.action_dim = int(capacity), tuple(frame_shape), int(action_dim)
        self.frame_stack, self.pad = int(frame_stack), int(pad)
        self.device = torch.device(device)
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        if storage == "mmap" and (self.device.type != "cpu" or not path):
            raise ValueError("storage='mmap' keeps frames in a file on the CPU: it needs device='cpu' and a path")
        self.storage = storage
        frame_bytes = capacity * int(np.prod(frame_shape))
        need = self.nbytes(capacity, frame_shape, action_dim) - (frame_bytes if storage == "mmap" else 0)
        free = available_memory(self.device)
        if need > 0.9 * free:
            raise MemoryError(
                f"a replay buffer of {capacity:,} transitions of {frame_shape} frames needs "
                f"{need / 2**30:.1f} GiB on {self.device}, but only {free / 2**30:.1f} GiB is available; "
                "lower the capacity (--replay-capacity) or use another device"
            )
        c, dev = self.capacity, self.device
        if storage == "mmap":
            reserve_file(path, frame_bytes)
            mapped = np.memmap(path, dtype=np.uint8, mode="r+", shape=(c, *frame_shape))
            self.frames = torch.from_numpy(mapped)  # shares the mapping: writes go to the file
        else:
            self.frames = torch.empty((c, *frame_shape), dtype=torch.uint8, device=dev)
        self.frame_pos = torch.zeros(c, dtype=torch.long, device=dev)  # position in episode
        self.next_slot = torch.zeros(c, dtype=torch.long, device=dev)  # per transition
        self.action = torch.zeros((c, action_dim), dtype=torch.float32, device=dev)
        self.reward = torch.zeros(c, dtype=torch.float32, device=dev)
        self.not_done = torch.zeros(c, dtype=torch.float32, device=dev)
        # Host bookkeeping: absolute counters, and the oldest frame each transition's obs needs, so
        # transitions whose frames were overwritten are never sampled.
        self.frames_added = 0
        self.transitions_added = 0
        self.first_valid = 0
        self._oldest_needed = np.zeros(c, dtype=np.int64)
        self._pos: int | None = None
        self.generator = torch.Generator(device=dev)
        self.generator.manual_seed(seed)

    @staticmethod
    def nbytes(capacity: int, frame_shape, action_dim: int) -> int:
        per_slot = int(np.prod(frame_shape)) + 8 + 8 + 4 * action_dim + 4 + 4
        return capacity * per_slot

    def __len__(self) -> int:
        """Number of transitions that can be sampled."""
        return self.transitions_added - self.first_valid

    # ---- adding ----------------------------------------------------------------------------------

    def _put_frame(self, frame, pos: int) -> int:
        frame = torch.as_tensor(frame)
        if frame.shape != self.frame_shape or frame.dtype != torch.uint8:
            raise ValueError(f"frame must be uint8 {self.frame_shape}, got {frame.dtype} {tuple(frame.shape)}")
        slot = self.frames_added % self.capacity
        self.frames[slot].copy_(frame, non_blocking=True)
        self.frame_pos[slot] = pos
        self.frames_added += 1
        self._pos = pos
        oldest_kept = self.frames_added - self.capacity
        while self.first_valid < self.transitions_added and (
            self._oldest_needed[self.first_valid % self.capacity] < oldest_kept
        ):
            self.first_valid += 1
        return slot

    def add_first(self, frame) -> None:
        """The first frame of an episode (the newest frame of the observation ``reset`` returned)."""
        self._put_frame(frame, 0)

    def add(self, action, reward: float, frame, terminated: bool) -> None:
        """One step: the action taken, its reward, the newest frame of the next observation."""
        if self._pos is None:
            raise RuntimeError("call add_first(frame) with the reset observation before add()")
        pos = self._pos + 1
        newest_obs_frame = self.frames_added - 1
        slot = self._put_frame(frame, pos)
        i = self.transitions_added % self.capacity
        self.next_slot[i] = slot
        self.action[i].copy_(torch.as_tensor(action, dtype=torch.float32), non_blocking=True)
        self.reward[i] = float(reward)
        self.not_done[i] = 0.0 if terminated else 1.0
        self._oldest_needed[i] = newest_obs_frame - min(self.frame_stack - 1, pos - 1)
        self.transitions_added += 1

    # ---- sampling --------------------------------------------------------------------------------

    def sample(self, batch_size: int, *, shift: bool = True) -> dict[str, torch.Tensor]:
        """A batch of float32 (0-255) obs/next_obs ``[B, 3k, H, W]`` with independent random shifts
        (DrQ / upstream ``sample_drq``), plus action, reward ``[B, 1]``, not_done ``[B, 1]`` and the
        transitions' absolute indices."""
        n = len(self)
        if n < 1:
            raise RuntimeError("the replay buffer holds no complete transition yet")
        idx = self.first_valid + torch.randint(n, (batch_size,), device=self.device, generator=self.generator)
        if shift:
            shifts = torch.randint(2 * self.pad + 1, (2 * batch_size, 2), device=self.device, generator=self.generator)
        else:
            shifts = torch.full((2 * batch_size, 2), self.pad, dtype=torch.long, device=self.device)
        return self.batch(idx, shifts)

    def batch(self, idx: torch.Tensor, shifts: torch.Tensor) -> dict[str, torch.Tensor]:
        """The transitions with absolute indices ``idx`` (``first_valid <= idx < transitions_added``);
        ``shifts[:B]`` shift obs and ``shifts[B:]`` next_obs."""
        b = idx.shape[0]
        ring = idx % self.capacity
        next_slot = self.next_slot[ring]
        next_pos = self.frame_pos[next_slot]
        slots = torch.cat([(next_slot - 1) % self.capacity, next_slot])
        pos = torch.cat([next_pos - 1, next_pos])
        stacks = ops.replay_gather(self.frames, slots, pos, shifts, self.frame_stack, self.pad)
        return {
            "obs": stacks[:b],
            "action": self.action[ring],
            "reward": self.reward[ring].unsqueeze(1),
            "next_obs": stacks[b:],
            "not_done": self.not_done[ring].unsqueeze(1),
            "index": idx,
        }

    # ---- incremental checkpoints ------------------------------------------------------------------

    def small_state(self) -> dict:
        """Everything but the per-frame and per-transition records: counters, the episode position and the
        sampling generator (a few hundred bytes)."""
        return {
            "capacity": self.capacity, "frame_shape": self.frame_shape, "action_dim": self.action_dim,
            "frame_stack": self.frame_stack, "frames_added": self.frames_added,
            "transitions_added": self.transitions_added, "first_valid": self.first_valid, "pos": self._pos,
            "generator": self.generator.get_state(),
        }

    def load_small_state(self, state: dict) -> None:
        for key in ("capacity", "frame_shape", "action_dim", "frame_stack"):
            if tuple(np.atleast_1d(state[key])) != tuple(np.atleast_1d(getattr(self, key))):
                raise ValueError(f"replay checkpoint has {key}={state[key]}, this buffer {getattr(self, key)}")
        self.frames_added, self.transitions_added = state["frames_added"], state["transitions_added"]
        self.first_valid, self._pos = state["first_valid"], state["pos"]
        self.generator.set_state(state["generator"])

    def _ring(self, first: int, last: int) -> torch.Tensor:
        return torch.arange(first, last, device=self.device) % self.capacity

    def export_range(self, frames_from: int, transitions_from: int) -> dict:
        """Host copies of the records added since the absolute counters ``frames_from`` /
        ``transitions_from`` (at most a ring's worth: older ones were overwritten and are not needed)."""
        f0 = max(frames_from, self.frames_added - self.capacity)
        t0 = max(transitions_from, self.transitions_added - self.capacity)
        fr, tr = self._ring(f0, self.frames_added), self._ring(t0, self.transitions_added)
        t_cpu = tr.cpu().numpy()
        return {
            "frames_from": f0, "frames_to": self.frames_added,
            "transitions_from": t0, "transitions_to": self.transitions_added,
            "frames": self.frames[fr].cpu(),
            "frame_pos": self.frame_pos[fr].cpu(),
            "next_slot": self.next_slot[tr].cpu(), "action": self.action[tr].cpu(),
            "reward": self.reward[tr].cpu(), "not_done": self.not_done[tr].cpu(),
            "oldest_needed": torch.from_numpy(self._oldest_needed[t_cpu].copy()),
        }

    def import_range(self, seg: dict) -> None:
        """Write a range from :meth:`export_range` back into the ring (ranges are imported oldest first;
        a range may start before the ring's window: its older part is skipped)."""
        keep_f = max(0, self.frames_added - self.capacity - seg["frames_from"])
        keep_t = max(0, self.transitions_added - self.capacity - seg["transitions_from"])
        f0, t0 = seg["frames_from"] + keep_f, seg["transitions_from"] + keep_t
        if seg["frames_to"] > f0:
            fr = self._ring(f0, seg["frames_to"])
            self.frames[fr] = seg["frames"][keep_f:].to(self.device)
            self.frame_pos[fr] = seg["frame_pos"][keep_f:].to(self.device)
        if seg["transitions_to"] > t0:
            tr = self._ring(t0, seg["transitions_to"])
            for name in ("next_slot", "action", "reward", "not_done"):
                getattr(self, name)[tr] = seg[name][keep_t:].to(self.device)
            self._oldest_needed[tr.cpu().numpy()] = seg["oldest_needed"][keep_t:].numpy()

    # ---- whole-buffer state (small buffers, tests) ----------------------------------------------------

    def state_dict(self) -> dict:
        filled_f = min(self.frames_added, self.capacity)
        filled_t = min(self.transitions_added, self.capacity)
        return {
            "capacity": self.capacity,
            "frame_shape": self.frame_shape,
            "action_dim": self.action_dim,
            "frame_stack": self.frame_stack,
            "frames": self.frames[:filled_f].cpu(),
            "frame_pos": self.frame_pos[:filled_f].cpu(),
            "next_slot": self.next_slot[:filled_t].cpu(),
            "action": self.action[:filled_t].cpu(),
            "reward": self.reward[:filled_t].cpu(),
            "not_done": self.not_done[:filled_t].cpu(),
            "oldest_needed": self._oldest_needed[:filled_t].copy(),
            "frames_added": self.frames_added,
            "transitions_added": self.transitions_added,
            "first_valid": self.first_valid,
            "pos": self._pos,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        for key in ("capacity", "frame_shape", "action_dim", "frame_stack"):
            if tuple(np.atleast_1d(state[key])) != tuple(np.atleast_1d(getattr(self, key))):
                raise ValueError(f"replay checkpoint has {key}={state[key]}, this buffer {getattr(self, key)}")
        nf, nt = len(state["frames"]), len(state["next_slot"])
        self.frames[:nf].copy_(state["frames"])
        self.frame_pos[:nf].copy_(state["frame_pos"])
        for name in ("next_slot", "action", "reward", "not_done"):
            getattr(self, name)[:nt].copy_(state[name])
        self._oldest_needed[:nt] = state["oldest_needed"]
        self.frames_added, self.transitions_added = state["frames_added"], state["transitions_added"]
        self.first_valid, self._pos = state["first_valid"], state["pos"]
        self.generator.set_state(state["generator"])
