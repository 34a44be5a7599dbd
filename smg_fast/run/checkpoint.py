"""Checkpoints of a whole run — written incrementally, atomically and with an integrity record — and the run
directory's config.

Layout in the run directory::

    checkpoint.json                    the manifest, i.e. the commit point
    checkpoint/state-<step>.pt         networks, optimisers, RNG states, step, the replay's counters
    checkpoint/replay-<frames>.pt      the replay records (frames, actions, rewards, ...) added between two
                                       checkpoints

A checkpoint writes only what changed: the state file (its size does not depend on the replay's fill) and one
segment with the replay records added since the previous checkpoint, so the tenth checkpoint of a long run
costs what the first did, and no full host copy of the replay is ever made. :meth:`Checkpointer.save` runs
in phases:

1. ``state``: the state file (temporary name, fsync, rename);
2. ``segment``: the new replay segment (temporary name, fsync, rename);
3. ``manifest``: ``checkpoint.json`` names the state file and every segment the replay's window still needs,
   each with its size and SHA-256, plus the previous checkpoint's entry (temporary name, fsync, rename,
   fsync of the directory);
4. ``prune``: files no manifest names any more are deleted (older state files, segments that fell out of
   the replay's window).

A crash or an I/O error at any point leaves the previous manifest and every file it names intact: the new
files carry new names and nothing is deleted before the new manifest is in place. Loading checks every file
against the manifest; a corrupted or truncated file is refused with a message naming it and the previous
checkpoint, which ``--previous-checkpoint`` loads instead.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from smg_fast.config import RunConfig

CONFIG = "config.json"
MANIFEST = "checkpoint.json"
FOLDER = "checkpoint"
LEGACY = "checkpoint.pt"  # single-file checkpoints of earlier versions (read only)
FORMAT = 1


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


def atomic_write(path: Path, write) -> dict:
    """``write(file)`` into a temporary file next to ``path``, fsync, rename over ``path``; returns the file's
    record ``{file, bytes, sha256}``. A failure removes the temporary file and leaves ``path`` as it was."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        record = {"bytes": tmp.stat().st_size, "sha256": _sha256(tmp)}
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)
    return record


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


def read_manifest(run_dir: Path, name: str = MANIFEST) -> dict | None:
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupted ({e})") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {manifest.get('format')!r}; this version reads {FORMAT}")
    return manifest


class Checkpointer:
    """Writes a run's checkpoints (see the module doc). ``name`` picks the manifest (``checkpoint`` or e.g.
    ``checkpoint_nonfinite``); all manifests share the segment files."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        manifest = read_manifest(self.run_dir)
        self._last = manifest  # the previous checkpoint's entry, for the manifest's "previous"
        self._segments = list(manifest["segments"]) if manifest else []

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
        folder = self.run_dir / FOLDER
        step = int(state["step"])
        try:
            folder.mkdir(exist_ok=True)
            state = {**state, "replay": replay.small_state()}
            rec_state = {"file": f"{FOLDER}/state-{step:010d}{'' if name == 'checkpoint' else '-' + name}.pt",
                         **atomic_save(state, self.run_dir / FOLDER / f"state-{step:010d}"
                                       f"{'' if name == 'checkpoint' else '-' + name}.pt")}
            _after_phase("state")
            segments = list(self._segments)
            frames_from = segments[-1]["frames_to"] if segments else 0
            transitions_from = segments[-1]["transitions_to"] if segments else 0
            if replay.frames_added > frames_from or replay.transitions_added > transitions_from:
                seg = replay.export_range(frames_from, transitions_from)
                fname = f"{FOLDER}/replay-{seg['frames_from']:012d}-{seg['frames_to']:012d}.pt"
                meta = {k: seg[k] for k in ("frames_from", "frames_to", "transitions_from", "transitions_to")}
                segments.append({"file": fname, **meta, **atomic_save(seg, self.run_dir / fname)})
            _after_phase("segment")
            # The replay's window: older segments are no longer needed by this checkpoint.
            oldest_f = replay.frames_added - replay.capacity
            oldest_t = replay.transitions_added - replay.capacity
            segments = [s for s in segments if s["frames_to"] > oldest_f or s["transitions_to"] > oldest_t]
            previous = None
            if self._last is not None and name == "checkpoint":
                previous = {k: self._last[k] for k in ("step", "state", "segments")}
            manifest = {"format": FORMAT, "step": step, "state": rec_state, "segments": segments,
                        "previous": previous}
            atomic_write(self.run_dir / f"{name}.json",
                         lambda f: f.write((json.dumps(manifest, indent=1) + "\n").encode()))
            _after_phase("manifest")
        except OSError as e:
            raise CheckpointError(self._write_failure(e, step)) from None
        if name == "checkpoint":
            self._last, self._segments = manifest, segments
        self.prune()
        _after_phase("prune")
        return manifest

    def _write_failure(self, e: OSError, step: int) -> str:
        why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        where = f" ({e.filename})" if e.filename else ""
        last = (f"the last good checkpoint (step {self._last['step']}) is intact" if self._last
                else "no earlier checkpoint exists")
        return f"could not write the checkpoint at step {step} in {self.run_dir}: {why}{where}; {last}"

    def prune(self) -> None:
        """Delete checkpoint files that no manifest names (best effort: a leftover file is only disk space)."""
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
    try:
        atomic_write(run_dir / MANIFEST, lambda f: f.write((json.dumps(manifest, indent=1) + "\n").encode()))
    except OSError:
        return 0  # the old manifest is intact, both checkpoints with it
    Checkpointer(run_dir).prune()
    return before - sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def _entry(run_dir: Path, previous: bool, name: str = MANIFEST) -> dict:
    manifest = read_manifest(run_dir, name)
    if manifest is None:
        raise FileNotFoundError(
            f"{run_dir} holds no {name}: nothing to resume or evaluate (a run writes one every "
            "--checkpoint-every steps and at the end)")
    if not previous:
        return manifest
    if not manifest.get("previous"):
        raise CheckpointError(f"{run_dir / name} names no previous checkpoint")
    return manifest["previous"]


def load_state(run_dir: Path, map_location="cpu", previous: bool = False, name: str = MANIFEST) -> tuple[dict, dict]:
    """(state, manifest entry) of a run's checkpoint, every file checked against the manifest first. A
    damaged file raises :class:`CheckpointError` naming it and the previous checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / name).is_file() and (run_dir / LEGACY).is_file() and name == MANIFEST:
        return _load(run_dir / LEGACY, map_location), {"segments": [], "legacy": True}
    entry = _entry(run_dir, previous, name)
    try:
        path = _verify(run_dir, entry["state"])
        for seg in entry["segments"]:
            _verify(run_dir, seg)
        return _load(path, map_location), entry
    except CheckpointError as e:
        prev = None if previous else (read_manifest(run_dir, name) or {}).get("previous")
        hint = (f"; the previous checkpoint (step {prev['step']}) can be loaded instead: add "
                "--previous-checkpoint" if prev else "; no earlier checkpoint is recorded")
        raise CheckpointError(f"checkpoint at step {entry['step']} of {run_dir} refused: {e}{hint}") from None


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
    state, _ = load_state(run_dir, map_location=device, previous=previous)
    agent = make_agent(cfg, tuple(state["obs_shape"]), state["action_dim"])
    agent.load_state_dict(state["agent"])
    return cfg, agent
