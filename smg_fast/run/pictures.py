"""Pictures and videos of what an SMG agent sees, like the paper's Figure 4.

    >>> img = explain_grid(agent, obs_uint8, noise_uint8)     # HWC uint8, one row per sample
    >>> save_mode_grids(agent, "walker-walk", ["train", "video_hard"], "out/")
    >>> save_episode_video(agent, "walker-walk", "video_hard", "out/video_hard.mp4")

Every panel shows the *newest* frame of the stack (the last 3 channels; frames are stacked oldest
first), so a panel is what the agent saw at that step. Columns (Figure 4 order, plus the foreground):

    observation | mask | foreground F·M | predicted background G | attribution | reconstruction

All of it goes through :meth:`SMGAgent.explain`; SAC/DrQ agents learn no mask or background model and
are refused with a ``TypeError``.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

COLUMNS = ("observation", "mask", "foreground", "predicted background", "attribution", "reconstruction")
# Keys of SMGAgent.explain's dict, in COLUMNS order.
_EXPLAIN_KEYS = ("obs", "mask", "foreground", "background", "attribution", "reconstruction")
VIDEO_COLUMNS = ("observation", "mask", "attribution", "reconstruction")

_BG = (255, 255, 255)
_FG = (0, 0, 0)
_GAP = 2  # pixels between tiles


# ----------------------------------------------------------------------------------------------------
# Small image helpers.

def _require_explain(agent) -> None:
    if not callable(getattr(agent, "explain", None)):
        raise TypeError(f"visualisation needs an SMG agent (smg_fast.agent.SMGAgent, algo='smg'); "
                        f"{type(agent).__name__} has no explain(): SAC/DrQ learn no mask or background model")


def _font(size: int = 12):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 or no FreeType: the fixed bitmap font (about 11 px)
        return ImageFont.load_default()


def _text_size(text: str, font) -> tuple[int, int]:
    from PIL import Image, ImageDraw

    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=font)
    return right - left, bottom


def _to_uint8(x) -> np.ndarray:
    """Float tensor/array on the 0-255 scale → uint8 (rounded, clipped: decoder outputs may overshoot)."""
    x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _newest_rgb(stack) -> np.ndarray:
    """[N, 3k, H, W] (0-255) → newest frame as uint8 HWC images [N, H, W, 3]."""
    return _to_uint8(stack[:, -3:]).transpose(0, 2, 3, 1)


def _newest_mask(mask) -> np.ndarray:
    """[N, k, H, W] in [0, 1] → newest frame's mask as greyscale uint8 [N, H, W, 3]."""
    grey = _to_uint8(mask[:, -1] * 255)
    return np.repeat(grey[..., None], 3, axis=-1)


def _upscale(img: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscale of HWC images (keeps the pixels the agent saw, no blur)."""
    return img if scale == 1 else img.repeat(scale, axis=-3).repeat(scale, axis=-2)


def _check_obs(obs) -> np.ndarray:
    obs = np.asarray(obs)
    if obs.ndim == 3:
        obs = obs[None]
    if obs.ndim != 4 or obs.shape[1] % 3 != 0:
        raise ValueError(f"observations must be uint8 [N, 3k, H, W] (k RGB frames); got shape {obs.shape}")
    if obs.dtype != np.uint8:
        raise ValueError(f"observations must be uint8 (raw pixels); got {obs.dtype}")
    return obs


def _noise_for(noise, n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """The attribution's replacement images, uint8 [n, 3, H, W]: the given ones (one image is repeated
    for every sample), or procedural images when none are given."""
    if noise is None:
        from smg_fast.agent.images import OverlayImages

        return OverlayImages("procedural", n, size[0], seed).sample()
    noise = np.asarray(noise)
    if noise.ndim == 3:
        noise = noise[None]
    if noise.dtype != np.uint8 or noise.ndim != 4 or noise.shape[1] != 3 or tuple(noise.shape[2:]) != size:
        raise ValueError(f"noise must be uint8 [N, 3, {size[0]}, {size[1]}] or [3, H, W]; "
                         f"got {noise.dtype} {noise.shape}")
    if noise.shape[0] == 1 and n > 1:
        noise = np.repeat(noise, n, axis=0)
    if noise.shape[0] != n:
        raise ValueError(f"noise holds {noise.shape[0]} images for {n} observations")
    return np.ascontiguousarray(noise)


def explain_panels(agent, obs_uint8, noise_uint8=None, keys: Sequence[str] = _EXPLAIN_KEYS,
                   chunk: int = 64, bar=None) -> dict[str, np.ndarray]:
    """``agent.explain`` on the newest frame, as uint8 HWC image batches ``{key: [N, H, W, 3]}``.
    Runs in chunks so a long episode does not hold all activations at once; ``bar`` (tqdm) advances by the
    observations of each chunk."""
    _require_explain(agent)
    obs = _check_obs(obs_uint8)
    noise = _noise_for(noise_uint8, len(obs), tuple(obs.shape[2:]))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for i in range(0, len(obs), chunk):
        out = agent.explain(obs[i:i + chunk], noise[i:i + chunk])
        for k in keys:
            parts[k].append(_newest_mask(out[k]) if k == "mask" else _newest_rgb(out[k]))
        if bar is not None:
            bar.update(len(obs[i:i + chunk]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def _grid(rows: list[list[np.ndarray]], col_labels: Sequence[str], row_labels: Sequence[str] | None,
          font) -> np.ndarray:
    """Tiles (all the same size) in a labelled grid: column labels on top, row labels on the left."""
    from PIL import Image, ImageDraw

    th, tw = rows[0][0].shape[:2]
    label_h = max(_text_size(t, font)[1] for t in col_labels) + 6
    label_w = max((_text_size(t, font)[0] for t in row_labels), default=0) + 10 if row_labels else 0
    n_cols = len(rows[0])
    width = label_w + n_cols * tw + (n_cols - 1) * _GAP
    height = label_h + len(rows) * th + (len(rows) - 1) * _GAP
    canvas = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(canvas)
    for c, text in enumerate(col_labels):
        x0 = label_w + c * (tw + _GAP)
        w, _ = _text_size(text, font)
        draw.text((x0 + max(0, (tw - w) // 2), 2), text, fill=_FG, font=font)
    for r, tiles in enumerate(rows):
        y0 = label_h + r * (th + _GAP)
        if row_labels:
            _, h = _text_size(row_labels[r], font)
            draw.text((4, y0 + (th - h) // 2), row_labels[r], fill=_FG, font=font)
        for c, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile), (label_w + c * (tw + _GAP), y0))
    return np.asarray(canvas)


def explain_grid(agent, obs_batch_uint8, noise_uint8=None, *, row_labels: Sequence[str] | None = None,
                 scale: int = 2) -> np.ndarray:
    """Figure-4-style grid, HWC uint8: one row per observation, columns :data:`COLUMNS`.

    Args:
        agent: an SMG agent (anything with ``explain(obs, noise)`` like :class:`SMGAgent`).
        obs_batch_uint8: uint8 ``[N, 3k, H, W]`` (or one ``[3k, H, W]``).
        noise_uint8: uint8 ``[N, 3, H, W]`` (or one image for all) that the attribution puts where the mask
            is off; ``None`` → procedural images.
        row_labels: optional text left of each row (e.g. the eval mode).
        scale: nearest-neighbour upscale of each 84×84 tile, so the labels fit and pixels stay visible.
    """
    panels = explain_panels(agent, obs_batch_uint8, noise_uint8)
    n = len(next(iter(panels.values())))
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(f"{len(row_labels)} row labels for {n} observations")
    rows = [[_upscale(panels[k][i], scale) for k in _EXPLAIN_KEYS] for i in range(n)]
    return _grid(rows, COLUMNS, row_labels, _font(12))


def _save_png(img: np.ndarray, path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


# ----------------------------------------------------------------------------------------------------
# Rollouts.

def _env_kwargs(agent, overrides: dict | None) -> dict:
    """The observation format the agent was trained on (frame stack, size), then the caller's settings
    (e.g. :func:`smg_fast.tasks.env_kwargs` of the run, or a short ``episode_length``)."""
    kw = {}
    if hasattr(agent, "obs_shape"):
        kw = dict(frame_stack=agent.obs_shape[0] // 3, image_size=agent.obs_shape[-1])
    kw.update(overrides or {})
    return kw


def _rollout(agent, env, steps: int, seed: int, bar=None):
    """Yield ``(t, obs, return_so_far)`` for t = 0..steps with the deterministic policy: ``obs`` is what
    the agent sees at step t (t = 0: after reset). An episode that ends early is followed by a new one,
    so a caller always gets ``steps + 1`` observations; the return restarts with it."""
    obs, _ = env.reset(seed=seed)
    ret = 0.0
    yield 0, obs, ret
    for t in range(1, steps + 1):
        obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        ret += float(reward)
        if bar is not None:
            bar.update(1)
        if terminated or truncated:
            if t < steps:  # keep going in a fresh episode (seeded differently, so it is a new one)
                obs, _ = env.reset(seed=seed + t)
                ret = 0.0
        yield t, obs, ret


def _progress(total: int | None, desc: str, enabled: bool, unit: str = "step"):
    """A bar whose time keeps counting between its steps (an env that starts, a grid being drawn)."""
    from smg_fast.run.progress import steps_bar

    return steps_bar(total, desc, enabled, unit)


def collect_observations(agent, env, n_samples: int, every: int, seed: int = 0, bar=None) -> np.ndarray:
    """``n_samples`` observations uint8 ``[n, 3k, H, W]`` taken every ``every`` agent steps (the first
    after ``every`` steps, so the frame stack already holds distinct frames)."""
    if n_samples < 1 or every < 1:
        raise ValueError(f"need n_samples >= 1 and a sample interval >= 1; got {n_samples}, {every}")
    picks = []
    for t, obs, _ in _rollout(agent, env, n_samples * every, seed, bar):
        if t > 0 and t % every == 0:
            picks.append(obs.copy())
    return np.stack(picks)


def save_mode_grids(agent, task: str, modes: Sequence[str], out_dir, seed: int = 0,
                    steps_per_episode_sample: int = 20, overlay_source: str = "procedural",
                    make_env: Callable | None = None, *, n_samples: int = 4, env_kwargs: dict | None = None,
                    progress: bool = True) -> list[Path]:
    """For each mode: roll out the deterministic policy, take ``n_samples`` observations
    ``steps_per_episode_sample`` agent steps apart, write ``out_dir/explain_<mode>.png``. Then
    ``out_dir/explain_all_modes.png``: the last sample of every mode, one row each, labelled.

    Args:
        modes: any env modes (``train``, ``color_hard``, ..., or the robot scenes ``test1``...).
        overlay_source: the attribution's replacement images (``procedural`` or ``folder:PATH``, as
            :class:`~smg_fast.agent.images.OverlayImages`); the same images in every mode.
        make_env: ``make_env(task, mode, seed, **kwargs)``; default :func:`smg_fast.envs.make`.
        env_kwargs: env settings (e.g. :func:`smg_fast.tasks.env_kwargs` of the run, ``episode_length``,
            ``background_source``); frame stack and size default to the agent's.

    Returns the written paths, per-mode grids first, the all-modes grid last.
    """
    _require_explain(agent)
    modes = list(modes)
    if not modes:
        raise ValueError("save_mode_grids needs at least one mode")
    if make_env is None:
        from smg_fast.envs import make as make_env
    from smg_fast.agent.images import OverlayImages

    out_dir = Path(out_dir)
    kw = _env_kwargs(agent, env_kwargs)
    image_size = kw.get("image_size", 84)
    noise = OverlayImages(overlay_source, n_samples, image_size, seed).sample()
    paths, last = [], []
    with _progress(len(modes) * n_samples * steps_per_episode_sample, "explain rollouts", progress) as bar:
        for mode in modes:
            bar.set_postfix_str(f"{mode}: starting the env")
            env = make_env(task, mode, seed, **kw)
            try:
                bar.set_postfix_str(f"{mode}: rollout")
                obs = collect_observations(agent, env, n_samples, steps_per_episode_sample, seed, bar)
            finally:
                env.close()
            bar.set_postfix_str(f"{mode}: drawing explain_{mode}.png")
            paths.append(_save_png(explain_grid(agent, obs, noise), out_dir / f"explain_{mode}.png"))
            last.append(obs[-1])
        bar.set_postfix_str("drawing explain_all_modes.png")
        grid = explain_grid(agent, np.stack(last), noise[-1], row_labels=modes)
        paths.append(_save_png(grid, out_dir / "explain_all_modes.png"))
    return paths


# ----------------------------------------------------------------------------------------------------
# Episode videos.

def _band(width: int, height: int, texts: Sequence[tuple[int, str]], font) -> np.ndarray:
    """A white strip with ``(x, text)`` entries, HWC uint8."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(img)
    for x, text in texts:
        draw.text((x, 2), text, fill=_FG, font=font)
    return np.asarray(img)


def _even(img: np.ndarray) -> np.ndarray:
    """Pad to even height and width: yuv420p halves the chroma resolution and needs both even."""
    h, w = img.shape[:2]
    return np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=255)


def video_frame(panels: Sequence[np.ndarray], header: np.ndarray, footer_text: str, font,
                scale: int = 3) -> np.ndarray:
    """One video frame: the panels side by side (upscaled), labels above, ``footer_text`` below."""
    tiles = [_upscale(p, scale) for p in panels]
    gap = np.full((tiles[0].shape[0], _GAP, 3), 255, np.uint8)
    row = np.concatenate([x for tile in tiles for x in (tile, gap)][:-1], axis=1)
    footer = _band(row.shape[1], header.shape[0], [(4, footer_text)], font)
    return _even(np.concatenate([header, row, footer], axis=0))


def _video_header(n_panels: int, tile: int, font) -> np.ndarray:
    h = max(_text_size(t, font)[1] for t in VIDEO_COLUMNS) + 6
    texts = [(i * (tile + _GAP) + max(0, (tile - _text_size(t, font)[0]) // 2), t)
             for i, t in enumerate(VIDEO_COLUMNS)]
    return _band(n_panels * tile + (n_panels - 1) * _GAP, h, texts, font)


def write_mp4(frames, path, fps: int, crf: int = 18) -> Path:
    """Encode HWC uint8 RGB frames (an iterable, all the same even size) as H.264/yuv420p MP4."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"  # what every player decodes
                stream.options = {"crf": str(crf)}
            # encode() converts RGB to the stream's yuv420p.
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        if stream is None:
            raise ValueError("no frames to write")
        container.mux(stream.encode())  # flush the encoder's delayed frames
    return path


def save_episode_video(agent, task: str, mode: str, path, seed: int = 0, max_steps: int | None = None,
                       overlay_source: str = "procedural", fps: int = 15, *, make_env: Callable | None = None,
                       env_kwargs: dict | None = None, scale: int = 3, progress: bool = True) -> Path:
    """An MP4 of one deterministic episode in ``mode``: newest observation frame, mask, attribution and
    reconstruction side by side (×``scale``, nearest), with the step and the return so far.

    One frame per observation: the reset observation, then one per agent step, so ``max_steps`` steps
    give ``max_steps + 1`` frames (fewer if the episode ends first; ``None``: the whole episode). Frame t
    shows the return of the rewards before it. The attribution uses one fixed ``overlay_source`` image for
    the whole episode (a new image per frame would flicker).
    """
    _require_explain(agent)
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"max_steps must be >= 0; got {max_steps}")
    if make_env is None:
        from smg_fast.envs import make as make_env
    from smg_fast.agent.images import OverlayImages

    from smg_fast.run.progress import working

    kw = _env_kwargs(agent, env_kwargs)
    with working(f"starting the {mode} env for the video", progress):
        env = make_env(task, mode, seed, **kw)
    try:
        limit = max_steps if max_steps is not None else getattr(env, "max_episode_steps", None)
        obs_list, returns = _episode(agent, env, seed, limit, mode, progress)
    finally:
        env.close()
    obs = np.stack(obs_list)
    noise = OverlayImages(overlay_source, 1, obs.shape[-1], seed).sample()
    with _progress(len(obs), f"explain {mode}", progress, "frame") as bar:
        panels = explain_panels(agent, obs, noise, keys=("obs", "mask", "attribution", "reconstruction"), bar=bar)
    font = _font(14)
    header = _video_header(len(VIDEO_COLUMNS), obs.shape[-1] * scale, font)

    def frames(bar):
        for t, ret in enumerate(returns):
            tiles = [panels[k][t] for k in ("obs", "mask", "attribution", "reconstruction")]
            yield video_frame(tiles, header, f"{task}  {mode}  step {t}  return {ret:.1f}", font, scale)
            bar.update(1)

    with _progress(len(returns), f"encode {Path(path).name}", progress, "frame") as bar:
        return write_mp4(frames(bar), path, fps)


def _episode(agent, env, seed: int, limit: int | None, desc: str, progress: bool):
    """Observations and returns-so-far of one deterministic episode, stopped after ``limit`` steps."""
    obs, _ = env.reset(seed=seed)
    obs_list, returns, ret = [obs.copy()], [0.0], 0.0
    with _progress(limit, f"video {desc}", progress) as bar:
        while limit is None or len(returns) <= limit:
            obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
            ret += float(reward)
            obs_list.append(obs.copy())
            returns.append(ret)
            bar.update(1)
            if terminated or truncated:
                break
    return obs_list, returns
