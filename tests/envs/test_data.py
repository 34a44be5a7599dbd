"""Data: manifest table, data-dir resolution, verified downloads from a local HTTP server, colour conversion."""
from __future__ import annotations

import functools
import http.server
import io
import json
import pickle
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from smg_fast.data import MissingDataError, default_data_dir, require, resolve_data_dir
from smg_fast.data import manifest
from smg_fast.data.colors import UnsafePickleError, colors_from_legacy_pickle
from smg_fast.cli.data import main
from smg_fast.data.download import download, git_blob_id, git_blob_id_of_file
from reference_files import needs_data
from synthetic_data import colour_table


def test_packaged_table_matches_reference_manifest(reference_data):
    rows = manifest.rows_from_reference(reference_data / "MANIFEST.json")
    table = [tuple(getattr(e, f) for f in manifest._manifest_table.FIELDS) for e in manifest.entries()]
    assert table == rows and len(table) == 152
    assert len(manifest.entries("dmcgb")) == 112 and len(manifest.entries("robot")) == 40
    e = manifest.entry("dmcgb/color_hard.json")
    assert e.converted and e.download_name == "dmcgb/color_hard.pt"
    assert e.url("http://x") == ("http://x/nicklashansen/dmcontrol-generalization-benchmark/"
                                 "ff9c0aa8d47685ed972414c67f1b7225e37ff85e/src/env/data/color_hard.pt")


def test_git_blob_ids(tmp_path):
    assert git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object`
    (tmp_path / "f").write_bytes(b"hello\n")
    assert git_blob_id_of_file(tmp_path / "f") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_upstream_files_have_their_manifest_blob_ids():
    files = ("dmcgb/video_easy/video0.mp4", "robot/reach.xml")
    data = needs_data(*files)
    for local in files:
        assert git_blob_id_of_file(data / local) == manifest.entry(local).git_blob


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SMG_FAST_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("SMG_FAST_DATA")
    assert resolve_data_dir() == default_data_dir() == Path.home() / ".cache" / "smg-fast"
    with pytest.raises(MissingDataError, match="smg-fast data download robot"):
        require("robot/reach.xml", tmp_path)


def _legacy_torch_pickle(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving ``<repo>/<commit>/<path>`` from a temporary folder."""
    root = tmp_path / "srv"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _synthetic(local: str, data: bytes) -> tuple[manifest.ManifestEntry, bytes]:
    """The manifest entry of ``local`` with the blob id and size of ``data``: the downloader's checks run
    on made-up bytes exactly as on upstream's."""
    return replace(manifest.entry(local), git_blob=git_blob_id(data), size=len(data)), data


def _serve(root: Path, e: manifest.ManifestEntry, data: bytes) -> None:
    dest = root / e.repo / e.commit / e.path
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)


def test_download_verifies_refuses_and_converts(server, tmp_path):
    root, url = server
    files = [_synthetic("dmcgb/video_easy/video0.mp4", bytes(range(256)) * 8),
             _synthetic("robot/reach.xml", b"<mujoco model='reach'/>\n")]
    good = [e for e, _ in files]
    for e, data in files:
        _serve(root, e, data)
    corrupt, data = _synthetic("dmcgb/video_easy/video1.mp4", bytes(range(255, -1, -1)) * 8)
    data = bytearray(data)
    data[1000] ^= 0xFF  # same size, one flipped byte
    _serve(root, corrupt, bytes(data))
    absent = manifest.entry("dmcgb/video_easy/video3.mp4")  # not served: HTTP 404
    # A colour table in upstream's format (legacy torch pickle of NumPy arrays).
    colors = colour_table(0)
    pt = _legacy_torch_pickle([{k: np.asarray(v) for k, v in d.items()} for d in colors])
    color, _ = _synthetic("dmcgb/color_easy.json", pt)
    _serve(root, color, pt)

    dest = tmp_path / "data"
    out = io.StringIO()
    report = download(manifest=good + [corrupt, absent, color], data_dir=dest, base_url=url, out=out)
    assert sorted(report.fetched) == sorted([e.local for e in good] + [color.local])
    assert report.refused == [corrupt.local] and report.failed == [absent.local] and not report.ok
    for e in good:
        assert git_blob_id_of_file(dest / e.local) == e.git_blob
    assert not (dest / corrupt.local).exists()
    assert not list(dest.rglob("*.part"))  # nothing half-written is left behind
    assert "REFUSED" in out.getvalue() and corrupt.git_blob in out.getvalue()
    assert json.loads((dest / "dmcgb" / "color_easy.json").read_text()) == colors
    assert (dest / "dmcgb" / "color_easy.pt").read_bytes() == pt

    # Second run: verified files are skipped; a file damaged on disk is fetched again.
    (dest / good[1].local).write_text("tampered")
    report = download(manifest=good + [color], data_dir=dest, base_url=url, out=io.StringIO())
    assert sorted(report.skipped) == sorted([good[0].local, color.local])
    assert report.fetched == [good[1].local] and report.ok
    assert git_blob_id_of_file(dest / good[1].local) == good[1].git_blob


def test_cli_main_with_packaged_manifest(server, tmp_path, capsys):
    root, url = server
    e = manifest.entry("robot/shared.xml")
    upstream = needs_data(e.local)  # the packaged manifest's blob id: upstream's very bytes
    _serve(root, e, (upstream / e.local).read_bytes())
    dest = tmp_path / "cli"
    argv = ["robot", "--dir", str(dest), "--base-url", url, "--only", "robot/shared.xml"]
    assert main(argv) == 0
    assert (dest / e.local).read_bytes() == (upstream / e.local).read_bytes()
    assert "1 fetched" in capsys.readouterr().err
    assert main(["robot", "--dir", str(dest), "--base-url", url, "--only", "robot/shared_test1.xml"]) == 1
    with pytest.raises(SystemExit):
        main(["everything"])


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = _legacy_torch_pickle([Evil()])
    with pytest.raises(UnsafePickleError, match=r"refusing to load global .*print"):
        colors_from_legacy_pickle(blob)
    with pytest.raises(pickle.UnpicklingError):
        colors_from_legacy_pickle(pickle.dumps([1, 2, 3]))


def test_force_keeps_the_verified_copy_when_the_mirror_serves_bad_bytes(server, tmp_path):
    root, url = server
    e, good = _synthetic("robot/reach.xml", b"<mujoco model='reach'>\n  <worldbody/>\n</mujoco>\n")
    _serve(root, e, good)
    dest = tmp_path / "data"
    assert download(manifest=[e], data_dir=dest, base_url=url, out=io.StringIO()).fetched == [e.local]

    _serve(root, e, good.replace(b"<", b"[", 1))  # the mirror now serves bad bytes
    out = io.StringIO()
    report = download(manifest=[e], data_dir=dest, base_url=url, force=True, out=out)
    assert report.refused == [e.local] and report.kept == [e.local] and not report.ok
    assert (dest / e.local).read_bytes() == good  # the verified copy survived the --force
    assert "the verified local copy is kept" in out.getvalue()
    assert not list(dest.rglob("*.part"))

    # A mirror serving good bytes: --force downloads again and replaces the copy.
    _serve(root, e, good)
    report = download(manifest=[e], data_dir=dest, base_url=url, force=True, out=io.StringIO())
    assert report.fetched == [e.local] and report.ok and (dest / e.local).read_bytes() == good


def _exit_status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


@pytest.mark.parametrize("argv, needle", [
    (["--base-url", "notaurl"], "--base-url 'notaurl' is not a URL"),
    (["robot", "--base-url", "http://"], "--base-url 'http://' is not a URL"),
    (["--base-url", "ftp://example.org"], "is not a URL"),
    (["--base-url", "http://example.org:99999"], "has an invalid port"),
    (["everything"], "invalid choice: 'everything'"),
    (["robot", "--only", "robot/nothing*"], "--only 'robot/nothing*' matches no file of 'robot'"),
    (["dmcgb", "--per-class", "3", "--keep-archive"], "--per-class, --keep-archive only apply to"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_cli_usage_errors_are_one_line_with_status_2(argv, needle, tmp_path, capsys):
    assert _exit_status(argv + ["--dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and err.startswith("smg-fast data download: error:")
    assert not (tmp_path / "d").exists()  # found before anything is created


def test_bad_mirror_url_in_the_environment_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SMG_FAST_DATA_URL", "raw.githubusercontent.com")
    assert _exit_status(["robot", "--dir", str(tmp_path)]) == 2
    assert "$SMG_FAST_DATA_URL 'raw.githubusercontent.com' is not a URL" in capsys.readouterr().err
    monkeypatch.setenv("SMG_FAST_PLACES365_URL", "nowhere")
    assert _exit_status(["places365", "--dir", str(tmp_path)]) == 2
    assert "$SMG_FAST_PLACES365_URL 'nowhere' is not a URL" in capsys.readouterr().err


def test_cli_runtime_errors_are_one_line_with_status_1(tmp_path, capsys):
    port = _closed_port()
    assert _exit_status(["dmcgb", "--dir", str(tmp_path / "d"), "--base-url", f"http://127.0.0.1:{port}"]) == 1
    lines = capsys.readouterr().err.splitlines()
    # the header, then one error for the whole run (not one per file)
    assert len(lines) == 2 and lines[1].startswith(f"smg-fast data download: error: cannot reach 127.0.0.1:{port}")
    assert "112 file(s) not fetched" in lines[1]

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert _exit_status(["robot", "--dir", str(blocker / "sub"), "--base-url", f"http://127.0.0.1:{port}"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and f"cannot write to the data directory {blocker / 'sub'}" in lines[1]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound, never listening: connections to it are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_errors_through_the_installed_command_show_no_traceback(tmp_path):
    import subprocess
    import sys

    unreachable = f"http://127.0.0.1:{_closed_port()}"
    for argv, status in ((["--base-url", "notaurl"], 2), (["places365", "--base-url", unreachable], 1)):
        proc = subprocess.run([sys.executable, "-m", "smg_fast.cli", "data", "download", "--dir", str(tmp_path),
                               *argv], capture_output=True, text=True, timeout=120)
        assert proc.returncode == status, proc.stderr
        assert "Traceback" not in proc.stderr
        errors = [l for l in proc.stderr.splitlines() if "error:" in l]
        assert len(errors) == 1 and len(errors[0]) < 300, proc.stderr
