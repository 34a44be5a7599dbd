"""``smg-fast sweep GRID``: every run of an experiment grid (see :mod:`smg_fast.experiments.grid`) as an independent
training process, scheduled by Ray, on this machine or on a Ray cluster (``--address``).

    smg-fast sweep grids/table1.toml                   # local Ray: as many runs at once as cores/GPUs fit
    smg-fast sweep grids/table1.toml --address auto    # an existing cluster (`ray start --head` ...)
    smg-fast sweep grids/table1.toml --status          # per run: state, step / total, last evaluation

Layout of a sweep directory (default ``sweeps/<grid name>``)::

    grid.json            the grid as parsed (``--status`` and ``smg-fast report`` read it)
    sweep_state.json     per run: state, attempts, exit status, host (written by the driver)
    runs/<task>/<label>/seed<N>/   the run directories (``smg-fast train --run-dir``)
    logs/<task>/<label>/seed<N>.log    stdout + stderr of every attempt of that run
    locks/               one lock file per run, held while its training process lives

Each run is ``python -m smg_fast.cli train ...`` in its own process, started by a Ray task that asks for
the grid's ``[resources]`` (CPUs, GPUs, fractions allowed). Re-running the same command skips finished
runs (``final_eval.csv`` present) and resumes the others from their checkpoints (``train --resume``); a run
without a checkpoint is cleared and started afresh. A failed attempt is reported with the end of its
log and retried (resumed where it has a checkpoint) up to ``max_retries`` times; the other runs go on.

Stopping: Ctrl-C (or SIGTERM) stops every running run at the end of its step with a checkpoint. If the
driver dies outright (SIGKILL, lost terminal), each training process still gets SIGTERM (Linux
parent-death signal) and checkpoints; the per-run lock keeps a restarted sweep from touching a run
whose old process is still writing its last checkpoint. On a cluster, the sweep directory must be on a
filesystem every node sees at the same path, and smg-fast installed on every node.
"""
from __future__ import annotations

from smg_fast.experiments.sweep.driver import dry_run, run_sweep, runs_that_fit
from smg_fast.experiments.sweep.layout import (SweepError, config_mismatch, lock_held, lock_path, log_path,
                                               read_state, run_path)
from smg_fast.experiments.sweep.status import format_status, status_rows

__all__ = ["SweepError", "config_mismatch", "dry_run", "format_status", "lock_held", "lock_path", "log_path",
           "read_state", "run_path", "run_sweep", "runs_that_fit", "status_rows"]
