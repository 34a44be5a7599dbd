"""An evaluation during training that runs in a thread while the loop goes on (``async_eval``).

Evaluation is deterministic (tanh μ), acts on a snapshot of the policy taken at its step
(:class:`smg_fast.agent.policy.PolicySnapshot`) and plays the episodes of its own schedule
(:class:`smg_fast.run.evaluate.Evaluator`): run in the background it gives the rows the loop would have
computed at that step, whatever the updates do meanwhile. The episodes step in the evaluator's worker
processes; the thread only runs the policy's forward passes and waits for the workers.

A checkpoint taken while it runs holds it as pending — its step, the snapshot's weights and the evaluator's
schedules from before it — so a run stopped or killed meanwhile evaluates that step again when resumed, with
the same weights and episodes, and its rows land in ``eval.csv`` once.
"""
from __future__ import annotations

import threading
import time


class Cancelled(Exception):
    """The evaluation was cancelled (the run is stopping): its step is evaluated again on resume."""


class _Cancellable:
    """The policy, with a check before each action: a cancelled evaluation stops at its next step."""

    def __init__(self, policy, cancelled: threading.Event):
        self.policy, self.cancelled = policy, cancelled

    def act(self, obs, sample: bool = False):
        if self.cancelled.is_set():
            raise Cancelled
        return self.policy.act(obs, sample)


class BackgroundEvaluation:
    """``evaluator.evaluate(policy, episodes)`` at ``step``, started at once in a thread.

    ``before`` holds the evaluator's state from before it (what a checkpoint saves while it runs);
    ``returns`` (by mode) once it finished, ``error`` if it failed; ``share_done`` (0..1) for the progress
    line; ``seconds`` it ran. The evaluator is the thread's until the evaluation ends: nothing else may use it
    meanwhile."""

    def __init__(self, evaluator, policy, step: int, episodes: int):
        self.step, self.policy = step, policy
        self.before = evaluator.state_dict()
        self.returns: dict[str, list[float]] | None = None
        self.error: BaseException | None = None
        self.share_done = 0.0
        self.seconds = 0.0
        self._cancelled = threading.Event()
        modes = list(getattr(evaluator, "modes", ()))

        def watch(mode: str, done: int) -> None:
            i = modes.index(mode) if mode in modes else 0
            self.share_done = (i + done / episodes) / max(1, len(modes))

        def run() -> None:
            t0 = time.perf_counter()
            try:
                self.returns = evaluator.evaluate(_Cancellable(policy, self._cancelled), episodes, watch=watch)
            except BaseException as e:  # noqa: BLE001 - the loop raises it where it collects the evaluation
                self.error = e
            finally:
                self.seconds = time.perf_counter() - t0

        self._thread = threading.Thread(target=run, name=f"smg-fast-evaluation-{step}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait(self) -> None:
        self._thread.join()

    def cancel(self) -> None:
        """Stop at the next action and wait for the thread (the evaluator restores its schedules)."""
        self._cancelled.set()
        self._thread.join()

    def pending(self) -> dict:
        """What a checkpoint records of it: its step and the snapshot's weights."""
        return {"step": self.step, "policy": self.policy.state_dict()}
