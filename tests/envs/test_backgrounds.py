"""Background sources beyond upstream (folder videos, procedural) and the overlay-image loader."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from smg_fast import envs
from smg_fast.agent.images import OverlayImages, random_resized_crop_box
from smg_fast.envs.backgrounds import folder_videos, greenscreen, resized_cache_dir
from smg_fast.ops.reference import greenscreen as reference_greenscreen

COLOURS = [(255, 0, 0), (0, 0, 255), (250, 250, 20)]


def _write_video(path, colour, n=6, size=64):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(n):
            img = np.zeros((size, size, 3), np.uint8)
            img[:] = colour
            img[:, : 8 * (t + 1)] = 128  # a band that grows over time
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())


def test_folder_videos_natural_order_and_disk_cache(tmp_path, monkeypatch):
    for i, c in zip((2, 10, 1), COLOURS):
        _write_video(tmp_path / f"clip{i}.mp4", c)
    monkeypatch.setenv("SMG_FAST_CACHE", str(tmp_path / "cache"))
    seq = folder_videos(tmp_path, (32, 32))
    assert [n.rsplit("/", 1)[1] for n in seq.names] == ["clip1.mp4", "clip2.mp4", "clip10.mp4"]
    name, frames = seq.next()  # upstream order: the second item first
    assert name.endswith("clip2.mp4") and frames.shape == (6, 3, 32, 32) and frames.dtype == np.uint8
    assert abs(int(frames[0, 0, 16, 30]) - 255) < 10  # red, away from the grey band (lossy codec)
    assert not np.array_equal(frames[0], frames[5])
    cached = list((tmp_path / "cache" / "resized").glob("clip2-*.npy"))
    assert len(cached) == 1 and np.array_equal(np.load(cached[0]), frames)
    assert resized_cache_dir() == tmp_path / "cache" / "resized"
    monkeypatch.setenv("SMG_FAST_CACHE", "none")
    assert resized_cache_dir() is None


def test_folder_video_source_in_an_env(tmp_path):
    for i, c in enumerate(COLOURS):
        _write_video(tmp_path / f"v{i}.mp4", c)
    env = envs.make("walker-walk", "video_easy", seed=0, episode_length=8, background_source=f"folder:{tmp_path}")
    obs, info = env.reset()
    assert info["video"].endswith("v1.mp4")
    np.testing.assert_array_equal(obs[-3:, 0, -1], env.background_frame[:, 0, -1])  # keyed sky corner
    env.close()


def test_greenscreen_helper_matches_reference():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (3, 84, 84), dtype=np.uint8)
    frame[:, :20] = np.array([51, 204, 51], np.uint8)[:, None, None]
    bg = rng.integers(0, 256, (3, 84, 84), dtype=np.uint8)
    bg.setflags(write=False)  # cached backgrounds are read-only
    np.testing.assert_array_equal(greenscreen(frame, bg), reference_greenscreen(frame, bg))


def test_random_resized_crop_boxes_stay_inside():
    rng = np.random.default_rng(0)
    for w, h in ((256, 256), (300, 120), (40, 400)):
        for _ in range(200):
            left, top, cw, ch = random_resized_crop_box(rng, w, h)
            assert 0 <= left and 0 <= top and 0 < cw and 0 < ch and left + cw <= w and top + ch <= h


def test_overlay_images_from_a_folder(tmp_path):
    sub = tmp_path / "places365_standard" / "train" / "classA"  # upstream's layout is honoured
    sub.mkdir(parents=True)
    for i, c in enumerate(COLOURS):
        Image.new("RGB", (120 + 40 * i, 100), c).save(sub / f"img{i}.png")
    (tmp_path / "ignored.png").write_bytes(b"not under places365_standard/train")
    a = OverlayImages(f"folder:{tmp_path}", batch_size=6, seed=0)
    assert len(a) == 3
    batch = a.sample()
    assert batch.shape == (6, 3, 84, 84) and batch.dtype == np.uint8
    seen = {tuple(img[:, 0, 0]) for img in batch}
    assert seen <= set(COLOURS) and len(seen) == 3  # each epoch shows every image once
    for img in batch:
        assert (img == img[:, :1, :1]).all()  # a flat image stays flat under crop/resize/flip
    b = OverlayImages(f"folder:{tmp_path}", batch_size=6, seed=0).sample()
    np.testing.assert_array_equal(batch, b)
    with pytest.raises(FileNotFoundError):
        OverlayImages(f"folder:{tmp_path / 'empty'}", batch_size=2)


def test_overlay_flip_and_crop_act_on_content(tmp_path):
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :50] = 255  # white left half
    Image.fromarray(img).save(tmp_path / "half.png")
    batch = np.concatenate([OverlayImages(f"folder:{tmp_path}", batch_size=16, seed=s).sample() for s in range(2)])
    left_white = batch[:, 0, 42, 0] > 128
    right_white = batch[:, 0, 42, -1] > 128
    assert left_white.any() and right_white.any()  # flipped and unflipped crops both occur


def test_procedural_overlay_images():
    a = OverlayImages("procedural", batch_size=4, seed=3).sample()
    b = OverlayImages("procedural", batch_size=4, seed=3).sample()
    assert a.shape == (4, 3, 84, 84) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1])


def test_overlay_stream_state_resumes_mid_order(tmp_path):
    """A restored stream continues exactly: same images, same crops and flips, mid-way through its
    shuffled order and across the reshuffle."""
    from PIL import Image

    from smg_fast.agent.images import OverlayImages

    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    a = OverlayImages(f"folder:{tmp_path}", 2, 16, seed=3)
    a.sample()
    state = a.state_dict()
    want = [a.sample() for _ in range(4)]  # 8 images: the rest of this order and part of the next
    b = OverlayImages(f"folder:{tmp_path}", 2, 16, seed=99)
    b.load_state_dict(state)
    got = [b.sample() for _ in range(4)]
    assert all(np.array_equal(x, y) for x, y in zip(got, want))
