"""The loop's overlaps (issue 27): the training env steps during the update (``overlap_env``: the loop sends the
action before the update(s) and stores the transition after them), periodic checkpoints are written in the
background from a snapshot (``async_checkpoint``) and evaluations run in the background on a snapshot of the
policy (``async_eval``). A run with them must equal one without bit for bit — train.csv, eval.csv, the final
parameters, the replay, every random stream, the checkpoints' files — also across a stop inside the update
burst, between a step's updates or during an evaluation, and across a kill (SIGKILL) while an evaluation runs,
each resumed from its checkpoint."""
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from smg_fast.config import make_config
from smg_fast.run.checkpoint import load_checkpoint
from smg_fast.run.schedule import updates_due
from smg_fast.run.trainer import Trainer, TrainingStopped
from synthetic import synthetic_trainer

SIZE, A = 8, 2


def assert_same(x, y, where: str = "state") -> None:
    if isinstance(x, dict):
        assert isinstance(y, dict) and sorted(x) == sorted(y), where
        for k in x:
            assert_same(x[k], y[k], f"{where}.{k}")
    elif isinstance(x, (list, tuple)):
        assert isinstance(y, (list, tuple)) and len(x) == len(y), where
        for i, (a, b) in enumerate(zip(x, y)):
            assert_same(a, b, f"{where}[{i}]")
    elif torch.is_tensor(x):
        assert torch.is_tensor(y) and x.dtype == y.dtype and torch.equal(x, y), where
    elif isinstance(x, np.ndarray):
        assert np.array_equal(x, y), where
    else:
        assert x == y, where


def csv_rows(path: Path) -> list[list[str]]:
    """A log's rows without its wall-clock column."""
    rows = [r.split(",") for r in path.read_text().splitlines()]
    drop = rows[0].index("steps_per_second") if "steps_per_second" in rows[0] else None
    return [[c for i, c in enumerate(r) if i != drop] for r in rows]


LOOP_KEYS = ("overlap_env", "async_checkpoint", "async_eval", "run_dir")


def assert_same_runs(a: Path, b: Path, *, name: str = "checkpoint", previous_differs: tuple = (),
                     with_previous: bool = True) -> None:
    """Same logs and the same checkpoints in every field but how the loop ran; ``previous_differs``: fields of
    the previous checkpoint that may differ (one taken while an evaluation ran holds it as pending);
    ``with_previous``: False where one run wrote a checkpoint the other did not (a failure's)."""
    for log in ("train.csv", "eval.csv"):
        assert (a / log).exists() == (b / log).exists(), log
        if (a / log).exists():
            assert csv_rows(a / log) == csv_rows(b / log), log
    for previous in (False, True)[:2 if with_previous else 1]:  # the previous one: written in the background
        sa = load_checkpoint(a, name=f"{name}.json", previous=previous)
        sb = load_checkpoint(b, name=f"{name}.json", previous=previous)
        for s in (sa, sb):
            for key in LOOP_KEYS:
                s["config"].pop(key)
            for key in previous_differs if previous else ():
                s.pop(key)
        assert_same(sa, sb, f"{'previous' if previous else 'last'} checkpoint")


# ---- the loop's order, with a stand-in env in a real worker process -------------------------------------


def config(run_dir, overlap: bool, **kw):
    values = dict(train_steps=40, init_steps=10, burst_updates=5, updates_per_step=1, replay_capacity=40,
                  checkpoint_every=20, eval_freq=20, eval_modes=("train",), eval_episodes=1, batch_size=4,
                  overlap_env=overlap, async_checkpoint=overlap, async_eval=overlap)
    values.update(kw)
    cfg = make_config("walker-walk", "sac", "quick", **values)
    cfg.run_dir = str(run_dir)
    return cfg


def run_synthetic(run_dir, overlap: bool, *, stop_at: int | None = None, in_flight: list | None = None, **kw):
    """A synthetic run (the env in a worker when ``overlap``), stopped by SIGTERM after update ``stop_at`` and
    resumed to its end; ``in_flight`` collects whether the env step was in flight during each update."""
    cfg = config(run_dir, overlap, **kw)
    box = {}

    def hook(n):
        if in_flight is not None and overlap:
            in_flight.append((box["t"].step, box["t"].env.in_flight))
        if n == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)

    trainer = box["t"] = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=7, batch_size=4,
                                           update_hook=hook, worker=overlap)
    assert trainer.overlap == overlap
    try:
        if stop_at is None:
            trainer.run()
            return trainer
        with pytest.raises(TrainingStopped):
            trainer.run()
    finally:
        trainer.close()
    stopped = load_checkpoint(run_dir)
    resumed = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=7, batch_size=4, resume=True,
                                worker=overlap)
    try:
        resumed.run()
    finally:
        resumed.close()
    return stopped


@pytest.mark.parametrize("updates_per_step", [1, 2, 0.5])
def test_overlapped_synthetic_run_equals_the_sequential_one(tmp_path, updates_per_step):
    seen: list = []
    run_synthetic(tmp_path / "seq", False, updates_per_step=updates_per_step)
    trainer = run_synthetic(tmp_path / "ovl", True, updates_per_step=updates_per_step, in_flight=seen)
    assert_same_runs(tmp_path / "seq", tmp_path / "ovl")
    # every update after the random phase ran while the env step was in flight (the burst's too)
    assert seen and all(flying for _, flying in seen), seen
    due = {s for s in range(40) if updates_due(config(tmp_path, True, updates_per_step=updates_per_step), s)[0]}
    assert {s for s, _ in seen} == due and min(due) == 10
    assert trainer.step == 40


@pytest.mark.parametrize("stop_at,updates_per_step", [(3, 1), (8, 2)], ids=["in-burst", "between-updates"])
def test_a_stop_between_overlapped_updates_checkpoints_and_resumes_as_sequential(tmp_path, stop_at,
                                                                                  updates_per_step):
    """The step in flight at the stop is dropped and the env's random streams rewound (the stand-in env draws
    its frames' noise from its stream at every step): the checkpoint is the sequential loop's, and so is the
    resumed run."""
    a = run_synthetic(tmp_path / "seq", False, stop_at=stop_at, updates_per_step=updates_per_step)
    b = run_synthetic(tmp_path / "ovl", True, stop_at=stop_at, updates_per_step=updates_per_step)
    assert a["updates_done_at_step"] > 0  # really between two updates of one step
    for s in (a, b):
        for key in LOOP_KEYS:
            s["config"].pop(key)
    assert_same(a, b)
    assert_same_runs(tmp_path / "seq", tmp_path / "ovl")


def test_overlap_env_false_keeps_the_env_in_process(tmp_path):
    cfg = config(tmp_path / "r", False, train_steps=12)
    trainer = Trainer(cfg, progress=False)
    try:
        assert not trainer.overlap and type(trainer.env).__name__ == "DMCEnv"
    finally:
        trainer.close()


# ---- real envs and agents ------------------------------------------------------------------------------------


def real_config(run_dir, algo: str, overlap: bool):
    cfg = make_config("cartpole-swingup", algo, "quick", train_steps=24, batch_size=4, eval_episodes=1,
                      eval_modes=("train",), episode_length=64, init_steps=8, burst_updates=3, updates_per_step=1,
                      eval_freq=16, eval_envs=1, checkpoint_every=8, replay_capacity=64, overlap_env=overlap,
                      async_checkpoint=overlap, async_eval=overlap,
                      **({"mask_warmup": 8} if algo == "smg" else {}))
    cfg.run_dir = str(run_dir)
    return cfg


def run_real(run_dir, algo: str, overlap: bool, stop_at: int | None = None, hold_eval: bool = False) -> None:
    """A tiny real run, stopped by SIGTERM in update ``stop_at`` and resumed (as --resume does) to its end;
    ``hold_eval``: an evaluation in the background waits for the stop (it is cancelled there)."""
    import threading
    import time

    cfg = real_config(run_dir, algo, overlap)
    trainer = Trainer(cfg, progress=False)
    assert trainer.overlap == overlap and trainer.async_eval == overlap
    real_update, count = trainer.agent.update, [0]
    real_evaluate = trainer.evaluator.evaluate

    def evaluate(*args, **kw):
        if hold_eval and threading.current_thread() is not threading.main_thread():
            deadline = time.monotonic() + 120
            while not (trainer.eval_job and trainer.eval_job.cancelled) and time.monotonic() < deadline:
                time.sleep(0.01)
        return real_evaluate(*args, **kw)

    trainer.evaluator.evaluate = evaluate

    def update(replay, step):
        out = real_update(replay, step)
        count[0] += 1
        if count[0] == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    trainer.agent.update = update
    try:
        if stop_at is None:
            trainer.run()
            return
        with pytest.raises(TrainingStopped):
            trainer.run()
    finally:
        trainer.close()
    resumed = Trainer(cfg, resume=True, progress=False)
    try:
        resumed.run()
    finally:
        resumed.close()


def test_a_worker_env_gives_the_in_process_env_s_observations_and_random_streams():
    from smg_fast import envs
    from smg_fast.envs.worker import WorkerEnv

    kw = dict(episode_length=56, action_repeat=8)  # 7 agent steps
    local, remote = envs.make("cartpole-swingup", "train", 3, **kw), WorkerEnv("cartpole-swingup", "train", 3, **kw)
    try:
        actions = np.random.default_rng(0).uniform(-1, 1, (7, 1)).astype(np.float32)
        for episode in range(2):
            a, b = local.reset(), remote.reset()
            assert np.array_equal(a[0], b[0])
            for action in actions[: 5 if episode == 0 else 7]:
                remote.send(action)
                a, b = local.step(action), remote.recv()
                assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
            assert_same(local.rng_state(), remote.rng_state())
        local.reset(), remote.reset()
        remote.send(actions[0])
        remote.discard()  # as if never sent: the streams of before it
        assert_same(local.rng_state(), remote.rng_state())
    finally:
        local.close(), remote.close()


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["drq", "smg", "soda"])
def test_overlapped_real_runs_equal_sequential_ones_across_a_stop_and_resume(tmp_path, algo):
    """Each method family (SAC/DrQ: no auxiliary model; SMG; a baseline with an auxiliary model), every overlap on
    and off, stopped by SIGTERM inside the burst (update 2 of 3) and resumed: ~0.5-4 min each on a busy 2-core
    CPU."""
    run_real(tmp_path / "seq", algo, False, stop_at=2)
    run_real(tmp_path / "ovl", algo, True, stop_at=2)
    # the checkpoint of step 16 is taken while the evaluation of step 16 runs in the background: it holds it
    # pending, with the schedules from before it
    assert_same_runs(tmp_path / "seq", tmp_path / "ovl", previous_differs=("evaluator", "pending_eval"))


@pytest.mark.slow
def test_a_real_run_stopped_during_a_background_evaluation_equals_the_sequential_one(tmp_path):
    """DrQ on cartpole: SIGTERM in update 12 (step 17) while the evaluation of step 16 runs in the background on
    real evaluation workers; it is cancelled, held pending in the stop's checkpoint with the actor's weights of
    step 16, and evaluated first on resume: eval.csv, train.csv and the final checkpoint are the sequential
    run's (~1-2 min)."""
    run_real(tmp_path / "seq", "drq", False, stop_at=12)
    run_real(tmp_path / "ovl", "drq", True, stop_at=12, hold_eval=True)
    stopped = load_checkpoint(tmp_path / "ovl", previous=True)
    assert stopped["pending_eval"]["step"] == 16 and stopped["step"] > 16
    assert_same_runs(tmp_path / "seq", tmp_path / "ovl", previous_differs=("evaluator", "pending_eval"))
    assert eval_steps(tmp_path / "ovl") == [16, 24]


# ---- where the wall time went -----------------------------------------------------------------------------


def test_each_session_records_where_its_wall_time_went(tmp_path):
    """run_summary.json: one entry per session (the stopped run and its resume), phases that add up to at most
    the total, and `smg-fast report`'s table from it."""
    import json
    from types import SimpleNamespace

    from smg_fast.experiments.report import wall_time_markdown
    from smg_fast.run import walltime

    run_synthetic(tmp_path / "r", True, stop_at=8, updates_per_step=2)
    summary = json.loads((tmp_path / "r" / walltime.SUMMARY).read_text())
    first, second = summary["sessions"]
    assert first["from_step"] == 0 and first["to_step"] == second["from_step"] > 0 and second["to_step"] == 40
    assert summary["steps"] == 40 and first["overlap_env"] is True
    for s in summary["sessions"]:
        sec = s["seconds"]
        assert set(sec) == {"update", "environment", "evaluation", "checkpoint", "other", "total"}
        assert all(v >= 0 for v in sec.values())
        assert sum(sec[k] for k in (*walltime.PHASES, "other")) == pytest.approx(sec["total"])
        assert sec["update"] > 0 and sec["environment"] > 0 and sec["checkpoint"] > 0
    assert summary["seconds"]["total"] == pytest.approx(first["seconds"]["total"] + second["seconds"]["total"])
    line = walltime.text(second["seconds"], 40 - second["from_step"], second["background"])
    assert line.startswith("wall time ") and "waiting for the environment" in line and "s per step" in line
    # the resumed session's checkpoint of step 21 was written beside the loop; the stop's, in it
    assert second["background"]["checkpoint"] > 0 and "beside the loop: checkpoint writes" in line
    assert first["background"]["checkpoint"] == 0
    table = wall_time_markdown([SimpleNamespace(path=tmp_path / "r"), SimpleNamespace(path=tmp_path / "none")])
    assert str(tmp_path / "r") in table and str(tmp_path / "none") not in table
    assert table.count("\n| ") == 2  # the header row and one run


# ---- checkpoints written in the background ------------------------------------------------------------------


def test_a_periodic_checkpoint_is_written_while_training_goes_on(tmp_path, monkeypatch):
    """The write of the step-21 checkpoint holds after its state file until the loop has run three more
    updates: it can only finish in the background. The run's end waits for it; both checkpoints verify."""
    import time

    from smg_fast.run import checkpoint as ckpt

    import threading

    cfg = config(tmp_path / "r", False, async_checkpoint=True)
    trainer = synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=7, batch_size=4)
    seen = []
    # The loop's updates after step 21 wait until the write has reached its state file, so the race between
    # a quick synthetic loop and the writer thread cannot decide the test (on a quiet machine the loop used
    # to reach the run's end first).
    writing = threading.Event()
    update = trainer.agent.update

    def held_update(*args, **kw):
        if trainer.step > 21:
            writing.wait(60)
        return update(*args, **kw)

    trainer.agent.update = held_update

    def after(name):
        if name == "state" and not seen:
            writing.set()
            start, deadline = trainer.agent.updates, time.monotonic() + 60
            while trainer.agent.updates < start + 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            seen.append((trainer.step, trainer.agent.updates - start))

    monkeypatch.setattr(ckpt, "_after_phase", after)
    try:
        trainer.run()
    finally:
        trainer.close()
    assert seen and seen[0][1] >= 3, seen
    assert load_checkpoint(tmp_path / "r", previous=True)["step"] == 21
    assert load_checkpoint(tmp_path / "r")["step"] == 40
    assert [c["step"] for c in trainer.checkpoint_stats] == [21, 40]


# ---- evaluations in the background -------------------------------------------------------------------------


def eval_trainer(run_dir, background: bool, *, evaluator, resume: bool = False, update_hook=None, **kw):
    """A synthetic run evaluating at steps 14, 28 and 40 (its end) with ``evaluator``; ``background``: every
    overlap on (the env in a worker, checkpoints and evaluations in the background), else none."""
    from synthetic import SnapshotAgent

    cfg = config(run_dir, background, eval_freq=14, **kw)
    return synthetic_trainer(cfg, image_size=SIZE, action_dim=A, episode_steps=7, batch_size=4, resume=resume,
                             evaluator=evaluator, agent=SnapshotAgent(A, 4, update_hook=update_hook),
                             worker=background)


def finish(trainer) -> None:
    try:
        trainer.run()
    finally:
        trainer.close()


def updates_before(step: int, **kw) -> int:
    """Updates the loop has applied when it reaches ``step`` (the weight a SnapshotAgent acts with there)."""
    cfg = config(Path("."), True, eval_freq=14, **kw)
    return sum(updates_due(cfg, s)[0] for s in range(step))


def eval_steps(run_dir: Path) -> list[int]:
    path = run_dir / "eval.csv"
    return [int(r.split(",")[0]) for r in path.read_text().splitlines()[1:]] if path.exists() else []


def test_an_evaluation_in_the_background_gives_the_rows_of_one_in_the_loop(tmp_path):
    """The evaluations of steps 14 and 28 run in a thread and go on only once the loop has applied three more
    updates: they act with the policy of their step all the same, and the run equals one that evaluates in the
    loop. The run's last evaluation (step 40) runs in the loop."""
    import threading
    import time

    from synthetic import ActingEvaluator

    finish(eval_trainer(tmp_path / "seq", False, evaluator=(in_loop := ActingEvaluator())))
    box, overlapped = {}, []

    def hold():
        if threading.current_thread() is threading.main_thread():
            return
        agent, key = box["t"].agent, box["ev"].evaluations
        start = box.setdefault(key, agent.updates)
        deadline = time.monotonic() + 60
        while agent.updates < start + 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        overlapped.append(agent.updates - start)

    box["ev"] = ActingEvaluator(hold=hold)
    box["t"] = trainer = eval_trainer(tmp_path / "bg", True, evaluator=box["ev"])
    assert trainer.async_eval
    finish(trainer)
    assert in_loop.threads == ["MainThread"] * 3
    assert box["ev"].threads == ["smg-fast-evaluation-14", "smg-fast-evaluation-28", "MainThread"]
    assert overlapped and min(overlapped) >= 3, overlapped
    # (the checkpoint of step 21 may be taken while the evaluation of step 14 runs: it then holds it pending)
    assert_same_runs(tmp_path / "seq", tmp_path / "bg", previous_differs=("evaluator", "pending_eval"))
    assert eval_steps(tmp_path / "bg") == [14, 28, 40]
    first = (tmp_path / "bg" / "eval.csv").read_text().splitlines()[1].split(",")
    assert float(first[-1]) == 3 * updates_before(14)  # the weights of step 14, not of when it acted
    session = json.loads((tmp_path / "bg" / "run_summary.json").read_text())["sessions"][-1]
    assert session["async_eval"] is True and session["background"]["evaluation"] > 0


def test_a_stop_while_an_evaluation_runs_in_the_background_evaluates_that_step_first_on_resume(tmp_path):
    """SIGTERM in update 25 (step 30) while the evaluation of step 28 is held: it is cancelled, the stop's
    checkpoint holds it as pending (step 28, the policy's weights there, the evaluator's schedule from before
    it), and the resumed run evaluates step 28 first. Logs and final checkpoint: the in-loop run's."""
    import threading
    import time

    from synthetic import ActingEvaluator

    def hook(n):
        if n == 25:
            os.kill(os.getpid(), signal.SIGTERM)

    def hold():  # the evaluation of step 28 still runs when the loop stops (and cancels it)
        if threading.current_thread() is not threading.main_thread() and held.evaluations == 1:
            deadline = time.monotonic() + 60
            while not (trainer.eval_job and trainer.eval_job.cancelled) and time.monotonic() < deadline:
                time.sleep(0.005)

    for name, background in (("seq", False), ("bg", True)):
        held = ActingEvaluator(hold=hold)
        trainer = eval_trainer(tmp_path / name, background, evaluator=held, update_hook=hook)
        with pytest.raises(TrainingStopped):
            finish(trainer)
        if background:
            state = load_checkpoint(tmp_path / name)
            assert state["step"] == 30 and state["evaluator"] == {"evaluations": 1, "episodes": 1}
            assert state["pending_eval"]["step"] == 28
            assert state["pending_eval"]["policy"]["weight"].item() == updates_before(28)
            assert eval_steps(tmp_path / name) == [14]
        finish(eval_trainer(tmp_path / name, background, evaluator=ActingEvaluator(), resume=True))
    assert_same_runs(tmp_path / "seq", tmp_path / "bg", previous_differs=("evaluator", "pending_eval"))
    assert eval_steps(tmp_path / "bg") == [14, 28, 40]


KILLED_RUN = """
import json, os, signal, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from smg_fast.run import checkpoint as ckpt
from synthetic import ActingEvaluator
from test_loop_overlap import eval_trainer, finish

run_dir, after = Path({run_dir!r}), {after!r}

def checkpoint_of_14() -> bool:
    try:
        return json.loads((run_dir / "checkpoint.json").read_text())["step"] == 14
    except (OSError, ValueError, KeyError):
        return False

def hold():  # the evaluation of step 14 waits until the checkpoint of step 14 (which holds it pending) is written
    if evaluator.evaluations == 0:
        while not checkpoint_of_14():
            time.sleep(0.01)
        if after == "in-flight":
            os.kill(os.getpid(), signal.SIGKILL)
    elif after == "writing":  # the evaluation of step 28 runs until the kill
        while True:
            time.sleep(0.01)

states = []

def after_phase(name):  # writing: killed inside the background write of step 28, after its segment
    states.extend([name] if name == "state" else [])
    if after == "writing" and name == "segment" and len(states) == 2:
        os.kill(os.getpid(), signal.SIGKILL)

ckpt._after_phase = after_phase

def logged() -> bool:
    path = run_dir / "eval.csv"
    return path.exists() and 14 in [int(r.split(",")[0]) for r in path.read_text().splitlines()[1:]]

def hook(n):  # after: its rows are in eval.csv (logged at the episode end of step 21), the checkpoint holds it pending
    if after != "logged":
        return
    if n == 15:  # the update of step 20: the evaluation has ended before the episode end of step 21
        while evaluator.evaluations < 1:
            time.sleep(0.01)
    elif logged():
        os.kill(os.getpid(), signal.SIGKILL)

evaluator = ActingEvaluator(hold=hold)
finish(eval_trainer(run_dir, True, evaluator=evaluator, update_hook=hook, checkpoint_every=14))
"""


@pytest.mark.parametrize("after", ["in-flight", "logged", "writing"])
def test_a_run_killed_while_an_evaluation_runs_resumes_it_and_logs_it_once(tmp_path, after):
    """A real SIGKILL of a training process, with the checkpoint of step 14 (written in the background while
    the evaluation of step 14 ran, so holding it as pending) on disk: killed while the evaluation runs, once
    its rows are in eval.csv, or at step 28 while the evaluation of step 28 runs and the checkpoint of step 28
    is being written beside the loop (its state and replay segment are on disk, its manifest is not). The
    resumed run evaluates step 14 again, its rows land in eval.csv once, and the run equals one that evaluates
    and writes checkpoints in the loop."""
    import subprocess
    import sys

    from synthetic import ActingEvaluator

    run_dir = tmp_path / "bg"
    script = KILLED_RUN.format(tests=str(Path(__file__).parent), run_dir=str(run_dir), after=after)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert load_checkpoint(run_dir)["pending_eval"]["step"] == 14
    assert eval_steps(run_dir) == ([] if after == "in-flight" else [14])
    if after == "writing":  # the interrupted write left files no manifest names: the resume starts from 14
        assert load_checkpoint(run_dir)["step"] == 14 and sorted((run_dir / "checkpoint").glob("state-*28.pt"))
    finish(eval_trainer(run_dir, True, evaluator=ActingEvaluator(), resume=True, checkpoint_every=14))
    finish(eval_trainer(tmp_path / "seq", False, evaluator=ActingEvaluator(), checkpoint_every=14))
    assert eval_steps(run_dir) == [14, 28, 40]
    assert_same_runs(tmp_path / "seq", run_dir, previous_differs=("evaluator", "pending_eval"))


def test_an_evaluation_that_fails_in_the_background_stops_the_run_with_it_pending(tmp_path):
    """The evaluation of step 28 fails in its thread: the loop stops where it collects it with a checkpoint that
    holds it pending (with the weights of step 28) and says so; resumed, the run equals one that never failed."""
    from synthetic import ActingEvaluator

    from smg_fast.run.trainer import EvaluationError

    finish(eval_trainer(tmp_path / "seq", False, evaluator=ActingEvaluator()))
    with pytest.raises(EvaluationError, match=r"the evaluation at step 28 failed \(RuntimeError: worker 0 died\)"):
        finish(eval_trainer(tmp_path / "bg", True, evaluator=ActingEvaluator(fail_at=1)))
    state = load_checkpoint(tmp_path / "bg")
    assert state["step"] >= 28 and state["pending_eval"]["step"] == 28
    assert state["pending_eval"]["policy"]["weight"].item() == updates_before(28)
    finish(eval_trainer(tmp_path / "bg", True, evaluator=ActingEvaluator(), resume=True))
    assert eval_steps(tmp_path / "bg") == [14, 28, 40]
    assert_same_runs(tmp_path / "seq", tmp_path / "bg", with_previous=False)  # the failure's checkpoint is extra


def test_a_policy_snapshot_keeps_the_weights_of_its_step(tmp_path):
    """A real agent's snapshot acts as the agent did when it was taken, after the live weights changed; its
    weights load into a new snapshot (the resume of a pending evaluation); it refuses to sample."""
    from smg_fast.agent import make_agent

    cfg = make_config("cartpole-swingup", "sac", "quick", num_shared_layers=2, num_filters=8, hidden_dim=32,
                      projection_dim=16)
    agent = make_agent(cfg, (9, 84, 84), 1)
    obs = np.random.default_rng(0).integers(0, 256, (9, 84, 84), dtype=np.uint8)
    before, snap = agent.act(obs), agent.policy_snapshot()
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.mul_(1.5)
    assert not np.array_equal(agent.act(obs), before)
    assert np.array_equal(snap.act(obs), before)
    again = agent.policy_snapshot()
    again.load_state_dict(snap.state_dict())
    assert np.array_equal(again.act(obs), before)
    assert all(not p.requires_grad for p in snap.actor.parameters())
    with pytest.raises(ValueError, match="deterministically"):
        snap.act(obs, sample=True)
