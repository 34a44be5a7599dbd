"""Run logs: ``train.csv`` / ``eval.csv`` (one row per record, a ``step`` column, flushed at once so
a crash loses nothing) and TensorBoard scalars. Update metrics stay on the device until they are
logged (no per-update sync)."""
from __future__ import annotations

import csv
import io
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
        """The complete rows: a last line without its newline (a write cut short by a crash or a full disk)
        is dropped."""
        with open(self.path, newline="") as f:
            text = f.read()
        if text and not text.endswith("\n"):
            text = text[:text.rfind("\n") + 1]
        return list(csv.DictReader(io.StringIO(text)))

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

    def truncate_after(self, step: int, inclusive: bool = True) -> None:
        """Drop rows past ``step`` (rows a crashed run wrote after its last checkpoint; with ``inclusive``
        False the rows at ``step`` too) and rows whose step does not read as a number."""
        if self.fields is None or not self.path.exists():
            return

        def keep(row) -> bool:
            try:
                at = float(row.get("step") or "nan")
            except ValueError:
                return False
            return at <= step if inclusive else at < step

        self._rewrite([r for r in self._rows() if keep(r)])


class MetricAverager:
    """Sums update metrics as device tensors; ``means()`` syncs once per log interval.

    It also finds which metric went NaN/inf first, and in which update, without a host read per update: a
    running sum stays non-finite once it is, so counting, on the device, the updates after which each sum
    was still finite gives the update where it went bad. ``first_nonfinite`` holds ``(metric, step)`` of
    the earliest one after a :meth:`means` that found one (``step``: what :meth:`add` was given)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self._finite: dict[str, torch.Tensor] = {}  # per metric: adds after which its sum was still finite
        self._added_at: dict[str, list[int]] = {}  # per metric: the numbers of the adds that had it
        self._steps: list = []  # per add: the step it was given
        self.first_nonfinite: tuple[str, object] | None = None

    def add(self, metrics: dict[str, torch.Tensor], step=None) -> None:
        n = len(self._steps)
        self._steps.append(step)
        for k, v in metrics.items():
            s = self.sums[k] + v.float() if k in self.sums else v.float().clone()
            self.sums[k] = s
            finite = torch.isfinite(s)
            self._finite[k] = self._finite[k] + finite if k in self._finite else finite.long()
            self._added_at.setdefault(k, []).append(n)
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        out = {k: (v / self.counts[k]).item() for k, v in self.sums.items()}
        self.first_nonfinite = None
        if not all(math.isfinite(v) for v in out.values()):
            firsts = []
            for order, k in enumerate(self.sums):
                good = int(self._finite[k].item())
                if good < self.counts[k]:
                    firsts.append((self._added_at[k][good], order, k))
            if firsts:
                n, _, k = min(firsts)
                self.first_nonfinite = (k, self._steps[n])
        self.sums, self.counts, self._finite, self._added_at, self._steps = {}, {}, {}, {}, []
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
            try:
                self.tb.close()
            except Exception:  # noqa: BLE001 - a full disk: its error was reported when a write failed
                pass
