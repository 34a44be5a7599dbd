"""HTTP transfers for the data downloaders: streaming into a ``.part`` file, resume by HTTP Range, and
errors a user can act on (one line each, no traceback).

Two kinds of failure are told apart, because they call for different reactions:

* :class:`UnreachableError`: the request never got an HTTP answer (bad host, refused connection, DNS
  failure, time-out before the status line). Every further file from the same base URL would fail the
  same way, so the downloaders stop at the first one instead of printing one failure per file.
* :class:`RemoteFileError` (HTTP 404, 500, ...; a ``file:`` URL naming no file) and :class:`TransferError`
  (the connection dropped part-way): that one file failed; the others may still come.

:class:`LocalWriteError` is a problem on this machine (unwritable data directory, disk full), also fatal
for the whole run.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TextIO

CHUNK = 1 << 20
URL_SCHEMES = ("http", "https", "file")


class UsageError(ValueError):
    """A bad argument: the CLI prints it on one line and exits with status 2."""


class DownloadError(Exception):
    """A runtime failure the CLI reports on one or two lines, exit status 1."""


class UnreachableError(DownloadError):
    """No HTTP answer from the server at all: further requests to it are pointless."""


class RemoteFileError(DownloadError):
    """The server answered with an error status for this file (or a ``file:`` URL names no file)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class TransferError(DownloadError):
    """The server answered but the transfer did not complete (connection lost, short body)."""


class LocalWriteError(DownloadError):
    """Writing on this machine failed (permissions, disk full)."""


def check_base_url(url: str, flag: str = "--base-url") -> str:
    """``url`` unchanged if it is an http(s) URL with a host or a ``file:`` URL; UsageError otherwise."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES or (scheme != "file" and not parts.hostname):
        raise UsageError(f"{flag} {url!r} is not a URL; expected http://HOST[:PORT][/PATH], https://... "
                         "or file:///PATH")
    if scheme != "file":
        try:
            parts.port  # noqa: B018 -- raises ValueError for a malformed port
        except ValueError:
            raise UsageError(f"{flag} {url!r} has an invalid port") from None
    return url


def resolve_base_url(url: str | None, env_var: str, default: str) -> str:
    """The server to download from: ``--base-url`` when given, else ``$env_var``, else ``default``; a given
    one is checked (UsageError naming where it came from)."""
    if url:
        return check_base_url(url)
    if os.environ.get(env_var):
        return check_base_url(os.environ[env_var], f"${env_var}")
    return default


def host_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc or url


def _reason(err: BaseException) -> str:
    """The short cause of a network error ("Connection refused", "timed out", ...)."""
    if isinstance(err, urllib.error.URLError) and not isinstance(err, urllib.error.HTTPError):
        if not isinstance(err.reason, BaseException):
            return str(err.reason)
        err = err.reason
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__


def _open(request: urllib.request.Request, timeout: float):
    """``urlopen``; connection-level failures become :class:`UnreachableError`, HTTP errors pass."""
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError as err:
        if isinstance(err.reason, FileNotFoundError):  # file: URL, the mirror lacks this file
            raise RemoteFileError(f"{request.full_url}: no such file", 404) from err
        raise UnreachableError(f"cannot reach {host_of(request.full_url)}: {_reason(err)}") from err
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise UnreachableError(f"cannot reach {host_of(request.full_url)}: {_reason(err)}") from err


def human_size(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def ensure_free_space(path: Path, needed: int, what: str) -> None:
    """LocalWriteError if the file system holding ``path`` has fewer than ``needed`` bytes free."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell: let the writes themselves fail with a clear error
    if free < needed:
        raise LocalWriteError(f"{what} needs {human_size(needed)} free in {probe}, only {human_size(free)} "
                              "available")


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """(first byte, total size or None) of a ``Content-Range: bytes a-b/n`` header."""
    m = _CONTENT_RANGE.fullmatch((value or "").strip())
    if not m:
        return None
    return int(m.group(1)), (None if m.group(3) == "*" else int(m.group(3)))


def _unsatisfied_total(value: str | None) -> int | None:
    """Total size of a 416 answer's ``Content-Range: bytes */n``."""
    m = re.fullmatch(r"bytes\s+\*/(\d+)", (value or "").strip())
    return int(m.group(1)) if m else None


def _hash_file(path: Path, hasher) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            hasher.update(chunk)


def fetch(url: str, part: Path, *, out: TextIO, label: str, timeout: float = 60.0, resume: bool = False,
          hasher=None, check_space: bool = False) -> int:
    """Stream ``url`` into ``part``; returns the file's final size in bytes.

    ``resume``: an existing ``part`` is continued with ``Range: bytes=<size>-``; a server that ignores
    the range (200) restarts the file, a 416 whose total equals the part's size means it was already
    complete. Without ``resume`` the part is rewritten from the start.
    ``hasher`` (a hashlib object) is fed every byte of the final file, the kept prefix included, so that
    a resumed download is verified without reading it twice.
    ``check_space``: refuse (LocalWriteError) when the announced remaining size does not fit on disk.

    Raises UnreachableError, RemoteFileError, TransferError (the part keeps what arrived, for a
    later resume) or LocalWriteError.
    """
    from tqdm.auto import tqdm

    have = part.stat().st_size if resume and part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = _open(request, timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            total = _unsatisfied_total(err.headers.get("Content-Range"))
            if total == have:  # the previous run had received everything
                if hasher is not None:
                    _hash_file(part, hasher)
                return have
            part.unlink(missing_ok=True)  # longer than the file: start over
            return fetch(url, part, out=out, label=label, timeout=timeout, resume=False, hasher=hasher,
                         check_space=check_space)
        raise RemoteFileError(f"{url}: HTTP {err.code} {err.reason}", err.code) from None
    with resp:
        status = getattr(resp, "status", None) or resp.getcode()
        append = False
        total = None
        if have and status == 206:
            rng = _content_range(resp.headers.get("Content-Range"))
            if rng is not None and rng[0] == have:
                append, total = True, rng[1]
        if not append:
            have = 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if check_space and total is not None:
            ensure_free_space(part.parent, total - have, f"downloading {part.name.removesuffix('.part')}")
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            f = open(part, "ab" if append else "wb")
        except OSError as err:
            raise LocalWriteError(f"cannot write {part}: {err.strerror or err}") from err
        with f, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                     file=out, disable=None, leave=False) as bar:
            if append and hasher is not None:
                _hash_file(part, hasher)
            done = have
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise TransferError(f"connection to {host_of(url)} lost after {done / 1e6:.1f} MB: "
                                        f"{_reason(err)}") from err
                if not chunk:
                    break
                try:
                    f.write(chunk)
                except OSError as err:
                    raise LocalWriteError(f"cannot write {part}: {err.strerror or err}") from err
                if hasher is not None:
                    hasher.update(chunk)
                done += len(chunk)
                bar.update(len(chunk))
        # http.client ends a body cut short by the server silently: check the announced length.
        if total is not None and done != total:
            raise TransferError(f"connection to {host_of(url)} closed after {done / 1e6:.1f} of "
                                f"{total / 1e6:.1f} MB")
    return done


def replace_file(src: Path, dest: Path) -> None:
    """Atomic ``os.replace`` with LocalWriteError for failures."""
    try:
        os.replace(src, dest)
    except OSError as err:
        raise LocalWriteError(f"cannot write {dest}: {err.strerror or err}") from err
