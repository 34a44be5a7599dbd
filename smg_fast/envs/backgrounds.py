"""Backgrounds for the video modes (greenscreen).

Video modes (DMC-GB, ``src/env/wrappers.py`` VideoWrapper):

* videos are taken **in sequence**: a counter starts at 0 and advances by one at every reset *before* the
  video is picked, so the first episode shows video 1, then 2, ...; the counter wraps around;
* the background frame advances by one per agent step, 0 at reset, wrapping around the video's length;
* each frame is resized to the observation size as upstream does: float/255, ``F.interpolate(bilinear,
  align_corners=False)`` (no antialiasing), ×255, truncated to uint8 (``.byte()``).

Here each video is decoded once (PyAV), resized once and cached as a uint8 array ``[T, 3, H, W]``: in
memory (LRU) and on disk as ``.npy`` (see :func:`resized_cache_dir`), so a video costs its decoding
(0.5-2 s for a 500-frame DMC-GB video) once per machine, not once per episode as upstream.

Sources (``background_source`` of :func:`smg_fast.envs.make`):

* ``None`` / ``"dmcgb"``: DMC-GB's ``video_easy`` (10) / ``video_hard`` (100) files from the data directory.
  Missing files are skipped: the sequence runs over the files present, in upstream order, and a warning
  names the missing ones and the download command (with all files present this is exactly upstream's
  sequence). No file at all is an error.
* ``"procedural"``: videos generated from the seed (moving colour waves, drifting stripes and value
  noise): deterministic, offline, for smoke tests and augmentation when no data is present.
* ``"folder:PATH"``: the video files in PATH (natural sort order), same sequence rule.

The natural images of the agents' overlay augmentations are :mod:`smg_fast.agent.images`.
"""
from __future__ import annotations

import functools
import hashlib
import math
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from smg_fast.data import (VIDEO_COUNTS, MissingDataError, default_data_dir, missing_message, resolve_data_dir,
                           warn_missing_videos)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
CACHE_ENV_VAR = "SMG_FAST_CACHE"
_CACHE_VERSION = 1


# ----------------------------------------------------------------------------------------------------
# Greenscreen: the fused op (smg_fast.ops.greenscreen; tested against its reference in tests/).

def greenscreen(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """DMC-GB's keying: pixels of ``frame`` in the green HSV range take ``background``'s (uint8 [..,3,H,W])."""
    from smg_fast.ops import greenscreen as op  # the compiled extension: loaded on the first video frame

    # Cached backgrounds are read-only and torch refuses to wrap those without a warning: copy (21 kB).
    bg = background if background.flags.writeable else background.copy()
    out = op(torch.from_numpy(np.ascontiguousarray(frame)), torch.from_numpy(np.ascontiguousarray(bg)))
    return out.numpy()


# ----------------------------------------------------------------------------------------------------
# Decoding, resizing and caching videos.

def _video_frames(path: str | os.PathLike):
    """Iterate over a video's frames as uint8 RGB ``[h, w, 3]`` arrays (audio streams are ignored)."""
    import av  # PyAV: FFmpeg bindings, a maintained replacement for upstream's OpenCV capture

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")


def _resize_frame(hwc: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Upstream's background resize of one frame, bit for bit: float/255, bilinear (align_corners=False),
    ×255, truncated by ``.byte()``. Upstream also feeds a channels-last view (``np.moveaxis``)."""
    x = torch.from_numpy(hwc).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return (x * 255.0).byte()[0].numpy()


def decode_video(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video file as uint8 RGB ``[T, 3, h, w]`` (full resolution; for tests and tools)."""
    frames = [np.ascontiguousarray(f.transpose(2, 0, 1)) for f in _video_frames(path)]
    if not frames:
        raise ValueError(f"{path}: no video frames could be decoded")
    return np.stack(frames)


def decode_resized(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """A video decoded and resized frame by frame to uint8 ``[T, 3, H, W]``.

    Frame by frame rather than all at once: a 480² video is ~0.5 GB of full-size RGB, and per-frame
    interpolation is several times faster than batched interpolation of channels-last frames here.
    """
    frames = [_resize_frame(f, size) for f in _video_frames(path)]
    if not frames:
        raise ValueError(f"{path}: no video frames could be decoded")
    return np.stack(frames)


def _disk_cache_path(path: Path, size: tuple[int, int], cache_dir: Path | None) -> Path | None:
    if cache_dir is None:
        return None
    st = path.stat()
    # Keyed by the source's full path and byte size, so that files of the same name in other folders,
    # or a replaced file, are never served from a stale entry.
    where = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return cache_dir / f"{path.stem}-{where}-{st.st_size}-{size[0]}x{size[1]}-v{_CACHE_VERSION}.npy"


@functools.lru_cache(maxsize=8)  # 84×84 videos are 5-11 MB each
def _load_resized(path: str, size: tuple[int, int], mtime_ns: int, cache_dir: str | None) -> np.ndarray:
    p = Path(path)
    npy = _disk_cache_path(p, size, Path(cache_dir) if cache_dir else None)
    if npy is not None and npy.is_file():
        try:
            frames = np.load(npy)
            if frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[1:] == (3, *size):
                frames.setflags(write=False)
                return frames
        except (OSError, ValueError):
            pass  # a torn or foreign file: rebuild it
    frames = decode_resized(p, size)
    if npy is not None:
        try:
            npy.parent.mkdir(parents=True, exist_ok=True)
            tmp = npy.with_name(f"{npy.name}.{os.getpid()}.part")
            with open(tmp, "wb") as f:
                np.save(f, frames)
            os.replace(tmp, npy)  # atomic: concurrent workers never read a half-written cache file
        except OSError:
            pass
    frames.setflags(write=False)
    return frames


def resized_cache_dir() -> Path | None:
    """Where resized videos are kept on disk: ``$SMG_FAST_CACHE/resized``, default
    ``~/.cache/smg-fast/resized``; ``SMG_FAST_CACHE=none`` keeps them in memory only.

    Never inside the data directory: that may be a shared, read-only reference folder (and permission
    bits do not stop root from writing there).
    """
    env = os.environ.get(CACHE_ENV_VAR)
    if env and env.lower() == "none":
        return None
    root = Path(env).expanduser() if env else default_data_dir()
    return root / "resized"


def load_video(path: str | os.PathLike, size: tuple[int, int], cache_dir: Path | None = None) -> np.ndarray:
    """A video resized to ``size`` as read-only uint8 ``[T, 3, H, W]``, decoded once per process."""
    p = Path(path).resolve()
    return _load_resized(str(p), tuple(size), p.stat().st_mtime_ns, str(cache_dir) if cache_dir else None)


# ----------------------------------------------------------------------------------------------------
# Procedural videos.

def _value_noise(rng: np.random.Generator, n: int, cells: int, size: tuple[int, int]) -> torch.Tensor:
    """``n`` smooth random RGB fields in [0, 1]: a coarse grid of random values, bilinearly upsampled."""
    coarse = torch.from_numpy(rng.random((n, 3, cells, cells), dtype=np.float32))
    return F.interpolate(coarse, size=size, mode="bilinear", align_corners=True)


def procedural_video(seed: int, index: int, size: tuple[int, int], n_frames: int = 100) -> np.ndarray:
    """A deterministic moving background, uint8 ``[n_frames, 3, H, W]``, from ``(seed, index)``.

    Colour waves travelling in random directions, drifting stripes and value noise interpolated
    between key frames: textured, in motion and of every hue, so that the greenscreen has something to
    show that is neither constant nor the green key itself.
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index)])
    h, w = size
    yy, xx = np.meshgrid(np.arange(h) / max(h, w), np.arange(w) / max(h, w), indexing="ij")
    t = np.arange(n_frames, dtype=np.float64)[:, None, None]

    img = np.zeros((n_frames, 3, h, w))
    waves = 4
    for _ in range(waves):
        colour = rng.random(3)
        direction = rng.uniform(0, 2 * math.pi)
        freq = rng.uniform(0.5, 3.0) * np.array([math.cos(direction), math.sin(direction)])
        speed = rng.uniform(0.02, 0.15) * rng.choice([-1, 1])
        phase = 2 * np.pi * (freq[0] * xx + freq[1] * yy)[None] + speed * 2 * np.pi * t + rng.uniform(0, 6.3)
        img += colour[None, :, None, None] * (0.5 + 0.5 * np.sin(phase))[:, None] / waves * 1.6

    angle, period = rng.uniform(0, math.pi), rng.uniform(6, 20)
    drift = rng.uniform(0.3, 1.5)
    u = (xx * math.cos(angle) + yy * math.sin(angle)) * max(h, w)
    stripes = (np.sin(2 * np.pi * (u[None] - drift * t) / period) > 0).astype(np.float64)
    img = 0.75 * img + 0.25 * rng.random(3)[None, :, None, None] * stripes[:, None]

    step = 10  # noise key frames every `step` frames, linearly blended in between
    keys = _value_noise(rng, n_frames // step + 2, int(rng.integers(4, 9)), size).numpy().astype(np.float64)
    k, frac = np.divmod(np.arange(n_frames), step)
    frac = (frac / step)[:, None, None, None]
    noise = keys[k] * (1 - frac) + keys[k + 1] * frac
    img = 0.7 * img + 0.3 * noise
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# Video sequences for the video modes.

def _natural_key(path: Path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


class VideoSequence:
    """Background videos taken in sequence across episodes, as DMC-GB's VideoWrapper does.

    ``next()`` returns ``(name, frames)`` of the next episode's video: items ``1, 2, 3, ...`` (wrapping),
    as upstream's counter that advances before it picks; ``at(e)`` returns episode ``e``'s (from 0) without
    a counter, for episodes assigned by the evaluator. With ``offset``/``stride`` it returns items
    ``offset + 1, offset + 1 + stride, ...``: N envs with offsets 0..N-1 and stride N together show
    exactly one upstream env's sequence (see VectorEnv). ``reset(seed)`` restarts the sequence (and
    reseeds generated sources), so a reset with a seed replays what a fresh env with that seed shows.
    """

    def __init__(self, names: list[str], load: Callable[[int, int], np.ndarray], seed: int = 0,
                 offset: int = 0, stride: int = 1):
        if not names:
            raise ValueError("a video sequence needs at least one video")
        self.names = list(names)
        self._load = load
        self._seed = seed
        self.offset, self.stride = int(offset), int(stride)
        self._episodes = 0

    def __len__(self) -> int:
        return len(self.names)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self._seed = seed
        self._episodes = 0

    def next(self) -> tuple[str, np.ndarray]:
        name_frames = self.at(self.offset + self._episodes * self.stride)
        self._episodes += 1
        return name_frames

    def at(self, episode: int) -> tuple[str, np.ndarray]:
        """``(name, frames)`` of the video upstream's counter picks at its ``episode + 1``-th reset (episodes
        counted from 0): item ``(episode + 1) mod len(self)``. Does not move this sequence's own counter."""
        index = (int(episode) + 1) % len(self.names)
        return self.names[index], self._load(index, self._seed)


def dmcgb_videos(mode: str, size: tuple[int, int], data_dir: str | os.PathLike | None = None) -> VideoSequence:
    root = resolve_data_dir(data_dir)
    folder = root / "dmcgb" / mode
    expected = [folder / f"video{i}.mp4" for i in range(VIDEO_COUNTS[mode])]
    present = [p for p in expected if p.is_file()]
    if not present:
        raise MissingDataError(missing_message(f"DMC-GB {mode} videos (dmcgb/{mode}/video*.mp4)", root, "dmcgb"))
    warn_missing_videos(mode, data_dir)
    cache = resized_cache_dir()
    return VideoSequence([str(p) for p in present], lambda i, seed: load_video(present[i], size, cache))


def folder_videos(path: str | os.PathLike, size: tuple[int, int]) -> VideoSequence:
    folder = Path(path).expanduser()
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES), key=_natural_key) \
        if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
    cache = resized_cache_dir()
    return VideoSequence([str(p) for p in files], lambda i, seed: load_video(files[i], size, cache))


def procedural_videos(size: tuple[int, int], seed: int = 0, n_videos: int = 10,
                      n_frames: int = 100) -> VideoSequence:
    @functools.lru_cache(maxsize=2)
    def load(i: int, s: int) -> np.ndarray:
        frames = procedural_video(s, i, size, n_frames)
        frames.setflags(write=False)
        return frames
    return VideoSequence([f"procedural{i}" for i in range(n_videos)], load, seed)


def video_sequence(mode: str, source: str | None, size: tuple[int, int], seed: int = 0,
                   data_dir: str | os.PathLike | None = None, offset: int = 0, stride: int = 1) -> VideoSequence:
    """The background videos of a video mode for ``background_source`` (see the module doc)."""
    if source in (None, "dmcgb"):
        seq = dmcgb_videos(mode, size, data_dir)
    elif source == "procedural":
        seq = procedural_videos(size, seed)
    elif source.startswith("folder:"):
        seq = folder_videos(source[len("folder:"):], size)
    else:
        raise ValueError(f"unknown background_source {source!r}: use None/'dmcgb', 'procedural' or "
                         "'folder:PATH'")
    seq.offset, seq.stride = int(offset), int(stride)
    return seq
