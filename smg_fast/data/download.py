"""``smg-fast data download [dmcgb|robot|all|places365|davis] [--dir DIR]``: fetch, verify and store data.

Each DMC-GB / robot file comes from ``<base url>/<repo>/<commit>/<path>`` (default base:
raw.githubusercontent.com; override with ``--base-url`` or ``$SMG_FAST_DATA_URL``, e.g. for a mirror or the
tests' local server) and must match its git blob id from the manifest, ``sha1(b"blob %d\\0" % size +
content)``. Each file is downloaded into ``<name>.part`` and replaces the local copy only once verified. A
download that does not verify is refused: it is deleted and reported, the command exits non-zero, and a
verified local copy (``--force``) is kept. Files already present and verified are skipped. Upstream's
legacy torch pickles (``color_*.pt``) are kept next to their JSON conversion (``color_*.json``, the form
the environments read).

Manifest entries whose reference copy is a local stand-in (``robot/texture/concrete.png``) or absent
(DMC-GB ``video_easy/video{3,4,5,7}.mp4``) are fetched from upstream like the others; the downloader
never writes a stand-in.

``places365`` (not part of ``all``: 24 GB) installs the Places365-Standard overlay images; see
:mod:`smg_fast.data.places365`. ``davis`` (not part of ``all``: 833 MB, with terms to accept) installs the
DAVIS-2017 videos of the ``distracting_cs`` mode; see :mod:`smg_fast.data.davis`.

Errors are one line on stderr and an exit status: 2 for a bad argument, 1 for a failure (unreachable
server, refused or missing files, unwritable data directory), 130 when interrupted; ``--debug`` shows the
traceback of an unexpected error.
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

from . import DOWNLOAD_COMMAND, ENV_VAR, download_command, resolve_data_dir
from .colors import convert_color_pickle
from .fetch import (LocalWriteError, RemoteFileError, TransferError, UnreachableError,
                    UsageError, fetch, replace_file, resolve_base_url)
from .manifest import ManifestEntry, entries

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
BASE_URL_ENV_VAR = "SMG_FAST_DATA_URL"
_CHUNK = 1 << 16


def git_blob_id(data: bytes) -> str:
    """Git's object id of a blob: sha1 of ``b"blob <size>\\0"`` followed by the content."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def git_blob_id_of_file(path: str | os.PathLike) -> str:
    path = Path(path)
    h = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class VerificationError(Exception):
    pass


@dataclass
class DownloadReport:
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)   # bad checksum or size: the download was deleted
    kept: list[str] = field(default_factory=list)      # refused, but the verified local copy was kept
    failed: list[str] = field(default_factory=list)    # not retrievable (HTTP / network error)
    error: str | None = None                           # why the run stopped early (unreachable, disk)

    @property
    def ok(self) -> bool:
        return not (self.refused or self.failed or self.error)


def _verify(path: Path, e: ManifestEntry) -> None:
    size = path.stat().st_size
    if e.size is not None and size != e.size:
        raise VerificationError(f"size {size} B, expected {e.size} B")
    got = git_blob_id_of_file(path)
    if got != e.git_blob:
        raise VerificationError(f"git blob id {got}, expected {e.git_blob}")


def _verified(path: Path, e: ManifestEntry) -> bool:
    if not path.is_file():
        return False
    try:
        _verify(path, e)
    except (VerificationError, OSError):
        return False
    return True


def _is_complete(root: Path, e: ManifestEntry) -> bool:
    return _verified(root / e.download_name, e) and (root / e.local).is_file()


def offline_hint(todo: list[ManifestEntry]) -> str:
    """What to do when the server cannot be reached: the network settings, or, offline, an existing copy of the
    files (``$SMG_FAST_DATA``) in the manifest's layout instead of the download."""
    from smg_fast.command import command

    from . import _manifest_table

    example = next((e.local for e in todo if e.local.endswith(".json")), todo[0].local if todo else "")
    return (f"; check the network, --base-url or ${BASE_URL_ENV_VAR}. Offline, skip the download: point ${ENV_VAR} "
            f"at a folder that already holds the files (e.g. export {ENV_VAR}=../shared/data; names and git blob "
            f"ids in the manifest {_manifest_table.__file__}, e.g. {example}), then `{command('doctor')}` shows "
            "which modes it serves")


def download(group: str = "all", data_dir: str | os.PathLike | None = None, *, base_url: str | None = None,
             only: Iterable[str] | None = None, manifest: Iterable[ManifestEntry] | None = None,
             force: bool = False, out: TextIO | None = None, timeout: float = 60.0) -> DownloadReport:
    """Fetch, verify and store the files of ``group``; see the module docstring.

    ``only``: glob patterns on the local names (e.g. ``"dmcgb/video_easy/*"``) to fetch a subset.
    ``manifest``: entries to use instead of the packaged table (tests).
    ``force``: download files already present again; each replaces the local copy only once verified.

    Raises UsageError for a malformed base URL or ``only`` patterns that match nothing. A server that
    cannot be reached or a data directory that cannot be written stops the run after one line on
    ``out`` (``report.error``); a missing or refused file is reported and the others are still fetched.
    """
    out = out or sys.stderr
    root = resolve_data_dir(data_dir)
    base_url = resolve_base_url(base_url, BASE_URL_ENV_VAR, DEFAULT_BASE_URL)
    todo = list(manifest) if manifest is not None else entries(group)
    if only:
        patterns = list(only)
        todo = [e for e in todo if any(fnmatch.fnmatch(e.local, p) for p in patterns)]
        if not todo:
            raise UsageError(f"--only {' '.join(map(repr, patterns))} matches no file of '{group}' (names look like "
                             "'dmcgb/video_easy/video1.mp4' or 'robot/*.xml')")
    report = DownloadReport()
    out.write(f"smg-fast data: {len(todo)} file(s) of '{group}' into {root} (from {base_url})\n")
    for i, e in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {e.local}"
        raw = root / e.download_name
        if not force and _is_complete(root, e):
            report.skipped.append(e.local)
            out.write(f"{label}: present and verified\n")
            continue
        part = raw.with_name(raw.name + ".part")
        try:
            try:
                raw.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise LocalWriteError(f"cannot write to the data directory {root}: {err.strerror or err} "
                                      f"(choose another with --dir or ${ENV_VAR})") from err
            nbytes = fetch(e.url(base_url), part, out=out, label=label, timeout=timeout)
            _verify(part, e)
            # Only a verified download replaces the local copy (a --force against a bad mirror keeps it).
            replace_file(part, raw)
            if e.converted:
                try:
                    convert_color_pickle(raw, root / e.local)
                except OSError as err:
                    raise LocalWriteError(f"cannot write {root / e.local}: {err.strerror or err}") from err
        except VerificationError as err:
            part.unlink(missing_ok=True)
            report.refused.append(e.local)
            if _verified(raw, e):
                report.kept.append(e.local)
                out.write(f"{label}: REFUSED the download ({err}); the verified local copy is kept\n")
            else:
                with contextlib.suppress(OSError):
                    raw.unlink(missing_ok=True)
                out.write(f"{label}: REFUSED and deleted ({err})\n")
            continue
        except (RemoteFileError, TransferError) as err:
            part.unlink(missing_ok=True)
            report.failed.append(e.local)
            note = " (the reference folder holds only a local stand-in for it)" if e.stand_in else ""
            out.write(f"{label}: FAILED: {err}{note}\n")
            continue
        except (UnreachableError, LocalWriteError) as err:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
            report.failed += [x.local for x in todo[i - 1:]]
            report.error = str(err)
            hint = offline_hint(todo) if isinstance(err, UnreachableError) else ""
            out.write(f"{DOWNLOAD_COMMAND}: error: {err}{hint} ({len(todo) - i + 1} file(s) not fetched)\n")
            return report
        report.fetched.append(e.local)
        out.write(f"{label}: {nbytes / 1e6:.2f} MB, verified\n")
    out.write(f"done: {len(report.fetched)} fetched, {len(report.skipped)} already present, "
              f"{len(report.refused)} refused, {len(report.failed)} failed\n")
    if not report.ok:
        out.write(f"some files are missing or were refused; re-run `{download_command()} {group}` to retry\n")
    return report
