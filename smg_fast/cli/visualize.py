"""``smg-fast visualize``: what a trained SMG agent sees, as PNG grids per evaluation mode (observation, mask,
foreground, predicted background, attribution, reconstruction) and an MP4 of one episode."""
from __future__ import annotations

import argparse
from pathlib import Path

from smg_fast.cli.common import check_modes_text, eval_settings, needs_intensity, run_config


def add_parser(sub) -> None:
    v = sub.add_parser("visualize", help="PNG grids (obs, mask, background, attribution, reconstruction) and an MP4")
    v.add_argument("--run", required=True, help="a trained smg run directory")
    v.add_argument("--modes", default="all", help="comma-separated modes or 'all' (default all)")
    v.add_argument("--video-mode", default=None, help="mode of the MP4 episode (default: the last mode)")
    v.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    v.add_argument("--out", default=None, help="default RUN/pictures")
    v.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="--set distracting_cs_intensity=X for the distracting_cs mode (default: the run's)")
    v.add_argument("--previous-checkpoint", action="store_true",
                   help="load the run's checkpoint before the last (when the last is damaged)")
    v.add_argument("--no-progress", action="store_true", help="no progress bars")
    v.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from smg_fast import machine
    from smg_fast.agent import METHODS, method
    from smg_fast.run import pictures
    from smg_fast.run.checkpoint import load_agent
    from smg_fast.run.directory import RunDirError
    from smg_fast.run.progress import working
    from smg_fast.tasks import env_kwargs

    machine.check_device(args.device)
    cfg = run_config(args.run)
    if not method(cfg.algo).explains:
        drawers = " or ".join(m.name for m in METHODS.values() if m.explains)
        raise RunDirError(f"--run {args.run}: a {cfg.algo} run; visualize draws SMG's masks and predicted "
                          f"backgrounds, which only an {drawers} run learns")
    modes = list(check_modes_text(args.modes, cfg.task, "--modes"))
    video_mode = args.video_mode or modes[-1]
    check_modes_text(video_mode, cfg.task, "--video-mode")
    intensity = eval_settings(args.set, cfg.algo).get("distracting_cs_intensity", cfg.distracting_cs_intensity)
    needs_intensity([*modes, video_mode], intensity)
    out = Path(args.out or Path(args.run) / "pictures")
    machine.check_writable_file(out / "episode.mp4", "--out")
    machine.check_overlay_source(cfg.agent.overlay_source, "the run's overlay_source")
    machine.check_data(cfg.task, [*modes, video_mode], intensity)
    with working(f"loading {args.run}", not args.no_progress):
        cfg, agent = load_agent(args.run, device=args.device, previous=args.previous_checkpoint)
    cfg.distracting_cs_intensity = intensity
    out.mkdir(parents=True, exist_ok=True)
    kw = dict(seed=cfg.seed, overlay_source=cfg.agent.overlay_source, env_kwargs=env_kwargs(cfg),
              progress=not args.no_progress)
    paths = pictures.save_mode_grids(agent, cfg.task, modes, out, **kw)
    video = pictures.save_episode_video(agent, cfg.task, video_mode, out / "episode.mp4", **kw)
    for p in [*paths, video]:
        print(p)
    return 0
