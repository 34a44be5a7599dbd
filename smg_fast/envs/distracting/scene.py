"""One env's ``distracting_cs`` distractions: background video, camera and colours, driven step by step as
DMC-GB's wrappers drive them (see :mod:`smg_fast.envs.distracting`)."""
from __future__ import annotations

import numpy as np

from . import settings
from .camera import CameraJitter
from .colors import ColorJitter
from .skybox import Skybox
from .videos import Backdrop

STREAMS = ("background", "camera", "color")


def episode_streams(seed: int, episode: int) -> dict[str, np.random.RandomState]:
    """The random streams of one episode: ``RandomState([seed, episode, k])``, k = 0 background, 1 camera,
    2 colour (upstream gives each distraction its own ``RandomState``, unseeded)."""
    return {name: np.random.RandomState([int(seed), int(episode), k]) for k, name in enumerate(STREAMS)}


class DistractingScene:
    """The distractions of the physics of one env at one intensity (nothing at intensity 0).

    ``reset(seed, episode)`` after the task's reset; ``control_step()`` after each physics control step;
    ``before_render()`` before each render. ``upload``: see :class:`~smg_fast.envs.distracting.skybox.Skybox`.
    """

    def __init__(self, physics, domain: str, intensity: float, camera_id: int = 0, data_dir=None,
                 upload: str = "auto"):
        settings.check_domain(domain)
        self.intensity = settings.check_intensity(intensity)
        self.physics = physics
        self.domain = domain
        self.frame = 0
        self.active = self.intensity > 0
        if not self.active:  # upstream's suite applies no wrapper at intensity 0
            return
        from smg_fast.data import davis

        self.backdrop = Backdrop(davis.video_folders(settings.videos(self.intensity), data_dir))
        self.camera = CameraJitter(settings.camera_settings(domain, self.intensity), camera_id)
        self.colors = ColorJitter(settings.color_settings(self.intensity))
        self.sky = Skybox(physics, upload)
        self.alpha = settings.ground_plane_alpha(domain)
        self._rng: dict[str, np.random.RandomState] = {}

    def reset(self, seed: int, episode: int) -> dict:
        """Start an episode (the task has just reset the physics); returns its reset info."""
        self.frame = 0
        if not self.active:
            return {}
        self._rng = episode_streams(seed, episode)
        model = self.physics.model
        # Background (upstream's first wrapper): semi-transparent floor, one-face skybox, the episode's video.
        model.mat_rgba[model.name2id("grid", "material"), 3] = self.alpha
        self.sky.prepare()
        video = self.backdrop.reset(self._rng["background"])
        self.camera.setup(self.physics, self._rng["camera"])
        self.camera.update(self.physics, self._rng["camera"])
        self.colors.reset(model, self._rng["color"])
        return {"video": video.name}

    def control_step(self) -> None:
        """After one physics control step (upstream's wrappers step once per control step)."""
        if not self.active:
            return
        self.frame += 1
        if self.frame % settings.UPDATE_EVERY == 0:
            self.backdrop.advance()
            self.camera.update(self.physics, self._rng["camera"])
        self.colors.step(self.physics.model, self._rng["color"], self.frame)

    def before_render(self) -> None:
        if self.active:
            self.sky.show(self.backdrop.texture(), (self.backdrop.video.folder, self.backdrop.index))
            self.sky.flush()

    def close(self) -> None:
        if self.active:
            self.sky.close()
