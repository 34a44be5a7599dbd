"""Where the tests find data and reference files, and what a test does when they are not there.

Reference files live beside the repository, in ``../shared`` (the developers' and CI's copy; a public clone
has none):

* ``../shared/data``: upstream's DMC-GB colour tables and videos and SMG's robot scenes (the files
  ``smg-fast data download all`` fetches), plus their provenance list ``MANIFEST.json``;
* ``../shared/fixtures/official``: the official baselines' recorded updates (the parity tests);
* ``../shared/paper/smg-neurips2024.txt``: the paper's text (its tables, against the packaged results).

The session's data folder (``$SMG_FAST_DATA``, which the package and every CLI subprocess read) is
``$SMG_FAST_DATA`` as given, else ``../shared/data`` where it exists, else a folder of small synthetic files in
upstream's layout made for the session (:mod:`synthetic_data`: DMC-GB colour tables and videos, stand-in robot
scenes), so that the colour and video modes and the robot tasks still run their real code. A test that needs upstream's own files asks for them (:func:`needs_data`,
:func:`official_fixtures`, or the fixtures of ``conftest.py``): where they are missing it skips with one
reason that names them and how to get them. Under CI (``CI=true``) nothing falls back and nothing skips: a
missing reference file fails the test, and a session in which anything skipped fails (``conftest.py``).

A module of its own, not ``conftest.py``: test modules import these helpers, and ``conftest`` is not a name
they can import reliably (pytest loads every folder's ``conftest.py`` under that one name).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"
FIXTURES = SHARED / "fixtures" / "official"
PAPER = SHARED / "paper" / "smg-neurips2024.txt"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

DATA_REASON = ("needs upstream's data files in the data folder (../shared/data, or $SMG_FAST_DATA): "
               "`smg-fast data download all` fetches them, then point $SMG_FAST_DATA at that folder")
MANIFEST_REASON = ("needs the reference data folder ../shared/data itself (its MANIFEST.json lists every "
                   "upstream file with its git blob id; the project's reference folder, not in a clone)")
FIXTURES_REASON = ("needs the official update fixtures ../shared/fixtures/official (the project's reference "
                   "folder, recorded from the official SMG repository's code; not in a clone)")
PAPER_REASON = ("needs the paper's text ../shared/paper/smg-neurips2024.txt, or $SMG_FAST_PAPER naming a text "
                "export of the SMG paper (NeurIPS 2024)")

_given = os.environ.get("SMG_FAST_DATA")
if _given:
    DATA: Path | None = Path(_given).expanduser()
    SYNTHETIC = False
elif SHARED_DATA.is_dir() or CI:  # CI never falls back to synthetic files
    DATA, SYNTHETIC = SHARED_DATA, False
else:
    DATA, SYNTHETIC = None, True  # made by conftest's session fixture, in a temporary folder


def missing(reason: str, what: str = "") -> None:
    """Skip the test for a missing reference file (``reason``: what it needs and how to get it), or fail it
    under CI, which has every reference file and must run everything."""
    message = f"{reason}; missing: {what}" if what else reason
    if CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def needs_data(*local: str) -> Path:
    """The session's data folder, after checking that it holds upstream's files ``local`` (manifest names
    such as ``robot/reach.xml``); the synthetic stand-ins never count."""
    absent = list(local) if SYNTHETIC else [name for name in local if not (DATA / name).is_file()]
    if absent:
        missing(DATA_REASON, f"{_names(absent)} ({'only synthetic stand-ins here' if SYNTHETIC else f'in {DATA}'})")
    return DATA


def _names(files: list[str]) -> str:
    """``a, b`` for a few files; ``40 files under robot/`` for many."""
    if len(files) <= 3:
        return ", ".join(files)
    folders = sorted({f.split("/", 1)[0] + "/" for f in files})
    return f"{len(files)} files under {', '.join(folders)}"


def manifest_file() -> Path:
    """``../shared/data/MANIFEST.json`` (the reference folder's own provenance list)."""
    path = SHARED_DATA / "MANIFEST.json"
    if not path.is_file():
        missing(MANIFEST_REASON, str(path))
    return path


def official_fixtures(*names: str) -> Path:
    """Path of the official fixture file ``names[0]`` (e.g. ``drq.pt``), after checking that all exist."""
    absent = [n for n in names if not (FIXTURES / n).is_file()]
    if absent:
        missing(FIXTURES_REASON, f"{', '.join(absent)} in {FIXTURES}")
    return FIXTURES / names[0]
