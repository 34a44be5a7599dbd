"""``smg-fast data download [dmcgb|robot|all] [--dir DIR]``: fetch, verify and store the upstream data.

Each file comes from ``<base url>/<repo>/<commit>/<path>`` (default base: raw.githubusercontent.com;
override with ``--base-url`` or ``$SMG_FAST_DATA_URL``, e.g. for a mirror or the tests' local server) and
must match its git blob id from the manifest, ``sha1(b"blob %d\\0" % size + content)``. A file that does not
is refused: it is deleted and reported, and the command exits non-zero. Files already present and
verified are skipped. Upstream's legacy torch pickles (``color_*.pt``) are kept next to their JSON
conversion (``color_*.json``, the form the environments read).

Manifest entries whose reference copy is a local stand-in (``robot/texture/concrete.png``) or absent
(DMC-GB ``video_easy/video{3,4,5,7}.mp4``) are fetched from upstream like the others; the downloader
never writes a stand-in.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

from . import DOWNLOAD_COMMAND, resolve_data_dir
from .colors import convert_color_pickle
from .manifest import GROUPS, ManifestEntry, entries

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
    refused: list[str] = field(default_factory=list)   # bad checksum or size: deleted
    failed: list[str] = field(default_factory=list)    # not retrievable (HTTP / network error)

    @property
    def ok(self) -> bool:
        return not (self.refused or self.failed)


def _verify(path: Path, e: ManifestEntry) -> None:
    size = path.stat().st_size
    if e.size is not None and size != e.size:
        raise VerificationError(f"size {size} B, expected {e.size} B")
    got = git_blob_id_of_file(path)
    if got != e.git_blob:
        raise VerificationError(f"git blob id {got}, expected {e.git_blob}")


def _is_complete(root: Path, e: ManifestEntry) -> bool:
    raw = root / e.download_name
    if not raw.is_file():
        return False
    try:
        _verify(raw, e)
    except VerificationError:
        return False
    return (root / e.local).is_file()


def _fetch(url: str, dest: Path, out: TextIO, label: str, timeout: float) -> int:
    """Stream ``url`` into ``dest``; progress on ``out``. Returns the byte count."""
    with urllib.request.urlopen(url, timeout=timeout) as resp, open(dest, "wb") as f:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        done, last = 0, 0.0
        for chunk in iter(lambda: resp.read(_CHUNK), b""):
            f.write(chunk)
            done += len(chunk)
            now = time.monotonic()
            if total and out.isatty() and now - last > 0.2:
                out.write(f"\r  {label}: {done / 1e6:.1f}/{total / 1e6:.1f} MB")
                out.flush()
                last = now
        if total and out.isatty():
            out.write("\r")
    return done


def download(group: str = "all", data_dir: str | os.PathLike | None = None, *, base_url: str | None = None,
             only: Iterable[str] | None = None, manifest: Iterable[ManifestEntry] | None = None,
             force: bool = False, out: TextIO | None = None, timeout: float = 60.0) -> DownloadReport:
    """Fetch, verify and store the files of ``group``; see the module docstring.

    ``only``: glob patterns on the local names (e.g. ``"dmcgb/video_easy/*"``) to fetch a subset.
    ``manifest``: entries to use instead of the packaged table (tests).
    """
    out = out or sys.stderr
    root = resolve_data_dir(data_dir)
    base_url = base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
    todo = list(manifest) if manifest is not None else entries(group)
    if only:
        patterns = list(only)
        todo = [e for e in todo if any(fnmatch.fnmatch(e.local, p) for p in patterns)]
    report = DownloadReport()
    out.write(f"smg-fast data: {len(todo)} file(s) of '{group}' into {root} (from {base_url})\n")
    for i, e in enumerate(todo, 1):
        label = f"[{i}/{len(todo)}] {e.local}"
        raw = root / e.download_name
        if not force and _is_complete(root, e):
            report.skipped.append(e.local)
            out.write(f"{label}: present and verified\n")
            continue
        raw.parent.mkdir(parents=True, exist_ok=True)
        part = raw.with_name(raw.name + ".part")
        try:
            nbytes = _fetch(e.url(base_url), part, out, label, timeout)
            _verify(part, e)
        except VerificationError as err:
            part.unlink(missing_ok=True)
            raw.unlink(missing_ok=True)
            report.refused.append(e.local)
            out.write(f"{label}: REFUSED and deleted ({err})\n")
            continue
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            part.unlink(missing_ok=True)
            report.failed.append(e.local)
            note = " (the reference folder holds only a local stand-in for it)" if e.stand_in else ""
            out.write(f"{label}: FAILED to fetch {e.url(base_url)}: {err}{note}\n")
            continue
        os.replace(part, raw)
        if e.converted:
            convert_color_pickle(raw, root / e.local)
        report.fetched.append(e.local)
        out.write(f"{label}: {nbytes / 1e6:.2f} MB, verified\n")
    out.write(f"done: {len(report.fetched)} fetched, {len(report.skipped)} already present, "
              f"{len(report.refused)} refused, {len(report.failed)} failed\n")
    if not report.ok:
        out.write(f"some files are missing; re-run `{DOWNLOAD_COMMAND} {group}` to retry\n")
    return report


def build_parser(prog: str = f"{DOWNLOAD_COMMAND}") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Fetch the upstream data files (DMC-GB colours and "
                                "videos, SMG robot assets), verify their git blob ids and store them.")
    p.add_argument("group", nargs="?", default="all", choices=GROUPS + ("all",),
                   help="which files (default: all)")
    p.add_argument("--dir", dest="data_dir", default=None,
                   help="data directory (default: $SMG_FAST_DATA or ~/.cache/smg-fast)")
    p.add_argument("--base-url", default=None,
                   help=f"where <repo>/<commit>/<path> is served (default: ${BASE_URL_ENV_VAR} or "
                        f"{DEFAULT_BASE_URL})")
    p.add_argument("--only", action="append", metavar="GLOB",
                   help="fetch only local names matching GLOB (repeatable), e.g. 'dmcgb/color_*'")
    p.add_argument("--force", action="store_true", help="re-download files already present")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``smg-fast data download``; ``argv`` holds the arguments after ``download``."""
    args = build_parser().parse_args(argv)
    report = download(args.group, args.data_dir, base_url=args.base_url, only=args.only, force=args.force)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
