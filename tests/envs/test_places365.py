"""Places365 overlay images: download (resume, MD5 refusal, --force), extraction layout, OverlayImages.

A local HTTP server with Range support serves small synthetic archives in the official layouts
(``data_256/<letter>/<class>[/<sub>]/*.jpg``, ``val_256/*.jpg`` plus the file-list archive); their MD5s
are injected in place of the published ones.
"""
from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from smg_fast.data import MissingDataError, places365
from smg_fast.cli.data import main
from smg_fast.data.fetch import LocalWriteError, TransferError, UnreachableError
from smg_fast.data.places365 import ChecksumError, install
from smg_fast.agent.images import OverlayImages

# category path, label, images in the synthetic train archive
CATEGORIES = [("/a/airfield", 0, 3), ("/a/apartment_building/outdoor", 1, 2), ("/b/badlands", 2, 3)]
FOLDERS = {0: "airfield", 1: "apartment_building-outdoor", 2: "badlands"}


def _jpeg(colour: tuple[int, int, int], size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _tar(members: list[tuple[str, bytes]], dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _colour(i: int) -> tuple[int, int, int]:
    return (37 * i + 20) % 256, (91 * i + 60) % 256, (53 * i + 110) % 256


@pytest.fixture(scope="module")
def synthetic():
    """The three archives (bytes) and the images each holds, keyed by destination path."""
    train, train_list, expected_train = [], [], {}
    i = 0
    for cat, label, n in CATEGORIES:
        for k in range(1, n + 1):
            data = _jpeg(_colour(i))
            i += 1
            train.append((f"data_256{cat}/{k:08d}.jpg", data))
            train_list.append(f"{cat}/{k:08d}.jpg {label}")
            expected_train[f"{FOLDERS[label]}/{k:08d}.jpg"] = data
    # Members that must never be written: escapes, absolute paths, non-images, files outside a class.
    hostile = [("data_256/../evil.jpg", b"x"), ("/abs.jpg", b"x"), ("data_256/a/airfield/notes.txt", b"x"),
               ("data_256/stray.jpg", b"x"), ("other/a/airfield/00000009.jpg", b"x")]
    train_tar = _tar(train[:4] + hostile + train[4:], dirs=("data_256", "data_256/a"))

    val, val_list, expected_val = [], [], {}
    for j in range(1, 10):  # 3 validation images per class
        label = (j - 1) % 3
        name = f"Places365_val_{j:08d}.jpg"
        data = _jpeg(_colour(100 + j))
        val.append((f"val_256/{name}", data))
        val_list.append(f"{name} {label}")
        expected_val[f"{FOLDERS[label]}/{name}"] = data
    val_tar = _tar(val)
    categories = "".join(f"{cat} {label}\n" for cat, label, _ in CATEGORIES)
    filelist_tar = _tar([("categories_places365.txt", categories.encode()),
                         ("places365_val.txt", ("\n".join(val_list) + "\n").encode()),
                         ("places365_train_standard.txt", ("\n".join(train_list) + "\n").encode())])
    blobs = {"full": train_tar, "val": val_tar, "filelist": filelist_tar}
    archives = {k: replace(places365.ARCHIVES[k], md5=hashlib.md5(v).hexdigest()) for k, v in blobs.items()}
    archives["full"] = replace(archives["full"], images=len(expected_train))
    archives["val"] = replace(archives["val"], images=len(expected_val))
    return {"blobs": blobs, "archives": archives, "train": expected_train, "val": expected_val}


class _RangeServer(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _RangeHandler)
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.honour_range = True
        self.cut_after: dict[str, int] = {}   # path -> bytes sent before dropping the connection (once)


class _RangeHandler(http.server.BaseHTTPRequestHandler):
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
        if rng and srv.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
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
    srv = _RangeServer()
    for key, blob in synthetic["blobs"].items():
        srv.files[f"/places/{synthetic['archives'][key].name}"] = blob
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/places"
    srv.shutdown()
    srv.server_close()


def _installed_files(dest: Path) -> dict[str, bytes]:
    train = dest / "places365" / "places365_standard" / "train"
    return {p.relative_to(train).as_posix(): p.read_bytes() for p in sorted(train.rglob("*")) if p.is_file()}


def _leftovers(dest: Path) -> list[str]:
    """Staging, old or partial files an install must not leave behind."""
    pdir = dest / "places365"
    return sorted(p.relative_to(pdir).as_posix() for p in pdir.rglob("*")
                  if p.name.startswith(".train.") or p.name.endswith((".part", ".tmp")))


def test_full_install_layout_index_and_overlay(server, synthetic, tmp_path, monkeypatch):
    srv, url = server
    dest = tmp_path / "data"
    out = io.StringIO()
    report = install(dest, base_url=url, archives=synthetic["archives"], out=out)
    # The easy format's layout: one folder per class, sub-categories joined with '-'; same bytes.
    assert _installed_files(dest) == synthetic["train"]
    assert report.images == len(synthetic["train"]) and report.classes == 3 and not report.skipped
    assert report.fetched == [synthetic["archives"]["full"].name]  # no file list needed for the full set
    assert not (tmp_path / "evil.jpg").exists()
    assert not (dest / "places365" / "places365_standard" / "evil.jpg").exists()
    assert not (dest / "places365" / "downloads").exists() and _leftovers(dest) == []  # archive deleted
    record = json.loads((dest / "places365" / "places365.json").read_text())
    assert record["subset"] == "full" and record["per_class"] is None and record["images"] == 8
    assert record["md5"] == synthetic["archives"]["full"].md5
    index = (dest / "places365" / "index.txt").read_text().split()
    assert index == sorted(synthetic["train"], key=lambda r: r.split("/"))
    assert "MD5 verified" in out.getvalue()

    # OverlayImages reads it, from data_dir or from $SMG_FAST_DATA; every image is one constant colour.
    colours = {np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))[0, 0].tobytes()
               for b in synthetic["train"].values()}
    images = OverlayImages("places365", batch_size=16, image_size=84, seed=0, data_dir=dest)
    assert len(images) == 8
    batch = images.sample()
    assert batch.shape == (16, 3, 84, 84) and batch.dtype == np.uint8
    seen = set()
    for img in batch:
        assert (img == img[:, :1, :1]).all()  # a crop of a constant image
        seen.add(img[:, 0, 0].tobytes())
    assert seen <= colours and len(seen) == 8  # 16 draws without replacement cover all 8 images twice
    monkeypatch.setenv("SMG_FAST_DATA", str(dest))
    again = OverlayImages("places365", batch_size=16, image_size=84, seed=0).sample()
    np.testing.assert_array_equal(again, batch)

    # A second run finds it installed and makes no request.
    n = len(srv.requests)
    assert install(dest, base_url=url, archives=synthetic["archives"], out=io.StringIO()).skipped
    assert len(srv.requests) == n


def test_resume_after_a_dropped_connection(server, synthetic, tmp_path):
    srv, url = server
    arc = synthetic["archives"]["full"]
    dest = tmp_path / "data"
    part = dest / "places365" / "downloads" / (arc.name + ".part")
    srv.cut_after[f"/places/{arc.name}"] = 3000
    with pytest.raises(TransferError, match="run the same command again to resume"):
        install(dest, base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert part.stat().st_size == 3000 and not (dest / "places365" / "places365_standard").exists()

    report = install(dest, base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert srv.requests[-1] == (f"/places/{arc.name}", "bytes=3000-")  # only the rest was asked for
    assert report.fetched == [arc.name] and _installed_files(dest) == synthetic["train"]
    assert _leftovers(dest) == []


def test_resume_edge_cases(server, synthetic, tmp_path):
    srv, url = server
    arc = synthetic["archives"]["full"]
    blob = synthetic["blobs"]["full"]
    downloads = tmp_path / "data" / "places365" / "downloads"
    downloads.mkdir(parents=True)
    part = downloads / (arc.name + ".part")

    # A part that is already complete: the server answers 416 and nothing is transferred again.
    part.write_bytes(blob)
    install(tmp_path / "data", base_url=url, archives=synthetic["archives"], out=io.StringIO(), keep_archive=True)
    assert srv.requests[-1] == (f"/places/{arc.name}", f"bytes={len(blob)}-")
    assert (downloads / arc.name).read_bytes() == blob

    # A server that ignores Range: the download restarts from the first byte.
    srv.honour_range = False
    part.write_bytes(b"junk" * 100)
    install(tmp_path / "data", base_url=url, archives=synthetic["archives"], out=io.StringIO(), force=True)
    assert _installed_files(tmp_path / "data") == synthetic["train"]

    # A stale part with wrong bytes, resumed: the MD5 refuses it and deletes it; the next run succeeds.
    srv.honour_range = True
    fresh = tmp_path / "fresh"
    (fresh / "places365" / "downloads").mkdir(parents=True)
    stale = fresh / "places365" / "downloads" / (arc.name + ".part")
    stale.write_bytes(b"\0" * 2048)
    with pytest.raises(ChecksumError, match="nothing was installed"):
        install(fresh, base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert not stale.exists()
    install(fresh, base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert _installed_files(fresh) == synthetic["train"]


def test_bad_bytes_are_refused_and_force_keeps_the_installed_copy(server, synthetic, tmp_path):
    srv, url = server
    arc = synthetic["archives"]["full"]
    bad = bytearray(synthetic["blobs"]["full"])
    bad[len(bad) // 2] ^= 0xFF  # same size, one flipped byte inside an image
    dest = tmp_path / "data"

    srv.files[f"/places/{arc.name}"] = bytes(bad)
    with pytest.raises(ChecksumError, match=f"not the published {arc.md5}"):
        install(dest, base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert not (dest / "places365" / "places365_standard").exists() and _leftovers(dest) == []

    srv.files[f"/places/{arc.name}"] = synthetic["blobs"]["full"]
    install(dest, base_url=url, archives=synthetic["archives"], out=io.StringIO())
    before = _installed_files(dest)
    record = (dest / "places365" / "places365.json").read_bytes()
    index = (dest / "places365" / "index.txt").read_bytes()

    srv.files[f"/places/{arc.name}"] = bytes(bad)
    with pytest.raises(ChecksumError):
        install(dest, base_url=url, archives=synthetic["archives"], out=io.StringIO(), force=True)
    assert _installed_files(dest) == before == synthetic["train"]
    assert (dest / "places365" / "places365.json").read_bytes() == record
    assert (dest / "places365" / "index.txt").read_bytes() == index
    assert _leftovers(dest) == []

    # A verified archive in an unexpected layout is not installed either, and the old copy stays.
    other = _tar([(f"elsewhere/{k}", v) for k, v in synthetic["train"].items()])
    srv.files[f"/places/{arc.name}"] = other
    archives = {**synthetic["archives"], "full": replace(arc, md5=hashlib.md5(other).hexdigest())}
    with pytest.raises(places365.DownloadError, match="held 0 of the 8 expected images"):
        install(dest, base_url=url, archives=archives, out=io.StringIO(), force=True)
    assert _installed_files(dest) == before and _leftovers(dest) == []


def _smallest_hashes(expected: dict[str, bytes], n: int) -> dict[str, bytes]:
    by_class: dict[str, list[str]] = {}
    for rel in expected:
        by_class.setdefault(rel.split("/")[0], []).append(rel)
    keep = [r for rels in by_class.values()
            for r in sorted(rels, key=lambda r: hashlib.sha1(r.encode()).hexdigest())[:n]]
    return {r: expected[r] for r in keep}


def test_val_subset_and_per_class_subsets(server, synthetic, tmp_path):
    srv, url = server
    dest = tmp_path / "data"
    report = install(dest, subset="val", base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert _installed_files(dest) == synthetic["val"]  # classes from the official file list
    assert report.fetched == [synthetic["archives"]["filelist"].name, synthetic["archives"]["val"].name]
    assert places365.installed(dest)["subset"] == "val"

    # Another subset replaces the installed one (not merged into it).
    report = install(dest, subset="val", per_class=2, base_url=url, archives=synthetic["archives"],
                     out=io.StringIO())
    want = _smallest_hashes(synthetic["val"], 2)
    assert _installed_files(dest) == want and report.images == 6
    assert places365.installed(dest)["per_class"] == 2

    # The full archive with --per-class: the selection comes from the train file list.
    report = install(dest, per_class=1, base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert _installed_files(dest) == _smallest_hashes(synthetic["train"], 1) and report.images == 3
    root, rels = places365.image_index(dest)
    assert sorted(r.decode() for r in rels) == sorted(_smallest_hashes(synthetic["train"], 1))
    assert _leftovers(dest) == []


def test_missing_places365_names_the_download_command(tmp_path):
    with pytest.raises(MissingDataError, match="smg-fast data download places365"):
        OverlayImages("places365", batch_size=2, data_dir=tmp_path)
    with pytest.raises(ValueError, match="'places365', 'folder:PATH' or 'procedural'"):
        OverlayImages("places", batch_size=2)


def test_folder_installed_by_other_means_is_scanned(tmp_path):
    """A hand-extracted easy-format folder (no record, no index) works too, as upstream reads it."""
    train = tmp_path / "places365" / "places365_standard" / "train"
    for cls, colour in (("alley", (10, 20, 30)), ("arch", (200, 100, 50))):
        (train / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32), colour).save(train / cls / "00000001.png")
    (train / "top_level.png").write_bytes(b"not in a class folder: ImageFolder ignores it")
    root, rels = places365.image_index(tmp_path)
    assert root == train and [r.decode() for r in rels] == ["alley/00000001.png", "arch/00000001.png"]
    batch = OverlayImages("places365", batch_size=2, data_dir=tmp_path).sample()
    assert sorted(tuple(b[:, 0, 0]) for b in batch) == [(10, 20, 30), (200, 100, 50)]


def test_disk_space_is_checked_before_downloading(server, synthetic, tmp_path, monkeypatch):
    srv, url = server
    from types import SimpleNamespace

    from smg_fast.data import fetch as fetch_mod

    monkeypatch.setattr(fetch_mod.shutil, "disk_usage", lambda p: SimpleNamespace(total=10**9, used=10**9, free=100))
    with pytest.raises(LocalWriteError, match=r"downloading train_256_places365standard.tar needs \d+ kB free "
                                              r"in .*, only 0 kB available"):
        install(tmp_path / "data", base_url=url, archives=synthetic["archives"], out=io.StringIO())
    assert srv.requests and not list((tmp_path / "data").rglob("*.part"))  # refused before writing


def test_cli(server, synthetic, tmp_path, monkeypatch, capsys):
    srv, url = server
    monkeypatch.setattr(places365, "ARCHIVES", synthetic["archives"])
    dest = tmp_path / "cli"
    assert main(["places365", "--subset", "val", "--per-class", "1", "--keep-archive", "--dir", str(dest),
                 "--base-url", url]) == 0
    assert _installed_files(dest) == _smallest_hashes(synthetic["val"], 1)
    assert (dest / "places365" / "downloads" / synthetic["archives"]["val"].name).is_file()  # kept
    capsys.readouterr()

    # A mirror serving bad bytes: one error line, exit 1, the installed copy kept.
    srv.files[f"/places/{synthetic['archives']['val'].name}"] = b"\0" * 512
    assert main(["places365", "--subset", "val", "--per-class", "1", "--force", "--dir", str(dest),
                 "--base-url", url]) == 1
    err = [l for l in capsys.readouterr().err.splitlines() if "error" in l]
    assert len(err) == 1 and "MD5" in err[0] and "nothing was installed or changed" in err[0]
    assert _installed_files(dest) == _smallest_hashes(synthetic["val"], 1)

    # Usage errors: one line, exit 2, whether argparse or the downloader finds them.
    for argv, needle in ((["places365", "--per-class", "0"], "--per-class"),
                         (["places365", "--subset", "tiny"], "--subset"),
                         (["places365", "--base-url", "notaurl"], "--base-url 'notaurl' is not a URL"),
                         (["dmcgb", "--subset", "val"], "--subset only applies to")):
        assert _exit_status(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def _exit_status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_unreachable_mirror(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UnreachableError, match=f"cannot reach 127.0.0.1:{port}"):
        install(tmp_path, base_url=f"http://127.0.0.1:{port}", out=io.StringIO())


def test_check_overlay_source_matches_what_overlay_images_raises(tmp_path):
    from smg_fast.agent.images import check_overlay_source

    check_overlay_source("procedural")
    with pytest.raises(MissingDataError, match="smg-fast data download places365"):
        check_overlay_source("places365", tmp_path)
    train = tmp_path / "places365" / "places365_standard" / "train"
    train.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="is empty"):
        check_overlay_source("places365", tmp_path)
    (train / "arch").mkdir()
    Image.new("RGB", (8, 8)).save(train / "arch" / "1.png")
    check_overlay_source("places365", tmp_path)
    check_overlay_source(f"folder:{tmp_path / 'places365'}")  # the places365_standard/train inside it
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_overlay_source(f"folder:{tmp_path / 'nonexistent'}")
    with pytest.raises(FileNotFoundError, match="no images"):
        check_overlay_source(f"folder:{_empty_dir(tmp_path)}")
    for bad in ("places", "folder", 3):
        with pytest.raises(ValueError, match="unknown overlay source"):
            check_overlay_source(bad)
        with pytest.raises(ValueError, match="unknown overlay source"):
            OverlayImages(bad, batch_size=2)


def _empty_dir(tmp_path: Path) -> Path:
    d = tmp_path / "no-images"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "readme.txt").write_text("not an image")
    return d
