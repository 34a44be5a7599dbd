"""Evaluation across DMC-GB modes (and the robot test scenes) with the batched envs, and the paper's
results table (mean ± std per mode, per seed and across seeds).

Protocol: the results do not depend on how many workers run them. Upstream evaluates each test mode on
one persistent test env, episode after episode, evaluation after evaluation. Here each mode has one
:class:`EpisodeSchedule` that plays that env's sequence: episode ``n`` of a mode (counted from 0 across
evaluations; evaluation ``j`` of ``E`` episodes plays ``n = j·E .. j·E + E - 1``) gets

* the video upstream's ``VideoWrapper`` picks at its ``n + 1``-th reset: ``(n + 1) mod n_videos`` (video
  modes; so videos 1, 2, 3, then 4, 5, 6, ... at 3 episodes per evaluation);
* the ``n``-th colour entry drawn by one ``RandomState(seed + 42)``, ``randint(n_entries)`` per reset, as
  upstream's ``ColorWrapper`` of the test env draws them (colour modes);
* the start state upstream's env would draw there: the initial state comes from one stream (the
  dm_control task's ``RandomState``, the robot tasks' generator), carried from each episode's reset to the
  next (:mod:`smg_fast.envs.episodes`);
* in ``distracting_cs``, the distraction streams of episode ``n`` seeded with ``seed + 42`` and ``n``
  (upstream leaves them unseeded; :mod:`smg_fast.envs.distracting`).

A worker receives its episode's assignment with the reset (``VectorEnv.reset(env_ids=[i],
options=...)``, ``autoreset=False``), so it does not matter which worker plays which episode, nor how
many there are. The policy acts on one observation at a time: batched convolutions round differently
with the batch size (about 1e-7 in the actions on CPU), which would make returns depend on the worker
count again.

Start-state seeds (``start_seed``): ``"train"`` (default) seeds the start-state stream with the run's seed,
which is what upstream does. Its test envs are meant to get ``seed + 42`` (``train.py``), but
``dmc2gym.make`` registers a task's gym id only once, with the first seed it is given, the training
env's, so every env of that task draws initial states from the training seed; the robot test envs are
given the training seed outright. ``seed + 42`` reaches only the colour (and the unused video) RNG there.
``distracting_cs`` is the exception: its test env has a gym id of its own (``...-dcs-v1``), so dmc2gym
registers it with ``seed + 42``, and its start states come from ``seed + 42`` under either setting.
``"eval"`` seeds the stream with ``seed + 42``, what upstream's DMC code evidently intended (and what
smg-fast's evaluation workers, seeded ``seed + 42 + i``, came closest to before). Either way the
colour draws use ``seed + 42``. Upstream evaluates its train scene on the training env itself, whose
stream has moved on with training; here the train mode is a test env like the others, with its own
stream from the start seed.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from smg_fast.config import RunConfig
from smg_fast.envs.episodes import generator_state, initial_start_state, set_generator_state
from smg_fast.tasks import DISTRACTING_CS, env_kwargs, mode_label

# Upstream's test envs get seed + 42 for their colour / video wrappers (train.py:93, 110).
EVAL_SEED_OFFSET = 42
START_SEEDS = ("train", "eval")
COLOR_MODES = ("color_easy", "color_hard")
EPISODE_INFO = ("video", "color_index", "goal")  # reset info kept in an episode's record, where present


class EpisodeSchedule:
    """The episodes of one evaluation mode in the order upstream's single, persistent test env plays them
    (see the module doc): :meth:`next` gives the next episode's reset options, and :meth:`started` takes
    that reset's info (the start-state stream after its draws) before the next episode can be assigned.

    Args:
        task, mode: the evaluation's task and mode.
        seed: the run's seed; colours are drawn from ``RandomState(seed + 42)``.
        start_seed: ``"train"`` (start states from the run's seed, as upstream) or ``"eval"``
            (``seed + 42``).
    """

    def __init__(self, task: str, mode: str, seed: int, start_seed: str = "train"):
        if start_seed not in START_SEEDS:
            raise ValueError(f"start_seed must be one of {START_SEEDS}, got {start_seed!r}")
        self.task, self.mode, self.seed, self.start_seed = task, mode, int(seed), start_seed
        self.episodes = 0  # episodes assigned so far: upstream's reset count
        self._color_rng = np.random.RandomState(self.seed + EVAL_SEED_OFFSET) if mode in COLOR_MODES else None
        self._n_colors: int | None = None
        eval_seeded = start_seed == "eval" or mode == DISTRACTING_CS  # (module doc)
        self._start = initial_start_state(task, self.seed + (EVAL_SEED_OFFSET if eval_seeded else 0))
        self._awaiting = False  # an episode was assigned whose reset has not reported back yet

    def next(self) -> dict:
        """Reset options of the next episode: ``episode``, ``start_state`` and, in colour modes, ``color``."""
        if self._awaiting:
            raise RuntimeError("the previous episode's reset has not been reported: call started(info) first")
        options = {"episode": self.episodes, "start_state": self._start}
        if self._color_rng is not None:
            options["color"] = int(self._color_rng.randint(self._colors()))  # upstream ColorWrapper's draw
        if self.mode == DISTRACTING_CS:
            options["distraction_seed"] = self.seed + EVAL_SEED_OFFSET
        self.episodes += 1
        self._awaiting = True
        return options

    def started(self, reset_info: dict) -> None:
        """The assigned episode has been reset: its ``info["next_start_state"]`` starts the next one."""
        if "next_start_state" not in reset_info:
            raise ValueError("the reset info has no 'next_start_state': was the episode reset with its options?")
        self._start = reset_info["next_start_state"]
        self._awaiting = False

    def _colors(self) -> int:
        if self._n_colors is None:  # the table's length, 100 for upstream's files
            from smg_fast.data.colors import load_colors

            self._n_colors = len(load_colors(self.mode))
        return self._n_colors

    def state_dict(self) -> dict:
        if self._awaiting:
            raise RuntimeError("an episode is being reset; its schedule state is not complete yet")
        return {"episodes": self.episodes, "start_state": self._start,
                "color_rng": None if self._color_rng is None else generator_state(self._color_rng)}

    def load_state_dict(self, state: dict) -> None:
        self.episodes = int(state["episodes"])
        self._start = state["start_state"]
        if self._color_rng is not None:
            set_generator_state(self._color_rng, state["color_rng"])
        self._awaiting = False


def run_episodes(vec, agent, episodes: int, schedule: EpisodeSchedule, on_steps=None,
                 on_episode=None) -> list[dict]:
    """Play the next ``episodes`` episodes of ``schedule`` with ``agent``'s deterministic policy on the envs
    of ``vec`` (a :class:`~smg_fast.envs.VectorEnv` made with ``autoreset=False``).

    Each episode gets its assignment at its reset, whichever env is free; the policy sees one observation
    at a time (see the module doc). Returns one record per episode, in schedule order: ``episode`` (its
    number in the schedule), ``return``, ``length`` and, where the env reports them, ``video``,
    ``color_index`` and the robot tasks' ``goal``. ``on_steps(n)``, if given, is called after each batch of
    ``n`` env steps (a progress bar); ``on_episode(n)`` after the ``n``-th episode ended.
    """
    if getattr(vec, "autoreset", True):
        raise ValueError("run_episodes assigns every episode at its reset: "
                         "make the VectorEnv with autoreset=False")
    obs = np.zeros((len(vec), *vec.obs_shape), dtype=np.uint8)
    running: dict[int, int] = {}  # env id -> index of its episode in this call
    records: list[dict] = []

    def start(i: int) -> None:
        options = schedule.next()
        first, info = vec.reset(env_ids=[i], options=options)
        reset_info = info["env_infos"][0]
        schedule.started(reset_info)
        obs[i] = first[0]
        running[i] = len(records)
        records.append({"episode": options["episode"],
                        **{k: reset_info[k] for k in EPISODE_INFO if k in reset_info}})

    for i in range(min(len(vec), episodes)):
        start(i)
    while running:
        ids = sorted(running)
        actions = np.concatenate([np.asarray(agent.act(obs[i:i + 1], sample=False)) for i in ids])
        vec.send(actions, env_ids=ids)
        next_obs, _, terminated, truncated, info = vec.recv()
        if on_steps is not None:
            on_steps(len(ids))
        for j, i in enumerate(info["env_id"].tolist()):
            obs[i] = next_obs[j]
            if terminated[j] or truncated[j]:
                rec = records[running.pop(i)]
                rec["return"] = float(info["episode_return"][j])
                rec["length"] = int(info["episode_length"][j])
                if on_episode is not None:
                    on_episode(sum("return" in r for r in records))
                if len(records) < episodes:
                    start(i)
    return records


class RandomPolicy:
    """Uniform random actions in the action box: the baseline a learning curve has to rise above.
    Seeded, so a baseline table is reproducible."""

    def __init__(self, action_space, seed: int = 0):
        self.low, self.high = np.asarray(action_space.low), np.asarray(action_space.high)
        self.rng = np.random.default_rng(seed)

    def act(self, obs, sample: bool = False) -> np.ndarray:
        n = len(obs)
        return self.rng.uniform(self.low, self.high, size=(n, *self.low.shape)).astype(np.float32)


def random_policy_returns(cfg: RunConfig, modes, episodes: int, num_envs: int = 2,
                          seed: int | None = None, progress=None, bar: bool = False) -> dict[str, list[float]]:
    """Episode returns of :class:`RandomPolicy` on ``cfg.task`` (with ``cfg``'s action repeat and
    episode length) in each mode, through the same batched evaluation as a trained agent."""
    evaluator = Evaluator(cfg, modes, num_envs, seed)
    try:
        policy = RandomPolicy(evaluator._env(evaluator.modes[0], episodes).action_space, evaluator.seed)
        return evaluator.evaluate(policy, episodes, progress, bar=bar)
    finally:
        evaluator.close()


class Evaluator:
    """One :class:`~smg_fast.envs.VectorEnv` and one :class:`EpisodeSchedule` per mode, kept across
    evaluations: evaluation after evaluation, each mode plays the episodes of upstream's persistent test
    env (see the module doc), with any number of workers.

    Args:
        cfg: the run's config (task, environment settings, ``seed``).
        modes: the evaluation modes.
        num_envs: workers per mode (at most the episodes of an evaluation are started).
        seed: the run's seed (default ``cfg.seed``); colours draw from ``seed + 42``.
        start_seed: ``"train"`` or ``"eval"`` (module doc); default ``cfg.eval_start_seed`` (``"train"``,
            upstream's behaviour).

    :meth:`state_dict` / :meth:`load_state_dict` hold where each mode is in its schedule: a trainer saves
    it with its checkpoint so that evaluations after a resume play the episodes they would have played.
    Results are keyed by each mode's label (:func:`smg_fast.tasks.mode_label`: ``distracting_cs@0.1``, the
    others as they are): ``labels[mode]``. ``last_episodes[label]`` holds the records of the latest
    evaluation (see :func:`run_episodes`).
    """

    def __init__(self, cfg: RunConfig, modes, num_envs: int, seed: int | None = None, start_seed: str | None = None):
        self.cfg, self.modes, self.num_envs = cfg, list(modes), max(1, int(num_envs))
        self.seed = int(cfg.seed if seed is None else seed)
        self.start_seed = start_seed or cfg.eval_start_seed
        self._schedules = {m: EpisodeSchedule(cfg.task, m, self.seed, self.start_seed) for m in self.modes}
        self.labels = {m: mode_label(m, getattr(cfg, "distracting_cs_intensity", None)) for m in self.modes}
        self._envs: dict = {}
        self.last_episodes: dict[str, list[dict]] = {}

    def _env(self, mode: str, episodes: int):
        if mode not in self._envs:
            from smg_fast.envs import VectorEnv

            n = min(self.num_envs, episodes)
            self._envs[mode] = VectorEnv(self.cfg.task, mode, n, self.seed, autoreset=False,
                                         **env_kwargs(self.cfg))
        return self._envs[mode]

    def open(self, episodes: int) -> None:
        """Start every mode's envs now: missing data or a broken mode then fails before training, not
        at the first evaluation."""
        for mode in self.modes:
            self._env(mode, episodes)

    def evaluate(self, agent, episodes: int, progress=None, bar: bool = False, watch=None) -> dict[str, list[float]]:
        """The returns of the next ``episodes`` episodes of every mode, in episode order. ``progress(mode,
        returns)`` is called after each mode; ``bar``: a progress bar of each mode's env steps (its time
        counting while the mode's workers start); ``watch(mode, episodes_done)`` when a mode starts and after
        each of its episodes."""
        from smg_fast.run.progress import steps_bar

        out = {}
        # An evaluation that fails or is cancelled in any mode leaves every schedule where it was: run again,
        # it plays the episodes it would have played (the modes already done included).
        before = {m: s.state_dict() for m, s in self._schedules.items()}
        for mode in self.modes:
            schedule = self._schedules[mode]
            if watch is not None:
                watch(mode, 0)
            try:
                with steps_bar(None, f"{self.cfg.task} {self.labels[mode]}", enabled=bar) as steps:
                    vec = self._env(mode, episodes)
                    steps.total = episodes * (getattr(vec, "max_episode_steps", None) or 0) or None
                    steps.refresh()
                    records = run_episodes(vec, agent, episodes, schedule, on_steps=steps.update,
                                           on_episode=None if watch is None else lambda n: watch(mode, n))
            except BaseException:
                # An interrupted evaluation leaves no trace: the schedules are where they were, and the envs
                # (possibly with steps in flight) are made anew when next needed.
                for m, state in before.items():
                    self._schedules[m].load_state_dict(state)
                if mode in self._envs:
                    self._envs.pop(mode).close()
                raise
            label = self.labels[mode]
            self.last_episodes[label] = records
            out[label] = [r["return"] for r in records]
            if progress is not None:
                progress(label, out[label])
        return out

    def state_dict(self) -> dict:
        """Where each mode is in its schedule: plain Python (a few kB per mode) for a checkpoint."""
        return {"seed": self.seed, "start_seed": self.start_seed,
                "modes": {m: s.state_dict() for m, s in self._schedules.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Continue the schedules of ``state`` (from :meth:`state_dict` of an evaluator of the same run).
        Modes ``state`` does not have start from their beginning; modes this evaluator does not have are
        ignored."""
        for key in ("seed", "start_seed"):
            if state[key] != getattr(self, key):
                raise ValueError(f"evaluator state is for {key}={state[key]!r}, this evaluator has "
                                 f"{key}={getattr(self, key)!r}")
        for mode, st in state["modes"].items():
            if mode in self._schedules:
                self._schedules[mode].load_state_dict(st)

    def close(self) -> None:
        for vec in self._envs.values():
            vec.close()
        self._envs.clear()


def summary_rows(step: int, returns: dict[str, list[float]]) -> list[dict]:
    return [
        {"step": step, "mode": mode, "mean_return": float(np.mean(r)), "std_return": float(np.std(r)),
         "episodes": len(r), "returns": " ".join(f"{x:.2f}" for x in r)}
        for mode, r in returns.items()
    ]


def mean_std(values, decimals: int = 1) -> str:
    """``mean ± std`` of ``values``; one value is ``value (n = 1)``: its std of 0 would say nothing."""
    values = [float(v) for v in values]
    if len(values) == 1:
        return f"{values[0]:.{decimals}f} (n = 1)"
    return f"{np.mean(values):.{decimals}f} ± {np.std(values):.{decimals}f}"


def seed_cells(per_seed: dict[str, dict[str, list[float]]], mode: str) -> tuple[list[str], list[float], list[dict]]:
    """One mode's cells of a results table: each seed's ``mean ± std`` over its episodes ("–" where the seed has
    none), the seeds' means, and one CSV row per seed (``mode, seed, mean_return, std_return, episodes``)."""
    cells, means, rows = [], [], []
    for s, by_mode in per_seed.items():
        r = by_mode.get(mode)
        if not r:
            cells.append("–")
            continue
        cells.append(mean_std(r))
        means.append(float(np.mean(r)))
        rows.append({"mode": mode, "seed": s, "mean_return": float(np.mean(r)), "std_return": float(np.std(r)),
                     "episodes": len(r)})
    return cells, means, rows


def results_table(per_seed: dict[str, dict[str, list[float]]], modes) -> tuple[str, list[dict]]:
    """Markdown table like the paper's (rows: modes; columns: each seed, then all seeds) and the
    same numbers as CSV rows. ``per_seed[seed_name][mode]`` = episode returns."""
    seeds = list(per_seed)
    header = "| mode | " + " | ".join(seeds) + (" | all seeds |" if len(seeds) > 1 else "")
    lines = [header.rstrip(" |") + " |", "|---" * (len(seeds) + 1 + (len(seeds) > 1)) + "|"]
    rows = []
    for mode in modes:
        cells, seed_means, mode_rows = seed_cells(per_seed, mode)
        rows += mode_rows
        if len(seeds) > 1:
            # Across seeds: mean and std of the per-seed means (the paper's convention).
            cells.append(mean_std(seed_means) if seed_means else "–")
            if seed_means:
                rows.append({"mode": mode, "seed": "all", "mean_return": float(np.mean(seed_means)),
                             "std_return": float(np.std(seed_means)), "episodes": len(seed_means)})
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines), rows


TABLE_FIELDS = ["mode", "seed", "mean_return", "std_return", "episodes"]


def write_table(markdown: str, rows: list[dict], out_stem: Path, fields=TABLE_FIELDS) -> tuple[Path, Path]:
    """``out_stem``.md (the markdown) and ``out_stem``.csv (``rows``, columns ``fields``); missing folders on the
    way are made (the command checked up front that they can be)."""
    md, cs = Path(f"{out_stem}.md"), Path(f"{out_stem}.csv")
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(markdown + "\n")
    with open(cs, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(rows)
    return md, cs
