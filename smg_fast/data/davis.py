"""DAVIS-2017 videos for ``distracting_cs``: the archive DMC-GB's README names, downloaded, verified and
extracted into ``<data dir>/davis``, where the environments find ``DAVIS/JPEGImages/480p/<video>/*.jpg``
(the layout upstream's ``setup/config.cfg`` ``datasets`` entry points at).

``smg-fast data download davis`` fetches ``DAVIS-2017-trainval-480p.zip`` (832,766,765 bytes) from
``https://data.vision.ee.ethz.ch/csergi/share/davis`` (``--base-url`` or ``$SMG_FAST_DAVIS_URL`` for a
mirror), after showing the dataset's terms (``--accept-licence`` accepts them without a prompt). The
publishers give no checksum; the pinned size and SHA-256 are the ones TensorFlow Datasets records for this
URL (``tensorflow_datasets/video/davis/checksums.tsv``), which independent download scripts agree with. The
download resumes (HTTP Range) from ``davis/downloads/<archive>.part``; an archive of another size or
SHA-256 is deleted and nothing is installed. Extraction goes into a staging folder (every member's CRC-32
checked by ``zipfile``) that replaces ``davis/DAVIS`` only when complete; ``davis/MANIFEST.tsv`` then lists
every extracted file with its size and CRC-32, and ``davis/davis.json`` records the archive. The archive is
deleted afterwards unless ``--keep-archive`` is given.

An existing copy works offline: point ``$SMG_FAST_DATA`` (or ``--dir`` / ``data_dir``) at a folder whose
``davis/DAVIS/JPEGImages/480p`` holds the videos (a symlink to an extracted archive will do).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, TextIO

from . import ENV_VAR, MissingDataError, download_command, missing_message, resolve_data_dir
from .fetch import (DownloadError, LocalWriteError, TransferError, UsageError, ensure_free_space, fetch,
                    replace_file, resolve_base_url)

GROUP = "davis"
DEFAULT_BASE_URL = "https://data.vision.ee.ethz.ch/csergi/share/davis"
BASE_URL_ENV_VAR = "SMG_FAST_DAVIS_URL"
DATASET_DIR = "davis"
TOP = "DAVIS"                          # the archive's one top-level folder
FRAMES = "DAVIS/JPEGImages/480p"       # inside the dataset dir: one folder of JPEG frames per video
MARKER = "davis.json"
MANIFEST = "MANIFEST.tsv"


@dataclass(frozen=True)
class Archive:
    name: str
    size: int       # bytes
    sha256: str


ARCHIVE = Archive("DAVIS-2017-trainval-480p.zip", 832_766_765,
                  "e3d0b5b77c3d031b000a19e0e25e3e2cac65d183755601bc2cf066df1a2aa492")

TERMS = """\
DAVIS 2017 (Densely Annotated VIdeo Segmentation), TrainVal 480p: terms of use
  DMC-GB's README, which names this archive for its distracting_cs backgrounds, asks you to familiarise
  yourself with the dataset's terms before downloading: https://davischallenge.org/davis2017/code.html
  - The DAVIS toolkit states "DAVIS is released under the BSD License"
    (https://github.com/davisvideochallenge/davis-2017); the challenge's annotations (not used here) carry
    their own terms (Creative Commons Attribution 4.0, per the 2017 challenge).
  - The videos belong to their owners and are provided for research. The authors ask that you cite:
    J. Pont-Tuset, F. Perazzi, S. Caelles, P. Arbelaez, A. Sorkine-Hornung, L. Van Gool, "The 2017 DAVIS
    Challenge on Video Object Segmentation", arXiv:1704.00675, 2017; and F. Perazzi, J. Pont-Tuset,
    B. McWilliams, L. Van Gool, M. Gross, A. Sorkine-Hornung, "A Benchmark Dataset and Evaluation
    Methodology for Video Object Segmentation", CVPR 2016.
  smg-fast downloads the archive for you from the publishers' server and does not redistribute it; check
  the page above for the current terms.
"""


class ChecksumError(DownloadError):
    """The downloaded archive's size or SHA-256 is not the pinned one; the download was deleted."""


@dataclass
class InstallReport:
    path: Path                                       # <data dir>/davis
    files: int = 0
    videos: int = 0
    skipped: bool = False                            # already installed: nothing was done
    fetched: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------
# Where things are.

def dataset_dir(data_dir: str | os.PathLike | None = None) -> Path:
    return resolve_data_dir(data_dir) / DATASET_DIR


def frames_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data dir>/davis/DAVIS/JPEGImages/480p`` (not checked)."""
    return dataset_dir(data_dir) / FRAMES


def _has_frames(folder: Path) -> bool:
    return folder.is_dir() and any(p.name.endswith(".jpg") for p in folder.iterdir())


def video_folders(names, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The frame folders of the DAVIS videos ``names``; MissingDataError naming the absent ones and the
    download command when any has no frames."""
    root = resolve_data_dir(data_dir)
    base = frames_dir(data_dir)
    folders = [base / n for n in names]
    missing = [f.name for f, ok in zip(folders, map(_has_frames, folders)) if not ok]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise MissingDataError(missing_message(f"DAVIS-2017 frames of {shown} ({DATASET_DIR}/{FRAMES}/<video>/*.jpg)",
                                               root, f"{GROUP} --accept-licence"))
    return [str(f) for f in folders]


def installed(data_dir: str | os.PathLike | None = None) -> dict | None:
    """The record of an installation by :func:`install` (``davis/davis.json``), None if there is none."""
    try:
        return json.loads((dataset_dir(data_dir) / MARKER).read_text())
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------------
# Download and install.

def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _obtain(archive: Archive, downloads: Path, base_url: str, *, force: bool, out: TextIO, timeout: float,
            report: InstallReport) -> Path:
    """The verified archive in ``downloads``: a kept copy, or downloaded (resuming a ``.part``)."""
    dest = downloads / archive.name
    part = downloads / (archive.name + ".part")
    if dest.is_file() and not force:
        out.write(f"  {archive.name}: verifying the kept archive\n")
        if dest.stat().st_size == archive.size and _sha256_of(dest) == archive.sha256:
            return dest
        out.write(f"  {archive.name}: the kept archive is not the pinned one; downloading it again\n")
        dest.unlink()
    if force:
        part.unlink(missing_ok=True)  # --force: nothing of an earlier attempt is trusted
    url = f"{base_url.rstrip('/')}/{archive.name}"
    resumed = part.is_file() and part.stat().st_size > 0
    out.write(f"  {archive.name} ({archive.size / 1e6:.0f} MB): {'resuming' if resumed else 'downloading'} {url}\n")
    h = hashlib.sha256()
    try:
        size = fetch(url, part, out=out, label=archive.name, timeout=timeout, resume=True, hasher=h,
                     check_space=True)
    except TransferError as err:
        raise TransferError(f"{err}; {part.name} keeps what arrived: run the same command again to resume") \
            from err
    got = h.hexdigest()
    if size != archive.size or got != archive.sha256:
        part.unlink(missing_ok=True)
        what = (f"{size} bytes, not the pinned {archive.size}" if size != archive.size
                else f"SHA-256 {got}, not the pinned {archive.sha256}")
        raise ChecksumError(f"{archive.name} from {base_url} has {what}; the download was deleted and nothing "
                            "was installed or changed (run again to download it afresh, or try another --base-url)")
    replace_file(part, dest)
    report.fetched.append(archive.name)
    out.write(f"  {archive.name}: {size / 1e6:.1f} MB, size and SHA-256 verified\n")
    return dest


def _member_path(name: str) -> PurePosixPath | None:
    """A zip member's path if it is a file inside the archive's top folder and cannot escape it."""
    if name.startswith("/") or "\\" in name or name.endswith("/"):
        return None
    parts = PurePosixPath(name).parts
    if len(parts) < 2 or parts[0] != TOP or any(p in ("..", ".", "") for p in parts):
        return None
    return PurePosixPath(*parts)


def _extract(archive: Path, staging: Path, out: TextIO) -> list[tuple[str, int, int]]:
    """Every file of the archive's top folder into ``staging``; ``[(relative path, size, CRC-32)]``."""
    from tqdm.auto import tqdm

    written = []
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(m, p) for m in zf.infolist() if (p := _member_path(m.filename)) is not None]
            ensure_free_space(staging.parent, sum(m.file_size for m, _ in members) + (64 << 20),
                              f"extracting {len(members)} files")
            for m, rel in tqdm(members, unit="file", desc="extracting", file=out, disable=None, leave=False):
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, open(dest, "wb") as f:  # zipfile checks each member's CRC-32
                    shutil.copyfileobj(src, f, 1 << 20)
                written.append((rel.as_posix(), m.file_size, m.CRC))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as err:
        raise DownloadError(f"cannot extract {archive.name}: {err}") from err
    except OSError as err:
        raise LocalWriteError(f"cannot write the DAVIS files into {staging}: {err.strerror or err}") from err
    return sorted(written)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _swap_in(staging: Path, root: Path, written: list, record: dict) -> None:
    """``staging`` becomes ``root/DAVIS``; the manifest and the record are written last."""
    target, old = root / TOP, root / f".{TOP}.old"
    try:
        shutil.rmtree(old, ignore_errors=True)
        (root / MARKER).unlink(missing_ok=True)
        if target.exists() or target.is_symlink():
            os.replace(target, old)
        os.replace(staging / TOP, target)
        lines = "".join(f"{path}\t{size}\t{crc:08x}\n" for path, size, crc in written)
        _write_atomic(root / MANIFEST, ("path\tsize\tcrc32\n" + lines).encode())
        _write_atomic(root / MARKER, json.dumps(record, indent=1).encode())
    except OSError as err:
        raise LocalWriteError(f"cannot install the DAVIS files into {root}: {err.strerror or err}") from err
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def install(data_dir: str | os.PathLike | None = None, *, base_url: str | None = None, force: bool = False,
            keep_archive: bool = False, accept_licence: bool = False,
            ask: Callable[[str], bool] | None = None, archive: Archive | None = None, out: TextIO | None = None,
            timeout: float = 60.0) -> InstallReport:
    """Download, verify and install the DAVIS-2017 TrainVal 480p frames (see the module docstring).

    The dataset's terms (:data:`TERMS`) are written to ``out`` before anything is downloaded; they must be
    accepted: ``accept_licence=True``, or ``ask(terms)`` returning True (the command line's prompt). Raises
    UsageError (not accepted, bad arguments) and DownloadError (one-line messages); a failure leaves an
    earlier installation as it was. ``archive``: the pinned archive's replacement (tests).
    """
    out = out or sys.stderr
    archive = archive or ARCHIVE
    base_url = resolve_base_url(base_url, BASE_URL_ENV_VAR, DEFAULT_BASE_URL)
    root = dataset_dir(data_dir)
    report = InstallReport(root)
    record = installed(data_dir)
    if (not force and record is not None and record.get("sha256") == archive.sha256
            and (root / FRAMES).is_dir()):
        report.files, report.videos, report.skipped = record.get("files", 0), record.get("videos", 0), True
        out.write(f"smg-fast data: DAVIS-2017 already installed in {root}: {report.videos} videos\n")
        return report

    out.write(TERMS)
    if not accept_licence and not (ask is not None and ask(TERMS)):
        raise UsageError(f"the DAVIS terms above were not accepted; nothing was downloaded (run "
                         f"`{download_command()} {GROUP} --accept-licence` to accept them)")
    out.write(f"smg-fast data: DAVIS-2017 TrainVal 480p into {root} (from {base_url})\n")
    downloads = root / "downloads"
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LocalWriteError(f"cannot write to the data directory {root}: {err.strerror or err} (choose "
                              f"another with --dir or ${ENV_VAR})") from err
    path = _obtain(archive, downloads, base_url, force=force, out=out, timeout=timeout, report=report)

    staging = root / f".{TOP}.staging"
    shutil.rmtree(staging, ignore_errors=True)  # what an interrupted run left
    out.write(f"  extracting {archive.name} into {root}/\n")
    try:
        written = _extract(path, staging, out)
        frames = [w for w in written if w[0].startswith(FRAMES + "/") and w[0].endswith(".jpg")]
        videos = sorted({w[0].split("/")[3] for w in frames})
        if not frames:
            raise DownloadError(f"{archive.name} holds no frames under {FRAMES}/; nothing was installed or changed")
        _swap_in(staging, root, written, {
            "archive": archive.name, "size": archive.size, "sha256": archive.sha256, "files": len(written),
            "frames": len(frames), "videos": len(videos), "source": f"{base_url.rstrip('/')}/{archive.name}"})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.files, report.videos = len(written), len(videos)
    if not keep_archive:
        path.unlink(missing_ok=True)
        try:
            downloads.rmdir()
        except OSError:
            pass
    out.write(f"done: {len(frames)} frames of {len(videos)} videos ({len(written)} files, listed in "
              f"{root / MANIFEST}){'' if keep_archive else '; archive deleted (--keep-archive keeps it)'}\n")
    return report


__all__ = ["ARCHIVE", "Archive", "BASE_URL_ENV_VAR", "ChecksumError", "DEFAULT_BASE_URL", "GROUP", "InstallReport",
           "TERMS", "dataset_dir", "frames_dir", "install", "installed", "video_folders"]
