"""What the op modules share: the op library's namespace, the checks their fake kernels repeat, the dtype of
a float output, and the reference's image conventions (uint8 pixels or float images in [0, 1])."""
from __future__ import annotations

import torch

from smg_fast import _extension  # noqa: F401  (loads the op library, so its schemas exist to register against)

LIB = "smg_fast::"


def float_out(*tensors: torch.Tensor, default: torch.dtype = torch.float32) -> torch.dtype:
    """The dtype of an op's float output: the first float input's, else ``default``."""
    for t in tensors:
        if t.is_floating_point():
            return t.dtype
    return default


# Fake kernels also run when real and meta tensors are mixed (Meta outranks CPU in dispatch), so they repeat
# the device check and the shape logic the output depends on; dtype and value checks stay in C++.


def same_device(first: tuple[str, torch.Tensor], *others: tuple[str, torch.Tensor | None]) -> None:
    ref_name, ref = first
    for name, t in others:
        if t is not None and t.device != ref.device:
            raise ValueError(f"{name} must be on the same device as {ref_name} ({ref.device}), got {t.device}")


def check_stack(name: str, t: torch.Tensor) -> None:
    if t.dim() != 4 or t.shape[1] == 0 or t.shape[1] % 3 != 0:
        raise ValueError(f"{name} must be a 4-D tensor [B, 3*frames, H, W] with a channel count that is "
                         f"a positive multiple of 3, got shape {tuple(t.shape)}")


def image_255(image: torch.Tensor) -> torch.Tensor:
    """An overlay / noise image on the 0-255 scale: uint8 holds pixel values, a float image is in [0, 1]
    (Places' ToTensor)."""
    return image.float() if image.dtype == torch.uint8 else image * 255.0


def tile_frames(img: torch.Tensor, channels: int) -> torch.Tensor:
    """Repeat a [B, 3, H, W] image over the frames of a [B, channels, H, W] stack."""
    return img.repeat(1, channels // img.shape[1], 1, 1)
