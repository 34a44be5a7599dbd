"""Progress that never stalls (issue 29): every phase of a run that can take more than a couple of seconds
names itself on the progress line, and the line keeps moving while one blocking call runs (the update
burst per update, evaluation per mode and episode, checkpoint writes, the pictures, a phase with nothing to
count); the ETA models the phases it has measured and says "estimating" until it can.

The loop runs over the synthetic stand-ins (tests/synthetic.py) with a fake clock: a slow stand-in
advances the clock by whole seconds inside one blocking call while the timer thread (ticking every few
milliseconds here) redraws, so the captured line shows that call's time counting up.
"""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch

from smg_fast.config import make_config
from smg_fast.run import checkpoint as ckpt
from smg_fast.run import progress
from smg_fast.run.eta import Eta
from smg_fast.run.trainer import Trainer
from synthetic import NullEvaluator, SamplingAgent, SyntheticEnv

SIZE, A = 8, 2


class Clock:
    """A fake clock for the phases (progress.now) and for tqdm's elapsed time."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def block(self, seconds: int, real: float = 0.03) -> None:
        """A blocking call of ``seconds`` fake seconds: whole seconds pass while the ticker redraws."""
        for _ in range(seconds):
            self.t += 1.0
            time.sleep(real)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress, "TICK_S", 0.003)
    monkeypatch.setattr(progress, "now", c)
    monkeypatch.setattr("tqdm.std.time", c)  # tqdm reads its clock when a bar is made
    return c


def frames(text: str) -> list[str]:
    """Every redraw of a tqdm line (they are separated by carriage returns)."""
    return [f for f in re.split(r"[\r\n]", text) if f.strip()]


def counted(lines: list[str], phase: str) -> set[str]:
    """The running times shown beside ``phase`` (``update burst 2/3 · 2 s`` → ``2 s``)."""
    return {m.group(1) for line in lines for m in re.finditer(re.escape(phase) + r" · (\d+ s)", line)}


class SlowAgent(SamplingAgent):
    """Each update blocks for ``seconds`` fake seconds."""

    def __init__(self, clock: Clock, seconds: int = 3):
        super().__init__(A, batch_size=4)
        self.clock, self.seconds = clock, seconds

    def update(self, replay, step):
        self.clock.block(self.seconds)
        return super().update(replay, step)


class SlowEvaluator(NullEvaluator):
    """Each episode of each mode blocks for ``seconds`` fake seconds."""

    def __init__(self, clock: Clock, modes=("train", "color_hard"), seconds: int = 2):
        super().__init__(modes)
        self.clock, self.seconds = clock, seconds

    def evaluate(self, agent, episodes, progress=None, watch=None):
        self.evaluations += 1
        for m in self.modes:
            watch(m, 0)
            for done in range(1, episodes + 1):
                self.clock.block(self.seconds)
                watch(m, done)
        return {m: [0.0] * episodes for m in self.modes}


def config(run_dir, **kw):
    values = dict(train_steps=30, init_steps=10, burst_updates=3, updates_per_step=1, replay_capacity=40,
                  checkpoint_every=20, eval_freq=10_000, eval_modes=("train", "color_hard"), eval_episodes=2,
                  batch_size=4)
    values.update(kw)
    cfg = make_config("walker-walk", "sac", "quick", **values)
    cfg.run_dir = str(run_dir)
    return cfg


def run_visible(cfg, agent, evaluator, env_class=SyntheticEnv) -> Trainer:
    env = env_class(SIZE, cfg.frame_stack, A, 10, cfg.seed)
    torch.manual_seed(cfg.seed)
    trainer = Trainer(cfg, progress=True, env=env, agent=agent, evaluator=evaluator)
    try:
        trainer.run()
    finally:
        trainer.close()
    return trainer


def test_each_update_of_the_burst_shows_and_counts_while_it_runs(tmp_path, clock, capsys):
    run_visible(config(tmp_path / "r", train_steps=12), SlowAgent(clock, seconds=3), NullEvaluator())
    lines = frames(capsys.readouterr().err)
    for i in (1, 2, 3):  # every update of the burst, not every 10th
        assert any(f"update burst {i}/3" in line for line in lines), lines
        # The line is redrawn while the one update blocks: its time counts up.
        assert {"1 s", "2 s"} <= counted(lines, f"update burst {i}/3"), lines
    assert any("eta estimating" in line for line in lines)  # before two updates were measured
    assert any(re.search(r"eta \d\d:\d\d", line) for line in lines)


class SlowEnv(SyntheticEnv):
    """Each step takes 2 ms of real time: the policy step's cost the evaluation is modelled from."""

    def step(self, action):
        time.sleep(0.002)
        return super().step(action)


def test_evaluation_names_each_mode_and_episode_and_counts(tmp_path, clock, capsys):
    cfg = config(tmp_path / "r", train_steps=20)
    assert Eta(cfg, 2).eval_steps * 0.002 >= 1.0  # so the modelled evaluation shows as a second or more
    run_visible(cfg, SamplingAgent(A, batch_size=4), SlowEvaluator(clock), env_class=SlowEnv)
    lines = frames(capsys.readouterr().err)
    for phase in ("evaluating train (mode 1/2), 0/2 episodes done", "evaluating train (mode 1/2), 1/2 episodes done",
                  "evaluating color_hard (mode 2/2), 1/2 episodes done"):
        assert {"1 s"} <= counted(lines, phase), (phase, lines)
    # The final evaluation is work left: the ETA above it is not 00:00 while episodes remain.
    first = [line for line in lines if "evaluating train (mode 1/2), 0/2 episodes done · 1 s" in line]
    assert first and all("eta 00:00" not in line for line in first), first


def test_a_checkpoint_write_shows_and_counts(tmp_path, clock, capsys, monkeypatch):
    monkeypatch.setattr(ckpt, "_after_phase", lambda name: clock.block(2) if name == "state" else None)
    run_visible(config(tmp_path / "r", train_steps=20), SamplingAgent(A, batch_size=4), NullEvaluator())
    lines = frames(capsys.readouterr().err)
    assert {"1 s", "2 s"} <= counted(lines, "writing the checkpoint of step 20"), lines


def test_no_progress_draws_nothing_and_starts_no_thread(tmp_path, clock, capsys):
    cfg = config(tmp_path / "r", train_steps=12)
    env = SyntheticEnv(SIZE, cfg.frame_stack, A, 10, cfg.seed)
    before = threading_count()
    trainer = Trainer(cfg, progress=False, env=env, agent=SlowAgent(clock, 1), evaluator=NullEvaluator())
    try:
        trainer.run()
    finally:
        trainer.close()
    assert capsys.readouterr().err == ""
    assert threading_count() == before


def threading_count() -> int:
    import threading

    return sum(t.name == "smg-fast-progress" for t in threading.enumerate())


class ExplainingAgent:
    """What the pictures need of an agent (act, explain), with a slow act."""

    obs_shape = (9, SIZE, SIZE)

    def __init__(self, clock: Clock):
        self.clock = clock

    def act(self, obs, sample=False):
        self.clock.block(1, real=0.02)
        return np.zeros(A, np.float32)

    def explain(self, obs, noise):
        obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        n = len(obs)
        img = obs[:, -3:]
        return {"obs": obs, "mask": torch.full((n, 3, SIZE, SIZE), 0.5), "foreground": img, "background": img,
                "attribution": img, "reconstruction": img}


def test_pictures_bar_moves_while_one_step_blocks(tmp_path, clock, capsys):
    from smg_fast.run import pictures

    def make_env(task, mode, seed, **kw):
        return SyntheticEnv(SIZE, 3, A, 100, seed)

    pictures.save_mode_grids(ExplainingAgent(clock), "walker-walk", ["train"], tmp_path, make_env=make_env,
                             n_samples=2, steps_per_episode_sample=2, progress=True)
    lines = [line for line in frames(capsys.readouterr().err) if line.startswith("explain rollouts")]
    shown = {}  # steps done -> the elapsed times shown at that count
    for line in lines:
        m = re.search(r"(\d+)/4 \[(\d\d:\d\d)", line)
        if m:
            shown.setdefault(m.group(1), set()).add(m.group(2))
    assert any(len(times) > 1 for times in shown.values()), lines  # time moved between two steps


def test_working_counts_a_phase_with_nothing_to_count(clock, capsys, monkeypatch):
    with progress.working("not drawn into a captured stream"):
        clock.block(2)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "terminal", lambda: True)
    with progress.working("loading the trained agent"):
        clock.block(3)
    lines = frames(capsys.readouterr().err)
    assert {"[00:01]", "[00:02]"} <= {line.rstrip()[-7:] for line in lines
                                      if line.startswith("loading the trained agent")}


# ---- the ETA ---------------------------------------------------------------------------------------------

def quick(**kw):
    return make_config("cartpole-swingup", "smg", "quick", **kw)


def test_eta_says_estimating_until_two_updates_are_measured():
    cfg = quick()
    eta = Eta(cfg, 3)
    assert eta.seconds_left(0) is None
    eta.measure("random_step", 0.01)
    assert eta.seconds_left(1) is None  # 350 updates ahead, none measured
    eta.measure("update", 5.0)
    assert eta.seconds_left(cfg.init_steps, 1) is None
    eta.measure("update", 1.0)
    assert eta.seconds_left(cfg.init_steps, 2) is not None


def test_eta_of_alternating_updates_does_not_wander():
    """SMG's even updates cost several times its odd ones: the estimate from an even number of them is the
    same after either kind, and the run's first two (compilation, warm-up) stop counting."""
    cfg = quick()
    eta = Eta(cfg, 3)
    eta.measure("random_step", 0.01)
    eta.measure("policy_step", 0.05)
    eta.measure("update", 60.0)  # one-time costs of the first updates
    eta.measure("update", 30.0)
    seen = []
    for i in range(40):
        eta.measure("update", 5.4 if i % 2 == 0 else 0.6)
        if i >= 1:
            seen.append(eta.cost("update"))
    assert max(seen) == pytest.approx(3.0) and min(seen) == pytest.approx(3.0)
    step = cfg.init_steps + 1
    left = eta.seconds_left(step)
    updates = eta.updates_left(step)
    assert left == pytest.approx(updates * 3.0 + (cfg.train_steps - step) * 0.05 + eta.eval_steps * 0.05)


def test_updates_left_counts_what_the_loop_runs():
    from smg_fast.run.trainer import updates_due

    for cfg in (quick(), make_config("walker-walk", "smg", "paper", train_steps=1500),
                quick(updates_per_step=2, train_steps=900)):
        eta = Eta(cfg, 1)
        for step in (0, cfg.init_steps - 1, cfg.init_steps, cfg.init_steps + 1, cfg.init_steps + 2,
                     cfg.train_steps - 1, cfg.train_steps):
            expected = sum(updates_due(cfg, s)[0] for s in range(step, cfg.train_steps))
            assert eta.updates_left(step) == expected, (cfg.updates_per_step, step)
        assert eta.updates_left(cfg.init_steps, 10) == eta.updates_left(cfg.init_steps) - 10


def test_eta_models_the_final_evaluation_and_checkpoint():
    """At the last step the evaluation (modelled from the policy step before one was measured) and the
    checkpoint are what is left; the ETA counts down through them instead of reading 00:00."""
    cfg = quick()
    eta = Eta(cfg, 3)
    eta.measure("random_step", 0.01)
    eta.measure("policy_step", 0.04)
    eta.measure("update", 3.0)
    eta.measure("update", 3.0)
    eta.measure("checkpoint", 8.0)
    end = cfg.train_steps
    full_eval = eta.eval_steps * 0.04  # 3 modes × 2 episodes × 125 steps at the policy step's cost
    assert full_eval == pytest.approx(30.0)
    kw = dict(last_eval=end, last_checkpoint=cfg.train_steps - cfg.checkpoint_every)
    assert eta.seconds_left(end, evaluated=0.0, **kw) == pytest.approx(full_eval + 8.0)
    assert eta.seconds_left(end, evaluated=0.5, **kw) == pytest.approx(full_eval / 2 + 8.0)
    assert eta.seconds_left(end, evaluated=1.0, **kw) == pytest.approx(8.0)
    assert eta.seconds_left(end, running=("checkpoint", 3.0), **kw) == pytest.approx(5.0)
    assert eta.seconds_left(end, running=("checkpoint", 30.0), **kw) == 0.0
    # Once an evaluation was measured, its measured cost replaces the model.
    eta.measure("eval_step", 60.0, eta.eval_steps)
    assert eta.seconds_left(end, evaluated=0.0, **kw) == pytest.approx(60.0 + 8.0)


def test_eta_counts_only_the_last_evaluation_when_evaluations_run_in_the_background():
    """With async_eval the evaluations before the run's end overlap training: of five still ahead, only the last
    one (which runs in the loop) is time left; without it, all five."""
    left = {}
    for background in (True, False):
        cfg = make_config("cartpole-swingup", "sac", "quick", train_steps=5000, eval_freq=1000,
                          async_eval=background)
        eta = Eta(cfg, 2)
        eta.measure("random_step", 0.01)
        eta.measure("policy_step", 0.01)
        eta.measure("update", 1.0)
        eta.measure("update", 1.0)
        eta.measure("eval_step", 100.0, eta.eval_steps)  # 100 s per evaluation
        left[background] = eta.seconds_left(cfg.init_steps + 1, last_eval=0)
    assert left[False] - left[True] == pytest.approx(4 * 100.0)


def test_clock_and_duration_texts():
    assert progress.clock_text(None) == "?"
    assert progress.clock_text(65) == "01:05" and progress.clock_text(3725) == "1:02:05"
    assert progress.duration_text(4.9) == "4 s" and progress.duration_text(65) == "1:05"
    assert progress.long_duration_text(40 * 60) == "about 40 minutes"
    assert progress.long_duration_text(7 * 3600) == "about 7 hours"
    assert progress.long_duration_text(11 * 86400) == "about 11 days"
