"""smg_fast.run.pictures (explanation grids, episode videos) and smg_fast.experiments.run_curves (learning curves).

A tiny SMG agent with random weights is enough: these tests check the pictures' layout, content
routing and file formats, not what a trained agent has learned. Envs run a few steps only (cartpole's
action repeat is 8, so ``episode_length=24`` is a 3-step episode)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from smg_fast.experiments import run_curves as plots

from smg_fast.run import pictures as visualize
from smg_fast.agent import make_agent
from smg_fast.config import make_config

TASK = "cartpole-swingup"
TILE = 84 * 2  # explain_grid's default scale
GRID_W = 6 * TILE + 5 * visualize._GAP
# Procedural backgrounds keep the video mode independent of which DMC-GB files are present.
ENV_KW = dict(episode_length=24, background_source="procedural")


def _fast_orthogonal_(tensor, gain=1.0):
    """Scaled Gaussian in place of orthogonal init: the QR of the 14112×256 projections costs ~5-10 s
    on 2 cores, and these tests need random weights, not orthogonal ones."""
    with torch.no_grad():
        return tensor.normal_(0.0, gain / max(1, tensor[0].numel()) ** 0.5)


@pytest.fixture(scope="module")
def agent():
    from smg_fast.agent.images import OverlayImages

    cfg = make_config(TASK, "smg", "quick")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.nn.init, "orthogonal_", _fast_orthogonal_)
        return make_agent(cfg, (9, 84, 84), 1, OverlayImages("procedural", 4, 84, seed=0).sample)


def _obs(n: int, seed: int = 0) -> np.ndarray:
    """Stacks whose three frames differ, so "newest frame" is checkable."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 9, 84, 84), dtype=np.uint8)


def _tile(grid: np.ndarray, n: int, row: int, col: int, left: int = 0) -> np.ndarray:
    label_h = grid.shape[0] - n * TILE - (n - 1) * visualize._GAP
    y, x = label_h + row * (TILE + visualize._GAP), left + col * (TILE + visualize._GAP)
    return grid[y:y + TILE, x:x + TILE]


# ---- explain_grid ------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 8])
def test_explain_grid_layout_and_columns(agent, n):
    obs = _obs(n)
    noise = np.zeros((n, 3, 84, 84), np.uint8)
    grid = visualize.explain_grid(agent, obs, noise)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    assert grid.shape[1] == GRID_W
    assert 8 <= grid.shape[0] - n * TILE - (n - 1) * visualize._GAP <= 40  # one label line on top

    ref = agent.explain(obs, noise)
    for i in range(n):
        tiles = {name: _tile(grid, n, i, c) for c, name in enumerate(visualize.COLUMNS)}
        # the observation column is the newest frame (last 3 channels), upscaled with nearest
        newest = obs[i, -3:].transpose(1, 2, 0)
        assert np.array_equal(tiles["observation"], newest.repeat(2, 0).repeat(2, 1))
        assert not np.array_equal(tiles["observation"][::2, ::2], obs[i, :3].transpose(1, 2, 0))
        # the mask is grey: R = G = B = round(255·M) of the newest frame
        m = tiles["mask"]
        assert np.array_equal(m[..., 0], m[..., 1]) and np.array_equal(m[..., 0], m[..., 2])
        expect = np.clip(np.rint(ref["mask"][i, -1].numpy() * 255), 0, 255).astype(np.uint8)
        assert np.array_equal(m[::2, ::2, 0], expect)
        # the model outputs are neither the observation nor each other
        for a, b in [("observation", "reconstruction"), ("observation", "attribution"),
                     ("foreground", "predicted background"), ("foreground", "reconstruction")]:
            assert not np.array_equal(tiles[a], tiles[b]), (a, b)


def test_explain_grid_row_labels_widen(agent):
    plain = visualize.explain_grid(agent, _obs(2), None)
    labelled = visualize.explain_grid(agent, _obs(2), None, row_labels=["train", "video_easy"])
    assert labelled.shape[0] == plain.shape[0] and labelled.shape[1] > plain.shape[1]
    left = labelled.shape[1] - GRID_W
    assert np.array_equal(_tile(labelled, 2, 1, 0, left), _obs(2)[1, -3:].transpose(1, 2, 0).repeat(2, 0).repeat(2, 1))
    with pytest.raises(ValueError, match="row labels"):
        visualize.explain_grid(agent, _obs(2), None, row_labels=["only one"])


def test_explain_grid_input_errors(agent):
    from smg_fast.agent import SACAgent

    sac = SACAgent.__new__(SACAgent)  # SAC/DrQ have no explain(); skip building its networks (seconds)
    with pytest.raises(TypeError, match="SMG"):
        visualize.explain_grid(sac, _obs(1), None)
    with pytest.raises(ValueError, match="uint8"):
        visualize.explain_grid(agent, _obs(1).astype(np.float32), None)
    with pytest.raises(ValueError, match=r"\[N, 3k, H, W\]"):
        visualize.explain_grid(agent, np.zeros((1, 4, 84, 84), np.uint8), None)
    with pytest.raises(ValueError, match="noise holds 2 images for 3"):
        visualize.explain_grid(agent, _obs(3), np.zeros((2, 3, 84, 84), np.uint8))


# ---- rollouts: mode grids and videos ---------------------------------------------------------------

def test_save_mode_grids_writes_pngs(agent, tmp_path):
    from PIL import Image

    modes = ["train", "video_easy"]
    # 4 samples 1 step apart in 3-step episodes: the rollout crosses an episode end.
    paths = visualize.save_mode_grids(agent, TASK, modes, tmp_path / "out", steps_per_episode_sample=1,
                                      env_kwargs=ENV_KW, progress=False)
    assert [p.name for p in paths] == ["explain_train.png", "explain_video_easy.png", "explain_all_modes.png"]
    for p in paths[:2]:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.mode == "RGB"
            assert im.width == GRID_W and im.height > 4 * TILE
    with Image.open(paths[2]) as im:
        assert im.width > GRID_W and 2 * TILE < im.height < 3 * TILE  # 2 labelled rows
    with pytest.raises(ValueError, match="at least one mode"):
        visualize.save_mode_grids(agent, TASK, [], tmp_path, progress=False)


def test_save_episode_video_decodes(agent, tmp_path):
    import av

    kw = dict(ENV_KW, episode_length=200)  # 25 steps: max_steps stops it
    path = visualize.save_episode_video(agent, TASK, "video_easy", tmp_path / "ep.mp4", max_steps=10,
                                        env_kwargs=kw, progress=False)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 11  # reset observation + one per step
    h, w, _ = frames[0].shape
    assert h % 2 == 0 and w % 2 == 0
    assert w == 4 * 84 * 3 + 3 * visualize._GAP and h > 84 * 3
    # the observation panel shows the cartpole scene, not a blank canvas
    assert frames[-1][30:30 + 252, :252].std() > 5


def test_save_episode_video_whole_episode(agent, tmp_path):
    import av

    path = visualize.save_episode_video(agent, TASK, "train", tmp_path / "ep.mp4", env_kwargs=ENV_KW,
                                        progress=False)
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4  # 3-step episode


# ---- plot_learning_curves ------------------------------------------------------------------------

def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(rows)


def _run(root: Path, name: str, seed: int, algo: str = "smg", eval_col: str = "mean_return", **settings) -> Path:
    run = root / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": TASK, "algo": algo, "seed": seed, **settings}))
    _write_csv(run / "eval.csv", ["step", "mode", eval_col, "std_return", "returns"],
               [{"step": s, "mode": m, eval_col: s / 10 + seed, "std_return": 1.0, "returns": "1 2"}
                for s in (0, 1000, 2000) for m in ("train", "video_easy")])
    # update-metric rows have no episode_return: they must be skipped, not break the curve
    _write_csv(run / "train.csv", ["step", "episode_return", "critic_loss"],
               [{"step": s, "episode_return": s / 20 if s % 250 == 0 else "", "critic_loss": 0.5}
                for s in range(0, 2001, 125)])
    return run


def test_plot_learning_curves_writes_png(tmp_path):
    from PIL import Image

    runs = [_run(tmp_path, "smg-0", 0), _run(tmp_path, "smg-1", 2),
            _run(tmp_path, "sac-0", 0, algo="sac", eval_col="episode_return")]
    out = plots.plot_learning_curves(runs, tmp_path / "plots" / "curves.png", random_return=25.0)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 400 and im.height > 300

    evals, trains, _ = plots.load_runs(runs[:2])
    steps, means, stds, counts = plots.aggregate(evals[("smg", "video_easy")])
    assert steps == [0, 1000, 2000] and means == [1, 101, 201] and stds == [1, 1, 1] and counts == [2, 2, 2]
    assert sorted(trains[("smg", "")][0]) == list(range(0, 2001, 250))


def test_runs_with_different_settings_are_separate_groups(tmp_path):
    runs = [_run(tmp_path, "a0", 0, critic_tau=0.01, run_dir="a0", train_steps=10),
            _run(tmp_path, "a1", 1, critic_tau=0.01, run_dir="a1", train_steps=20),
            _run(tmp_path, "b0", 0, critic_tau=0.05, run_dir="b0"),
            _run(tmp_path, "drq", 0, algo="drq", critic_tau=0.5)]
    assert plots._group_labels(runs) == ["smg critic_tau=0.01", "smg critic_tau=0.01", "smg critic_tau=0.05", "drq"]
    evals, _, _ = plots.load_runs(runs)
    assert len(evals[("smg critic_tau=0.01", "train")]) == 2  # seeds averaged, other settings apart
    assert len(evals[("smg critic_tau=0.05", "train")]) == 1 and len(evals[("drq", "train")]) == 1


def test_plot_learning_curves_eval_only_and_preference(tmp_path):
    run = tmp_path / "r"
    run.mkdir()  # no config.json, no train.csv; both return columns: mean_return wins
    _write_csv(run / "eval.csv", ["step", "mode", "episode_return", "mean_return"],
               [{"step": 0, "mode": "train", "episode_return": 1, "mean_return": 5},
                {"step": 10, "mode": "train", "episode_return": 2, "mean_return": 7}])
    assert plots.plot_learning_curves([run], tmp_path / "c.png").is_file()
    evals, trains, _ = plots.load_runs([run])
    assert evals == {("", "train"): [{0.0: 5.0, 10.0: 7.0}]} and trains == {}


def test_plot_learning_curves_errors(tmp_path):
    out = tmp_path / "c.png"
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_learning_curves([], out)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plots.plot_learning_curves([tmp_path / "nope"], out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="neither eval.csv nor train.csv"):
        plots.plot_learning_curves([empty], out)
    no_step = tmp_path / "no_step"
    no_step.mkdir()
    _write_csv(no_step / "eval.csv", ["mode", "mean_return"], [{"mode": "train", "mean_return": 1}])
    with pytest.raises(ValueError, match="no 'step' column"):
        plots.plot_learning_curves([no_step], out)
    no_ret = tmp_path / "no_ret"
    no_ret.mkdir()
    _write_csv(no_ret / "eval.csv", ["step", "mode", "score"], [{"step": 0, "mode": "train", "score": 1}])
    with pytest.raises(ValueError, match="no return column"):
        plots.plot_learning_curves([no_ret], out)
    blank = tmp_path / "blank"
    blank.mkdir()
    _write_csv(blank / "eval.csv", ["step", "mode", "mean_return"], [{"step": 0, "mode": "train", "mean_return": ""}])
    with pytest.raises(ValueError, match="no numeric"):
        plots.plot_learning_curves([blank], out)
    assert not out.exists()
