"""Evaluation across DMC-GB modes (and the robot test scenes) with the batched envs, and the paper's
results table (mean ± std per mode, per seed and across seeds)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from smg_fast.config import RunConfig
from smg_fast.tasks import env_kwargs

# Upstream's test envs get seed + 42 for their colour / video wrappers (train.py:93, 110).
EVAL_SEED_OFFSET = 42


def run_episodes(vec, agent, episodes: int, obs: np.ndarray | None = None):
    """Deterministic-policy returns of ``episodes`` episodes split over the envs of ``vec`` (env i runs
    episodes i, i+N, …; an env that has done its share stops). Returns (returns in (round, env) order,
    the observations to continue from: every env is at the start of a fresh episode)."""
    n = len(vec)
    share = [len(range(i, episodes, n)) for i in range(n)]
    done_count = [0] * n
    results: dict[tuple[int, int], float] = {}
    if obs is None:
        obs, _ = vec.reset()
    obs = obs.copy()
    active = [i for i in range(n) if share[i] > 0]
    while active:
        vec.send(agent.act(obs[active], sample=False), env_ids=active)
        next_obs, _, terminated, truncated, info = vec.recv()
        for j, i in enumerate(info["env_id"].tolist()):
            obs[i] = next_obs[j]
            if terminated[j] or truncated[j]:
                results[(done_count[i], i)] = float(info["episode_return"][j])
                done_count[i] += 1
        active = [i for i in range(n) if done_count[i] < share[i]]
    return [results[k] for k in sorted(results)], obs


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
                          seed: int | None = None, progress=None) -> dict[str, list[float]]:
    """Episode returns of :class:`RandomPolicy` on ``cfg.task`` (with ``cfg``'s action repeat and
    episode length) in each mode, through the same batched evaluation as a trained agent."""
    evaluator = Evaluator(cfg, modes, num_envs, seed)
    try:
        policy = RandomPolicy(evaluator._env(evaluator.modes[0], episodes).action_space, evaluator.seed)
        return evaluator.evaluate(policy, episodes, progress)
    finally:
        evaluator.close()


class Evaluator:
    """One VectorEnv per mode, kept across evaluations so the video sequences continue as upstream's
    persistent test envs do."""

    def __init__(self, cfg: RunConfig, modes, num_envs: int, seed: int | None = None):
        self.cfg, self.modes, self.num_envs = cfg, list(modes), max(1, int(num_envs))
        self.seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
        self._envs: dict = {}
        self._obs: dict = {}

    def _env(self, mode: str, episodes: int):
        if mode not in self._envs:
            from smg_fast.envs import VectorEnv

            n = min(self.num_envs, episodes)
            self._envs[mode] = VectorEnv(self.cfg.task, mode, n, self.seed, **env_kwargs(self.cfg))
        return self._envs[mode]

    def open(self, episodes: int) -> None:
        """Start every mode's envs now: missing data or a broken mode then fails before training, not
        at the first evaluation."""
        for mode in self.modes:
            self._env(mode, episodes)

    def evaluate(self, agent, episodes: int, progress=None) -> dict[str, list[float]]:
        out = {}
        for mode in self.modes:
            vec = self._env(mode, episodes)
            out[mode], self._obs[mode] = run_episodes(vec, agent, episodes, self._obs.get(mode))
            if progress is not None:
                progress(mode, out[mode])
        return out

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


def results_table(per_seed: dict[str, dict[str, list[float]]], modes) -> tuple[str, list[dict]]:
    """Markdown table like the paper's (rows: modes; columns: each seed, then all seeds) and the
    same numbers as CSV rows. ``per_seed[seed_name][mode]`` = episode returns."""
    seeds = list(per_seed)
    header = "| mode | " + " | ".join(seeds) + (" | all seeds |" if len(seeds) > 1 else "")
    lines = [header.rstrip(" |") + " |", "|---" * (len(seeds) + 1 + (len(seeds) > 1)) + "|"]
    rows = []
    for mode in modes:
        cells = []
        seed_means = []
        for s in seeds:
            r = per_seed[s].get(mode)
            if not r:
                cells.append("–")
                continue
            cells.append(f"{np.mean(r):.1f} ± {np.std(r):.1f}")
            seed_means.append(np.mean(r))
            rows.append({"mode": mode, "seed": s, "mean_return": float(np.mean(r)),
                         "std_return": float(np.std(r)), "episodes": len(r)})
        if len(seeds) > 1:
            # Across seeds: mean and std of the per-seed means (the paper's convention).
            cells.append(f"{np.mean(seed_means):.1f} ± {np.std(seed_means):.1f}" if seed_means else "–")
            if seed_means:
                rows.append({"mode": mode, "seed": "all", "mean_return": float(np.mean(seed_means)),
                             "std_return": float(np.std(seed_means)), "episodes": len(seed_means)})
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines), rows


def write_table(markdown: str, rows: list[dict], out_stem: Path) -> tuple[Path, Path]:
    md, cs = Path(f"{out_stem}.md"), Path(f"{out_stem}.csv")
    md.write_text(markdown + "\n")
    with open(cs, "w", newline="") as f:
        w = csv.DictWriter(f, ["mode", "seed", "mean_return", "std_return", "episodes"])
        w.writeheader()
        w.writerows(rows)
    return md, cs
