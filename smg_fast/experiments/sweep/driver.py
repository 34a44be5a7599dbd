"""The sweep driver: submits each unfinished run of a grid as a Ray task (:mod:`.attempt`), retries failed
attempts, reports progress, and on Ctrl-C / SIGTERM asks every running run to checkpoint and stop."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

from smg_fast.experiments.grid import GRID_COPY, Grid, RunSpec
from smg_fast.experiments.sweep.attempt import take_lock, execute_run
from smg_fast.experiments.sweep.layout import (DRIVER_LOCK, INSTALL_HINT, STATE_FILE, USAGE_ERROR, SweepError,
                                               write_json_atomic, log_path, read_state, run_path, spec_to_dict)
from smg_fast.experiments.sweep.status import format_steps
from smg_fast.run import directory as rundir


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
    write_json_atomic(saved, raw)


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
        write_json_atomic(self.sweep_dir / STATE_FILE, self.state)

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
                _, evals = rundir.last_eval(run_path(self.sweep_dir, spec))
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
            step = rundir.step_reached(run)
            if step is not None:
                parts.append(f"{spec.run_id} {format_steps(step)}/{format_steps(rundir.total_steps(run) or spec.steps)}")
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


def runs_that_fit(ray, grid: Grid) -> int:
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
    driver_lock = take_lock(sweep_dir / DRIVER_LOCK, 0)
    if driver_lock is None:
        raise SweepError(f"another smg-fast sweep is running on {sweep_dir}; see its progress with --status")
    try:
        todo, done = [], 0
        for spec in grid.runs:
            if rundir.is_finished(run_path(sweep_dir, spec)):
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
            fit = runs_that_fit(ray, grid)
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
    from smg_fast.command import command

    lines = []
    for spec in grid.runs:
        run = run_path(sweep_dir, spec)
        st = rundir.state(run)
        if st == "finished":
            lines.append(f"{spec.run_id}: finished (skipped)")
        elif st == "partial":
            lines.append(f"{spec.run_id}: {command('train ' + ' '.join(spec.resume_args(run, grid.run_device)))}")
        else:
            lines.append(f"{spec.run_id}: {command('train ' + ' '.join(spec.train_args(run, grid.run_device)))}")
    return "\n".join(lines)
