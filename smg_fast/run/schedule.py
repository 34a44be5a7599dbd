"""When the loop updates: the burst at ``init_steps`` and the cadence after it, read by the loop and the ETA."""
from __future__ import annotations


def update_cadence(cfg) -> tuple[int, int]:
    """(k, n): after the burst, ``n`` updates every ``k``-th step: ``updates_per_step`` x ≥ 1 is n = round(x)
    every step, x < 1 one update every k = round(1/x) steps."""
    if cfg.updates_per_step < 1:
        return max(1, round(1 / cfg.updates_per_step)), 1
    return 1, max(1, round(cfg.updates_per_step))


def updates_due(cfg, step: int) -> tuple[int, int]:
    """(number of updates at this step, the step number the agent's schedule sees).

    With ``updates_per_step = 1/k`` (quick preset) updates run every k-th step and the schedule
    (actor / target / aux every 2nd update, mask warm-up) counts updates, so it alternates as upstream."""
    if step < cfg.init_steps:
        return 0, step
    k, per_step = update_cadence(cfg)
    schedule_step = step // k
    if step == cfg.init_steps:
        burst = cfg.init_steps if cfg.burst_updates is None else cfg.burst_updates
        return burst, schedule_step
    return (per_step if step % k == 0 else 0), schedule_step
