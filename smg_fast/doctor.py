"""``smg-fast doctor [--device cuda]``: the first command to run on a new machine. It reports the stack
(torch, CUDA, driver, GPU), the headless rendering backend it picked (and the EGL device on machines with
several GPUs), which data sets are present, and runs every fused op on the device against its pure-PyTorch
reference at SMG's training shapes, printing a pass/fail table with timings. Exit status 0 when every op
passes.

Training on a GPU calls :func:`require_ops` first: a fused op that fails this check on the device stops
the run before it starts (``--set fused_ops=false`` trains with the reference implementations instead),
so a miscompiled kernel never trains on wrong numbers. The verdict is cached per GPU, torch and build.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from smg_fast.command import command

CACHE = "doctor"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def stack_report(device: torch.device) -> list[tuple[str, str]]:
    import smg_fast.ops as ops

    rows = [("python", sys.version.split()[0]), ("torch", torch.__version__),
            ("torch CUDA build", torch.version.cuda or "none (CPU build)"),
            ("smg_fast CUDA kernels", "built" if ops.has_cuda_kernels() else "not built (CPU build)"),
            ("CPU threads", str(torch.get_num_threads()))]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(device if device.type == "cuda" else 0)
        rows += [("GPU", f"{props.name}, {props.total_memory / 2**30:.0f} GiB, compute {props.major}.{props.minor}"),
                 ("GPUs visible", str(torch.cuda.device_count()))]
        smi = shutil.which("nvidia-smi")
        if smi:
            out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=30)
            rows.append(("NVIDIA driver", out.stdout.strip().splitlines()[0] if out.returncode == 0 else "?"))
    else:
        rows.append(("GPU", "none visible to torch"))
    return rows


def rendering_report() -> list[tuple[str, str]]:
    from smg_fast.envs.rendering import RenderingUnavailableError, ensure_gl_backend

    try:
        backend = ensure_gl_backend()
    except RenderingUnavailableError as e:
        return [("rendering", f"UNAVAILABLE: {e}")]
    rows = [("rendering (MUJOCO_GL)", str(backend))]
    if backend == "egl":
        rows.append(("EGL device", os.environ.get("MUJOCO_EGL_DEVICE_ID", "default (set MUJOCO_EGL_DEVICE_ID "
                                                                          "to pick a GPU for rendering)")))
    return rows


def data_report() -> list[tuple[str, str]]:
    """What the data directory holds, each DMC-GB file checked against the manifest (its content, not its
    name: a truncated video or a damaged colour table shows as DAMAGED) and, for anything missing, which
    modes or tasks it costs and the command that fetches it."""
    from smg_fast.data import VIDEO_COUNTS, download_command, missing_videos, resolve_data_dir
    from smg_fast.data.manifest import entries
    from smg_fast.data.verify import check_files, mode_entries

    root = resolve_data_dir()
    fetch = download_command()
    rows = [("data directory", str(root) + ("" if root.is_dir() else " (does not exist yet)"))]
    runs = ["train"]
    for mode in ("color_easy", "color_hard", *VIDEO_COUNTS):
        found = check_files(mode_entries(mode))
        damaged = [f for f in found if not f.ok and f.problem != "missing"]
        if mode in VIDEO_COUNTS:  # DMC-GB names video0..N-1, though its repository lacks a few of video_easy's
            missing = missing_videos(mode, root)[1]
            total, unit = VIDEO_COUNTS[mode], " videos"
        else:
            missing, total, unit = [f.path.name for f in found if f.problem == "missing"], len(found), ""
        have = total - len(missing) - len(damaged)
        if damaged:
            rows.append((f"DMC-GB {mode}", f"{have}/{total}{unit} verified; DAMAGED: "
                         f"{', '.join(f.path.name for f in damaged)} (`{fetch} dmcgb --force`)"))
        elif not missing:
            rows.append((f"DMC-GB {mode}", f"{have}/{total}{unit} verified"))
            runs.append(mode)
        elif have:
            names = ", ".join(Path(m).stem for m in missing)
            rows.append((f"DMC-GB {mode}", f"{have}/{total}{unit} verified ({names} missing): {mode} runs over the "
                         f"{have} present, so its returns are not quite the benchmark's; the other modes are "
                         f"unaffected; `{fetch} dmcgb` fetches the rest"))
            runs.append(f"{mode} ({have} of {total}{unit})")
        else:
            rows.append((f"DMC-GB {mode}", f"0/{total}{unit}: {mode} cannot run (the other modes can); "
                         f"`{fetch} dmcgb`"))
    robot = [e.local for e in entries("robot")]
    robot_missing = [f for f in robot if not (root / f).is_file()]
    if not robot_missing:
        rows.append(("robot scenes", f"{len(robot)}/{len(robot)} files (robot-reach, robot-peg-in-box)"))
    else:
        rows.append(("robot scenes", f"{len(robot) - len(robot_missing)}/{len(robot)} files: robot-reach and "
                     f"robot-peg-in-box cannot start (the DMC tasks are unaffected); `{fetch} robot`"))
    places = (root / "places365").is_dir()
    rows.append(("Places365", "present" if places else "not installed: optional, only --overlay-source places365 "
                 f"needs it (the default, procedural, does not); `{fetch} places365`"))
    from smg_fast.data import davis
    from smg_fast.envs.distracting.settings import DAVIS_TRAIN_VIDEOS

    frames = davis.frames_dir()
    n = sum((frames / v).is_dir() for v in DAVIS_TRAIN_VIDEOS) if frames.is_dir() else 0
    total = len(DAVIS_TRAIN_VIDEOS)
    rows.append(("DAVIS-2017 (distracting_cs)", f"{n}/{total} training videos" + (
        "" if n == total else ": optional, only the distracting_cs mode needs them; "
                              f"`{fetch} davis --accept-licence`")))
    if n == total:
        runs.append("distracting_cs")
    rows.append(("DMC modes that run", ", ".join(runs)))
    return rows


def check_ops(device: torch.device, repeats: int = 3, on_result=None) -> list[dict]:
    """Every fused op on ``device`` against its reference at training shapes: name, pass, max error, times.
    ``on_result(row)`` is called as each op is done (the doctor prints its row then)."""
    from smg_fast import demo

    results = []
    for case in demo.cases(device=device):
        row = {"op": case.name, "shape": case.shape}
        try:
            out_f, out_r = case.fused(), case.reference()
            if case.exact:
                ok, err = bool(torch.equal(out_f, out_r)), float((out_f.double() - out_r.double()).abs().max())
            else:
                err = float(((out_f.double() - out_r.double()).abs() / (out_r.double().abs() + 1)).max())
                ok = bool(torch.allclose(out_f.float(), out_r.float(), rtol=1e-4, atol=1e-3))
            row.update(ok=ok, error=err, fused_ms=1e3 * _time(case.fused, device, repeats),
                       reference_ms=1e3 * _time(case.reference, device, repeats))
        except Exception as e:  # noqa: BLE001 - a failing kernel is a result, not a crash
            row.update(ok=False, error=float("nan"), fused_ms=float("nan"), reference_ms=float("nan"),
                       failure=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        results.append(row)
        if on_result is not None:
            on_result(row)
    return results


def _time(fn, device, repeats: int) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def _cache_path(device: torch.device) -> Path:
    from smg_fast import _C
    from smg_fast.data import default_data_dir

    build = int(os.stat(_C.__file__).st_mtime)
    key = f"{_device_name(device)}-{torch.__version__}-{build}".replace(" ", "_").replace("/", "_")
    return default_data_dir() / CACHE / f"{key}.json"


def require_ops(device: str | torch.device) -> None:
    """RuntimeError when a fused op fails its check on ``device`` (checked once per GPU, torch and build)."""
    device = torch.device(device)
    path = _cache_path(device)
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        results = check_ops(device, repeats=1)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results))
        except OSError:
            pass
    bad = [r for r in results if not r["ok"]]
    if bad:
        names = ", ".join(f"{r['op']} ({r['failure'] if 'failure' in r else 'error %.3g' % r['error']})" for r in bad)
        raise RuntimeError(f"fused op check failed on {device} ({_device_name(device)}): {names}. Training on wrong "
                           f"numbers is refused: run `{command('doctor --device ' + device.type)}` for details, or "
                           "train with --set fused_ops=false (the pure-PyTorch references, slower)")


def main(device: str = "cpu", repeats: int = 3, out=sys.stdout) -> int:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print(f"smg-fast doctor: --device {device}: no CUDA device is available "
              f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'})", file=sys.stderr)
        return 1
    sections = [("stack", stack_report(dev)), ("rendering", rendering_report()), ("data", data_report())]
    for title, rows in sections:
        print(f"\n{title}", file=out)
        for k, v in rows:
            print(f"  {k:24s} {v}", file=out)
    print(f"\nfused ops on {dev} ({_device_name(dev)}), against their pure-PyTorch references:", file=out)
    print(f"  {'op':42s} {'check':6s} {'max error':>10s} {'fused ms':>9s} {'ref ms':>9s}", file=out)

    def show(r: dict) -> None:  # each row as its op is done: the check takes a minute on a busy CPU
        print(f"  {r['op']:42s} {'pass' if r['ok'] else 'FAIL':6s} {r['error']:10.2e} {r['fused_ms']:9.2f} "
              f"{r['reference_ms']:9.2f}" + (f"  {r['failure']}" if "failure" in r else ""), file=out, flush=True)

    results = check_ops(dev, repeats, on_result=show)
    failed = [r["op"] for r in results if not r["ok"]]
    damaged = [v for k, v in sections[2][1] if "DAMAGED" in v]
    if failed:
        print(f"\n{len(failed)} op(s) FAILED on {dev}: train there with --set fused_ops=false", file=out)
    else:
        print(f"\nall {len(results)} fused ops pass on {dev}", file=out)
    if damaged:
        print("damaged data files (listed above): `smg-fast data verify` names them all; `smg-fast data download "
              "dmcgb --force` replaces them with verified copies", file=out)
    return 1 if failed or damaged else 0
