"""``smg-fast sweep GRID``: every run of an experiment grid (see :mod:`smg_fast.grid`) as an independent
training process, scheduled by Ray, on this machine or on a Ray cluster (``--address``).

    smg-fast sweep grids/table1.toml                   # local Ray: as many runs at once as cores/GPUs fit
    smg-fast sweep grids/table1.toml --address auto    # an existing cluster (`ray start --head` ...)
    smg-fast sweep grids/table1.toml --status          # per run: state, step / total, last evaluation

Layout of a sweep directory (default ``sweeps/<grid name>``)::

    grid.json            the grid as parsed (``--status`` and ``smg-fast report`` read it)
    sweep_state.json     per run: state, attempts, exit status, host (written by the driver)
    runs/<task>/<label>/seed<N>/   the run directories (``smg-fast train --run-dir``)
    logs/<task>/<label>/seed<N>.log    stdout + stderr of every attempt of that run
    locks/               one lock file per run, held while its training process lives

Each run is ``python -m smg_fast.cli train ...`` in its own process, started by a Ray task that asks for
the grid's ``[resources]`` (CPUs, GPUs, fractions allowed). Re-running the same command skips finished
runs (``final_eval.csv`` present) and resumes the others from their checkpoints (``train --resume``); a run
without a checkpoint is cleared and started afresh. A failed attempt is reported with the end of its
log and retried (resumed where it has a checkpoint) up to ``max_retries`` times; the other runs go on.

Stopping: Ctrl-C (or SIGTERM) stops every running run at the end of its step with a checkpoint. If the
driver dies outright (SIGKILL, lost terminal), each training process still gets SIGTERM (Linux
parent-death signal) and checkpoints; the per-run lock keeps a restarted sweep from touching a run
whose old process is still writing its last checkpoint. On a cluster, the sweep directory must be on a
filesystem every node sees at the same path, and smg-fast installed on every node.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from smg_fast import runfiles
from smg_fast.grid import GRID_COPY, Grid, GridError, RunSpec, load_grid

STATE_FILE = "sweep_state.json"
DRIVER_LOCK = ".driver.lock"
INSTALL_HINT = ("smg-fast sweep runs its grid on Ray, which is not installed here: "
                "pip install 'smg-fast[sweep]' (or: pip install ray)")
LOG_TAIL_LINES = 25
USAGE_ERROR = 2  # argparse's exit status: a bad flag or name fails the same way every time, no retry


class SweepError(RuntimeError):
    pass


# ----------------------------------------------------------------------------------------------------
# paths and per-run bookkeeping (no Ray needed)

def run_path(sweep_dir: Path, spec: RunSpec) -> Path:
    return Path(sweep_dir) / "runs" / spec.run_id


def log_path(sweep_dir: Path, spec: RunSpec) -> Path:
    return Path(sweep_dir) / "logs" / f"{spec.run_id}.log"


def lock_path(sweep_dir: Path, spec: RunSpec) -> Path:
    return Path(sweep_dir) / "locks" / (spec.run_id.replace("/", "__") + ".lock")


def spec_to_dict(spec: RunSpec) -> dict:
    return dataclasses.asdict(spec)


def spec_from_dict(d: dict) -> RunSpec:
    d = dict(d)
    d["sets"] = tuple(tuple(kv) for kv in d.get("sets", ()))
    d["no"], d["args"] = tuple(d.get("no", ())), tuple(d.get("args", ()))
    return RunSpec(**d)


def _same(have, want) -> bool:
    """A config.json value against the grid's (the grid's ``--set`` values are text)."""
    if isinstance(have, list):
        have = ",".join(str(x) for x in have)
    if isinstance(have, bool):
        return have == (str(want).lower() in ("1", "true", "yes", "on"))
    try:
        return math.isclose(float(have), float(want), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(have) == str(want)


def config_mismatch(spec: RunSpec, run: Path) -> list[str]:
    """Settings in which an existing run directory differs from what the grid now asks of that run."""
    cfg = runfiles.read_config(run)
    if not cfg:
        return []
    return [f"{k}: run has {cfg[k]!r}, grid says {v!r}" for k, v in spec.expected_config().items()
            if k in cfg and not _same(cfg[k], v)]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


def lock_held(path: Path) -> bool:
    """Whether some process holds the lock file (a run's training process, or a sweep driver)."""
    if not path.is_file():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_state(sweep_dir: Path) -> dict:
    try:
        return json.loads((Path(sweep_dir) / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


# ----------------------------------------------------------------------------------------------------
# the Ray task: one attempt of one run

def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: have ``sig`` sent to this process when its parent dies (a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def _supervise(argv: list[str]) -> int:
    """``python -m smg_fast.sweep WORKER_PID TRAIN_ARGS...``: run ``python -m smg_fast.cli train
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


def _take_lock(path: Path, wait_s: float):
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
    lock = _take_lock(lock_path(sweep, spec), lock_wait_s)
    if lock is None:
        return {**out, "status": "busy", "returncode": None,
                "tail": f"another process still holds {lock_path(sweep, spec)} after {lock_wait_s:.0f} s "
                        "(an earlier attempt of this run still writing its checkpoint?)"}
    try:
        if runfiles.is_finished(run):
            return {**out, "status": "finished", "skipped": True, "returncode": 0, "tail": ""}
        if stop_file and os.path.exists(stop_file):  # the sweep is stopping: do not start
            return {**out, "status": "stopped", "returncode": None, "tail": ""}
        if runfiles.has_checkpoint(run):
            clash = config_mismatch(spec, run)
            if clash:
                return {**out, "status": "conflict", "returncode": None,
                        "tail": f"{run} was made with other settings than the grid's ({'; '.join(clash)}): "
                                "move it away, or restore the grid"}
            args, how = spec.resume_args(run, device), f"resume from step {runfiles.step_reached(run) or 0}"
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
        cmd = [sys.executable, "-m", "smg_fast.sweep", str(os.getpid()), *args]
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
        if rc == 0 and runfiles.is_finished(run):
            status = "finished"
        elif rc in (128 + signal.SIGTERM, 128 + signal.SIGINT, -signal.SIGTERM, -signal.SIGINT):
            status = "stopped"
        else:
            status = "failed"
        return {**out, "status": status, "returncode": rc, "how": how, "seconds": round(time.time() - t0, 1),
                "tail": "" if status == "finished" else log_tail(log)}
    finally:
        lock.close()


# ----------------------------------------------------------------------------------------------------
# status (files only)

def _fmt_steps(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k" if n >= 10_000 else str(n)


def run_status(sweep_dir: Path, spec: RunSpec, saved: dict | None = None, driver_alive: bool = False) -> dict:
    """One run's row of ``--status``: state, step, total, last evaluation."""
    sweep_dir = Path(sweep_dir)
    run = run_path(sweep_dir, spec)
    st = runfiles.state(run)
    saved = saved or {}
    if st != "finished":
        if lock_held(lock_path(sweep_dir, spec)):
            st = "running"
        elif saved.get("state") == "failed":
            st = "failed"
        elif saved.get("state") in ("submitted", "running") and driver_alive:
            st = "queued"
        elif st == "partial":
            st = "resumable"
        elif st == "started":
            st = "interrupted"
        else:
            st = "pending"
    step, (eval_step, evals) = runfiles.step_reached(run), runfiles.last_eval(run)
    total = runfiles.total_steps(run) or spec.steps
    return {"run": spec.run_id, "state": st, "step": step, "total": total, "eval_step": eval_step,
            "eval": evals, "attempts": saved.get("attempts"), "returncode": saved.get("returncode")}


def _driver_alive(state: dict) -> bool:
    """Whether the sweep driver that wrote ``state`` still runs (checked by pid on its own host; a
    driver on another host is taken at its word until it records its end)."""
    d = state.get("driver") or {}
    if not d or d.get("ended"):
        return False
    if d.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(d["pid"]), 0)
        return True
    except (ProcessLookupError, PermissionError, ValueError, KeyError, TypeError):
        return False


def status_rows(grid: Grid, sweep_dir: Path) -> list[dict]:
    state = read_state(sweep_dir)
    alive = _driver_alive(state)
    runs = state.get("runs", {})
    return [run_status(sweep_dir, spec, runs.get(spec.run_id), alive) for spec in grid.runs]


def format_status(rows: list[dict]) -> str:
    def evals(r):
        if not r["eval"]:
            return ""
        return f"@{_fmt_steps(r['eval_step'])}: " + ", ".join(f"{m} {v:.1f}" for m, v in r["eval"].items())

    table = [("run", "state", "step / total", "last evaluation")]
    for r in rows:
        state = r["state"] + (f" (exit {r['returncode']})" if r["state"] == "failed" and r["returncode"] is not None
                              else "")
        table.append((r["run"], state, f"{_fmt_steps(r['step']) if r['step'] is not None else '-'} / "
                      f"{_fmt_steps(r['total'])}", evals(r)))
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3] for row in table]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    order = ["finished", "running", "queued", "resumable", "interrupted", "failed", "pending"]
    summary = ", ".join(f"{counts[k]} {k}" for k in order if k in counts)
    return "\n".join(line.rstrip() for line in lines) + f"\n{len(rows)} runs: {summary}"


# ----------------------------------------------------------------------------------------------------
# the driver

def _import_ray():
    try:
        import ray
    except ImportError:
        raise SweepError(INSTALL_HINT) from None
    return ray


def prepare_sweep_dir(grid: Grid, sweep_dir: Path, out=print) -> None:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    saved = sweep_dir / GRID_COPY
    raw = {**grid.source, "name": grid.name}
    if saved.is_file():
        try:
            old = json.loads(saved.read_text())
        except json.JSONDecodeError:
            old = None
        if old is not None and old != raw:
            out(f"note: the grid differs from the one this sweep directory last ran; {saved} is updated "
                "(runs whose settings changed are reported as conflicts, not overwritten)")
    _atomic_json(saved, raw)


class _Driver:
    def __init__(self, grid: Grid, sweep_dir: Path, ray, retries: int, max_concurrent: int,
                 poll_s: float, progress_every_s: float, progress: bool):
        self.grid, self.sweep_dir, self.ray = grid, sweep_dir, ray
        self.retries, self.max_concurrent = retries, max_concurrent
        self.poll_s, self.progress_every_s = poll_s, progress_every_s
        self.state = read_state(sweep_dir)
        self.state["driver"] = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self.state.setdefault("runs", {})
        self.attempts: dict[str, int] = {}
        self.pending: dict = {}  # ObjectRef -> spec
        self.started_at: dict[str, float] = {}
        self.finished = self.failed = 0
        self.failed_ids: list[str] = []
        self.bar = None
        self.progress = progress
        for old in sweep_dir.glob(".stop-*"):  # requests of an earlier driver (this one holds the driver lock)
            old.unlink(missing_ok=True)
        self.stop_file = sweep_dir.resolve() / f".stop-{os.getpid()}-{int(time.time())}"
        self.remote = ray.remote(execute_run).options(num_cpus=grid.cpus, num_gpus=grid.gpus, max_retries=0)

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        else:
            print(text, flush=True)

    def save(self) -> None:
        _atomic_json(self.sweep_dir / STATE_FILE, self.state)

    def mark(self, spec: RunSpec, **kw) -> None:
        entry = self.state["runs"].setdefault(spec.run_id, {})
        entry.update(kw, updated=time.time())
        self.save()

    def submit(self, spec: RunSpec) -> None:
        n = self.attempts[spec.run_id] = self.attempts.get(spec.run_id, 0) + 1
        ref = self.remote.remote(spec_to_dict(spec), str(self.sweep_dir.resolve()), self.grid.run_device,
                                 max(1, round(self.grid.cpus)), n, str(self.stop_file))
        self.pending[ref] = spec
        self.started_at[spec.run_id] = time.time()
        self.mark(spec, state="submitted", attempts=n)

    def handle(self, spec: RunSpec, result: dict) -> bool:
        """Record an attempt's result; True when the run should be submitted again."""
        rid, n = spec.run_id, self.attempts[spec.run_id]
        status = result.get("status")
        if status == "finished":
            self.finished += 1
            self.mark(spec, state="finished", returncode=0, host=result.get("host"))
            if result.get("skipped"):
                self.say(f"skip    {rid}: already finished")
            else:
                _, evals = runfiles.last_eval(run_path(self.sweep_dir, spec))
                text = ", ".join(f"{m} {v:.1f}" for m, v in evals.items())
                took = f"{result.get('how')}, {result.get('seconds', 0):.0f} s"
                self.say(f"done    {rid} ({took}){': ' + text if text else ''}")
            if self.bar is not None:
                self.bar.update(1)
            return False
        rc = result.get("returncode")
        retry = status in ("failed", "stopped", "error", "busy") and n <= self.retries and rc != USAGE_ERROR
        self.mark(spec, state="retrying" if retry else "failed", returncode=rc, host=result.get("host"))
        tail = "\n".join("    | " + line for line in (result.get("tail") or "").splitlines())
        what = {"conflict": "CONFLICT", "busy": "BUSY"}.get(status, "FAILED")
        self.say(f"{what:<7} {rid} (attempt {n}/{self.retries + 1}"
                 f"{', exit ' + str(rc) if rc is not None else ''}); "
                 f"{'retrying' if retry else 'giving up'}; log {log_path(self.sweep_dir, spec)}:\n{tail}")
        if not retry:
            self.failed += 1
            self.failed_ids.append(rid)
            if self.bar is not None:
                self.bar.update(1)
        return retry

    def report_running(self) -> None:
        parts = []
        for spec in self.pending.values():
            run = run_path(self.sweep_dir, spec)
            step = runfiles.step_reached(run)
            if step is not None:
                parts.append(f"{spec.run_id} {_fmt_steps(step)}/{_fmt_steps(runfiles.total_steps(run) or spec.steps)}")
        queued = len(self.pending) - len(parts)
        if parts or queued:
            self.say("running " + "; ".join(parts + ([f"{queued} starting or queued"] if queued else [])))

    def run(self, todo: list[RunSpec]) -> None:
        from tqdm.auto import tqdm

        queue = list(todo)
        self.bar = tqdm(total=len(todo), desc="runs", unit="run", disable=None if self.progress else True,
                        file=sys.stderr, dynamic_ncols=True)
        if self.bar.disable:
            self.bar = None
        last_progress = time.monotonic()
        try:
            while queue or self.pending:
                while queue and len(self.pending) < self.max_concurrent:
                    self.submit(queue.pop(0))
                ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=self.poll_s)
                for ref in ready:
                    spec = self.pending.pop(ref)
                    try:
                        result = self.ray.get(ref)
                    except Exception as e:  # the worker or its node died, or the task raised
                        result = {"status": "failed", "returncode": None, "tail": f"{type(e).__name__}: {e}"[-3000:]}
                    if self.handle(spec, result):
                        queue.insert(0, spec)
                if self.progress_every_s and time.monotonic() - last_progress >= self.progress_every_s:
                    self.report_running()
                    last_progress = time.monotonic()
                if self.bar is not None:
                    self.bar.set_postfix_str(f"running {len(self.pending)}, failed {self.failed}", refresh=True)
        finally:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    def stop(self, grace_s: float) -> None:
        """Ctrl-C: each running run checkpoints at the end of its step and exits."""
        if not self.pending:
            return
        self.say(f"stopping {len(self.pending)} run(s): each saves a checkpoint at the end of its step "
                 "(re-run the same command to continue)")
        self.stop_file.touch()
        deadline = time.monotonic() + grace_s
        while self.pending and time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                left = max(0.1, deadline - time.monotonic())
                ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=left)
                for ref in ready:
                    spec = self.pending.pop(ref)
                    result = self.ray.get(ref)
                    self.mark(spec, state="stopped", returncode=result.get("returncode"))
                    self.say(f"stopped {spec.run_id} ({result.get('status')}, exit {result.get('returncode')})")
        for ref, spec in self.pending.items():  # not back in time: queued (never started) or still saving
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=False)
            self.mark(spec, state="stopped")

    def close(self) -> None:
        self.stop_file.unlink(missing_ok=True)


def _cluster_check(ray, grid: Grid) -> int:
    """How many runs fit at once; a clear error when one run asks for more than the cluster has."""
    res = ray.cluster_resources()
    cpus, gpus = res.get("CPU", 0.0), res.get("GPU", 0.0)
    if grid.cpus > cpus:
        raise SweepError(f"each run asks for {grid.cpus:g} CPUs ([resources] cpus) but Ray has {cpus:g}")
    if grid.gpus > gpus:
        raise SweepError(f"each run asks for {grid.gpus:g} GPUs ([resources] gpus) but Ray has {gpus:g}: "
                         "set [resources] gpus = 0 to train on CPUs")
    fit = int(cpus // grid.cpus)
    if grid.gpus > 0:
        fit = min(fit, int(gpus // grid.gpus + 1e-9))
    return max(1, fit)


def run_sweep(grid: Grid, sweep_dir: Path, address: str | None = None, num_cpus: float | None = None,
              num_gpus: float | None = None, max_concurrent: int | None = None, retries: int | None = None,
              poll_s: float = 5.0, progress_every_s: float = 60.0, stop_grace_s: float = 120.0,
              progress: bool = True) -> int:
    """Run every unfinished run of ``grid``; returns the exit status (0: all finished)."""
    ray = _import_ray()
    sweep_dir = Path(sweep_dir)
    prepare_sweep_dir(grid, sweep_dir)
    driver_lock = _take_lock(sweep_dir / DRIVER_LOCK, 0)
    if driver_lock is None:
        raise SweepError(f"another smg-fast sweep is running on {sweep_dir}; see its progress with --status")
    try:
        todo, done = [], 0
        for spec in grid.runs:
            if runfiles.is_finished(run_path(sweep_dir, spec)):
                done += 1
            else:
                todo.append(spec)
        print(f"sweep {grid.name}: {len(grid.runs)} runs in {sweep_dir}, {done} finished, {len(todo)} to run"
              f" ({grid.cpus:g} CPU{'s' if grid.cpus != 1 else ''}"
              f"{f', {grid.gpus:g} GPU' if grid.gpus else ''} per run, device {grid.run_device})", flush=True)
        if not todo:
            return 0
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                # address="local": always a fresh instance, never a cluster that `ray start` left recorded
                # in /tmp/ray (a dead one there would make ray.init retry for minutes); --address auto uses it.
                ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                         log_to_driver=False)
        except Exception as e:  # ConnectionError, Ray's AuthenticationError, ...
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise SweepError(f"could not start or reach {where}: {type(e).__name__}: {e}\n"
                             "(a cluster with Ray's token authentication needs its token on this machine: "
                             "see Ray's token-auth documentation)") from None
        driver = None
        stopping: list[int] = []

        def on_term(signum, frame):
            stopping.append(signum)
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            fit = _cluster_check(ray, grid)
            limit = min(x for x in (max_concurrent, grid.max_concurrent, fit if not address else None, len(todo))
                        if x is not None)
            res = ray.cluster_resources()
            print(f"ray: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs: {fit} run{'s' if fit != 1 else ''} "
                  f"fit at once; {limit} submitted at a time (Ray queues them until resources are free)", flush=True)
            driver = _Driver(grid, sweep_dir, ray, grid.max_retries if retries is None else retries, limit,
                             poll_s, progress_every_s, progress)
            driver.save()
            driver.run(todo)
        except KeyboardInterrupt:
            if driver is not None:
                driver.stop(stop_grace_s)
            print("sweep stopped; run the same command again to continue", flush=True)
            return 128 + (stopping[0] if stopping else signal.SIGINT)
        finally:
            signal.signal(signal.SIGTERM, previous)
            if driver is not None:
                driver.state["driver"]["ended"] = time.time()
                driver.save()
            ray.shutdown()
            if driver is not None:
                driver.close()
        total_done = done + driver.finished
        print(f"sweep {grid.name}: {total_done}/{len(grid.runs)} runs finished"
              + (f", {driver.failed} failed: {', '.join(driver.failed_ids)} (logs under {sweep_dir / 'logs'})"
                 if driver.failed else ""), flush=True)
        return 0 if not driver.failed else 1
    finally:
        driver_lock.close()


def dry_run(grid: Grid, sweep_dir: Path) -> str:
    lines = []
    for spec in grid.runs:
        run = run_path(sweep_dir, spec)
        st = runfiles.state(run)
        if st == "finished":
            lines.append(f"{spec.run_id}: finished (skipped)")
        elif st == "partial":
            lines.append(f"{spec.run_id}: smg-fast train {' '.join(spec.resume_args(run, grid.run_device))}")
        else:
            lines.append(f"{spec.run_id}: smg-fast train {' '.join(spec.train_args(run, grid.run_device))}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# command line

def _resolve(args) -> tuple[Grid, Path]:
    target = Path(args.grid)
    grid = load_grid(target)
    if args.dir:
        return grid, Path(args.dir)
    if target.is_dir():
        return grid, target
    return grid, Path("sweeps") / grid.name


def _main(args: argparse.Namespace) -> int:
    try:
        grid, sweep_dir = _resolve(args)
        if args.run_cpus is not None:
            if args.run_cpus <= 0:
                raise GridError("--run-cpus must be > 0")
            grid.cpus = args.run_cpus
        if args.run_gpus is not None:
            if args.run_gpus < 0 or (args.run_gpus > 1 and args.run_gpus != int(args.run_gpus)):
                raise GridError("--run-gpus must be >= 0, a fraction only below 1")
            grid.gpus = args.run_gpus
        if args.status:
            if not sweep_dir.is_dir():
                print(f"{sweep_dir}: no sweep has run here yet ({len(grid.runs)} runs in the grid)")
                return 0
            print(format_status(status_rows(grid, sweep_dir)))
            return 0
        if args.dry_run:
            print(dry_run(grid, sweep_dir))
            return 0
        return run_sweep(grid, sweep_dir, address=args.address, num_cpus=args.cpus, num_gpus=args.gpus,
                         max_concurrent=args.max_concurrent, retries=args.retries, poll_s=args.poll,
                         progress_every_s=args.progress_every, progress=not args.no_progress)
    except (GridError, SweepError) as e:
        print(f"smg-fast sweep: {e}", file=sys.stderr)
        return 1


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sweep", help="run an experiment grid (methods × tasks × seeds × ablations) on Ray; --status shows progress",
        description="Run every combination of an experiment grid (methods × tasks × seeds × presets × ablations) "
                    "as an independent `smg-fast train` process on Ray, locally or on a cluster (--address). "
                    "Re-running skips finished runs and resumes the others. Grid format: smg_fast/grid.py; "
                    "example: grids/table1.toml.")
    p.add_argument("grid", help="grid file (.toml, .yaml) or an existing sweep directory")
    p.add_argument("--dir", default=None, help="sweep directory (default sweeps/<grid name>)")
    p.add_argument("--status", action="store_true",
                   help="show each run's state, step and last evaluation; runs nothing")
    p.add_argument("--dry-run", action="store_true", help="print each run's train command; runs nothing")
    p.add_argument("--address", default=None,
                   help="an existing Ray cluster (e.g. auto or HOST:6379); default: a local one")
    p.add_argument("--cpus", type=float, default=None, help="local Ray: CPUs to use (default all)")
    p.add_argument("--gpus", type=float, default=None, help="local Ray: GPUs to use (default all)")
    p.add_argument("--run-cpus", type=float, default=None, help="CPUs per run (overrides the grid's [resources] cpus)")
    p.add_argument("--run-gpus", type=float, default=None,
                   help="GPUs per run, fractions allowed (overrides the grid's [resources] gpus; > 0 trains on cuda)")
    p.add_argument("--max-concurrent", type=int, default=None, help="at most this many runs at once")
    p.add_argument("--retries", type=int, default=None, help="retries per failed run (default: the grid's max_retries)")
    p.add_argument("--poll", type=float, default=5.0,
                   help="seconds between checks of the running runs (default 5)")
    p.add_argument("--progress-every", type=float, default=60.0,
                   help="seconds between progress lines (default 60; 0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_main)
    return p


if __name__ == "__main__":
    sys.exit(_supervise(sys.argv[1:]))
