"""DMC-GB's sixth evaluation mode, ``distracting_cs``: its port of the Distracting Control Suite
(``src/env/distracting_control/`` at DMC-GB's pinned commit), on the current ``mujoco`` / ``dm_control``.

    >>> env = envs.make("walker-walk", mode="distracting_cs", distracting_cs_intensity=0.1, seed=0)

At an intensity of :data:`~smg_fast.envs.distracting.settings.INTENSITIES` (see
:mod:`~smg_fast.envs.distracting.settings` for what each sets), three distractions change the rendered
scene, each dynamic and each with its own random stream, updated every second control step (DMC-GB halves
the original suite's rate to account for the action repeat):

* a DAVIS-2017 video in the skybox (and, through the semi-transparent floor, partly on the ground):
  :mod:`~smg_fast.envs.distracting.videos`, :mod:`~smg_fast.envs.distracting.skybox`;
* camera position, roll and zoom jitter: :mod:`~smg_fast.envs.distracting.camera`;
* colour shifts of every material: :mod:`~smg_fast.envs.distracting.colors`.

The physics is untouched: rewards and dynamics are the training scene's. Only the domains DMC-GB defines
(:data:`~smg_fast.envs.distracting.settings.DOMAINS`) are supported. The frames come from
``smg-fast data download davis`` (:mod:`smg_fast.data.davis`).

Same as DMC-GB, step by step: the control-step counter of each wrapper (reset to 0, +1 per physics control
step, updates when even), the random draws in upstream's order on each stream, the camera arithmetic
expression by expression, the colour dtypes, the video list and frame order, the frame resize (Pillow
6.2's nearest neighbour, the version DMC-GB pins), the skybox texture's bytes and its one-face layout,
the floor alpha. The tests compare against DMC-GB's own wrappers run on the same physics.

Where this differs from DMC-GB, and why:

* Seeding. Upstream's suite passes no seed to the wrappers: the background and camera streams are
  ``RandomState(None)`` and the colour stream ``RandomState()``, drawn from the operating system, so its
  ``distracting_cs`` episodes cannot be reproduced (its README's "seeded" holds for the task only). Here
  each episode's three streams are ``RandomState([seed, episode, k])`` (k = 0 background, 1 camera, 2 colour;
  :func:`~smg_fast.envs.distracting.scene.episode_streams`), reseeded at every reset: an env's e-th episode
  uses its seed and e; the evaluator assigns ``seed + 42`` (upstream's test-env seed) and the episode's
  number, so results do not depend on the number of workers. Within an episode the draws are upstream's.
* Intensity 0. Upstream's suite asserts ``str(intensity)`` is a key of ``DIFFICULTY_NUM_VIDEOS`` and so
  refuses 0 (which ``--distracting_cs_intensity`` accepts and defaults to); past that assertion its
  ``if difficulty:`` branches add no wrapper. Here 0 is accepted and means exactly that: the undistracted
  scene (the test env's seed still ``seed + 42``).
* Texture upload. The model's texture bytes are written, and the GPU copy refreshed, once before each
  render that shows a new frame rather than at every frame change (only the render reads them); the GPU
  copy is made by copying mipmap levels instead of ``mjr_uploadTexture`` where that gives the same texels
  (checked per env; :mod:`~smg_fast.envs.distracting.skybox`).
* Frames are decoded when first shown, and the two most recent videos are kept per process, instead of
  every frame being decoded at each reset.
* Current mujoco renamed ``model.tex_rgb`` to ``tex_data`` (same bytes for a 3-channel texture). The
  rendered pixels come from the current MuJoCo renderer and the platform's OpenGL; the JPEG decoder is
  current Pillow's (libjpeg-turbo). Neither the 2021 renderer (MuJoCo 2.0 binaries with a licence key) nor
  Pillow 6.2 can be run here, so those differences are not measured.
"""
from __future__ import annotations

from .settings import DOMAINS, INTENSITIES, MODE, check_domain, check_intensity

__all__ = ["DOMAINS", "DistractingScene", "INTENSITIES", "MODE", "check_domain", "check_intensity",
           "episode_streams"]


def __getattr__(name):
    if name in ("DistractingScene", "episode_streams"):  # import mujoco: loaded on first use
        from . import scene
        return getattr(scene, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
