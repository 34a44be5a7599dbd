"""Where an agent's random draws come from, apart from the replay buffer's (indices and shifts): actor noise,
each method's augmentation choices, and the natural images of overlay-type augmentations.

Both live on the agent and are saved with it, so a resumed run draws what it would have drawn; tests
replace them with recorded draws (the official fixtures) through the same methods.
"""
from __future__ import annotations

import random

import numpy as np
import torch


class Draws:
    """Actor noise comes from torch's global generator, as upstream's ``torch.randn_like`` (the trainer saves
    it); every other draw from the agent's own seeded Python and torch generators."""

    def __init__(self, seed: int, device: torch.device):
        self.python = random.Random(seed)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)
        self.device = device

    def actor_noise(self, like: torch.Tensor) -> torch.Tensor:
        """ε ~ N(0, I) shaped like the policy mean (the reparameterised sample π = μ + ε·σ)."""
        return torch.randn_like(like)

    def random(self) -> float:
        """U[0, 1) (Python's ``random.random``)."""
        return self.python.random()

    def uniform(self, a: float, b: float) -> float:
        """U[a, b] as CPython's ``random.uniform`` computes it."""
        return self.python.uniform(a, b)

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)

    def integers(self, high: int, *shape: int) -> torch.Tensor:
        """Integers in [0, high) (int64)."""
        return torch.randint(high, shape, generator=self.generator, device=self.device)

    def conv_kernels(self, n: int) -> torch.Tensor:
        """n random-convolution kernels, float32 ``[n, 3, 3, 3, 3]`` ~ N(0, 1) (upstream's ``torch.randn(3, 3,
        3, 3)`` per sample, :func:`smg_fast.ops.random_conv`)."""
        return self.normal(n, 3, 3, 3, 3)

    def crop_offsets(self, n: int, high: int) -> torch.Tensor:
        """n random-crop offsets (row, column), int64 ``[n, 2]`` in [0, high) (upstream's exclusive
        ``random_(0, crop_max)``, :func:`smg_fast.ops.random_crop`)."""
        return self.integers(high, n, 2)

    def state_dict(self) -> dict:
        return {"python": self.python.getstate(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.python.setstate(state["python"])
        self.generator.set_state(state["generator"])


class ImageStream:
    """Natural images for overlay-type augmentations (Places365 upstream), uint8 ``[n, 3, S, S]`` on the
    agent's device. ``source`` as :class:`smg_fast.agent.images.OverlayImages` takes it (``folder:PATH``
    or ``procedural``), or any callable returning such a batch (tests)."""

    def __init__(self, source, batch_size: int, image_size: int, seed: int, device: torch.device):
        self.device = device
        if callable(source):
            self._images, self._call = None, source
        else:
            from smg_fast.agent.images import OverlayImages

            self._images = OverlayImages(source, batch_size, image_size, seed)
            self._call = self._images.sample

    def next(self, n: int | None = None) -> torch.Tensor:
        """The next batch (``n`` images; default the agent's batch size)."""
        batch = self._call() if n is None else self._call(n)
        return torch.as_tensor(np.asarray(batch), device=self.device)

    def state_dict(self) -> dict:
        return self._images.state_dict() if self._images is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self._images is not None and state:
            self._images.load_state_dict(state)
