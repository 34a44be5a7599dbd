"""Run logs: ``train.csv`` / ``eval.csv`` (one row per record, a ``step`` column, flushed at once so
a crash loses nothing) and TensorBoard scalars. Update metrics stay on the device until they are
logged (no per-update sync)."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch


class CSVLog:
    """Append-only CSV with a ``step`` column. A row with new keys (e.g. the first update metrics after
    the random-action phase) widens the header once; earlier rows keep empty cells there."""

    def __init__(self, path: Path):
        self.path = path
        self.fields: list[str] | None = None
        if path.exists() and path.stat().st_size > 0:
            with open(path, newline="") as f:
                self.fields = next(csv.reader(f), None)

    def _rows(self) -> list[dict]:
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def _rewrite(self, rows: list[dict]) -> None:
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, self.fields)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.path)

    def write(self, row: dict) -> None:
        if self.fields is None:
            self.fields = list(row)
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerow(self.fields)
        new = [k for k in row if k not in self.fields]
        if new:
            rows = self._rows()
            self.fields += new
            self._rewrite(rows)
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(row)

    def truncate_after(self, step: int) -> None:
        """Drop rows past ``step`` (rows a crashed run wrote after its last checkpoint)."""
        if self.fields is None or not self.path.exists():
            return
        self._rewrite([r for r in self._rows() if float(r["step"]) <= step])


class MetricAverager:
    """Sums update metrics as device tensors; ``means()`` syncs once per log interval."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        for k, v in metrics.items():
            self.sums[k] = self.sums[k] + v.float() if k in self.sums else v.float().clone()
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        out = {k: (v / self.counts[k]).item() for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return out


class Logger:
    def __init__(self, run_dir: Path, tensorboard: bool = True):
        self.run_dir = Path(run_dir)
        self.train = CSVLog(self.run_dir / "train.csv")
        self.eval = CSVLog(self.run_dir / "eval.csv")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.run_dir / "tb"))
            except ImportError:  # tensorboard not installed: CSV logs only
                self.tb = None

    def log_train(self, row: dict) -> None:
        self.train.write(row)
        self._scalars("train", row)

    def log_eval(self, row: dict) -> None:
        self.eval.write(row)
        self._scalars(f"eval/{row['mode']}", row)

    def _scalars(self, prefix: str, row: dict) -> None:
        if self.tb is None:
            return
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                self.tb.add_scalar(f"{prefix}/{k}", v, row["step"])
        self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
