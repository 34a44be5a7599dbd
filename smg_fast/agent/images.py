"""Natural images for the agents' overlay-type augmentations (DMC-GB's random overlay, SMG's attribution
background): ``places365`` (the Places365-Standard images installed by ``smg-fast data download places365``, as
upstream uses them), ``folder:PATH`` of images, or ``procedural`` textures, through upstream's RandomResizedCrop
+ horizontal flip pipeline (without torchvision). The agent draws them through
:class:`smg_fast.agent.draws.ImageStream`; :func:`check_overlay_source` is the command line's cheap check.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from smg_fast.data import download_command

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def procedural_images(rng: np.random.Generator, n: int, size: tuple[int, int]) -> np.ndarray:
    """``n`` random textured images uint8 ``[n, 3, H, W]`` (value noise at random scales plus stripes): one
    frame of the video modes' procedural backgrounds each."""
    from smg_fast.envs.backgrounds import procedural_video

    out = np.empty((n, 3, *size), dtype=np.uint8)
    for i in range(n):
        out[i] = procedural_video(int(rng.integers(2**31)), 0, size, n_frames=1)[0]
    return out



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
