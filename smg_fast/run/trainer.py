"""The training loop (upstream ``src/train.py``): one env, one agent, one replay buffer.

Each iteration, as upstream: act (uniform random for the first ``init_steps`` agent steps, then a
draw from π), update (a burst of ``init_steps`` updates at step ``init_steps``, all with that step
number, then one per step), step the env and store the transition. Episodes end on ``terminated``
or ``truncated``; at an episode end the loop logs, checks that every loss stayed finite, evaluates every
``eval_freq`` steps, and saves a checkpoint every ``checkpoint_every`` steps, so a resumed run starts its
next episode exactly where the interrupted one would have. With ``overlap_env`` the env takes each step in
its worker process during that step's update(s) (the action is drawn before them, the transition stored
after them: the same order, the same numbers); with ``async_checkpoint`` a periodic checkpoint is written by
a thread from a snapshot while the loop goes on; with ``async_eval`` an evaluation during training runs in a
thread on a snapshot of the policy (:mod:`smg_fast.run.background_eval`: the same rows, logged at their step
when it ends; one at a time; the run's last evaluation waits for it and runs in the loop). ``step`` counts
agent steps (action-repeated env steps), as upstream.

Ctrl-C, SIGTERM or SIGHUP (a closed terminal or ssh session) stops the loop after the current update — also
inside the update burst — saves a checkpoint there and raises :class:`TrainingStopped` (``smg-fast train
--resume RUN_DIR`` continues, the burst where it stopped; a stop between episode ends resumes in a new
episode; an evaluation running in the background is cancelled and evaluated again first); a second signal
interrupts at once, leaving the last periodic checkpoint. A checkpoint that cannot be written (disk full, I/O
error) stops the run cleanly with :class:`smg_fast.run.checkpoint.CheckpointError`, a log that cannot be written
with :class:`LogWriteError`: the last good checkpoint is intact and the run can be resumed from it once there is
room. The run directory is locked while the run uses it.

What stops a run before it can do harm, each with a checkpoint to look at or resume from:

* a NaN/inf action (checked before it reaches the environment) or a NaN/inf logged loss (checked at every
  episode end): the state is saved as ``checkpoint_nonfinite`` and :class:`NonFiniteLossError` names the
  loss that went non-finite first and the step of that update; the last good checkpoint is kept;
* an evaluation that fails (a damaged data file, a crashed worker), in the loop or in the background: a
  regular checkpoint is saved first (the evaluation is pending in it, with the policy's weights of its step,
  and runs first when the run is resumed) and :class:`EvaluationError` says so.
"""
from __future__ import annotations

import errno
import math
import random
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from smg_fast.run import checkpoint as ckpt
from smg_fast.run import progress
from smg_fast.agent import make_agent
from smg_fast.command import command
from smg_fast.config import LOOP_SETTINGS, RunConfig
from smg_fast.errors import RunError
from smg_fast.run.eta import Eta
from smg_fast.run.schedule import updates_due
from smg_fast.run.evaluate import Evaluator, summary_rows
from smg_fast.run.background_eval import BackgroundEvaluation
from smg_fast.run.logger import Logger, MetricAverager
from smg_fast.replay import ReplayBuffer
from smg_fast.run.directory import RunLock
from smg_fast.run.allocator import tune_allocator
from smg_fast.run import walltime
from smg_fast.tasks import env_kwargs


class NonFiniteLossError(RunError):
    """A loss or an action became NaN/inf; the state is saved as ``checkpoint_nonfinite``."""


class EvaluationError(RunError):
    """An evaluation during training failed; a checkpoint was saved before it stopped the run."""


class LogWriteError(RunError):
    """A log file could not be written (a full disk, an I/O error); the last good checkpoint is intact."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class TrainingStopped(Exception):
    """A signal stopped training; the state at ``step`` is saved in ``run_dir``."""

    def __init__(self, signum: int, run_dir: Path, step: int):
        self.signum, self.run_dir, self.step = signum, run_dir, step
        super().__init__(f"{signal.Signals(signum).name} at step {step}: checkpoint saved; "
                         f"continue with: {command(f'train --resume {run_dir}')}")


def say(text: str) -> None:
    """A line on stderr that never fails: after SIGHUP the terminal may be gone (EIO), and losing a message
    must not lose the checkpoint that follows it."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class _QuietStream:
    """stderr for the progress bar, where a write that fails (the terminal was closed: EIO) is dropped."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except (OSError, ValueError):
            return 0

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


def catch_stop_signals(stop: list[int]):
    """Until the returned function is called, SIGINT, SIGTERM and SIGHUP append their number to ``stop``
    instead of ending the process, so the loop can stop between updates with a consistent state; a
    second signal raises KeyboardInterrupt at once. Off the main thread signals cannot be caught and
    nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        if stop:
            raise KeyboardInterrupt
        stop.append(signum)
        say(f"\n{signal.Signals(signum).name}: stopping after this update and saving a checkpoint "
            "(send it again to quit at once)\n")

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


# What may differ between config.json and the checkpoint's own copy: where the run goes on, how the same
# update and loop execute, and the budget (--steps extends a run).
MAY_CHANGE_ON_RESUME = frozenset({"device", "compile", "train_steps", "run_dir", *LOOP_SETTINGS})


def same_run(cfg: RunConfig, state: dict, run_dir: Path) -> None:
    """CheckpointError when ``cfg`` (config.json, with the flags of --resume) is not the config the checkpoint
    was written with, beyond what may change on resume: an edited method, task or shape would load the
    checkpoint into another agent (or fail inside it)."""
    saved = state.get("config")
    if not isinstance(saved, dict):
        return  # an early checkpoint format without its config
    now = cfg.to_dict()
    differ = [k for k in now if k in saved and k not in MAY_CHANGE_ON_RESUME and saved[k] != now[k]
              and not (isinstance(saved[k], (list, tuple)) and list(saved[k]) == list(now[k] or []))]
    if differ:
        shown = "; ".join(f"{k}: config.json says {now[k]!r}, the checkpoint {saved[k]!r}" for k in differ[:4])
        more = f" (and {len(differ) - 4} more)" if len(differ) > 4 else ""
        raise ckpt.CheckpointError(
            f"--resume {run_dir}: config.json no longer matches the checkpoint ({shown}{more}): restore config.json "
            "(the checkpoint's settings are the run's), or start a new run in another --run-dir")


def _copied(tree):
    """``tree`` (dicts, lists, tuples) with every tensor cloned where it lives (no host round trip)."""
    if torch.is_tensor(tree):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: _copied(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_copied(v) for v in tree)
    return tree


def eval_line(step: int, returns: dict[str, list[float]]) -> str:
    return f"step {step}: " + ", ".join(f"{m} {np.mean(r):.1f}" for m, r in returns.items())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def nonfinite(means: dict[str, float]) -> str | None:
    """The first logged metric whose mean over the log interval is NaN/inf (a NaN in any update makes the
    interval's mean NaN), or None."""
    return next((k for k, v in means.items() if not math.isfinite(v)), None)


class Trainer:
    """``env``, ``agent`` and ``evaluator`` may be given (tests and the loop-overhead benchmark use
    synthetic ones); by default they are built from ``cfg``."""

    def __init__(self, cfg: RunConfig, resume: bool = False, progress: bool = True, *,
                 previous_checkpoint: bool = False, env=None, agent=None, evaluator=None):
        self.cfg, self.progress = cfg, progress
        self.run_dir = Path(cfg.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.lock = RunLock(self.run_dir).acquire()
        self.env = self.evaluator = None
        try:
            self._build(resume, previous_checkpoint, env, agent, evaluator)
        except BaseException:
            self.close()
            raise

    def _build(self, resume, previous_checkpoint, env, agent, evaluator) -> None:
        cfg = self.cfg
        if torch.device(cfg.device).type == "cuda" and cfg.agent.fused_ops:
            from smg_fast.doctor import require_ops

            require_ops(cfg.device)  # never train on a device where a fused op computes wrong numbers
        seed_everything(cfg.seed)
        tune_allocator()
        ckpt.remove_temporaries(self.run_dir)  # of writes a crash interrupted (this process holds the lock)
        state = entry = None
        if resume:  # read (and verify) the checkpoint before starting anything
            state, entry = ckpt.load_state(self.run_dir, map_location=cfg.device, previous=previous_checkpoint)
            same_run(cfg, state, self.run_dir)
            if entry.get("recovered"):
                say(f"{entry['recovered']}: {ckpt.MANIFEST} is written again from it\n")
                ckpt.restore_manifest(self.run_dir, entry)
        if env is None:
            from smg_fast import envs

            if cfg.overlap_env:
                from smg_fast.envs.worker import WorkerEnv

                env = WorkerEnv(cfg.task, "train", cfg.seed, **env_kwargs(cfg))
            else:
                env = envs.make(cfg.task, "train", cfg.seed, **env_kwargs(cfg))
        self.env = env
        # The env steps while the update runs when it can take a step asynchronously (a worker process).
        self.overlap = bool(cfg.overlap_env) and hasattr(env, "send") and hasattr(env, "discard")
        self.obs_shape = tuple(self.env.observation_space.shape)
        self.action_dim = int(self.env.action_space.shape[0])
        if state is not None and (tuple(state["obs_shape"]), int(state["action_dim"])) != (self.obs_shape, self.action_dim):
            raise ckpt.CheckpointError(
                f"--resume {self.run_dir}: the checkpoint was written for observations {tuple(state['obs_shape'])} "
                f"and {state['action_dim']} action(s), the environment now gives {self.obs_shape} and "
                f"{self.action_dim}: it cannot continue that run")
        h, w = self.obs_shape[1:]
        # A run extended with --resume --steps keeps the replay it was started with.
        capacity = state["replay"]["capacity"] if state else min(cfg.replay_capacity, cfg.train_steps + 1)
        self.replay = ReplayBuffer(capacity, (3, h, w), self.action_dim, frame_stack=cfg.frame_stack,
                                   pad=cfg.agent.shift_pad, device=cfg.device, seed=cfg.seed,
                                   storage=cfg.replay_storage, path=str(self.run_dir / "replay.frames"))
        self.agent = agent if agent is not None else make_agent(cfg, self.obs_shape, self.action_dim)
        self.action_rng = np.random.default_rng(cfg.seed)
        # Agents without a policy snapshot (test stand-ins) are evaluated in the loop.
        self.async_eval = bool(cfg.async_eval) and hasattr(self.agent, "policy_snapshot")
        self.evaluator = evaluator if evaluator is not None else Evaluator(cfg, cfg.eval_modes, cfg.eval_envs)
        self.evaluator.open(cfg.eval_episodes)
        self.logger = Logger(self.run_dir)
        self.averager = MetricAverager()
        # Continues from the checkpoint that was loaded, not from whatever manifest is newest on disk.
        self.checkpointer = ckpt.Checkpointer(self.run_dir, start=entry)
        self.eta = Eta(cfg, len(getattr(self.evaluator, "modes", cfg.eval_modes)))
        # step, seconds (and bytes) of each checkpoint written and each evaluation, and whether in the background
        self.checkpoint_stats: list[dict] = []
        self.eval_stats: list[dict] = []
        self.eval_job: BackgroundEvaluation | None = None
        self.wall = walltime.WallTime()  # this session's seconds per phase (run_summary.json)
        self.summary: dict | None = None
        self._writer: threading.Thread | None = None  # a checkpoint written in the background
        self._write_error: BaseException | None = None
        self.step, self.episode = 0, 0
        self.last_checkpoint = 0
        self.last_eval = 0
        self.last_return: float | None = None
        self._evaluated: float | None = None  # share of the running evaluation done (the ETA's)
        self._running: tuple[str, float] | None = None  # (update or checkpoint, its perf_counter start)
        self.updates_done_at_step = 0  # updates of the current step already applied (a stop mid-burst)
        # An evaluation to run first when resumed (it failed, or was in flight at a stop): {"step": its step,
        # "policy": the policy's weights there, None when they are the agent's own (its step is this one)}.
        self.pending_eval: dict | None = None
        if state is not None:
            self._restore(state, entry)
        else:
            ckpt.write_config(self.run_dir, cfg)

    # ---- checkpoints -------------------------------------------------------------------------

    def _state(self) -> dict:
        return {
            "step": self.step,
            "episode": self.episode,
            "updates_done_at_step": self.updates_done_at_step,
            "obs_shape": tuple(self.obs_shape),
            "action_dim": self.action_dim,
            "config": self.cfg.to_dict(),
            "agent": self.agent.state_dict(),
            "rng": ckpt.rng_state(),
            "action_rng": self.action_rng.bit_generator.state,
            "env_rng": self.env.rng_state(),
            # While an evaluation runs in the background: the schedules from before it, and it as pending.
            "evaluator": self.eval_job.before if self.eval_job is not None else self.evaluator.state_dict(),
            "pending_eval": self.eval_job.pending() if self.eval_job is not None else self.pending_eval,
        }

    def save(self, name: str = "checkpoint", background: bool = False) -> Path:
        """Write a checkpoint of this step. ``background``: snapshot the state now (the agent's tensors
        copied where they live, the replay's new records to the host) and write it in a thread while the loop
        goes on; the next save, the run's end, a stop and :meth:`close` wait for it, and its error (a full
        disk) is raised there. Never two writes at once."""
        self.wait_for_checkpoint()
        t0 = time.perf_counter()
        before = {s["file"] for s in self.checkpointer.segments}
        state = self._state()
        if background:
            state["agent"] = _copied(state["agent"])  # the next update changes the live tensors in place
        snap = self.checkpointer.snapshot(state, self.replay, name)
        if name == "checkpoint":
            self.last_checkpoint = self.step

        def write(step: int = self.step) -> None:
            t_write = time.perf_counter()
            manifest = self.checkpointer.write(snap)
            seconds = time.perf_counter() - t_write
            written = manifest["state"]["bytes"] + sum(s["bytes"] for s in manifest["segments"]
                                                       if s["file"] not in before)
            self.checkpoint_stats.append({"step": step, "seconds": seconds, "bytes": written, "name": name,
                                          "background": background})
            if name == "checkpoint":
                self.eta.measure("checkpoint", seconds)

        if background:
            def run() -> None:
                try:
                    write()
                except BaseException as e:  # noqa: BLE001 - raised in the loop by wait_for_checkpoint
                    self._write_error = e

            self._writer = threading.Thread(target=run, name="smg-fast-checkpoint", daemon=True)
            self._writer.start()
        else:
            write()
        self.wall.add("checkpoint", time.perf_counter() - t0)
        return self.run_dir / f"{name}.json"

    @property
    def eval_seconds(self) -> float:
        return sum(e["seconds"] for e in self.eval_stats)

    def background_seconds(self) -> dict[str, float]:
        """Seconds of evaluation and checkpoint writing that ran beside the loop (run_summary.json's)."""
        return {what: sum(r["seconds"] for r in stats if r["background"])
                for what, stats in (("evaluation", self.eval_stats), ("checkpoint", self.checkpoint_stats))}

    def wait_for_checkpoint(self, raise_error: bool = True) -> None:
        """Wait for a checkpoint being written in the background; raise its error (``raise_error``)."""
        if self._writer is not None:
            t0 = time.perf_counter()
            self._writer.join()
            self._writer = None
            self.wall.add("checkpoint", time.perf_counter() - t0)
        error, self._write_error = self._write_error, None
        if error is not None and raise_error:
            raise error

    def _restore(self, state: dict, entry: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        ckpt.load_replay(self.run_dir, entry, self.replay, state)
        ckpt.set_rng_state(state["rng"])
        self.action_rng.bit_generator.state = state["action_rng"]
        self.env.set_rng_state(state["env_rng"])
        self.evaluator.load_state_dict(state["evaluator"])
        self.step, self.episode = state["step"], state["episode"]
        self.updates_done_at_step = state.get("updates_done_at_step", 0)
        pending = state.get("pending_eval")
        if pending is True:  # checkpoints of earlier versions: a failed evaluation at their own step
            pending = {"step": self.step, "policy": None}
        self.pending_eval = pending or None
        self.last_checkpoint = self.step
        # Rows logged after the checkpoint belong to the lost part of the interrupted run, and rows from the
        # step of a pending evaluation on to a background evaluation that ended after the checkpoint was taken:
        # it runs again.
        self.logger.train.truncate_after(self.step)
        if self.pending_eval is not None:
            self.logger.eval.truncate_after(self.pending_eval["step"], inclusive=False)
        else:
            self.logger.eval.truncate_after(self.step)

    # ---- the loop ----------------------------------------------------------------------------

    def evaluate(self, status: progress.Status | None = None, pending: dict | None = None) -> dict[str, list[float]]:
        """Evaluate every mode at this step, in the loop, and log it (``status``: the progress line names the
        mode and the episodes done); ``pending``: the pending evaluation a checkpoint held (``pending_eval``),
        at its step with its weights. A failure saves a checkpoint at this step first, with the evaluation
        pending (it runs first when the run is resumed), then raises EvaluationError."""
        step, policy = self.step, self.agent
        if pending is not None:
            step = pending["step"]
            if pending.get("policy") is not None:
                policy = self.agent.policy_snapshot()
                policy.load_state_dict(pending["policy"])
        modes = list(getattr(self.evaluator, "modes", self.cfg.eval_modes))
        episodes = self.cfg.eval_episodes

        def watch(mode: str, done: int) -> None:
            i = modes.index(mode) if mode in modes else 0
            self._evaluated = (i + done / episodes) / len(modes)
            if status is not None:
                status.set(f"evaluating {mode} (mode {i + 1}/{len(modes)}), {done}/{episodes} episodes done")

        t0 = time.perf_counter()
        self._evaluated = 0.0
        try:
            returns = self.evaluator.evaluate(policy, episodes, watch=watch)
        except Exception as e:  # noqa: BLE001 - whatever failed, the run's progress is saved first
            self._evaluation_failed(step, None if policy is self.agent else policy.state_dict(), e)
        finally:
            self._evaluated = None
            self.wall.add("evaluation", time.perf_counter() - t0)
        self.pending_eval = None
        self._log_evaluation(step, returns, time.perf_counter() - t0, background=False)
        return returns

    def _evaluation_failed(self, step: int, policy: dict | None, error: BaseException):
        """Save a checkpoint at this step with the evaluation at ``step`` pending (``policy``: its weights, None
        for the agent's own), then raise EvaluationError."""
        self.pending_eval = {"step": step, "policy": policy}
        self.save()
        lines = [ln.strip() for ln in str(error).strip().splitlines() if ln.strip()]
        why = f"{type(error).__name__}: {lines[-1]}" if lines else type(error).__name__
        raise EvaluationError(
            f"the evaluation at step {step} failed ({why}); a checkpoint at step {self.step} was saved "
            f"first: fix the cause (`smg-fast data verify` checks the data), then continue with: "
            f"{command(f'train --resume {self.run_dir}')} (the evaluation runs first)") from error

    def _log_evaluation(self, step: int, returns: dict[str, list[float]], seconds: float, background: bool) -> None:
        for row in summary_rows(step, returns):
            self._log(self.logger.log_eval, row)
        self.eval_stats.append({"step": step, "seconds": seconds, "background": background})
        self.eta.measure("eval_step", seconds, self.eta.eval_steps)

    def _start_evaluation(self) -> None:
        """Evaluate this step in the background, on a snapshot of the policy (``async_eval``)."""
        t0 = time.perf_counter()
        self.eval_job = BackgroundEvaluation(self.evaluator, self.agent.policy_snapshot(), self.step,
                                             self.cfg.eval_episodes)
        self.wall.add("evaluation", time.perf_counter() - t0)

    def _collect_evaluation(self, bar, status: progress.Status | None = None, wait: bool = False) -> None:
        """Log the background evaluation if it has ended (``wait``: wait for it first), and print its line; its
        failure stops the run as a failure in the loop does."""
        job = self.eval_job
        if job is None or (job.running and not wait):
            return
        if job.running:
            if status is not None:
                status.set(f"waiting for the evaluation of step {job.step}")
            t0 = time.perf_counter()
            job.wait()
            self.wall.add("evaluation", time.perf_counter() - t0)
        self.eval_job = None
        if job.error is not None:
            self._evaluation_failed(job.step, job.policy.state_dict(), job.error)
        self._log_evaluation(job.step, job.returns, job.seconds, background=True)
        bar.write(eval_line(job.step, job.returns))

    def _stop_evaluation(self, bar) -> None:
        """At a stop: an evaluation that ended is logged; one still running is cancelled and stays pending in
        the checkpoint that follows (it runs first when the run is resumed)."""
        job = self.eval_job
        if job is None:
            return
        if job.running:
            job.cancel()
        if job.cancelled and job.returns is None:
            return
        self._collect_evaluation(bar)

    def _log(self, write, row: dict) -> None:
        try:
            write(row)
        except OSError as e:
            why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
                   errno.EIO: "an I/O error"}.get(e.errno) or (e.strerror or str(e))
            where = f" ({e.filename})" if e.filename else ""
            last = (f"the last good checkpoint (step {self.checkpointer.step}) is intact; free space, then continue "
                    f"with: {command(f'train --resume {self.run_dir}')}" if self.checkpointer.step is not None
                    else "no checkpoint was written yet")
            raise LogWriteError(f"could not write the run's log at step {self.step}: {why}{where}; {last}") from None

    def _bar(self):
        return tqdm(total=self.cfg.train_steps, initial=self.step, disable=not self.progress, unit="step",
                    file=_QuietStream(sys.stderr),
                    dynamic_ncols=True, desc=f"{self.cfg.algo} {self.cfg.task}",
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")

    def status_parts(self) -> list[str]:
        """The progress line's ETA and last training return (read by its timer thread too)."""
        running = self._running
        left = self.eta.seconds_left(
            self.step, self.updates_done_at_step, last_eval=self.last_eval, last_checkpoint=self.last_checkpoint,
            evaluated=self._evaluated,
            running=None if running is None else (running[0], time.perf_counter() - running[1]))
        parts = ["eta estimating" if left is None else f"eta {progress.clock_text(left)}"]
        if self.last_return is not None:
            parts.append(f"return {self.last_return:.1f}")
        job = self.eval_job
        if job is not None and job.running:
            parts.append(f"evaluating step {job.step} {100 * job.share_done:.0f}%")
        return parts

    def _check_finite(self, means: dict[str, float]) -> None:
        bad = nonfinite(means)
        if bad is not None:
            self._stop_nonfinite(f"{self._first_nonfinite(bad)}; stopped at step {self.step}")

    def _first_nonfinite(self, fallback: str | None) -> str:
        first = self.averager.first_nonfinite
        if first is not None:
            key, step = first
            return f"{key} became NaN/inf first, in an update at step {step}"
        if fallback is not None:
            return f"{fallback} became NaN/inf before step {self.step}"
        return "every logged loss stayed finite"

    def _check_action(self, action: np.ndarray) -> None:
        """A NaN/inf action never reaches the environment: the run stops with the state saved."""
        if not np.isfinite(action).all():
            self.averager.means()  # finds the update where a loss first went non-finite, if one did
            self._stop_nonfinite(f"the policy's action at step {self.step} is NaN/inf "
                                 f"({self._first_nonfinite(None)})")

    def _stop_nonfinite(self, what: str) -> None:
        path = self.save("checkpoint_nonfinite")
        last = (f"the last good checkpoint, step {self.last_checkpoint}, is untouched"
                if self.checkpointer.step is not None else "no regular checkpoint was written before")
        raise NonFiniteLossError(f"{what}; the state was saved to {path} ({last})")

    def run(self) -> None:
        t_start, start_step = time.perf_counter(), self.step
        try:
            try:
                self._run()
            except BaseException:
                self.wait_for_checkpoint(raise_error=False)  # what stopped the run is the error to show
                raise
            self.wait_for_checkpoint()
        finally:
            if self.step > start_step or self.wall.seconds["evaluation"] > 0:
                seconds = self.wall.breakdown(time.perf_counter() - t_start)
                session = {"from_step": start_step, "to_step": self.step, "overlap_env": self.overlap,
                           "async_eval": self.async_eval, "seconds": seconds, "background": self.background_seconds()}
                try:
                    self.summary = walltime.record(self.run_dir, session)
                except OSError:  # a full disk: the run's own error says so; these figures are not worth a line
                    pass

    def _run(self) -> None:
        cfg = self.cfg
        bar = self._bar()
        status = progress.Status(bar, self.status_parts)
        if self.pending_eval is not None:  # failed, or in flight at the stop: at its step, with its weights
            step = self.pending_eval["step"]
            returns = self.evaluate(status, self.pending_eval)
            bar.write(eval_line(step, returns))
            if self.step >= cfg.train_steps:
                self.save()
        obs = self._reset()
        episode_return, episode_start, t0 = 0.0, self.step, time.time()
        self.last_eval = self.step - self.step % cfg.eval_freq
        stop: list[int] = []
        restore_signals = catch_stop_signals(stop)
        try:
            status.__enter__()  # redraws the line every second, also while one update or write runs
            while self.step < cfg.train_steps and not stop:
                t_act = time.perf_counter()
                if self.step < cfg.init_steps:
                    action = self.action_rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)
                else:
                    action = self.agent.act(obs, sample=True)
                    self._check_action(action)
                t_act = time.perf_counter() - t_act
                n_updates, schedule_step = updates_due(cfg, self.step)
                if self.overlap:  # the env takes this step during the update(s); the result is used after them
                    self.env.send(action)
                while self.updates_done_at_step < n_updates and not stop:
                    status.set(f"update burst {self.updates_done_at_step + 1}/{n_updates}" if n_updates > 1
                               else "update")
                    t_upd = time.perf_counter()
                    self._running = ("update", t_upd)
                    self.averager.add(self.agent.update(self.replay, schedule_step), self.step)
                    self.updates_done_at_step += 1
                    self._running = None
                    t_upd = time.perf_counter() - t_upd
                    self.eta.measure("update", t_upd)
                    self.wall.add("update", t_upd)
                if stop:  # stopped between updates: this step is taken after the resume
                    if self.overlap:
                        self.env.discard()  # its result is dropped, the env's random streams rewound
                    break
                self.updates_done_at_step = 0
                t_env = time.perf_counter()
                if self.overlap:
                    obs, reward, terminated, truncated, _ = self.env.recv()
                else:
                    obs, reward, terminated, truncated, _ = self.env.step(action)
                self.wall.add("environment", time.perf_counter() - t_env)
                self.replay.add(action, reward, obs[-3:], terminated)
                self.eta.measure("random_step" if self.step < cfg.init_steps else "policy_step",
                                 t_act + time.perf_counter() - t_env)
                episode_return += reward
                self.step += 1
                bar.update(1)
                if terminated or truncated:
                    self.episode += 1
                    elapsed = time.time() - t0
                    row = {"step": self.step, "episode": self.episode, "episode_return": episode_return,
                           "episode_length": self.step - episode_start,
                           "steps_per_second": (self.step - episode_start) / max(elapsed, 1e-9)}
                    means = self.averager.means()
                    row.update(means)
                    self._log(self.logger.log_train, row)
                    self._check_finite(means)
                    self.last_return = episode_return
                    # A background evaluation is logged at the first episode end after it ended: a failure then
                    # saves a checkpoint where a resumed run continues as if it had not failed (a new episode).
                    self._collect_evaluation(bar)
                    if self.step - self.last_eval >= cfg.eval_freq or self.step >= cfg.train_steps:
                        self.last_eval = self.step - self.step % cfg.eval_freq
                        self._collect_evaluation(bar, status, wait=True)  # one at a time: rows in step order
                        if self.async_eval and self.step < cfg.train_steps:
                            self._start_evaluation()
                        else:
                            bar.write(eval_line(self.step, self.evaluate(status)))
                    if self.step >= cfg.train_steps:
                        self._save_showing(status)
                    elif self.step - self.last_checkpoint >= cfg.checkpoint_every:
                        self._save_showing(status, background=cfg.async_checkpoint)
                    obs = self._reset()
                    episode_return, episode_start, t0 = 0.0, self.step, time.time()
                if status.phase is not None:
                    status.set(None)
            if stop:
                self._stop_evaluation(bar)
            else:
                self._collect_evaluation(bar, status, wait=True)
            if self.last_checkpoint < self.step or stop:  # stopped, or out of budget mid-episode
                self._check_finite(self.averager.means())
                if not stop:
                    self.last_eval = self.step
                    self.evaluate(status)
                self._save_showing(status)
            if stop:
                raise TrainingStopped(stop[0], self.run_dir, self.step)
        finally:
            restore_signals()
            status.__exit__(None, None, None)
            bar.close()

    def _reset(self) -> np.ndarray:
        t = time.perf_counter()
        obs, _ = self.env.reset()
        self.wall.add("environment", time.perf_counter() - t)
        self.replay.add_first(obs[-3:])
        return obs

    def _save_showing(self, status: progress.Status, background: bool = False) -> None:
        if self._writer is not None:
            status.set(f"waiting for the checkpoint of step {self.last_checkpoint} to be written")
            self.wait_for_checkpoint()
        if background:  # only the snapshot holds the loop
            self.save(background=True)
            return
        status.set(f"writing the checkpoint of step {self.step}")
        self._running = ("checkpoint", time.perf_counter())
        try:
            self.save()
        finally:
            self._running = None

    def close(self) -> None:
        if getattr(self, "eval_job", None) is not None and self.eval_job.running:
            self.eval_job.cancel()  # it uses the evaluator's workers, closed next
        if getattr(self, "_writer", None) is not None:
            self.wait_for_checkpoint(raise_error=False)  # the files stay whole; the lock is held until then
        if self.evaluator is not None:
            self.evaluator.close()
        if getattr(self, "logger", None) is not None:
            self.logger.close()
        if self.env is not None:
            self.env.close()
        self.lock.release()


def train(cfg: RunConfig, resume: bool = False, progress: bool = True, previous_checkpoint: bool = False) -> Path:
    """Build and run a :class:`Trainer`. A run that reaches its budget keeps only its last checkpoint,
    once every file of it verifies (:func:`smg_fast.run.checkpoint.keep_only_last`); a stopped or failed
    run keeps the previous one as well."""
    from smg_fast.run.progress import working

    workers = len(cfg.eval_modes) * min(cfg.eval_envs, cfg.eval_episodes)
    start = (f"{'loading the checkpoint, ' if resume else ''}starting the {cfg.task} env, the {cfg.algo} agent "
             f"and {workers} evaluation worker{'s' if workers != 1 else ''}")
    with working(start, progress):
        trainer = Trainer(cfg, resume=resume, progress=progress, previous_checkpoint=previous_checkpoint)
    try:
        trainer.run()
    finally:
        trainer.close()
    if trainer.step >= cfg.train_steps:
        with working("verifying the last checkpoint", progress):
            ckpt.keep_only_last(trainer.run_dir)
    return trainer.run_dir
