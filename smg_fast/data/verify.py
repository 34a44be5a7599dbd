"""Checking data files against the manifest before they are used, and ``smg-fast data verify``.

A file counts as good when its git blob id (``sha1(b"blob %d\\0" % size + content)``) is the manifest's. The
colour tables are stored as the JSON conversion of upstream's torch pickles; the conversion is deterministic
(``json.dumps(colours, indent=0)`` of the unchanged float values), so each JSON has one blob id too, recorded
in :data:`CONVERTED_BLOBS` (the upstream pickle's id stays in the manifest and is what the downloader checks).

Hashing the 106 DMC-GB videos takes a fraction of a second, but every command start would pay it: a file's
result is cached by its path, size and modification time (``$SMG_FAST_CACHE/verified.json``, default
``~/.cache/smg-fast/verified.json``; ``SMG_FAST_CACHE=none``: no cache), so a changed or replaced file is
hashed again and an unchanged one is not.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import ENV_VAR, download_command, resolve_data_dir
from .manifest import ManifestEntry, entries

# Git blob ids of the JSON form of upstream's colour tables, as colors.convert_color_pickle writes it.
CONVERTED_BLOBS = {
    "dmcgb/color_easy.json": "4608aa0f6f2beb4d28ed3b9cbdc144c33ca11a4c",
    "dmcgb/color_hard.json": "b52c45f7c51fef6f40392962ae6f05214632550a",
}
CACHE_ENV_VAR = "SMG_FAST_CACHE"
CACHE_NAME = "verified.json"


def expected_blob(e: ManifestEntry) -> str:
    """The git blob id the stored file ``e.local`` must have."""
    return CONVERTED_BLOBS[e.local] if e.converted else e.git_blob


def cache_path() -> Path | None:
    env = os.environ.get(CACHE_ENV_VAR)
    if env and env.lower() == "none":
        return None
    from . import default_data_dir

    return (Path(env).expanduser() if env else default_data_dir()) / CACHE_NAME


@dataclass
class Finding:
    local: str        # the manifest's local name
    path: Path
    problem: str      # "" when the file is good; else what is wrong ("missing" for an absent file)

    @property
    def ok(self) -> bool:
        return not self.problem


class _Cache:
    """``{absolute path: [size, mtime_ns, blob id]}``, read once and written back when it changed (best
    effort: a cache that cannot be written only costs hashing again next time)."""

    def __init__(self, path: Path | None, refresh: bool = False):
        self.path, self.entries, self.changed, self.refresh = path, {}, False, refresh
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
                self.entries = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self.entries = {}

    def blob(self, path: Path) -> str:
        from .download import git_blob_id_of_file

        st = path.stat()
        key = str(path.resolve())
        hit = self.entries.get(key)
        if not self.refresh and isinstance(hit, list) and len(hit) == 3 and hit[:2] == [st.st_size, st.st_mtime_ns]:
            return hit[2]
        blob = git_blob_id_of_file(path)
        self.entries[key] = [st.st_size, st.st_mtime_ns, blob]
        self.changed = True
        return blob

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
            tmp.write_text(json.dumps(self.entries))
            os.replace(tmp, self.path)
        except OSError:
            pass


def check_files(todo: list[ManifestEntry], data_dir: str | os.PathLike | None = None,
                refresh: bool = False) -> list[Finding]:
    """One finding per entry of ``todo``: good, missing, or what differs from the manifest. ``refresh``: hash
    every file again (and update the cache) rather than trusting a cached result."""
    root = resolve_data_dir(data_dir)
    memo = _Cache(cache_path(), refresh)
    out = []
    for e in todo:
        path = root / e.local
        if not path.is_file():
            out.append(Finding(e.local, path, "missing"))
            continue
        try:
            size = path.stat().st_size
            if e.size is not None and not e.converted and size != e.size:
                problem = f"{'truncated' if size < e.size else 'longer than upstream'}: {size} bytes, upstream " \
                          f"{e.size}"
            else:
                blob = memo.blob(path)
                problem = "" if blob == expected_blob(e) else f"its content differs from upstream (git blob id {blob}, " \
                                                              f"expected {expected_blob(e)})"
        except OSError as err:
            problem = f"cannot be read ({err.strerror or err})"
        out.append(Finding(e.local, path, problem))
    memo.save()
    return out


def mode_entries(mode: str) -> list[ManifestEntry]:
    """The manifest entries a DMC-GB evaluation mode reads (none for train and the robot scenes)."""
    if mode in ("color_easy", "color_hard"):
        return [e for e in entries("dmcgb") if e.local == f"dmcgb/{mode}.json"]
    if mode in ("video_easy", "video_hard"):
        return [e for e in entries("dmcgb") if e.local.startswith(f"dmcgb/{mode}/")]
    return []


def repair_hint(root: Path) -> str:
    where = "" if root == resolve_data_dir() and not os.environ.get(ENV_VAR) else f" --dir {root}"
    return f"`{download_command()} dmcgb{where} --force` fetches a verified copy"


def check_modes(modes, data_dir: str | os.PathLike | None = None) -> None:
    """DataError naming the first damaged file (and how many more) among the DMC-GB files ``modes`` will
    read. Files that are absent are left to the caller: a missing colour table is an error, missing videos
    of a mode only shorten its sequence (a warning)."""
    from smg_fast.errors import DataError

    todo = [e for mode in dict.fromkeys(modes) for e in mode_entries(mode)]
    if not todo:
        return
    bad = [f for f in check_files(todo, data_dir) if not f.ok and f.problem != "missing"]
    if bad:
        more = f" (and {len(bad) - 1} more damaged file(s): `smg-fast data verify` lists them)" if len(bad) > 1 else ""
        root = resolve_data_dir(data_dir)
        raise DataError(f"{bad[0].path} is damaged: {bad[0].problem}{more}; {repair_hint(root)}")


def verify_command(group: str = "all", data_dir: str | os.PathLike | None = None, out=None) -> int:
    """``smg-fast data verify``: every file of ``group`` in the data directory hashed again and compared with
    the manifest, offline. Prints one line per damaged file and a summary per group; returns 1 when a file is
    damaged, else 0 (files that are absent are listed, not errors: fetch them with the download command)."""
    import sys

    out = out or sys.stdout
    root = resolve_data_dir(data_dir)
    if not root.is_dir():
        from smg_fast.errors import NotAvailableError

        raise NotAvailableError(f"the data directory {root} does not exist (`{download_command()}` fills it; "
                                f"--dir or ${ENV_VAR} point elsewhere)")
    damaged_total = 0
    for name in (("dmcgb", "robot") if group == "all" else (group,)):
        todo = entries(name)
        found = check_files(todo, root, refresh=True)
        by_local = {e.local: e for e in todo}
        damaged = [f for f in found if not f.ok and f.problem != "missing"]
        missing = [f for f in found if f.problem == "missing"]
        for f in damaged:
            note = " (the reference folder holds a local stand-in for it)" if by_local[f.local].stand_in else ""
            print(f"DAMAGED {f.path}: {f.problem}{note}", file=out)
        line = f"{name}: {len(found) - len(damaged) - len(missing)}/{len(found)} verified"
        if damaged:
            line += f", {len(damaged)} damaged"
        if missing:
            shown = ", ".join(f.local for f in missing[:4]) + (", ..." if len(missing) > 4 else "")
            line += f", {len(missing)} absent ({shown})"
        print(line, file=out)
        damaged_total += len(damaged)
    if damaged_total:
        where = "" if data_dir is None else f" --dir {root}"
        print(f"{damaged_total} damaged file(s) in {root}: `{download_command()} {group}{where} --force` replaces "
              "them with verified copies", file=out)
        return 1
    print(f"every file present in {root} matches the manifest", file=out)
    return 0
