"""The DAVIS video backgrounds of ``distracting_cs``: which videos, which frame when, and the frames as the
skybox texture takes them (DMC-GB's ``background.py``, ``DistractingBackgroundEnv``).

At each reset, from the background's random stream: a video (``choice`` over the intensity's videos), a
start frame (``choice(n_frames)``) and a direction (``choice([-1, 1])``). Every second control step the
frame index moves one step in that direction, bouncing at the ends (at 0 it turns forward; past the last
frame it is set to the last and turns back, so the last frame shows for two updates).

A video's frames are its ``*.jpg`` files in sorted order (upstream's ``glob`` + ``sorted``), decoded with
Pillow and resized to the 800×800 sky with the nearest-neighbour rule of Pillow 6.2, the version DMC-GB
pins (``pillow==6.2.0``, whose ``Image.resize`` defaults to NEAREST; later versions default to BICUBIC):
destination pixel ``i`` takes source pixel ``int(x_i)``, where ``x_0 = s/2`` and ``x_{i+1} = x_i + s``,
accumulated in double precision, ``s = source size / 800`` (``ImagingScaleAffine``). The installed Pillow
does the resize where it picks the same pixels (checked once per frame size on images that encode their
own coordinates); NumPy indexing with that rule otherwise. Frames are loaded when first shown and kept for
the video (upstream loads every frame at each reset).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from .settings import SKY_SIZE


@functools.lru_cache(maxsize=16)
def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` pixels when Pillow 6.2 resizes ``src`` pixels with NEAREST."""
    scale = float(src) / dst
    out = np.empty(dst, dtype=np.intp)
    x = 0.0 + scale * 0.5
    for i in range(dst):
        out[i] = int(x)  # x >= 0: truncation is Pillow's COORD()
        x += scale
    if out[-1] >= src:
        raise AssertionError(f"nearest resize {src} -> {dst} left the source")
    out.setflags(write=False)
    return out


def resize_nearest(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` (uint8 HWC) at ``height`` × ``width`` as Pillow 6.2's ``resize((width, height))`` makes it;
    unchanged when it already has that size (upstream skips the resize then)."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    return image[nearest_indices(h, height)][:, nearest_indices(w, width)]


@functools.lru_cache(maxsize=16)
def pillow_resizes_like_6_2(height: int, width: int, size: int) -> bool:
    """Whether this Pillow's NEAREST resize of an ``height`` × ``width`` RGB image to ``size`` × ``size``
    takes the pixels :func:`nearest_indices` names (probed with images whose pixels encode their
    coordinates)."""
    from PIL import Image

    yy, xx = np.mgrid[0:height, 0:width]
    for coord, table in ((xx, nearest_indices(width, size)), (yy, nearest_indices(height, size))):
        probe = np.stack([coord % 256, coord // 256, np.zeros_like(coord)], -1).astype(np.uint8)
        out = np.asarray(Image.fromarray(probe).resize((size, size), Image.NEAREST)).astype(np.int64)
        got = out[..., 0] + 256 * out[..., 1]
        want = table[None, :] if coord is xx else table[:, None]
        if not np.array_equal(got, np.broadcast_to(want, got.shape)):
            return False
    return True


def read_jpeg(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """A frame as uint8 RGB ``[h, w, 3]`` (Pillow; DAVIS frames are RGB JPEGs), resized to ``size`` ×
    ``size`` as upstream resizes it when ``size`` is given."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode != "RGB":
            im = im.convert("RGB")
        if size is None or im.size == (size, size):
            return np.asarray(im)
        if pillow_resizes_like_6_2(im.height, im.width, size):
            return np.asarray(im.resize((size, size), Image.NEAREST))
        return resize_nearest(np.asarray(im), size, size)


def list_frames(folder: str | os.PathLike) -> list[str]:
    """The frame files of one video folder in upstream's order: ``glob(folder/*.jpg)`` sorted (no hidden
    files, case-sensitive suffix)."""
    folder = Path(folder)
    names = [p.name for p in folder.iterdir() if p.name.endswith(".jpg") and not p.name.startswith(".")]
    return [str(folder / n) for n in sorted(names)]


class Video:
    """One video's frames as flat sky textures (uint8 ``[800·800·3]``), each decoded and resized once."""

    def __init__(self, folder: str | os.PathLike, size: int = SKY_SIZE):
        self.folder = str(folder)
        self.name = Path(folder).name
        self.files = list_frames(folder)
        if not self.files:
            raise FileNotFoundError(f"no frames (*.jpg) in the DAVIS video folder {folder}")
        self.size = size
        self._frames: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.files)

    def texture(self, index: int) -> np.ndarray:
        tex = self._frames.get(index)
        if tex is None:
            img = read_jpeg(self.files[index], self.size)
            tex = np.ascontiguousarray(img).reshape(-1)  # upstream: image.flatten(order='K')
            tex.setflags(write=False)
            self._frames[index] = tex
        return tex


@functools.lru_cache(maxsize=2)  # a DAVIS video is 50-100 frames of 1.9 MB once all are shown
def _cached_video(folder: str, mtime_ns: int) -> Video:
    return Video(folder)


def load_video(folder: str | os.PathLike) -> Video:
    """The frames of a video folder, shared by the envs of this process (the two most recent videos)."""
    p = Path(folder)
    return _cached_video(str(p), p.stat().st_mtime_ns)


class Backdrop:
    """Which frame of which video the sky shows (see the module doc); the video list is the intensity's."""

    def __init__(self, folders: list[str]):
        self.folders = list(folders)
        self.video: Video | None = None
        self.index = 0
        self.direction = 1

    def reset(self, rng: np.random.RandomState) -> Video:
        self.video = load_video(self.folders[rng.choice(len(self.folders))])
        self.index = int(rng.choice(len(self.video)))
        self.direction = int(rng.choice([-1, 1]))
        return self.video

    def advance(self) -> None:
        """One update (every second control step)."""
        self.index += self.direction
        if self.index <= 0:
            self.index, self.direction = 0, abs(self.direction)
        if self.index >= len(self.video):
            self.index, self.direction = len(self.video) - 1, -abs(self.direction)

    def texture(self) -> np.ndarray:
        return self.video.texture(self.index)
