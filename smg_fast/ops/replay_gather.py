"""``replay_gather``: the replay buffer's kernel, frame stacks rebuilt from a ring of single frames and
shifted in one pass (C++: ``csrc/ops/replay_gather.cpp``).

The wrapper, the fake kernel (uint8 frames in: no autograd formula) and the pure-PyTorch reference.
"""
from __future__ import annotations

import torch

from smg_fast.ops._common import LIB, same_device
from smg_fast.ops.random_shift import random_shift_reference


def replay_gather(
    frames: torch.Tensor,
    slots: torch.Tensor,
    pos: torch.Tensor,
    shifts: torch.Tensor,
    frame_stack: int = 3,
    pad: int = 4,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Sample frame stacks from a ring of single frames, shifted, in one pass (the replay buffer's kernel).

    Stack ``i`` ends at ring slot ``slots[i]``, a frame at position ``pos[i]`` of its episode; its
    frame ``b`` steps before the newest is ``b`` slots earlier (modulo the ring), except that steps
    before the episode's first frame repeat that frame, as a frame-stack wrapper does after reset.
    Each stack is then shifted like :func:`smg_fast.ops.random_shift` by ``shifts[i]``.

    Args:
        frames: uint8 ``[capacity, 3, H, W]``.
        slots, pos: int64 ``[N]``; shifts: int64 ``[N, 2]`` in ``[0, 2·pad]``.
        frame_stack: frames per stack (k); pad: shift padding; dtype: float32 (default), float64 or uint8.
    Returns:
        ``[N, 3k, H, W]``, oldest frame first, 0-255. On CUDA the indices are clamped rather than
        validated (validation would need a device sync); on CPU out-of-range values raise.
    """
    return torch.ops.smg_fast.replay_gather(frames, slots, pos, shifts, int(frame_stack), int(pad), dtype)


# ---- fake kernel ----------------------------------------------------------------------------------


@torch.library.register_fake(LIB + "replay_gather")
def _(frames, slots, pos, shifts, frame_stack, pad=4, dtype=None):
    same_device(("frames", frames), ("slots", slots), ("pos", pos), ("shifts", shifts))
    n = slots.shape[0]
    return frames.new_empty((n, 3 * frame_stack, frames.shape[2], frames.shape[3]), dtype=dtype or torch.float32)


# ---- reference ------------------------------------------------------------------------------------


def replay_gather_reference(frames, slots, pos, shifts, frame_stack=3, pad=4, dtype=None):
    """Frame stacks rebuilt from a ring of single frames, then shifted (see :func:`replay_gather`)."""
    capacity = frames.shape[0]
    back = torch.arange(frame_stack - 1, -1, -1, device=frames.device)  # oldest first
    src = (slots[:, None] - torch.minimum(back[None], pos[:, None])) % capacity  # [N, k]
    stacks = frames[src].flatten(1, 2)  # [N, 3k, H, W]
    out = random_shift_reference(stacks, shifts, pad)
    return out.to(dtype or torch.float32)
