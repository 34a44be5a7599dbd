"""Session rules for every test: the hypothesis profile, the markers, the data folder and a private cache
(see :mod:`reference_files` for where data and reference files come from), and CI's rule that nothing skips."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

import reference_files as ref

# Kernels are fast but hypothesis' default 200 ms deadline trips on first-call JIT/dispatch warm-up
# and on a loaded 2-core CI machine.
settings.register_profile("smg", deadline=None, max_examples=40, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "smg"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: an end-to-end run over ~30 s (deselect with -m 'not slow')")
    if ref.DATA is not None:  # before any test module is imported; the synthetic folder comes below
        os.environ["SMG_FAST_DATA"] = str(ref.DATA)


@pytest.fixture(scope="session", autouse=True)
def _session_folders(tmp_path_factory):
    """The data folder (synthetic DMC-GB files and robot scenes where there is none) and a private cache
    (resized videos, random-policy returns, data verification), set for the whole session before any module
    fixture or test makes an environment. A test that sets a cache of its own and starts a command on DMC-GB
    modes of the synthetic folder records the stand-ins there too (``synthetic_data.record_as_verified``)."""
    if ref.DATA is None:
        from synthetic_data import make_data, record_as_verified

        ref.DATA = make_data(tmp_path_factory.mktemp("synthetic-data"))
        os.environ["SMG_FAST_DATA"] = str(ref.DATA)
        # always the session's own cache here: it is told the stand-ins are upstream's files
        os.environ["SMG_FAST_CACHE"] = str(tmp_path_factory.mktemp("smg-fast-cache"))
        record_as_verified(ref.DATA, Path(os.environ["SMG_FAST_CACHE"]))
    if not os.environ.get("SMG_FAST_CACHE"):
        os.environ["SMG_FAST_CACHE"] = str(tmp_path_factory.mktemp("smg-fast-cache"))
    yield


@pytest.fixture(autouse=True)
def _stand_ins_verified():
    """Synthetic sessions: the stand-ins recorded as verified in the session's cache before every test, since
    a test that runs ``smg-fast data verify`` rightly records their real blob ids there."""
    if ref.SYNTHETIC:
        from synthetic_data import record_as_verified

        record_as_verified(ref.DATA, Path(os.environ["SMG_FAST_CACHE"]))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The session's data folder: upstream's files, or synthetic stand-ins in DMC-GB's layout."""
    return ref.DATA


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """``../shared/data`` itself: its ``MANIFEST.json`` and upstream's files as they were recorded."""
    return ref.manifest_file().parent


@pytest.fixture(scope="session")
def robot_data() -> Path:
    """A data folder holding upstream's robot scenes (every file ``smg-fast data download robot`` fetches):
    for what pins their looks or dynamics."""
    from smg_fast.data import manifest

    return ref.needs_data(*(e.local for e in manifest.entries("robot")))


@pytest.fixture(scope="session")
def robot_scenes(request) -> Path:
    """The session's data folder, holding robot scenes that compile and run the task code: upstream's, or
    the synthetic stand-ins (:func:`synthetic_data.make_robot`) where the session's data is synthetic."""
    return ref.DATA if ref.SYNTHETIC else request.getfixturevalue("robot_data")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if ref.CI and skipped:
        terminalreporter.section("CI=true: every skipped test is a failure", sep="=", red=True, bold=True)
        for report in skipped:
            reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
            terminalreporter.write_line(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    """Under CI, a session in which anything skipped fails: CI has every reference file, so a skip there
    is a test that did not run (a missing dependency, a wrong condition), never an expected outcome."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if ref.CI and reporter is not None and reporter.stats.get("skipped") and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
