"""Small stand-ins for DMC-GB's data files, in its layout, for a clone without the reference data.

``make_dmcgb(root)`` writes ``root/dmcgb/``: ``color_easy.json`` and ``color_hard.json`` (100 entries of the
four MuJoCo colours each, as the converted upstream tables hold them) and short MP4 background videos under
the names the reference folder has (``video_easy/video{0,1,2,6,8,9}.mp4``: upstream's 3, 4, 5 and 7 are
absent there too, so the skipping and warning paths run; ``video_hard/video0..99.mp4``). Every video is a
few frames of a distinct moving pattern, far from the key green, so that which video and which frame an
environment shows can be checked. The environments read these files through their real code: the JSON
loader, the PyAV decoder, upstream's resize, the greenscreen.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

VIDEO_EASY = (0, 1, 2, 6, 8, 9)
VIDEO_HARD = tuple(range(100))
COLOR_KEYS = ("grid_rgb1", "grid_rgb2", "self_rgb", "skybox_rgb")
FRAMES, SIZE = 8, 48  # per video; upstream's are 500 frames of 352x352


def colour_table(seed: int) -> list[dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    return [{k: [float(x) for x in rng.uniform(0.0, 1.0, 3)] for k in COLOR_KEYS} for _ in range(100)]


def video_frames(index: int, frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """uint8 RGB ``[frames, size, size, 3]``: a colour of its own (red-blue family, never key green) and a
    bright bar that moves one row per frame."""
    rng = np.random.default_rng(1000 + index)
    base = np.array([rng.integers(120, 256), rng.integers(0, 60), rng.integers(0, 256)], np.uint8)
    out = np.empty((frames, size, size, 3), np.uint8)
    out[:] = base
    for t in range(frames):
        out[t, (4 * t) % size: (4 * t) % size + 4] = 250
    return out


def write_video(path: Path, frames: np.ndarray, rate: int = 25) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


def make_dmcgb(root: Path) -> Path:
    """Write the synthetic DMC-GB files under ``root/dmcgb``; returns ``root`` (a data folder)."""
    root = Path(root)
    dmcgb = root / "dmcgb"
    for mode, seed in (("color_easy", 1), ("color_hard", 2)):
        dmcgb.mkdir(parents=True, exist_ok=True)
        (dmcgb / f"{mode}.json").write_text(json.dumps(colour_table(seed), indent=0))
    for mode, indices in (("video_easy", VIDEO_EASY), ("video_hard", VIDEO_HARD)):
        (dmcgb / mode).mkdir(parents=True, exist_ok=True)
        for i in indices:
            write_video(dmcgb / mode / f"video{i}.mp4", video_frames(i + (0 if mode == "video_easy" else 100)))
    return root
