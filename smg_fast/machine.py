"""What this machine has for a command: the task's simulator, the device, the data of every evaluation mode,
the overlay images, memory for the replay, writable output paths. The command line runs these checks before
it creates a directory or starts an environment; each raises a :class:`~smg_fast.errors.UsageError` (a value
that cannot work here) or :class:`~smg_fast.errors.NotAvailableError` (something missing) naming the flag.
"""
from __future__ import annotations

from smg_fast.config import DEVICE, run_settings
from smg_fast.errors import NotAvailableError, UsageError


def check_task(task: str, flag: str = "--task") -> None:
    """UsageError unless ``task`` is a dm_control suite task (``domain-task``) or one of SMG's robot tasks.
    Picks the headless GL backend first (dm_control fixes it when first imported)."""
    import difflib

    from smg_fast.tasks import ROBOT_TASKS, is_robot_task

    if is_robot_task(task):
        if task in ROBOT_TASKS:
            return
        known = list(ROBOT_TASKS)
    else:
        from smg_fast.envs import ensure_gl_backend

        ensure_gl_backend()
        from dm_control import suite

        if "-" in task and tuple(task.split("-", 1)) in suite.ALL_TASKS:
            return
        known = [f"{d}-{t}" for d, t in suite.ALL_TASKS] + list(ROBOT_TASKS)
    close = difflib.get_close_matches(task, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"{flag} {task}: not a task: give a dm_control suite task as domain-task (e.g. walker-walk, "
                     f"cartpole-swingup) or {' / '.join(ROBOT_TASKS)}{hint}")


def check_modes_text(text: str, task: str, flag: str) -> tuple[str, ...]:
    """The modes of ``--eval-modes`` / ``--modes`` text (``all`` or a comma-separated list) for ``task``."""
    from smg_fast.tasks import parse_modes

    try:
        return parse_modes(text, task)
    except ValueError as e:
        raise UsageError(f"{flag} {text}: {e}") from None


def check_device(device: str, flag: str = "--device") -> None:
    """UsageError for a device string that is not cpu / cuda / cuda:N; NotAvailableError when it names a
    GPU that PyTorch cannot see here."""
    if not DEVICE.ok(device):
        raise UsageError(f"{flag} {device}: must be {DEVICE.describe()}")
    if device == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise NotAvailableError(f"{flag} {device}: no CUDA device is available to PyTorch here "
                                f"(torch {torch.__version__}, {build}); use --device cpu")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise NotAvailableError(f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                                f"numbered from 0")


def check_overlay_source(source: str, flag: str = "--overlay-source", typed: str | None = None) -> None:
    """UsageError for a source that is not procedural / places365 / folder:PATH; NotAvailableError (naming
    the download command where there is one) when its images are not there. Messages start with ``typed``
    (what the user wrote, e.g. ``--set overlay_source=folder:x``), else ``flag source``."""
    from smg_fast.agent.images import check_overlay_source as check

    typed = typed or f"{flag} {source}"
    try:
        check(source)
    except FileNotFoundError as e:  # MissingDataError included
        raise NotAvailableError(f"{typed}: {e}") from None
    except ValueError as e:
        raise UsageError(f"{typed}: {e}") from None


def check_data(task: str, modes, distracting_cs_intensity=None) -> None:
    """NotAvailableError (naming the download command) when a file that ``task``'s environments in ``modes``
    need is not in the data directory: DMC-GB colour tables and videos, the robot scenes, the DAVIS videos
    of ``distracting_cs`` at ``distracting_cs_intensity`` (UsageError when it is not given); DataError (naming
    the file and the repair command) when a DMC-GB file there differs from the manifest's (git blob ids, cached
    by size and modification time so that a start stays fast)."""
    from smg_fast.tasks import is_robot_task

    try:
        if is_robot_task(task):
            from smg_fast.envs.robot_assets import load_scene

            for mode in {"train", *modes}:
                load_scene(task, mode)
            return
        from smg_fast.data.verify import check_modes

        check_modes(modes)  # content, against the manifest: a damaged file fails here, by name
        for mode in modes:
            if mode.startswith("color"):
                from smg_fast.data.colors import load_colors

                load_colors(mode)
            elif mode.startswith("video"):
                from smg_fast.envs.backgrounds import dmcgb_videos

                dmcgb_videos(mode, (84, 84))
            elif mode == "distracting_cs":
                from smg_fast.data import davis
                from smg_fast.envs.distracting import settings

                if distracting_cs_intensity is None:
                    raise UsageError("distracting_cs needs an intensity: --set distracting_cs_intensity=X, X "
                                     f"{run_settings()['distracting_cs_intensity'].rule.describe()}")
                davis.video_folders(settings.videos(distracting_cs_intensity))
    except FileNotFoundError as e:  # MissingDataError
        raise NotAvailableError(str(e)) from None


def check_memory(cfg, action_dim: int = 64) -> None:
    """NotAvailableError when the run's replay buffer cannot fit in the memory of its device (the check the
    buffer makes itself, done before any environment starts; ``action_dim`` is a bound until the env says), or
    its frames (``replay_storage=mmap``) on the disk of the run directory."""
    import torch

    from smg_fast.replay import ReplayBuffer, available_memory

    capacity = min(cfg.replay_capacity, cfg.train_steps + 1)
    frame = (3, cfg.image_size, cfg.image_size)
    need = ReplayBuffer.nbytes(capacity, frame, action_dim)
    if cfg.replay_storage == "mmap":
        need -= capacity * 3 * cfg.image_size ** 2
        if cfg.run_dir:
            _check_disk(cfg, capacity * 3 * cfg.image_size ** 2)
    free = available_memory(torch.device(cfg.device))
    if need > 0.9 * free:
        raise NotAvailableError(
            f"the replay buffer of {capacity:,} transitions needs {need / 2**30:.1f} GiB on {cfg.device}, but only "
            f"{free / 2**30:.1f} GiB is available: lower --steps or --replay-capacity, or use --set "
            "replay_storage=mmap (frames in a file in the run directory)")


def _check_disk(cfg, nbytes: int) -> None:
    """NotAvailableError when the disk of the run directory cannot hold the mmap replay's ``nbytes`` (it is
    allocated in full when the run starts, so that a disk that fills later cannot kill the run)."""
    import shutil
    from pathlib import Path

    where = Path(cfg.run_dir).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if nbytes > free:
        raise NotAvailableError(
            f"replay_storage=mmap: the replay's frames need {nbytes / 2**30:.2f} GiB in {cfg.run_dir}, but its disk "
            f"has {free / 2**30:.2f} GiB free: free space, choose another --run-dir, lower --replay-capacity, or "
            "keep the replay in memory (--set replay_storage=memory)")


def check_writable_file(path, flag: str) -> None:
    """NotAvailableError when a file cannot be written at ``path`` (its folder is not writable, or it is a
    directory). Creates nothing."""
    import os
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        raise NotAvailableError(f"{flag} {path}: is a directory")
    where = path.absolute().parent
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir() or not os.access(where, os.W_OK | os.X_OK):
        raise NotAvailableError(f"{flag} {path}: {where} is not a writable directory")
