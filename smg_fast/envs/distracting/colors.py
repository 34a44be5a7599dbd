"""Colour jitter of ``distracting_cs`` (DMC-GB's ``color.py``, ``DistractingColorEnv``).

Every material's RGB (``model.mat_rgba[:, :3]``; alpha untouched) stays within ±``max_delta`` of its
original colour, clipped to [0, 1]; the originals are read at the first reset. At each reset the colours
are drawn uniformly in those boxes (``uniform(size=(n_materials, 3))``); every second control step they
take a Gaussian step of std ``step_std`` (``randn(n_materials, 3)``), clipped to the boxes. The dtypes
follow upstream's: float32 originals and bounds, float64 current colours.
"""
from __future__ import annotations

import numpy as np

from .settings import UPDATE_EVERY, ColorSettings


class ColorJitter:
    def __init__(self, settings: ColorSettings):
        self.s = settings
        self.original = None
        self.current = None

    def reset(self, model, rng: np.random.RandomState) -> None:
        if self.original is None:
            self.original = np.copy(model.mat_rgba)[:, :3]
            self.high = np.clip(self.original + self.s.max_delta, 0.0, 1.0)
            self.low = np.clip(self.original - self.s.max_delta, 0.0, 1.0)
        u = rng.uniform(size=self.low.shape)
        self.current = self.low + u * (self.high - self.low)
        model.mat_rgba[:, :3] = self.current

    def step(self, model, rng: np.random.RandomState, frame: int) -> None:
        """After control step ``frame`` (counted from 1 in the episode)."""
        change = rng.randn(*self.current.shape) * self.s.step_std if frame % UPDATE_EVERY == 0 else 0
        self.current = np.clip(self.current + change, a_min=self.low, a_max=self.high)
        model.mat_rgba[:, :3] = self.current
