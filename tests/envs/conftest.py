"""Environment tests run offline against the project's shared reference data (``../shared/data``).

The data directory is resolved relative to the repository, so the suite works from any working
directory; resized-video caches go to a per-session temporary directory (the shared folder is
read-only).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()

# Set before any test imports the envs: make() reads them at env creation.
os.environ["SMG_FAST_DATA"] = str(SHARED_DATA)


@pytest.fixture(scope="session", autouse=True)
def _offline_data(tmp_path_factory):
    if not (SHARED_DATA / "MANIFEST.json").is_file():
        pytest.fail(f"the shared reference data is missing at {SHARED_DATA}; these tests need it")
    os.environ["SMG_FAST_CACHE"] = str(tmp_path_factory.mktemp("smg-fast-cache"))
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA
