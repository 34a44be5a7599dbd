"""Upstream data files (DMC-GB colours and videos, SMG robot assets, Places365 overlay images): where they
live and how to get them.

The files are never shipped in the package. ``smg-fast data download`` fetches them from their public
repositories at pinned commits, verifies each against its git blob id (see :mod:`smg_fast.data.manifest`)
and stores them in the data directory; ``smg-fast data download places365`` installs Places365 images
verified against the published MD5s (see :mod:`smg_fast.data.places365`). The data directory is resolved
in this order:

1. an explicit ``data_dir`` argument,
2. the ``SMG_FAST_DATA`` environment variable,
3. ``~/.cache/smg-fast``.

Inside it the layout is the manifest's ``local`` names, e.g. ``dmcgb/color_hard.json`` or
``dmcgb/video_hard/video7.mp4`` (the same layout as the project's shared reference folder), and
``places365/places365_standard/train/<class>/*.jpg``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

ENV_VAR = "SMG_FAST_DATA"
DOWNLOAD_COMMAND = "smg-fast data download"
VIDEO_COUNTS = {"video_easy": 10, "video_hard": 100}  # DMC-GB's background videos per video mode

__all__ = ["ENV_VAR", "DOWNLOAD_COMMAND", "download_command", "MissingDataError", "default_data_dir",
           "resolve_data_dir", "require"]


class MissingDataError(FileNotFoundError):
    """A data file is not in the data directory; the message says which command fetches it."""


def download_command() -> str:
    """``smg-fast data download`` as this shell runs smg-fast (:func:`smg_fast.command.program`), for hints."""
    from smg_fast.command import program

    return f"{program()} data download"


def default_data_dir() -> Path:
    return Path(os.path.expanduser("~")) / ".cache" / "smg-fast"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Explicit argument, then ``$SMG_FAST_DATA``, then ``~/.cache/smg-fast`` (not created here)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


def missing_message(what: str, data_dir: Path, group: str) -> str:
    return (f"{what} not found in the data directory {data_dir}. Fetch it with "
            f"`{download_command()} {group}` (add `--dir {data_dir}` if that is not the default), "
            f"or point ${ENV_VAR} / data_dir at a folder that holds it.")


def missing_videos(mode: str, data_dir: str | os.PathLike | None = None) -> tuple[Path, list[str]]:
    """(the folder of DMC-GB's ``mode`` videos, the names of those missing there)."""
    folder = resolve_data_dir(data_dir) / "dmcgb" / mode
    return folder, [n for n in (f"video{i}.mp4" for i in range(VIDEO_COUNTS[mode])) if not (folder / n).is_file()]


_warned_videos: set[Path] = set()


def warn_missing_videos(mode: str, data_dir: str | os.PathLike | None = None) -> None:
    """A :class:`~smg_fast.errors.Notice`, once per process and folder, when some of DMC-GB's ``mode`` videos
    are missing (the mode then runs over those present; with none, its env refuses to start instead)."""
    from smg_fast.errors import Notice

    folder, missing = missing_videos(mode, data_dir)
    total = VIDEO_COUNTS[mode]
    if not missing or len(missing) == total or folder in _warned_videos:
        return
    _warned_videos.add(folder)
    warnings.warn(f"{len(missing)} of {total} DMC-GB {mode} videos are missing in {folder} ({', '.join(missing)}): "
                  f"{mode} shows the other {total - len(missing)} in upstream's order, so its returns are not "
                  f"quite the benchmark's; `{download_command()} dmcgb` fetches the rest", Notice, stacklevel=2)


def require(local: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of the manifest file ``local`` (e.g. ``dmcgb/color_easy.json``); MissingDataError if absent."""
    root = resolve_data_dir(data_dir)
    path = root / local
    if not path.is_file():
        raise MissingDataError(missing_message(local, root, local.split("/", 1)[0]))
    return path
