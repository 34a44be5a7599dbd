"""Checkpoints of a whole run — written incrementally, atomically and with an integrity record — and the run
directory's config.

Layout in the run directory::

    checkpoint.json                    the manifest, i.e. the commit point
    checkpoint/state-<step>.pt         networks, optimisers, RNG states, step, the replay's counters
    checkpoint/replay-<frames>.pt      the replay records (frames, actions, rewards, ...) added between two
                                       checkpoints
    checkpoint/manifest-<step>.json    a copy of the manifest written at that step (for recovery)

A checkpoint writes only what changed: the state file (its size does not depend on the replay's fill) and one
segment with the replay records added since the previous checkpoint, so the tenth checkpoint of a long run
costs what the first did, and no full host copy of the replay is ever made. :meth:`Checkpointer.save` runs
in phases:

1. ``state``: the state file (temporary name, fsync, rename);
2. ``segment``: the new replay segment (temporary name, fsync, rename);
3. ``manifest``: a copy of the manifest in ``checkpoint/``, then ``checkpoint.json``; the manifest names the
   state file and every segment the replay's window still needs, each with its size and SHA-256, plus the
   previous checkpoint's entry (temporary name, fsync, rename, fsync of the directory);
4. ``prune``: files no manifest names any more are deleted (older state files, segments that fell out of
   the replay's window).

A crash or an I/O error at any point (a full disk included: the serializer's own error is traced back to
the ``ENOSPC`` under it) leaves the previous manifest and every file it names intact: the new files carry new
names and nothing is deleted before the new manifest is in place. Loading checks every manifest's schema
and every file against the manifest; a corrupted or truncated file is refused with a message naming it and
the previous checkpoint, which ``--previous-checkpoint`` loads instead. A checkpointer continues from the
checkpoint the run was loaded from (the previous one, after ``--previous-checkpoint``), so the next manifest
names only files that were verified or newly written, and its "previous" entry is that loaded checkpoint.
Pruning deletes nothing unless every manifest reads and ``checkpoint.json`` exists. A missing or unreadable
``checkpoint.json`` is rebuilt from the newest manifest copy whose files all verify. Temporary files of
writes that were interrupted (a crash, kill -9) are deleted when a run next starts in the directory.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from smg_fast.command import command
from smg_fast.config import RunConfig

CONFIG = "config.json"
MANIFEST = "checkpoint.json"
FOLDER = "checkpoint"
LEGACY = "checkpoint.pt"  # single-file checkpoints of earlier versions (read only)
FORMAT = 1
COPY = re.compile(r"manifest-(\d{10})\.json")  # checkpoint/manifest-<step>.json: copies for recovery


class CheckpointError(RuntimeError):
    """A checkpoint could not be written (the previous one is intact) or read."""


def _after_phase(name: str) -> None:
    """Called after each phase of :meth:`Checkpointer.save`; the crash tests replace it to kill the process."""


# ---- files ------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


class _RecordingWriter:
    """A file's ``write`` that remembers the OSError it raised: torch's serializer reports a failed write as
    a RuntimeError ("unexpected pos ...") that no longer says why."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        try:
            self.f.flush()
        except OSError as e:
            self.error = e
            raise


def atomic_write(path: Path, write) -> dict:
    """``write(file)`` into a temporary file next to ``path``, fsync, rename over ``path``; returns the file's
    record ``{file, bytes, sha256}``. A failure removes the temporary file and leaves ``path`` as it was; a
    failed write (a full disk, an I/O error) raises its OSError, whatever ``write`` made of it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    writer = None
    try:
        try:
            with open(tmp, "wb") as f:
                writer = _RecordingWriter(f)
                write(writer)
                f.flush()
                os.fsync(f.fileno())
        except Exception as e:  # the file's close may fail again (its buffer): the first OSError says why
            error = writer.error if writer is not None and writer.error is not None else e
            if isinstance(error, OSError):  # named after the file it was for, not the temporary one
                raise OSError(error.errno, error.strerror, str(path)) from None
            raise
        record = {"bytes": tmp.stat().st_size, "sha256": _sha256(tmp)}
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return record


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files of writes that were interrupted (``.NAME.tmp-PID`` from
    :func:`atomic_write`, ``*.csv.tmp`` from the logs). Call only while holding the run's lock: then no live
    process is writing them. Returns what was deleted."""
    run_dir = Path(run_dir)
    found = [*run_dir.glob(".*.tmp-*"), *run_dir.glob("*.csv.tmp"), *(run_dir / FOLDER).glob(".*.tmp-*")]
    removed = []
    for path in found:
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def atomic_save(obj, path: Path) -> dict:
    return atomic_write(path, lambda f: torch.save(obj, f))


def _verify(run_dir: Path, record: dict) -> Path:
    path = run_dir / record["file"]
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    size = path.stat().st_size
    if size != record["bytes"]:
        raise CheckpointError(f"{path} is {'truncated' if size < record['bytes'] else 'longer than written'} "
                              f"({size} bytes, written {record['bytes']})")
    if _sha256(path) != record["sha256"]:
        raise CheckpointError(f"{path} is corrupted (its SHA-256 differs from the one written)")
    return path


def _load(path: Path, map_location):
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises many types for damaged files
        raise CheckpointError(f"{path} cannot be read ({type(e).__name__}: {e})") from None


# ---- RNG state ----------------------------------------------------------------------------------------


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


# ---- the config ----------------------------------------------------------------------------------------


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    path = Path(run_dir) / CONFIG
    atomic_write(path, lambda f: f.write((json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n").encode()))


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} holds no {CONFIG}: it is not an smg-fast run directory")
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is not a valid run config: {e}") from None


# ---- checkpoints ----------------------------------------------------------------------------------------


_HEX64 = re.compile(r"[0-9a-f]{64}")
_FILE = re.compile(rf"{FOLDER}/[^/\\]+")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _schema_problem(m) -> str | None:
    """What is wrong with a manifest's structure, or None: the keys, their types, the file names (inside
    ``checkpoint/``), the ranges."""
    def record(r, where: str, segment: bool) -> str | None:
        if not isinstance(r, dict):
            return f"{where} is not an object"
        keys = ("file", "bytes", "sha256") + (("frames_from", "frames_to", "transitions_from",
                                                 "transitions_to") if segment else ())
        missing = [k for k in keys if k not in r]
        if missing:
            return f"{where} lacks {', '.join(repr(k) for k in missing)}"
        if not isinstance(r["file"], str) or not _FILE.fullmatch(r["file"]) or r["file"].endswith(("/.", "/..")):
            return f"{where}'s file {r['file']!r} is not a file in {FOLDER}/"
        if not isinstance(r["sha256"], str) or not _HEX64.fullmatch(r["sha256"]):
            return f"{where}'s sha256 is not 64 hex digits"
        bad = [k for k in keys[1:] if k != "sha256" and not _is_int(r[k])]
        if bad:
            return f"{where}'s {', '.join(bad)} must be integers >= 0"
        if segment and (r["frames_from"] > r["frames_to"] or r["transitions_from"] > r["transitions_to"]):
            return f"{where}'s range ends before it starts"
        return None

    def entry(e, where: str) -> str | None:
        if not isinstance(e, dict):
            return f"{where} is not an object"
        missing = [k for k in ("step", "state", "segments") if k not in e]
        if missing:
            return f"{where} lacks {', '.join(repr(k) for k in missing)}"
        if not _is_int(e["step"]):
            return f"{where}'s step {e['step']!r} is not an integer >= 0"
        if not isinstance(e["segments"], list):
            return f"{where}'s segments are not a list"
        problems = [record(e["state"], f"{where}'s state", False)]
        problems += [record(seg, f"{where}'s segment {i}", True) for i, seg in enumerate(e["segments"])]
        return next((p for p in problems if p), None)

    if not isinstance(m, dict):
        return "it is not a JSON object"
    problem = entry(m, "the checkpoint")
    if problem is None and m.get("previous") is not None:
        problem = entry(m["previous"], "the previous checkpoint")
    return problem


def read_manifest(run_dir: Path, name: str = MANIFEST) -> dict | None:
    """A manifest (``checkpoint.json`` or another ``name`` in ``run_dir``), None when absent; CheckpointError
    (one line naming the file and what is wrong) when it cannot be read or its structure is not a
    manifest's."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupted ({e})") from None
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read ({e.strerror or e})") from None
    if isinstance(manifest, dict) and manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {manifest.get('format')!r}; this version reads {FORMAT}")
    problem = _schema_problem(manifest)
    if problem:
        raise CheckpointError(f"{path} is not a valid checkpoint manifest: {problem}")
    return manifest


def _copies(run_dir: Path) -> list[tuple[int, str]]:
    """(step, name relative to ``run_dir``) of the manifest copies in ``checkpoint/``, newest first."""
    folder = Path(run_dir) / FOLDER
    found = [(int(m.group(1)), f"{FOLDER}/{p.name}") for p in folder.glob("manifest-*.json")
             if (m := COPY.fullmatch(p.name))]
    return sorted(found, reverse=True)


def recover_manifest(run_dir: Path, why: str) -> tuple[dict, str]:
    """(manifest, note) from the newest manifest copy in ``checkpoint/`` whose state file and segments all
    verify, for a run whose ``checkpoint.json`` is missing or unreadable (``why``). CheckpointError naming
    every copy tried, and why each failed, when none verifies."""
    run_dir = Path(run_dir)
    tried = []
    for step, name in _copies(run_dir):
        try:
            manifest = read_manifest(run_dir, name)
            for record in [manifest["state"], *manifest["segments"]]:
                _verify(run_dir, record)
        except CheckpointError as e:
            tried.append(f"{name}: {e}")
            continue
        return manifest, (f"{run_dir / MANIFEST} {why}; using the copy {run_dir / name} (step {step}), whose "
                          "files all verify")
    states = sorted((run_dir / FOLDER).glob("state-*.pt"))
    if tried:
        detail = "no manifest copy verifies (" + "; ".join(tried) + ")"
    elif states:
        detail = (f"{run_dir / FOLDER} holds state files (newest {states[-1].name}) but no manifest copy to verify "
                  "them against (runs written by earlier versions have none)")
    else:
        detail = f"{run_dir / FOLDER} holds no checkpoint files"
    raise CheckpointError(f"{run_dir / MANIFEST} {why} and no checkpoint can be rebuilt: {detail}; restore "
                          f"{MANIFEST} from a backup, or start the run again in a new directory")


def manifest_or_copy(run_dir: Path) -> tuple[dict | None, str | None]:
    """(``checkpoint.json``, None), or, when it is missing or unreadable, (the newest verified copy, a note
    saying so); (None, None) when the run has no checkpoint at all."""
    run_dir = Path(run_dir)
    try:
        manifest = read_manifest(run_dir)
    except CheckpointError as e:
        return recover_manifest(run_dir, f"is unreadable ({e})")
    if manifest is None and _copies(run_dir):
        return recover_manifest(run_dir, "is missing")
    return manifest, None


class Checkpointer:
    """Writes a run's checkpoints (see the module doc). ``start``: the manifest entry the run was loaded from
    (a resumed run; the previous checkpoint's after ``--previous-checkpoint``), None for a new run. ``name``
    of :meth:`save` picks the manifest (``checkpoint`` or e.g. ``checkpoint_nonfinite``); all manifests share
    the segment files of the regular checkpoints."""

    def __init__(self, run_dir: Path, start: dict | None = None):
        self.run_dir = Path(run_dir)
        # The checkpoint this run continues from: the next manifest names its segments and calls it
        # "previous". Never the newest manifest on disk unless that is what was loaded: after
        # --previous-checkpoint the newest one is damaged.
        self._last = start if start and not start.get("legacy") else None
        self._segments = list(self._last["segments"]) if self._last else []

    @property
    def step(self) -> int | None:
        return self._last["step"] if self._last else None

    @property
    def segments(self) -> list[dict]:
        """The replay segments the last checkpoint names."""
        return list(self._segments)

    def save(self, state: dict, replay, name: str = "checkpoint") -> dict:
        """Write a checkpoint of ``state`` (everything but the replay's records) and ``replay``. Raises
        :class:`CheckpointError` (the previous checkpoint intact) when a file cannot be written."""
        return self.write(self.snapshot(state, replay, name))

    def snapshot(self, state: dict, replay, name: str = "checkpoint") -> dict:
        """What :meth:`write` writes, taken now: ``state`` (whose tensors the caller must not change until the
        write is done, or pass copies of), the replay's counters and the records added since the last
        checkpoint (host copies). The next snapshot needs this one written first (its segments)."""
        segments = list(self._segments)
        frames_from = segments[-1]["frames_to"] if segments else 0
        transitions_from = segments[-1]["transitions_to"] if segments else 0
        seg = None
        if replay.frames_added > frames_from or replay.transitions_added > transitions_from:
            seg = replay.export_range(frames_from, transitions_from)
        return {"name": name, "state": {**state, "replay": replay.small_state()}, "segment": seg,
                "oldest": (replay.frames_added - replay.capacity, replay.transitions_added - replay.capacity)}

    def write(self, snap: dict) -> dict:
        """Write a :meth:`snapshot` (atomic files, then the manifest); safe in another thread while the loop
        goes on, one at a time."""
        folder = self.run_dir / FOLDER
        name, state, seg = snap["name"], snap["state"], snap["segment"]
        step = int(state["step"])
        regular = name == "checkpoint"
        suffix = "" if regular else f"-{name}"
        try:
            folder.mkdir(exist_ok=True)
            rec_state = {"file": f"{FOLDER}/state-{step:010d}{suffix}.pt",
                         **atomic_save(state, self.run_dir / FOLDER / f"state-{step:010d}{suffix}.pt")}
            _after_phase("state")
            segments = list(self._segments)
            if seg is not None:
                # Another manifest's segment carries its name: a later regular checkpoint of the same
                # range must not replace the file that manifest names.
                fname = f"{FOLDER}/replay-{seg['frames_from']:012d}-{seg['frames_to']:012d}{suffix}.pt"
                meta = {k: seg[k] for k in ("frames_from", "frames_to", "transitions_from", "transitions_to")}
                segments.append({"file": fname, **meta, **atomic_save(seg, self.run_dir / fname)})
            _after_phase("segment")
            # The replay's window: older segments are no longer needed by this checkpoint.
            oldest_f, oldest_t = snap["oldest"]
            segments = [s for s in segments if s["frames_to"] > oldest_f or s["transitions_to"] > oldest_t]
            previous = None
            if self._last is not None and regular:
                # A second checkpoint at the same step (a stop right after a periodic one) replaces the
                # state file the last one named: its "previous" is then the last one's previous.
                before = self._last if self._last["step"] < step else self._last.get("previous")
                if before:
                    previous = {k: before[k] for k in ("step", "state", "segments")}
            manifest = {"format": FORMAT, "step": step, "state": rec_state, "segments": segments,
                        "previous": previous}
            text = (json.dumps(manifest, indent=1) + "\n").encode()
            if regular:
                atomic_write(folder / f"manifest-{step:010d}.json", lambda f: f.write(text))
            atomic_write(self.run_dir / f"{name}.json", lambda f: f.write(text))
            _after_phase("manifest")
        except OSError as e:
            raise CheckpointError(self._write_failure(e, step)) from None
        if regular:
            self._last, self._segments = manifest, segments
        self.prune()
        _after_phase("prune")
        return manifest

    def _write_failure(self, e: OSError, step: int) -> str:
        why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exhausted",
               errno.EIO: "an I/O error"}.get(e.errno) or (e.strerror or str(e))
        where = f" ({e.filename})" if e.filename else ""
        last = (f"the last good checkpoint (step {self._last['step']}) is intact" if self._last
                else "no earlier checkpoint exists")
        return (f"could not write the checkpoint at step {step} in {self.run_dir}: {why}{where}; {last}"
                + (f"; free space, then continue with: {command(f'train --resume {self.run_dir}')}" if self._last else ""))

    def prune(self) -> None:
        """Delete checkpoint files that no manifest names (best effort: a leftover file is only disk space).
        Deletes nothing while ``checkpoint.json`` is missing or any manifest cannot be read: then which files
        are the only good copies is not known."""
        if not (self.run_dir / MANIFEST).is_file():
            return
        keep = set()
        for manifest_path in self.run_dir.glob("checkpoint*.json"):
            try:
                m = read_manifest(self.run_dir, manifest_path.name)
            except CheckpointError:
                return  # a damaged manifest: delete nothing
            for entry in [m, m.get("previous")]:
                if entry:
                    keep.add(entry["state"]["file"])
                    keep.update(s["file"] for s in entry["segments"])
                    keep.add(f"{FOLDER}/manifest-{entry['step']:010d}.json")
        for path in (self.run_dir / FOLDER).glob("*"):
            rel = f"{FOLDER}/{path.name}"
            if rel not in keep and not path.name.startswith("."):
                try:
                    path.unlink()
                except OSError:
                    pass


def keep_only_last(run_dir: Path) -> int:
    """Make a finished run's last checkpoint its only one: drop the manifest's ``previous`` entry and delete the
    files only it named (an SMG state file is about 0.35 GB). Nothing changes unless every file of the last
    checkpoint verifies against its record (size and SHA-256) first, so the only good copy is never the one
    removed. Returns the bytes freed."""
    run_dir = Path(run_dir)
    try:
        manifest = read_manifest(run_dir)
        if not manifest or not manifest.get("previous"):
            return 0
        for record in (manifest["state"], *manifest["segments"]):
            _verify(run_dir, record)
    except CheckpointError:
        return 0  # the previous checkpoint may be the only good one: keep it
    folder = run_dir / FOLDER
    before = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    manifest = {**manifest, "previous": None}
    text = (json.dumps(manifest, indent=1) + "\n").encode()
    try:
        # The recovery copy first: it must not name the files about to go.
        copy = folder / f"manifest-{manifest['step']:010d}.json"
        if copy.is_file():
            atomic_write(copy, lambda f: f.write(text))
        atomic_write(run_dir / MANIFEST, lambda f: f.write(text))
    except OSError:
        return 0  # checkpoint.json is intact, both checkpoints with it
    Checkpointer(run_dir).prune()
    return before - sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def load_state(run_dir: Path, map_location="cpu", previous: bool = False, name: str = MANIFEST) -> tuple[dict, dict]:
    """(state, manifest entry) of a run's checkpoint, every file checked against the manifest first. A
    damaged file raises :class:`CheckpointError` naming it and the previous checkpoint. A missing or
    unreadable ``checkpoint.json`` is replaced by the newest manifest copy whose files verify: the entry then
    holds ``recovered`` (a note saying so) and ``manifest`` (the copy, for :func:`restore_manifest`)."""
    run_dir = Path(run_dir)
    if not (run_dir / name).is_file() and (run_dir / LEGACY).is_file() and name == MANIFEST:
        return _load(run_dir / LEGACY, map_location), {"segments": [], "legacy": True}
    if name == MANIFEST:
        manifest, note = manifest_or_copy(run_dir)
    else:
        manifest, note = read_manifest(run_dir, name), None
    if manifest is None:
        raise FileNotFoundError(
            f"{run_dir} holds no {name}: nothing to resume or evaluate (a run writes one every "
            "--checkpoint-every steps and at the end)")
    entry = manifest
    if previous:
        if not manifest.get("previous"):
            raise CheckpointError(f"{run_dir / name} names no previous checkpoint")
        entry = manifest["previous"]
    try:
        path = _verify(run_dir, entry["state"])
        for seg in entry["segments"]:
            _verify(run_dir, seg)
        state = _load(path, map_location)
    except CheckpointError as e:
        prev = None if previous else manifest.get("previous")
        hint = (f"; the previous checkpoint (step {prev['step']}) can be loaded instead: add "
                "--previous-checkpoint" if prev else "; no earlier checkpoint is recorded")
        raise CheckpointError(f"checkpoint at step {entry['step']} of {run_dir} refused: {e}{hint}") from None
    _check_state(state, entry, run_dir / entry["state"]["file"])
    if note:
        entry = {**entry, "recovered": note, "manifest": manifest}
    return state, entry


def _check_state(state, entry: dict, path: Path) -> None:
    """CheckpointError unless the state file holds what a run needs, at the manifest's step, with replay
    counters that the manifest's segments reach."""
    need = ("step", "agent", "replay", "obs_shape", "action_dim", "config")
    if not isinstance(state, dict) or any(k not in state for k in need):
        missing = [k for k in need if not isinstance(state, dict) or k not in state]
        raise CheckpointError(f"{path} is not a checkpoint state (it lacks {', '.join(missing)})")
    if state["step"] != entry["step"]:
        raise CheckpointError(f"{path} holds step {state['step']}, its manifest says {entry['step']}")
    segs = entry["segments"]
    replay = state["replay"]
    if segs and isinstance(replay, dict) and "frames_added" in replay and (
            replay["frames_added"] != segs[-1]["frames_to"] or replay["transitions_added"] != segs[-1]["transitions_to"]):
        raise CheckpointError(f"{path}: its replay holds {replay['transitions_added']} transitions, its segments "
                              f"end at {segs[-1]['transitions_to']}")


def restore_manifest(run_dir: Path, entry: dict) -> None:
    """Write ``checkpoint.json`` back from the copy a recovered entry was loaded from (a resumed run holds
    the run's lock)."""
    text = (json.dumps(entry["manifest"], indent=1) + "\n").encode()
    atomic_write(Path(run_dir) / MANIFEST, lambda f: f.write(text))


def checkpoint_step(run_dir: Path, previous: bool = False) -> int | None:
    """The step of the checkpoint a resume would load (read from the manifest, or the copy that would
    replace a missing one), without loading it; None when unknown."""
    try:
        manifest, _ = manifest_or_copy(run_dir)
    except CheckpointError:
        return None
    entry = (manifest or {}).get("previous") if previous else manifest
    return entry["step"] if entry else None


def load_replay(run_dir: Path, entry: dict, replay, state: dict) -> None:
    """Fill ``replay`` from a checkpoint: its counters, then each segment in order (files already verified)."""
    if entry.get("legacy"):
        replay.load_state_dict(state["replay"])
        return
    replay.load_small_state(state["replay"])
    for seg in entry["segments"]:
        replay.import_range(_load(Path(run_dir) / seg["file"], "cpu"))


def load_checkpoint(run_dir: Path, map_location="cpu", previous: bool = False, name: str = MANIFEST) -> dict:
    """A checkpoint's state with the replay records assembled (``state["replay"]`` holds the counters and
    the records of the replay's window in the order they were added) — for tools and tests; training
    resumes through :func:`load_state` and :func:`load_replay` without assembling a copy."""
    state, entry = load_state(run_dir, map_location, previous, name)
    if entry.get("legacy"):
        return state
    segs = [_load(Path(run_dir) / s["file"], "cpu") for s in entry["segments"]]
    small = state["replay"]
    oldest_f = small["frames_added"] - small["capacity"]
    oldest_t = small["transitions_added"] - small["capacity"]
    records = {}
    for key, first in (("frames", "frames"), ("frame_pos", "frames"), ("next_slot", "transitions"),
                       ("action", "transitions"), ("reward", "transitions"), ("not_done", "transitions"),
                       ("oldest_needed", "transitions")):
        oldest = oldest_f if first == "frames" else oldest_t
        parts = [s[key][max(0, oldest - s[f"{first}_from"]):] for s in segs]
        records[key] = torch.cat(parts) if parts else torch.zeros(0)
    state["replay"] = {**small, **records}
    return state


def load_agent(run_dir, device: str = "cpu", previous: bool = False):
    """(config, agent) from a run directory's config and checkpoint, for evaluation and pictures."""
    from smg_fast.agent import make_agent

    cfg = read_config(run_dir)
    cfg.device = device
    state, entry = load_state(run_dir, map_location=device, previous=previous)
    if entry.get("recovered"):
        import sys

        print(entry["recovered"], file=sys.stderr)
    agent = make_agent(cfg, tuple(state["obs_shape"]), state["action_dim"])
    agent.load_state_dict(state["agent"])
    return cfg, agent
