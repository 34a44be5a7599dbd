"""Backgrounds for the video modes (greenscreen) and images for random-overlay augmentation.

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

:class:`OverlayImages` supplies images for DMC-GB's random overlay (``places365``: the Places365-Standard
images installed by ``smg-fast data download places365``, as upstream uses them; ``folder:PATH`` of images;
or ``procedural``), with upstream's RandomResizedCrop + horizontal flip pipeline.
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

from smg_fast.data import (VIDEO_COUNTS, download_command, MissingDataError, default_data_dir, missing_message,
                           resolve_data_dir, warn_missing_videos)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
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


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Upstream's resize applied to each frame of ``[T, 3, h, w]`` uint8."""
    return np.stack([_resize_frame(f.transpose(1, 2, 0), size) for f in frames])


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
# Procedural videos and images.

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


def procedural_images(rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
    """``n`` random textured images uint8 ``[n, 3, H, W]`` (value noise at random scales plus stripes)."""
    out = np.empty((n, 3, *size), dtype=np.uint8)
    for i in range(n):
        out[i] = procedural_video(int(rng.integers(2**31)), 0, size, n_frames=1)[0]
    return out


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


# ----------------------------------------------------------------------------------------------------
# Random overlay images (DMC-GB / SMG's Places loader, without torchvision).

def random_resized_crop_box(rng: np.random.Generator, width: int, height: int,
                            scale: tuple[float, float] = (0.08, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """A crop ``(left, top, w, h)`` drawn as torchvision's RandomResizedCrop draws it.

    Up to ten tries of a random area fraction in ``scale`` and a log-uniform aspect ratio in ``ratio``;
    failing that, the largest central crop whose aspect ratio lies in ``ratio``.
    """
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def _overlay_folder(source: str) -> Path:
    """The folder of a ``folder:PATH`` source: ``PATH/places365_standard/train`` if present (as upstream)."""
    root = Path(source[len("folder:"):]).expanduser()
    places = root / "places365_standard" / "train"
    return places if places.is_dir() else root


def _unknown_overlay_source(source) -> ValueError:
    return ValueError(f"unknown overlay source {source!r}: use 'places365', 'folder:PATH' or 'procedural'")


def check_overlay_source(source: str, data_dir: str | os.PathLike | None = None) -> None:
    """Raise what ``OverlayImages(source)`` would (ValueError, FileNotFoundError / MissingDataError naming
    the download command), without listing the images: a cheap check of a command-line value before any
    work starts."""
    if source == "procedural":
        return
    if source == "places365":
        from smg_fast.data import places365

        train = places365.train_dir(data_dir)
        if not any(train.iterdir()):
            raise FileNotFoundError(f"{train} is empty; run `{download_command()} places365 --force` to "
                                    "reinstall the images")
        return
    if isinstance(source, str) and source.startswith("folder:"):
        root = _overlay_folder(source)
        if not root.is_dir():
            raise FileNotFoundError(f"overlay folder {root} does not exist")
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.rglob("*")):
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
        return
    raise _unknown_overlay_source(source)


class OverlayImages:
    """Batches of overlay images, uint8 ``[batch_size, 3, S, S]``, for random-overlay augmentation.

    ``source``:

    * ``"places365"``: ``<data dir>/places365/places365_standard/train`` (the data directory of
      :func:`smg_fast.data.resolve_data_dir`, or ``data_dir``), installed by ``smg-fast data download
      places365``: the folder upstream's ImageFolder reads. Absent, a MissingDataError names the command.
    * ``"folder:PATH"``: images under PATH, searched recursively; a Places365 layout
      ``PATH/places365_standard/train`` is used when present, as upstream does; an empty folder is an
      error, not upstream's silent fallback.
    * ``"procedural"``: generated textures (offline; not the paper's overlay distribution).

    Images go through upstream's pipeline: RandomResizedCrop(S, scale 0.08-1, ratio 3/4-4/3, bilinear),
    RandomHorizontalFlip(0.5). They are drawn without replacement in a seeded shuffled order, reshuffled
    when exhausted (upstream restarts its DataLoader iterator the same way). Convert with
    ``torch.from_numpy(x).float() / 255`` for upstream's ToTensor scale.
    """

    def __init__(self, source: str, batch_size: int, image_size: int = 84, seed: int = 0,
                 data_dir: str | os.PathLike | None = None):
        self.batch_size, self.image_size = int(batch_size), int(image_size)
        self.source = source
        self._rng = np.random.default_rng(seed)
        self._root: Path | None = None
        if source == "procedural":
            self._files = None
        elif source == "places365":
            from smg_fast.data import places365

            # Relative paths as one bytes array: 1.8 M of them as Path objects would take ~0.5 GB.
            self._root, self._files = places365.image_index(data_dir)
        elif isinstance(source, str) and source.startswith("folder:"):
            root = _overlay_folder(source)
            self._files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._files:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
        else:
            raise _unknown_overlay_source(source)
        self._order = np.empty(0, dtype=np.int64)
        self._left = 0
        self._order_rng_state = None  # the generator's state when the current order was drawn

    def __len__(self) -> int:
        return len(self._files) if self._files is not None else 0

    def _next_file(self) -> Path:
        if not self._left:
            self._order_rng_state = self._rng.bit_generator.state
            self._order = self._rng.permutation(len(self._files))
            self._left = len(self._order)
        self._left -= 1  # taken from the end, as list.pop() did
        f = self._files[int(self._order[self._left])]
        return self._root / f.decode() if self._root is not None else f

    def _transform(self, path: Path) -> np.ndarray:
        from PIL import Image

        with Image.open(path) as im:
            im = im.convert("RGB")
            left, top, w, h = random_resized_crop_box(self._rng, im.width, im.height)
            s = self.image_size
            im = im.resize((s, s), Image.BILINEAR, box=(left, top, left + w, top + h))
            if self._rng.random() < 0.5:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)

    def sample(self, n: int | None = None) -> np.ndarray:
        """The next ``n`` images (default ``batch_size``)."""
        n = self.batch_size if n is None else int(n)
        s = (self.image_size, self.image_size)
        if self._files is None:
            return procedural_images(self._rng, n, s)
        return np.stack([self._transform(self._next_file()) for _ in range(n)])

    def state_dict(self) -> dict:
        """Where the stream is: its generator, and the current shuffled order as the generator state it was
        drawn from (a few hundred bytes instead of the 1.8 M indices of Places365) and how much of it is left."""
        return {"rng": self._rng.bit_generator.state, "order_rng": self._order_rng_state, "left": self._left}

    def load_state_dict(self, state: dict) -> None:
        self._rng.bit_generator.state = state["rng"]
        self._order_rng_state, self._left = state["order_rng"], int(state["left"])
        self._order = np.empty(0, dtype=np.int64)
        if self._order_rng_state is not None and self._files is not None:
            rng = np.random.default_rng()
            rng.bit_generator.state = self._order_rng_state
            self._order = rng.permutation(len(self._files))
