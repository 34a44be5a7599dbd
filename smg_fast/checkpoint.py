"""Atomic checkpoints of a whole run (networks, optimisers, replay buffer, RNG states, step) and the
run directory's resolved config."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from smg_fast.config import RunConfig

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"


def atomic_save(obj, path: Path) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``: a crash
    at any moment leaves either the old or the new file, never a torn one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    path = Path(run_dir) / CONFIG
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} holds no {CONFIG}: it is not an smg-fast run directory")
    return RunConfig.from_dict(json.loads(path.read_text()))


def load_checkpoint(run_dir: Path, map_location="cpu") -> dict:
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(
            f"{run_dir} holds no {CHECKPOINT}: nothing to resume or evaluate (a run writes one every "
            "--checkpoint-every steps and at the end)"
        )
    return torch.load(path, map_location=map_location, weights_only=False)


def load_agent(run_dir, device: str = "cpu"):
    """(config, agent) from a run directory's config and checkpoint, for evaluation and pictures."""
    from smg_fast.agent import make_agent

    cfg = read_config(run_dir)
    cfg.device = device
    state = load_checkpoint(run_dir, map_location=device)
    agent = make_agent(cfg, tuple(state["obs_shape"]), state["action_dim"])
    agent.load_state_dict(state["agent"])
    return cfg, agent
