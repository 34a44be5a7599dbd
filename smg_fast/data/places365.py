"""Places365-Standard images for random overlay, laid out as the official SMG / DMC-GB code reads them.

Upstream (SMG's and DMC-GB's ``augmentations.py``) builds a torchvision ``ImageFolder`` over
``<dataset dir>/places365_standard/train``: the layout of the Places authors' "easy format" archive,
one folder per scene class (``airfield``, ``apartment_building-outdoor``, ...) holding 256×256 JPEGs.
``smg-fast data download places365`` produces that layout in ``<data dir>/places365`` (the dataset dir),
from archives whose MD5s the Places authors publish (and torchvision's ``Places365`` lists):

* ``--subset full`` (the default): ``train_256_places365standard.tar``, 24 GB, 1,803,460 images
  (3,068-5,000 a class): exactly the images upstream reads.
* ``--subset val``: ``val_256.tar`` (501 MB, 36,500 images, 100 a class) and the official file list
  (``filelist_places365-standard.tar``) that gives each validation image its class.

The easy-format archive DMC-GB's README points at (``places365standard_easyformat.tar``) has no published
checksum, so the full set is built from the standard train archive, which holds the same 256×256 train
images under ``data_256/<letter>/<class>[/<sub>]/``; a class path such as ``/a/apartment_building/outdoor``
becomes the easy format's folder name ``apartment_building-outdoor``.

``--per-class N`` keeps a deterministic subset of N images per class (the N whose SHA-1 of
``<class folder>/<file name>`` is smallest, so the choice does not depend on archive order) from either
archive. It saves disk, not download: a tar archive cannot be read selectively over HTTP, so the full set
still downloads all 24 GB. The validation images are a different split of the same 365 classes, class-
balanced, and 49 times fewer: overlay draws (two batches of 64 per SMG update) repeat each image ~50 times
more often, but the RandomResizedCrop + flip pipeline still yields distinct crops. The ``val`` subset is
installed into the same ``train`` folder, so the directory stays a drop-in ``data_dirs`` entry for the
official code; ``places365/places365.json`` records which subset is there.

Downloads resume (HTTP Range) from ``places365/downloads/<archive>.part``; an archive is accepted only if
its MD5 matches, and extraction goes into a staging folder that replaces the installed one only when
complete, so a failed or refused ``--force`` leaves the previous installation as it was. The archive is
deleted after extraction unless ``--keep-archive`` is given.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Mapping, TextIO

import numpy as np

from . import ENV_VAR, MissingDataError, download_command, missing_message, resolve_data_dir
from .fetch import (DownloadError, LocalWriteError, TransferError, UsageError, resolve_base_url,
                    ensure_free_space, fetch, replace_file)

GROUP = "places365"
DEFAULT_BASE_URL = "http://data.csail.mit.edu/places/places365"
BASE_URL_ENV_VAR = "SMG_FAST_PLACES365_URL"
DATASET_DIR = "places365"                      # upstream's "dataset dir", inside the data directory
TRAIN_DIR = "places365_standard/train"         # what upstream's ImageFolder reads, inside it
MARKER = "places365.json"
INDEX = "index.txt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SUBSETS = ("full", "val")


@dataclass(frozen=True)
class Archive:
    name: str              # file name at the base URL
    md5: str               # published by the Places authors (and listed by torchvision's Places365)
    images: int | None     # images it holds (Places365 devkit README); None for the file list
    top: str = ""          # the folder the archive's images live in
    size: str = ""         # for messages


ARCHIVES: dict[str, Archive] = {
    "full": Archive("train_256_places365standard.tar", "53ca1c756c3d1e7809517cc47c5561c5", 1_803_460,
                    "data_256", "24 GB"),
    "val": Archive("val_256.tar", "e27b17d8d44f4af9a78502beb927f808", 36_500, "val_256", "501 MB"),
    "filelist": Archive("filelist_places365-standard.tar", "35a0585fee1fa656440f3ab298f8479c", None),
}


class ChecksumError(DownloadError):
    """A downloaded archive's MD5 differs from the published one; the download was deleted."""


@dataclass
class InstallReport:
    path: Path                                           # the folder upstream's ImageFolder reads
    subset: str
    per_class: int | None
    images: int = 0
    classes: int = 0
    skipped: bool = False                                # already installed: nothing was done
    fetched: list[str] = field(default_factory=list)     # archives downloaded (or resumed) and verified


# ----------------------------------------------------------------------------------------------------
# Where things are.

def dataset_dir(data_dir: str | os.PathLike | None = None) -> Path:
    return resolve_data_dir(data_dir) / DATASET_DIR


def train_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``<data dir>/places365/places365_standard/train``; MissingDataError (naming the command) if absent."""
    root = resolve_data_dir(data_dir)
    path = root / DATASET_DIR / TRAIN_DIR
    if not path.is_dir():
        raise MissingDataError(
            missing_message(f"Places365 images ({DATASET_DIR}/{TRAIN_DIR})", root, GROUP)
            + f" `--subset val` fetches a 501 MB subset instead of the 24 GB set; `--overlay-source "
              f"procedural` needs no data.")
    return path


def installed(data_dir: str | os.PathLike | None = None) -> dict | None:
    """The record of the installed subset (``places365/places365.json``), None if there is none."""
    path = dataset_dir(data_dir) / MARKER
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _sort_key(rel: str) -> list[str]:
    return rel.split("/")  # the order of sorted pathlib paths, as OverlayImages' folder source uses


def _scan(train: Path) -> list[str]:
    """Image paths relative to ``train`` inside its class folders (ImageFolder ignores top-level files)."""
    rels = []
    for dirpath, dirnames, filenames in os.walk(train):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = os.path.relpath(dirpath, train)
        if rel_dir == ".":
            continue
        rel_dir = rel_dir.replace(os.sep, "/")
        rels += [f"{rel_dir}/{f}" for f in filenames if f.lower().endswith(IMAGE_SUFFIXES)]
    return sorted(rels, key=_sort_key)


def image_index(data_dir: str | os.PathLike | None = None) -> tuple[Path, np.ndarray]:
    """``(train folder, paths)``: the image paths relative to it, as a bytes array (1.8 M paths in ~90 MB
    rather than ~0.5 GB of ``Path`` objects), in sorted order. Read from the index written at install
    time, or found by scanning a folder installed by other means (e.g. the easy-format archive)."""
    train = train_dir(data_dir)
    index = train.parent.parent / INDEX
    if installed(data_dir) is not None and index.is_file():
        rels = [r for r in index.read_bytes().split(b"\n") if r]
    else:
        rels = [r.encode() for r in _scan(train)]
    if not rels:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {train}; "
                                f"run `{download_command()} {GROUP} --force` to reinstall them")
    return train, np.array(rels, dtype=bytes)


# ----------------------------------------------------------------------------------------------------
# File lists and the member -> folder mapping.

def class_folder(category: str) -> str:
    """``/a/apartment_building/outdoor`` -> ``apartment_building-outdoor`` (the easy format's folder)."""
    parts = [p for p in category.strip().split("/") if p]
    if len(parts) < 2 or len(parts[0]) != 1 or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a Places365 category path: {category!r}")
    return "-".join(parts[1:])


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """Parts of a tar member name, None if it could escape the destination (absolute, '..', empty)."""
    if name.startswith("/") or "\\" in name:
        return None
    parts = tuple(p for p in PurePosixPath(name).parts if p != ".")
    if not parts or any(p in ("..", "") for p in parts):
        return None
    return parts


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def read_file_list(path: Path, subset: str, top: str | None = None) -> list[tuple[str, str]]:
    """``[(member name in the image archive, destination relative path)]`` for every image of ``subset``,
    from the official file-list archive (``categories_places365.txt`` and the split's list); ``top`` is
    the image archive's folder (default: the official archive's)."""
    wanted = {"categories": "categories_places365.txt",
              "list": "places365_val.txt" if subset == "val" else "places365_train_standard.txt"}
    texts: dict[str, str] = {}
    try:
        with tarfile.open(path, mode="r") as tf:
            for m in tf:
                base = PurePosixPath(m.name).name
                for key, fname in wanted.items():
                    if base == fname and m.isfile():
                        texts[key] = tf.extractfile(m).read().decode()
    except (tarfile.TarError, OSError, UnicodeDecodeError) as err:
        raise DownloadError(f"cannot read the Places365 file list {path}: {err}") from err
    missing = [f for k, f in wanted.items() if k not in texts]
    if missing:
        raise DownloadError(f"the Places365 file list {path.name} lacks {', '.join(missing)}")
    categories = {}
    for line in texts["categories"].splitlines():
        if line.strip():
            cat, idx = line.split()
            categories[int(idx)] = class_folder(cat)
    top = ARCHIVES[subset].top if top is None else top
    out = []
    for line in texts["list"].splitlines():
        if not line.strip():
            continue
        name, idx = line.split()
        base = PurePosixPath(name).name
        if subset == "val":
            member = f"{top}/{base}"
        else:  # "/a/airfield/00000001.jpg": the class is the path, the label is redundant
            member = f"{top}/{name.lstrip('/')}"
        cls = categories.get(int(idx))
        if cls is None:
            raise DownloadError(f"the Places365 file list names class {idx}, not in categories_places365.txt")
        out.append((member, f"{cls}/{base}"))
    return out


def select_per_class(entries: list[tuple[str, str]], per_class: int | None) -> list[tuple[str, str]]:
    """The ``per_class`` entries of each class whose SHA-1 of the destination path is smallest (all if None)."""
    if per_class is None:
        return list(entries)
    by_class: dict[str, list[tuple[str, str]]] = {}
    for member, dest in entries:
        by_class.setdefault(dest.split("/", 1)[0], []).append((member, dest))
    out = []
    for cls in sorted(by_class):
        ranked = sorted(by_class[cls], key=lambda e: hashlib.sha1(e[1].encode()).hexdigest())
        out += ranked[:per_class]
    return out


def _train_member_dest(top: str) -> Callable[[str], str | None]:
    """Mapping of the full train archive without a file list: ``data_256/a/<class>[/<sub>]/<file>``."""
    def dest(name: str) -> str | None:
        parts = _safe_parts(name)
        if parts is None or len(parts) < 4 or parts[0] != top or len(parts[1]) != 1 or not _is_image(parts[-1]):
            return None
        return "-".join(parts[2:-1]) + "/" + parts[-1]
    return dest


# ----------------------------------------------------------------------------------------------------
# Download and install.

def _md5_of(path: Path) -> str:
    h = hashlib.md5()
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
        if _md5_of(dest) == archive.md5:
            return dest
        out.write(f"  {archive.name}: kept archive does not match its MD5; downloading it again\n")
        dest.unlink()
    if force:
        part.unlink(missing_ok=True)  # --force: nothing of an earlier attempt is trusted
    url = f"{base_url.rstrip('/')}/{archive.name}"
    resumed = part.is_file() and part.stat().st_size > 0
    out.write(f"  {archive.name}{f' ({archive.size})' if archive.size else ''}: "
              f"{'resuming' if resumed else 'downloading'} {url}\n")
    h = hashlib.md5()
    try:
        size = fetch(url, part, out=out, label=archive.name, timeout=timeout, resume=True, hasher=h,
                     check_space=True)
    except TransferError as err:
        raise TransferError(f"{err}; {part.name} keeps what arrived: run the same command again to "
                            "resume") from err
    got = h.hexdigest()
    if got != archive.md5:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{archive.name} from {base_url} has MD5 {got}, not the published {archive.md5}; "
                            "the download was deleted and nothing was installed or changed (run again to "
                            "download it afresh, or try another --base-url)")
    replace_file(part, dest)
    report.fetched.append(archive.name)
    out.write(f"  {archive.name}: {size / 1e6:.1f} MB, MD5 verified\n")
    return dest


def _extract(archive: Path, staging: Path, dest_of: Callable[[str], str | None], total: int,
             out: TextIO) -> list[str]:
    """Stream the images of ``archive`` into ``staging`` (member name -> relative path by ``dest_of``)."""
    from tqdm.auto import tqdm

    written: list[str] = []
    made: set[str] = set()
    try:
        # Stream mode, and the member list cleared as we go: a random-access TarFile keeps one TarInfo
        # per member, about 1 GB for the 1.8 M-image archive.
        with tarfile.open(archive, mode="r|") as tf, tqdm(total=total, unit="img", desc="extracting",
                                                          file=out, disable=None, leave=False) as bar:
            for member in tf:
                rel = dest_of(member.name) if member.isfile() else None
                if rel is not None:
                    folder = rel.rsplit("/", 1)[0]
                    if folder not in made:
                        (staging / folder).mkdir(parents=True, exist_ok=True)
                        made.add(folder)
                    src = tf.extractfile(member)
                    with open(staging / rel, "wb") as f:
                        shutil.copyfileobj(src, f)
                    written.append(rel)
                    bar.update(1)
                tf.members = []
    except tarfile.TarError as err:
        raise DownloadError(f"cannot read {archive.name}: {err}") from err
    except OSError as err:
        raise LocalWriteError(f"cannot write the Places365 images into {staging}: {err.strerror or err}") \
            from err
    return written


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def install(data_dir: str | os.PathLike | None = None, *, subset: str = "full", per_class: int | None = None,
            base_url: str | None = None, force: bool = False, keep_archive: bool = False,
            archives: Mapping[str, Archive] | None = None, out: TextIO | None = None,
            timeout: float = 60.0) -> InstallReport:
    """Download, verify and install Places365-Standard images (see the module docstring).

    ``archives``: replacements for entries of :data:`ARCHIVES` (tests: synthetic archives and their MD5s).
    Raises UsageError for bad arguments and DownloadError (one-line messages) for failures; a failure
    leaves any earlier installation untouched.
    """
    import sys

    out = out or sys.stderr
    if subset not in SUBSETS:
        raise UsageError(f"--subset {subset!r}: choose one of {', '.join(SUBSETS)}")
    table = {**ARCHIVES, **(archives or {})}
    source = table[subset]
    if per_class is not None:
        if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
            raise UsageError(f"--per-class must be a positive integer, got {per_class!r}")
    base_url = resolve_base_url(base_url, BASE_URL_ENV_VAR, DEFAULT_BASE_URL)

    pdir = dataset_dir(data_dir)
    train = pdir / TRAIN_DIR
    report = InstallReport(train, subset, per_class)
    record = installed(data_dir)
    if (not force and record is not None and train.is_dir() and record.get("subset") == subset
            and record.get("per_class") == per_class):
        report.images, report.classes, report.skipped = record.get("images", 0), record.get("classes", 0), True
        out.write(f"smg-fast data: Places365 ({subset}{_per_class_text(per_class)}) already installed in "
                  f"{train}: {report.images} images\n")
        return report

    out.write(f"smg-fast data: Places365-Standard, subset {subset}{_per_class_text(per_class)}, into {train} "
              f"(from {base_url})\n")
    downloads = pdir / "downloads"
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LocalWriteError(f"cannot write to the data directory {pdir}: {err.strerror or err} (choose "
                              f"another with --dir or ${ENV_VAR})") from err

    kwargs = dict(force=force, out=out, timeout=timeout, report=report)
    fetched_paths = []
    if subset == "val" or per_class is not None:
        flist = _obtain(table["filelist"], downloads, base_url, **kwargs)
        fetched_paths.append(flist)
        wanted = dict(select_per_class(read_file_list(flist, subset, source.top), per_class))
        dest_of = wanted.get
        expected = len(wanted)
    else:
        dest_of = _train_member_dest(source.top)
        expected = source.images
    arc = _obtain(source, downloads, base_url, **kwargs)
    fetched_paths.append(arc)

    # Extracted JPEGs take about what the archive does (tar adds ~1 kB per file): the selected share.
    share = expected / source.images if source.images else 1.0
    ensure_free_space(pdir, int(arc.stat().st_size * min(share, 1.0) * 1.02) + (64 << 20),
                      f"extracting {expected} images")
    staging = train.with_name(".train.staging")
    shutil.rmtree(staging, ignore_errors=True)  # what an interrupted run left
    out.write(f"  extracting {expected} images into {train.parent}/\n")
    try:
        written = _extract(arc, staging, dest_of, expected, out)
        if len(written) != expected:
            raise DownloadError(f"{arc.name} held {len(written)} of the {expected} expected images in the "
                                f"expected layout; nothing was installed or changed")
        _swap_in(staging, train, written, {
            "subset": subset, "per_class": per_class, "archive": source.name, "md5": source.md5,
            "images": len(written), "classes": len({w.split('/', 1)[0] for w in written}),
            "source": f"{base_url.rstrip('/')}/{source.name}"})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    record = installed(data_dir) or {}
    report.images, report.classes = record.get("images", len(written)), record.get("classes", 0)
    if not keep_archive:
        for p in fetched_paths:
            p.unlink(missing_ok=True)
        try:
            downloads.rmdir()
        except OSError:
            pass
    out.write(f"done: {report.images} images in {report.classes} class folders under {train}"
              f"{'' if keep_archive else ' (archives deleted; --keep-archive keeps them)'}\n")
    return report


def _per_class_text(per_class: int | None) -> str:
    return "" if per_class is None else f", {per_class} per class"


def _swap_in(staging: Path, train: Path, written: list[str], record: dict) -> None:
    """Replace ``train`` by ``staging``; the index and the record are written last, so a crash in between
    leaves a folder that is scanned rather than trusted."""
    pdir = train.parent.parent
    old = train.with_name(".train.old")
    try:
        shutil.rmtree(old, ignore_errors=True)
        (pdir / MARKER).unlink(missing_ok=True)
        (pdir / INDEX).unlink(missing_ok=True)
        if train.exists():
            os.replace(train, old)
        os.replace(staging, train)
        _write_atomic(pdir / INDEX, ("\n".join(sorted(written, key=_sort_key)) + "\n").encode())
        _write_atomic(pdir / MARKER, json.dumps(record, indent=1).encode())
    except OSError as err:
        raise LocalWriteError(f"cannot install the Places365 images into {train}: {err.strerror or err}") \
            from err
    shutil.rmtree(old, ignore_errors=True)


__all__ = ["ARCHIVES", "Archive", "ChecksumError", "DEFAULT_BASE_URL", "BASE_URL_ENV_VAR", "GROUP",
           "InstallReport", "SUBSETS", "class_folder", "dataset_dir", "image_index", "install", "installed",
           "read_file_list", "select_per_class", "train_dir"]
