"""What a long command shows while it works: a line that names what is running and keeps counting.

A phase that can last more than a couple of seconds (an update, an evaluation episode, a checkpoint write,
loading a checkpoint, the pictures) names itself on a tqdm line, and a timer thread redraws that line every
second. The elapsed times keep counting even while one blocking call runs, so a slow phase looks slow and
a stuck one looks stuck, never frozen. Drawing happens only where a bar is enabled (``--no-progress``
turns every line off).

    >>> with Status(bar, extra=lambda: ["eta 3:10"]) as status:
    ...     status.set("update burst 3/50")        # [..., eta 3:10, update burst 3/50 · 4 s]
    >>> with working("loading the trained agent"):  # "loading the trained agent [00:03]" while it runs
    ...     load_agent(run)
    >>> with steps_bar(240, "explain rollouts") as bar:  # a tqdm bar whose elapsed time ticks too
    ...     bar.update(1)
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Callable, Iterator

# Seconds between two redraws of a line whose phase runs on. Tests shorten it.
TICK_S = 1.0


def now() -> float:
    """The clock phases are timed with (tests replace it with a fake one)."""
    return time.monotonic()


def terminal() -> bool:
    """Whether stderr is a terminal: a passing line (:func:`working`) is drawn only there, never into a log
    or a captured stream (tests replace this)."""
    return sys.stderr.isatty()


def clock_text(seconds: float | None) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on; ``?`` for None."""
    if seconds is None:
        return "?"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def duration_text(seconds: float) -> str:
    """A phase's running time: ``4 s`` under a minute, then ``m:ss`` / ``h:mm:ss``."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def long_duration_text(seconds: float) -> str:
    """A projected time in words: ``about 40 minutes``, ``about 7 hours``, ``about 11 days``."""
    minutes = seconds / 60
    if minutes < 90:
        return f"about {max(1, round(minutes))} minute{'s' if round(minutes) != 1 else ''}"
    hours = minutes / 60
    if hours < 48:
        return f"about {round(hours)} hours"
    return f"about {round(hours / 24)} days"


class Ticker:
    """Calls ``tick()`` every :data:`TICK_S` seconds from a daemon thread, between :meth:`start` and
    :meth:`stop` (also as a context manager). The tick runs while the main thread is inside a long call:
    torch ops, file I/O and waits on worker processes release the GIL, and pure Python yields it every few
    milliseconds."""

    def __init__(self, tick: Callable[[], None]):
        self.tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Ticker":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="smg-fast-progress", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a failed redraw must never stop the work it shows
                pass

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "Ticker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Status:
    """The postfix of a tqdm ``bar``: ``extra()`` (e.g. the ETA and the last return), then the current phase
    and how long it has run (``update burst 3/50 · 4 s``), redrawn at each :meth:`set` and, while used as a
    context manager, every :data:`TICK_S` seconds. Nothing is drawn when the bar is disabled."""

    def __init__(self, bar, extra: Callable[[], list[str]] = list):
        self.bar, self.extra = bar, extra
        self.phase: str | None = None
        self.since = now()
        self._lock = threading.Lock()
        self._ticker = Ticker(self.redraw)

    def set(self, phase: str | None) -> None:
        """Start showing ``phase`` (None: none), its clock from now."""
        with self._lock:
            self.phase, self.since = phase, now()
        self.redraw()

    def text(self) -> str:
        with self._lock:
            phase, since = self.phase, self.since
        parts = list(self.extra())
        if phase:
            took = now() - since
            parts.append(phase + (f" · {duration_text(took)}" if took >= 1 else ""))
        return ", ".join(parts)

    def redraw(self) -> None:
        if not self.bar.disable:
            self.bar.set_postfix_str(self.text())

    def __enter__(self) -> "Status":
        if not self.bar.disable:
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._ticker.stop()


def _tqdm(**kw):
    from tqdm.auto import tqdm

    return tqdm(dynamic_ncols=True, **kw)


@contextlib.contextmanager
def steps_bar(total: int | None, desc: str, enabled: bool = True, unit: str = "step",
              leave: bool = False) -> Iterator:
    """A tqdm bar (closed at the end) whose elapsed time is redrawn every :data:`TICK_S` seconds, so it
    keeps moving between two of its steps (an env that starts, a long step)."""
    bar = _tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=leave)
    try:
        with Ticker(bar.refresh) if enabled else contextlib.nullcontext():
            yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def working(text: str, enabled: bool = True) -> Iterator:
    """``text [elapsed]`` on one line, counting every :data:`TICK_S` seconds, while the block runs (a phase
    with no steps to count: loading a checkpoint, drawing the curves); the line is removed at the end. Drawn
    on a terminal only."""
    if not (enabled and terminal()):
        yield None
        return
    bar = _tqdm(total=None, desc=text, bar_format="{desc} [{elapsed}]", leave=False)
    try:
        with Ticker(bar.refresh):
            yield bar
    finally:
        bar.close()
