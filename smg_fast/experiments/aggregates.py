"""Robust aggregates across tasks, as the rliable library computes them (Agarwal et al., "Deep RL at the
Edge of the Statistical Precipice", NeurIPS 2021): the interquartile mean (IQM) of all runs' scores
pooled over tasks, with a percentile confidence interval from a stratified bootstrap that resamples
the runs of each task (stratum) with replacement, independently per task.

rliable's ``get_interval_estimates(..., method='percentile', reps=50000)`` with ``aggregate_iqm``
(``scipy.stats.trim_mean(scores, 0.25, axis=None)``): trimming cuts ``int(0.25 * n)`` scores at each end,
and the interval is ``np.percentile`` (linear interpolation) of the bootstrap IQMs at 2.5 % and 97.5 %.
The same here, in NumPy, without rliable's dependencies (arch, scipy, pandas, seaborn);
tests/test_report.py checks the interval against numbers produced by rliable 1.2.0. Unlike rliable,
strata may hold different numbers of runs (a task with a missing seed still counts).
"""
from __future__ import annotations

import numpy as np


def trimmed_mean(x: np.ndarray, proportion: float = 0.25, axis: int = -1) -> np.ndarray:
    """scipy.stats.trim_mean along ``axis``: drop ``int(proportion * n)`` values at each end, average the rest."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    cut = int(proportion * n)
    if cut >= n - cut:
        raise ValueError(f"trimmed_mean: proportion {proportion} leaves nothing of {n} values")
    return np.sort(x, axis=axis).take(range(cut, n - cut), axis=axis).mean(axis=axis)


def iqm(values) -> float:
    """Interquartile mean of all values (any shape)."""
    return float(trimmed_mean(np.ravel(np.asarray(values, dtype=np.float64))))


def stratified_bootstrap(strata, statistic=trimmed_mean, reps: int = 50_000, size: float = 0.95,
                         seed: int | None = 0, chunk: int = 5_000) -> tuple[float, float, float]:
    """(point estimate, CI low, CI high) of ``statistic`` over the pooled values of ``strata`` (a list of
    1-D arrays: the runs of each task). Each bootstrap sample draws, per stratum, as many runs as it has,
    with replacement; ``statistic`` maps a (reps, pooled values) array to (reps,)."""
    strata = [np.asarray(s, dtype=np.float64).ravel() for s in strata]
    if not strata or any(len(s) == 0 for s in strata):
        raise ValueError("stratified_bootstrap needs at least one stratum, none empty")
    if not 0 < size < 1:
        raise ValueError(f"size must be in (0, 1), got {size}")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    pooled = np.concatenate(strata)
    point = float(statistic(pooled[None, :])[0])
    rng = np.random.default_rng(seed)
    out = np.empty(reps)
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        sample = np.concatenate([s[rng.integers(0, len(s), size=(k, len(s)))] for s in strata], axis=1)
        out[start:start + k] = statistic(sample)
    alpha = (1.0 - size) / 2
    low, high = np.percentile(out, [100 * alpha, 100 * (1 - alpha)])
    return point, float(low), float(high)


def mean_statistic(x: np.ndarray) -> np.ndarray:
    return np.asarray(x).mean(axis=-1)


def iqm_ci(strata, reps: int = 50_000, size: float = 0.95, seed: int | None = 0) -> tuple[float, float, float]:
    return stratified_bootstrap(strata, trimmed_mean, reps, size, seed)


def mean_ci(strata, reps: int = 50_000, size: float = 0.95, seed: int | None = 0) -> tuple[float, float, float]:
    return stratified_bootstrap(strata, mean_statistic, reps, size, seed)
