"""A synthetic DAVIS-layout folder (``<root>/davis/DAVIS/JPEGImages/480p/<video>/%05d.jpg``) for tests,
benchmarks and offline smoke runs of ``distracting_cs``: moving colour gradients, no real footage."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .settings import DAVIS_TRAIN_VIDEOS


def frame(video: int, index: int, size: tuple[int, int] = (854, 480)) -> np.ndarray:
    """Frame ``index`` of video ``video``: uint8 RGB ``[h, w, 3]``, different for every (video, index)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([(xx * 5 + video * 31 + index * 3) % 256, (yy * 9 + index * 40) % 256,
                     ((xx + yy) * 3 + video * 17 + index * 23) % 256], -1).astype(np.uint8)


def write_davis(root: str | os.PathLike, counts, size: tuple[int, int] = (854, 480), quality: int = 90) -> Path:
    """``counts[v]`` JPEG frames for each of the first ``len(counts)`` DAVIS training videos under ``root``
    (a data directory: ``envs.make(..., data_dir=root)`` or ``SMG_FAST_DATA=root`` finds them). 854×480 is
    DAVIS's 480p size. Returns ``root``."""
    from PIL import Image

    root = Path(root)
    for v, n in enumerate(counts):
        folder = root / "davis" / "DAVIS" / "JPEGImages" / "480p" / DAVIS_TRAIN_VIDEOS[v]
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(frame(v, i, size)).save(folder / f"{i:05d}.jpg", quality=quality)
    return root
