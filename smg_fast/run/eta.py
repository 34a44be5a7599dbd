"""A training run's time left, from what this run has measured so far.

The run is modelled as the phases still ahead of it: random-action steps, policy steps (acting and the
env), updates (the burst and then the regular ones), evaluations and checkpoints, each times its measured
cost. A cost is the mean of its recent measurements: an even number of updates, since SMG's even updates
(critic, actor, targets, auxiliary) cost several times its odd ones, without the run's first two (one-time
costs: compilation, allocator warm-up). A phase not measured yet is modelled from one that is: a policy
step as a random step until one has run, an evaluation as its episodes' steps at the policy step's cost
until one has run, a checkpoint as free until one has been written. Evaluations in the background
(``async_eval``) hold the loop only at the run's end, where the last one runs in the loop: only that one is
counted (on a CPU the others slow the updates they overlap, which the update's cost then shows). The one cost
nothing stands in for is
the update: with updates ahead and fewer than two measured, the time left is unknown and the progress
line says "estimating".
"""
from __future__ import annotations

import math
import threading
from collections import deque

from smg_fast.run.schedule import update_cadence

# How many recent measurements a cost averages (updates: an even number, see the module doc).
WINDOW = {"random_step": 200, "policy_step": 200, "update": 20, "eval_step": 3, "checkpoint": 3}
EARLY_UPDATES = 2  # the run's first updates, used only until later ones are measured


def _events_left(total: int, last: int, every: int) -> int:
    """Events still due at most ``every`` steps apart from ``last`` to ``total``, the last one at ``total``."""
    span = total - last
    return 0 if span <= 0 else span // every + (span % every != 0)


class Eta:
    """Measured costs of a run's phases and the time left from them (see the module doc). ``modes``: the
    number of evaluation modes. Safe to read from the progress line's timer thread."""

    def __init__(self, cfg, modes: int):
        self.cfg, self.modes = cfg, max(1, int(modes))
        self._costs = {k: deque(maxlen=n) for k, n in WINDOW.items()}
        self._early: list[float] = []
        self._lock = threading.Lock()

    @property
    def episode_steps(self) -> int:
        """Agent steps of a full episode (an evaluation episode runs to its time limit at most)."""
        return math.ceil(self.cfg.episode_length / max(1, self.cfg.action_repeat))

    @property
    def eval_steps(self) -> int:
        """Env steps of one evaluation: every mode, every episode to its time limit."""
        return self.modes * self.cfg.eval_episodes * self.episode_steps

    def measure(self, what: str, seconds: float, count: int = 1) -> None:
        """``count`` units of ``what`` took ``seconds`` together."""
        if count <= 0:
            return
        with self._lock:
            if what == "update" and len(self._early) < EARLY_UPDATES:
                self._early.append(seconds / count)
            else:
                self._costs[what].append(seconds / count)

    def cost(self, what: str) -> float | None:
        """Mean seconds per unit of ``what`` over its recent measurements; None before any (updates: before
        two)."""
        with self._lock:
            values = list(self._costs[what])
            early = list(self._early)
        if what == "update":
            if len(values) >= 2:
                values = values[len(values) % 2:]  # an even number: as many even as odd updates
            elif len(early) + len(values) >= 2:
                values = (early + values)[-2:]
            else:
                return None
        return sum(values) / len(values) if values else None

    def updates_left(self, step: int, updates_done_at_step: int = 0) -> int:
        """Updates still to run from ``step`` on (of which ``updates_done_at_step`` are done)."""
        cfg = self.cfg
        if step >= cfg.train_steps:
            return 0
        k, per_step = update_cadence(cfg)
        burst = cfg.init_steps if cfg.burst_updates is None else cfg.burst_updates
        n = burst if step <= cfg.init_steps else 0
        first = max(step, cfg.init_steps + 1)  # regular updates at steps s > init_steps with s % k == 0
        if cfg.train_steps > first:
            n += per_step * ((cfg.train_steps - 1) // k - (first - 1) // k)
        return max(0, n - updates_done_at_step)

    def seconds_left(self, step: int, updates_done_at_step: int = 0, *, last_eval: int | None = None,
                     last_checkpoint: int | None = None, evaluated: float | None = None,
                     running: tuple[str, float] | None = None) -> float | None:
        """Seconds until the run ends, None while unknown ("estimating").

        Args:
            step, updates_done_at_step: where the run is (updates of ``step`` already applied).
            last_eval, last_checkpoint: the steps of the latest evaluation and checkpoint (default: the
                last multiple of their interval at or before ``step``).
            evaluated: while an evaluation runs, the share of it done (0..1).
            running: ``(phase, seconds)``: an ``update`` or a ``checkpoint`` has run that long; its cost
                is taken off, down to nothing (an overrun shows as the phase's own counting time, not as a
                negative estimate).
        """
        cfg = self.cfg
        rand, pol = self.cost("random_step"), self.cost("policy_step")
        if rand is None and pol is None:
            return None
        rand, pol = (rand if rand is not None else pol), (pol if pol is not None else rand)
        left = max(0, min(cfg.init_steps, cfg.train_steps) - step) * rand
        left += max(0, cfg.train_steps - max(step, cfg.init_steps)) * pol
        updates = self.updates_left(step, updates_done_at_step)
        upd = self.cost("update")
        if updates:
            if upd is None:
                return None
            left += updates * upd
        per_eval = self.eval_steps * (self.cost("eval_step") or pol)
        last_eval = step - step % cfg.eval_freq if last_eval is None else last_eval
        evaluations = _events_left(cfg.train_steps, last_eval, cfg.eval_freq)
        if cfg.async_eval:  # only the run's last one holds the loop
            evaluations = min(evaluations, 1)
        left += evaluations * per_eval
        if evaluated is not None:
            left += (1 - min(max(evaluated, 0.0), 1.0)) * per_eval
        ckpt = self.cost("checkpoint") or 0.0
        last_checkpoint = step - step % cfg.checkpoint_every if last_checkpoint is None else last_checkpoint
        left += _events_left(cfg.train_steps, last_checkpoint, cfg.checkpoint_every) * ckpt
        if running is not None:
            phase, seconds = running
            unit = {"update": upd, "checkpoint": ckpt}.get(phase) or 0.0
            left -= min(max(seconds, 0.0), unit)
        return max(left, 0.0)


# ---- before a run starts: what a CPU makes of it --------------------------------------------------------

# Seconds per update at batch 64 on a CPU: the README's measurement of all seven methods in one run on an idle
# 2-core Intel Xeon (2026-12-01, fp32, fused ops, mean of an even and an odd update). Only the warning below
# uses them; a running run's ETA uses what it measures itself.
CPU_UPDATE_SECONDS = {"sac": 0.292, "drq": 0.290, "srm": 0.303, "svea": 0.447, "soda": 0.697, "sgqn": 0.825,
                      "smg": 1.906}
CPU_STEP_SECONDS = 0.01  # acting and one rendered env step, about
LONG_RUN_S = 3 * 3600  # longer than this on a CPU: said once at the start


def projected_cpu_seconds(cfg, step: int = 0) -> float:
    """Seconds the rest of ``cfg``'s run (from ``step``) takes on a CPU like the reference machine: its updates
    at the measured cost per update (batches above 64 proportionally dearer; smaller ones not cheaper, a
    CPU does not scale down that far) and its steps."""
    per_update = CPU_UPDATE_SECONDS.get(cfg.algo, max(CPU_UPDATE_SECONDS.values()))
    per_update *= max(1.0, cfg.agent.batch_size / 64)
    eta = Eta(cfg, len(cfg.eval_modes))
    evaluations = _events_left(cfg.train_steps, step - step % cfg.eval_freq, cfg.eval_freq)
    steps = max(0, cfg.train_steps - step) + evaluations * eta.eval_steps
    return eta.updates_left(step) * per_update + steps * CPU_STEP_SECONDS
