"""DMC-GB's ``distracting_cs`` settings per intensity and domain (``src/env/distracting_control/
suite_utils.py``, ``background.py`` and ``src/arguments.py`` at the pinned commit), as plain data.

At intensity ``s`` (dynamic distractions, as DMC-GB's ``dmc2gym`` always builds them):

* backgrounds: the first ``DIFFICULTY_NUM_VIDEOS[s]`` videos of the DAVIS-2017 training list, in the list's
  order (``None``: all 60), fully replacing the skybox (video alpha 1); the floor (material ``grid``) gets
  the domain's alpha: 0 for reacher, 1 for walker and cheetah, 0.3 otherwise;
* camera: position jitter of ±π/2·s in both spherical angles, roll ±π/2·s, zoom in by up to 50 %·s and out
  by up to 150 %·s of the starting distance; velocity random walk std 0.1·s (at most 0.4·s), roll-velocity
  std π/300·s (at most π/50·s); the camera stays in the upper quadrant except for reacher;
* colours: every material's RGB within ±s of its original, random-walk std 0.03·s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from smg_fast.tasks import DISTRACTING_CS as MODE
# src/arguments.py: the intensities --distracting_cs_intensity accepts; suite_utils asserts the domains
# (camera and background settings exist for them only).
from smg_fast.tasks import DISTRACTING_CS_DOMAINS as DOMAINS
from smg_fast.tasks import DISTRACTING_CS_INTENSITIES as INTENSITIES

# suite_utils.DIFFICULTY_NUM_VIDEOS (None: every video of the list). Intensity 0 has no entry there.
NUM_VIDEOS = {0.025: 2, 0.05: 2, 0.1: 4, 0.15: 6, 0.2: 8, 0.3: None, 0.4: None, 0.5: None}

# background.DAVIS17_TRAINING_VIDEOS: the DAVIS-2017 train split, in the order the videos are taken.
DAVIS_TRAIN_VIDEOS = (
    "bear", "bmx-bumps", "boat", "boxing-fisheye", "breakdance-flare", "bus", "car-turn", "cat-girl",
    "classic-car", "color-run", "crossing", "dance-jump", "dancing", "disc-jockey", "dog-agility", "dog-gooses",
    "dogs-scale", "drift-turn", "drone", "elephant", "flamingo", "hike", "hockey", "horsejump-low",
    "kid-football", "kite-walk", "koala", "lady-running", "lindy-hop", "longboard", "lucia", "mallard-fly",
    "mallard-water", "miami-surf", "motocross-bumps", "motorbike", "night-race", "paragliding", "planes-water",
    "rallye", "rhino", "rollerblade", "schoolgirls", "scooter-board", "scooter-gray", "sheep", "skate-park",
    "snowboard", "soccerball", "stroller", "stunt", "surf", "swing", "tennis", "tractor-sand", "train",
    "tuk-tuk", "upside-down", "varanus-cage", "walking",
)
SKY_SIZE = 800  # background.py sets the skybox texture's height to 800 (its width) and fills it
UPDATE_EVERY = 2  # control steps between updates of each distraction (DMC-GB: every 2nd frame)


@dataclass(frozen=True)
class CameraSettings:
    horizontal_delta: float
    vertical_delta: float
    roll_delta: float
    vel_std: float
    max_vel: float
    roll_std: float
    max_roll_vel: float
    max_zoom_in_percent: float
    max_zoom_out_percent: float
    limit_to_upper_quadrant: bool


@dataclass(frozen=True)
class ColorSettings:
    max_delta: float
    step_std: float


def check_intensity(value) -> float:
    """``value`` as one of :data:`INTENSITIES`; ValueError naming them otherwise."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and float(value) in INTENSITIES
    if not ok:
        raise ValueError(f"distracting_cs intensity {value!r}: must be one of "
                         f"{', '.join(f'{x:g}' for x in INTENSITIES)} (DMC-GB's intensities)")
    return float(value)


def check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"distracting_cs is defined for the domains {', '.join(DOMAINS)} only (DMC-GB sets its "
                         f"camera and background per domain), not {domain!r}")


def num_videos(intensity: float) -> int:
    """How many of :data:`DAVIS_TRAIN_VIDEOS` the backgrounds are drawn from (0 at intensity 0)."""
    intensity = check_intensity(intensity)
    if intensity == 0.0:
        return 0
    n = NUM_VIDEOS[intensity]
    return len(DAVIS_TRAIN_VIDEOS) if n is None else n


def videos(intensity: float) -> tuple[str, ...]:
    return DAVIS_TRAIN_VIDEOS[:num_videos(intensity)]


def ground_plane_alpha(domain: str) -> float:
    check_domain(domain)
    if domain == "reacher":
        return 0.0
    return 1.0 if domain in ("walker", "cheetah") else 0.3


def camera_settings(domain: str, intensity: float) -> CameraSettings:
    check_domain(domain)
    s = check_intensity(intensity)
    return CameraSettings(
        horizontal_delta=math.pi / 2 * s, vertical_delta=math.pi / 2 * s, roll_delta=math.pi / 2.0 * s,
        vel_std=0.1 * s, max_vel=0.4 * s, roll_std=math.pi / 300 * s, max_roll_vel=math.pi / 50 * s,
        max_zoom_in_percent=0.5 * s, max_zoom_out_percent=1.5 * s,
        limit_to_upper_quadrant="reacher" not in domain)


def color_settings(intensity: float) -> ColorSettings:
    s = check_intensity(intensity)
    return ColorSettings(max_delta=s, step_std=0.03 * s)
