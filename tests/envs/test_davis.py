"""DAVIS-2017 download for distracting_cs: terms shown and accepted, resume, size / SHA-256 refusal, safe
extraction with a file manifest, the command line, and the environments reading the result.

A local HTTP server with Range support serves a small synthetic archive in the official layout
(``DAVIS/JPEGImages/480p/<video>/%05d.jpg``, plus annotations and image sets); its size and SHA-256 replace
the pinned ones.
"""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import threading
import zipfile
import zlib
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from smg_fast import envs
from smg_fast.data import davis
from smg_fast.data.davis import ChecksumError, install
from smg_fast.cli.data import main
from smg_fast.data.fetch import TransferError, UsageError
from smg_fast.envs.distracting.settings import DAVIS_TRAIN_VIDEOS

VIDEOS = {name: 3 for name in DAVIS_TRAIN_VIDEOS[:2]}  # intensity 0.025/0.05 needs these two


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 18), ((40 * i) % 256, 90, (200 - 30 * i) % 256)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DAVIS/", b"")  # directory entries, as the real archive has
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def synthetic():
    files = {}
    for v, (name, n) in enumerate(VIDEOS.items()):
        for i in range(n):
            files[f"DAVIS/JPEGImages/480p/{name}/{i:05d}.jpg"] = _jpeg(10 * v + i)
            files[f"DAVIS/Annotations/480p/{name}/{i:05d}.png"] = b"\x89PNG fake mask"
    files["DAVIS/ImageSets/2017/train.txt"] = ("\n".join(VIDEOS) + "\n").encode()
    files["DAVIS/README.md"] = b"synthetic"
    hostile = {"../evil.jpg": b"x", "/abs.jpg": b"x", "elsewhere/file.txt": b"x", "DAVIS/../evil2.txt": b"x"}
    blob = _zip({**files, **hostile})
    archive = replace(davis.ARCHIVE, size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    return {"blob": blob, "archive": archive, "files": files}


class _Server(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: dict[str, int] = {}


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start, rng = 0, self.headers.get("Range")
        if rng:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cut_after.pop(self.path, None)
        self.wfile.write(body if cut is None else body[:cut])


@pytest.fixture
def server(synthetic):
    srv = _Server()
    srv.files[f"/davis/{synthetic['archive'].name}"] = synthetic["blob"]
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/davis"
    srv.shutdown()
    srv.server_close()


def _installed(dest) -> dict[str, bytes]:
    root = dest / "davis"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "DAVIS").rglob("*")) if p.is_file()}


def _leftovers(dest) -> list[str]:
    root = dest / "davis"
    return sorted(p.name for p in root.rglob("*") if p.name.startswith(".DAVIS.") or p.name.endswith((".part", ".tmp")))


def test_pinned_archive_is_the_one_upstream_names():
    """DMC-GB's README: wget https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip.
    Size and SHA-256 as TensorFlow Datasets records them for that URL (video/davis/checksums.tsv)."""
    assert f"{davis.DEFAULT_BASE_URL}/{davis.ARCHIVE.name}" == \
        "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip"
    assert davis.ARCHIVE.size == 832_766_765
    assert davis.ARCHIVE.sha256 == "e3d0b5b77c3d031b000a19e0e25e3e2cac65d183755601bc2cf066df1a2aa492"


def test_install_shows_terms_verifies_extracts_and_lists(server, synthetic, tmp_path):
    srv, url = server
    dest = tmp_path / "data"
    out = io.StringIO()
    with pytest.raises(UsageError, match="not accepted; nothing was downloaded"):
        install(dest, base_url=url, archive=synthetic["archive"], out=out, ask=lambda terms: False)
    assert "DAVIS is released under the BSD License" in out.getvalue() and not srv.requests
    assert not (dest / "davis").exists()

    out = io.StringIO()
    asked = []
    report = install(dest, base_url=url, archive=synthetic["archive"], out=out,
                     ask=lambda terms: asked.append(terms) or True)
    assert asked and "davischallenge.org/davis2017" in asked[0]
    assert out.getvalue().index("terms of use") < out.getvalue().index("downloading")  # terms first
    assert _installed(dest) == synthetic["files"]  # hostile members nowhere
    assert not (tmp_path / "evil.jpg").exists() and not (dest / "evil2.txt").exists()
    assert not (dest / "davis" / "downloads").exists() and _leftovers(dest) == []  # archive deleted
    assert report.videos == 2 and report.files == len(synthetic["files"]) and report.fetched
    lines = (dest / "davis" / "MANIFEST.tsv").read_text().splitlines()
    assert lines[0] == "path\tsize\tcrc32"
    listed = {p: (int(s), c) for p, s, c in (ln.split("\t") for ln in lines[1:])}
    assert listed == {p: (len(b), f"{zlib.crc32(b):08x}") for p, b in synthetic["files"].items()}
    record = json.loads((dest / "davis" / "davis.json").read_text())
    assert record["sha256"] == synthetic["archive"].sha256 and record["frames"] == 6 and record["videos"] == 2
    assert "size and SHA-256 verified" in out.getvalue()

    # The environments read it (data_dir or $SMG_FAST_DATA), and a second install does nothing.
    env = envs.make("cartpole-swingup", "distracting_cs", distracting_cs_intensity=0.05, data_dir=dest,
                    frame_stack=1)
    _, info = env.reset()
    assert info["video"] in VIDEOS
    env.close()
    n = len(srv.requests)
    assert install(dest, base_url=url, archive=synthetic["archive"], out=io.StringIO()).skipped
    assert len(srv.requests) == n


def test_resume_after_a_dropped_connection(server, synthetic, tmp_path):
    srv, url = server
    arc = synthetic["archive"]
    dest = tmp_path / "data"
    part = dest / "davis" / "downloads" / (arc.name + ".part")
    srv.cut_after[f"/davis/{arc.name}"] = 2000
    with pytest.raises(TransferError, match="run the same command again to resume"):
        install(dest, base_url=url, archive=arc, accept_licence=True, out=io.StringIO())
    assert part.stat().st_size == 2000 and not (dest / "davis" / "DAVIS").exists()
    install(dest, base_url=url, archive=arc, accept_licence=True, out=io.StringIO(), keep_archive=True)
    assert srv.requests[-1] == (f"/davis/{arc.name}", "bytes=2000-")  # only the rest was asked for
    assert _installed(dest) == synthetic["files"]
    assert (dest / "davis" / "downloads" / arc.name).read_bytes() == synthetic["blob"]  # --keep-archive


def test_wrong_bytes_or_size_are_refused_and_the_installed_copy_stays(server, synthetic, tmp_path):
    srv, url = server
    arc = synthetic["archive"]
    dest = tmp_path / "data"
    bad = bytearray(synthetic["blob"])
    bad[len(bad) // 3] ^= 0xFF  # same size, one flipped byte
    srv.files[f"/davis/{arc.name}"] = bytes(bad)
    with pytest.raises(ChecksumError, match=f"SHA-256 .*not the pinned {arc.sha256}"):
        install(dest, base_url=url, archive=arc, accept_licence=True, out=io.StringIO())
    assert not (dest / "davis" / "DAVIS").exists() and _leftovers(dest) == []

    srv.files[f"/davis/{arc.name}"] = synthetic["blob"]
    install(dest, base_url=url, archive=arc, accept_licence=True, out=io.StringIO())
    before = _installed(dest)
    manifest = (dest / "davis" / "MANIFEST.tsv").read_bytes()
    srv.files[f"/davis/{arc.name}"] = synthetic["blob"] + b"trailing"
    with pytest.raises(ChecksumError, match=f"{len(synthetic['blob']) + 8} bytes, not the pinned {arc.size}"):
        install(dest, base_url=url, archive=arc, accept_licence=True, out=io.StringIO(), force=True)
    assert _installed(dest) == before and (dest / "davis" / "MANIFEST.tsv").read_bytes() == manifest
    assert _leftovers(dest) == []

    # A verified archive without frames in the expected layout installs nothing either.
    other = _zip({"DAVIS/README.md": b"no frames"})
    srv.files[f"/davis/{arc.name}"] = other
    other_arc = replace(arc, size=len(other), sha256=hashlib.sha256(other).hexdigest())
    with pytest.raises(davis.DownloadError, match="holds no frames"):
        install(dest, base_url=url, archive=other_arc, accept_licence=True, out=io.StringIO(), force=True)
    assert _installed(dest) == before and _leftovers(dest) == []


def test_command_line(server, synthetic, tmp_path, monkeypatch, capsys):
    srv, url = server
    monkeypatch.setattr(davis, "ARCHIVE", synthetic["archive"])
    dest = tmp_path / "data"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no prompt
    assert main(["davis", "--base-url", url, "--dir", str(dest)]) == 2
    err = capsys.readouterr().err
    assert "terms of use" in err and err.strip().splitlines()[-1].startswith("smg-fast data download: error: the "
                                                                             "DAVIS terms above were not accepted")
    assert main(["davis", "--subset", "val", "--dir", str(dest)]) == 2
    assert "--subset only applies to `smg-fast data download places365`" in capsys.readouterr().err
    assert main(["robot", "--accept-licence", "--dir", str(dest)]) == 2
    assert main(["davis", "--accept-licence", "--base-url", url, "--dir", str(dest)]) == 0
    assert _installed(dest) == synthetic["files"]
    monkeypatch.setenv("SMG_FAST_DATA", str(dest))  # an existing copy, found offline
    assert davis.video_folders(list(VIDEOS))[0] == str(dest / "davis" / "DAVIS" / "JPEGImages" / "480p" / "bear")
    frames = envs.make("finger-spin", "distracting_cs", distracting_cs_intensity=0.025, frame_stack=1)
    obs, _ = frames.reset()
    assert obs.shape == (3, 84, 84) and np.unique(obs).size > 10
    frames.close()
