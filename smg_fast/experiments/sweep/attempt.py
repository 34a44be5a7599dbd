"""One attempt of one run of a sweep: the Ray task that skips, resumes or starts it (:func:`execute_run`), and
the supervisor process between the Ray worker and the training process
(``python -m smg_fast.experiments.sweep.attempt WORKER_PID TRAIN_ARGS...``)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from smg_fast.experiments.grid import GRID_COPY
from smg_fast.experiments.sweep.layout import config_mismatch, lock_path, log_path, log_tail, run_path, spec_from_dict
from smg_fast.run import directory as rundir


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: have ``sig`` sent to this process when its parent dies (a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def _supervise(argv: list[str]) -> int:
    """``python -m smg_fast.experiments.sweep.attempt WORKER_PID TRAIN_ARGS...``: run ``python -m smg_fast.cli train
    TRAIN_ARGS`` and exit with its status.

    Why a supervisor between the Ray worker and the training process: a Ray worker that exits (its driver
    or raylet gone) SIGKILLs its direct children, which would lose the steps since the last checkpoint.
    The training process is a grandchild in a session of its own, so nothing kills it outright; it gets
    SIGTERM when the supervisor dies, or when the supervisor gets SIGTERM / SIGINT, and then stops at the
    end of its step with a checkpoint (exit 128 + 15)."""
    worker = int(argv[0])
    # A Ray worker starts tasks on a thread that blocks some signals, and a signal mask is inherited
    # through fork and exec: unblock the two this supervisor and the training process must receive.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    _die_with_parent(signal.SIGTERM)
    if os.getppid() != worker:  # the worker died before prctl took effect
        return 128 + signal.SIGTERM

    def child_setup():  # runs in the child between fork and exec; the supervisor has one thread
        os.setsid()
        _die_with_parent(signal.SIGTERM)

    keep = tuple(int(fd) for fd in os.environ.get("SMG_FAST_SWEEP_KEEP_FDS", "").split(",") if fd)
    proc = subprocess.Popen([sys.executable, "-m", "smg_fast.cli", "train", *argv[1:]], preexec_fn=child_setup,
                            pass_fds=keep)

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    rc = proc.wait()
    return 128 - rc if rc < 0 else rc


def take_lock(path: Path, wait_s: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except OSError:
            if time.monotonic() >= deadline:
                f.close()
                return None
            time.sleep(1.0)


def execute_run(spec_d: dict, sweep_dir: str, device: str, threads: int, attempt: int, stop_file: str = "",
                lock_wait_s: float = 600.0, stop_grace_s: float = 300.0) -> dict:
    """One attempt of one run, in a Ray worker: skip it when finished, resume it from its checkpoint, or
    clear it and start it; its output goes to the run's log. Returns what happened (a dict).

    The driver asks running runs to stop by creating ``stop_file`` (a file, not ``ray.cancel``: Ray
    delivers a cancellation to a task blocked in a wait only when it returns, and a file works on every
    node of a cluster that shares the sweep directory); the training process then gets SIGTERM."""
    spec = spec_from_dict(spec_d)
    sweep = Path(sweep_dir)
    host = socket.gethostname()
    out = {"run_id": spec.run_id, "host": host, "attempt": attempt}
    if not (sweep / GRID_COPY).is_file():
        return {**out, "status": "error", "returncode": None,
                "tail": f"the sweep directory {sweep} is not visible on node {host}: on a cluster it must be "
                        "on a filesystem that every node mounts at the same path"}
    run, log = run_path(sweep, spec), log_path(sweep, spec)
    lock = take_lock(lock_path(sweep, spec), lock_wait_s)
    if lock is None:
        return {**out, "status": "busy", "returncode": None,
                "tail": f"another process still holds {lock_path(sweep, spec)} after {lock_wait_s:.0f} s "
                        "(an earlier attempt of this run still writing its checkpoint?)"}
    try:
        if rundir.is_finished(run):
            return {**out, "status": "finished", "skipped": True, "returncode": 0, "tail": ""}
        if stop_file and os.path.exists(stop_file):  # the sweep is stopping: do not start
            return {**out, "status": "stopped", "returncode": None, "tail": ""}
        if rundir.has_checkpoint(run):
            clash = config_mismatch(spec, run)
            if clash:
                return {**out, "status": "conflict", "returncode": None,
                        "tail": f"{run} was made with other settings than the grid's ({'; '.join(clash)}): "
                                "move it away, or restore the grid"}
            args, how = spec.resume_args(run, device), f"resume from step {rundir.step_reached(run) or 0}"
        else:
            if run.exists():  # a start that died before its first checkpoint: nothing to keep
                shutil.rmtree(run)
            args, how = spec.train_args(run, device), "fresh start"
        run.parent.mkdir(parents=True, exist_ok=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        env["SMG_FAST_SWEEP_KEEP_FDS"] = str(lock.fileno())
        cmd = [sys.executable, "-m", "smg_fast.experiments.sweep.attempt", str(os.getpid()), *args]
        t0 = time.time()
        with open(log, "a") as lf:
            lf.write(f"\n=== attempt {attempt} on {host} at {time.strftime('%Y-%m-%d %H:%M:%S')}: {how}\n"
                     f"=== smg-fast train {' '.join(args)}\n")
            lf.flush()
            # The lock's descriptor is inherited: the lock lives exactly as long as the training process.
            proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, pass_fds=(lock.fileno(),))
            try:
                asked = False
                while True:
                    try:
                        rc = proc.wait(timeout=1.0)
                        break
                    except subprocess.TimeoutExpired:
                        if stop_file and not asked and os.path.exists(stop_file):
                            proc.send_signal(signal.SIGTERM)
                            asked = True
            except BaseException:  # ray.cancel (KeyboardInterrupt) or the worker shutting down
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=stop_grace_s)
                raise
        if rc == 0 and rundir.is_finished(run):
            status = "finished"
        elif rc in (128 + signal.SIGTERM, 128 + signal.SIGINT, -signal.SIGTERM, -signal.SIGINT):
            status = "stopped"
        else:
            status = "failed"
        return {**out, "status": status, "returncode": rc, "how": how, "seconds": round(time.time() - t0, 1),
                "tail": "" if status == "finished" else log_tail(log)}
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(_supervise(sys.argv[1:]))
