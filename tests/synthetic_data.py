"""Small stand-ins for upstream's data files, in their layout, for a clone without the reference data.

``make_data(root)`` writes a data folder: ``dmcgb/`` and ``robot/``.

``dmcgb/``: ``color_easy.json`` and ``color_hard.json`` (100 entries of the four MuJoCo colours each, as the
converted upstream tables hold them) and short MP4 background videos under the names the reference folder has
(``video_easy/video{0,1,2,6,8,9}.mp4``: upstream's 3, 4, 5 and 7 are absent there too, so the skipping and
warning paths run; ``video_hard/video0..99.mp4``). Every video is a few frames of a distinct moving pattern,
far from the key green, so that which video and which frame an environment shows can be checked. The
environments read these files through their real code: the JSON loader, the PyAV decoder, upstream's resize,
the greenscreen.

Every command checks the DMC-GB files it will read against the manifest before it starts (size, then git
blob id, cached by size and modification time: ``smg_fast.data.verify``), and stand-ins are not upstream's
bytes. So each video is padded with a sparse tail of zeros to its upstream file's size (the decoder stops at
the last atom; the disk holds the few KB of the real video) and :func:`record_as_verified` writes the
session's verification cache as a verification of upstream's files would have left it. Commands then start
on the stand-ins as on upstream's files, and the checks still run: a file changed after that (the damage
tests) has another size or modification time and is hashed, and fails. What needs upstream's bytes
themselves (``smg-fast data verify`` hashes every file again) asks for them (``reference_files.needs_data``).

``robot/``: the twelve scene files of SMG's two robot tasks with a stand-in arm (see :func:`make_robot`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

VIDEO_EASY = (0, 1, 2, 6, 8, 9)
VIDEO_HARD = tuple(range(100))
COLOR_KEYS = ("grid_rgb1", "grid_rgb2", "self_rgb", "skybox_rgb")
FRAMES, SIZE = 8, 48  # per video; upstream's are 500 frames of 352x352


def colour_table(seed: int) -> list[dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    return [{k: [float(x) for x in rng.uniform(0.0, 1.0, 3)] for k in COLOR_KEYS} for _ in range(100)]


def video_frames(index: int, frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """uint8 RGB ``[frames, size, size, 3]``: a colour of its own (red-blue family, never key green) and a
    bright bar that moves one row per frame."""
    rng = np.random.default_rng(1000 + index)
    base = np.array([rng.integers(120, 256), rng.integers(0, 60), rng.integers(0, 256)], np.uint8)
    out = np.empty((frames, size, size, 3), np.uint8)
    out[:] = base
    for t in range(frames):
        out[t, (4 * t) % size: (4 * t) % size + 4] = 250
    return out


def write_video(path: Path, frames: np.ndarray, rate: int = 25) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())


def make_data(root: Path) -> Path:
    """Write the synthetic DMC-GB files and robot scenes under ``root``; returns ``root`` (a data folder)."""
    return make_robot(make_dmcgb(root))


def make_dmcgb(root: Path) -> Path:
    """Write the synthetic DMC-GB files under ``root/dmcgb``; returns ``root`` (a data folder)."""
    root = Path(root)
    dmcgb = root / "dmcgb"
    for mode, seed in (("color_easy", 1), ("color_hard", 2)):
        dmcgb.mkdir(parents=True, exist_ok=True)
        (dmcgb / f"{mode}.json").write_text(json.dumps(colour_table(seed), indent=0))
    from smg_fast.data import manifest

    for mode, indices in (("video_easy", VIDEO_EASY), ("video_hard", VIDEO_HARD)):
        (dmcgb / mode).mkdir(parents=True, exist_ok=True)
        for i in indices:
            path = dmcgb / mode / f"video{i}.mp4"
            write_video(path, video_frames(i + (0 if mode == "video_easy" else 100)))
            with open(path, "r+b") as f:  # upstream's size: a sparse tail of zeros after the last atom
                f.truncate(manifest.entry(f"dmcgb/{mode}/video{i}.mp4").size)
    return root


def record_as_verified(root: Path, cache: Path) -> None:
    """Record the DMC-GB stand-ins under ``root`` in the verification cache of folder ``cache`` with the git
    blob ids the manifest expects, as hashing upstream's files there would have (see the module's text)."""
    from smg_fast.data import manifest
    from smg_fast.data.verify import CACHE_NAME, expected_blob

    path = Path(cache) / CACHE_NAME
    entries = json.loads(path.read_text()) if path.is_file() else {}
    before = dict(entries)
    for e in manifest.entries("dmcgb"):
        local = Path(root) / e.local
        if local.is_file():
            st = local.stat()
            entries[str(local.resolve())] = [st.st_size, st.st_mtime_ns, expected_blob(e)]
    if entries != before:  # before every test (conftest): most find it as they left it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries))


# ---- SMG's robot scenes -------------------------------------------------------------------------------

# A stand-in for the xArm: an end effector on six free-moving joints, welded to the mocap body as upstream's
# link7 is, with the names and joint order the task code relies on (link7, right_hand, the grasp site, the
# knuckle joints at qpos 10 and 12, two knuckle motors). Pointing down at qpos 0.
_ARM = """<mujoco model="synthetic arm">
  <body mocap="true" name="robot0:mocap2" pos="1.3 0.3 0.9">
    <geom conaffinity="0" contype="0" type="box" size="0.005 0.005 0.005" rgba="0 0 0 0"/>
  </body>
  <body name="link0" pos="1.3 0.3 0.9" quat="0 1 0 0">
    <joint name="joint1" type="slide" axis="1 0 0" damping="20"/>
    <joint name="joint2" type="slide" axis="0 1 0" damping="20"/>
    <joint name="joint3" type="slide" axis="0 0 1" damping="20"/>
    <joint name="joint4" type="hinge" axis="1 0 0" damping="5"/>
    <joint name="joint5" type="hinge" axis="0 1 0" damping="5"/>
    <joint name="joint6" type="hinge" axis="0 0 1" damping="5"/>
    <geom type="sphere" size="0.02" mass="0.3" contype="0" conaffinity="0" material="robot0:arm_mat"/>
    <body name="link7">
      <joint name="joint7" type="hinge" axis="0 0 1" damping="2"/>
      <geom type="cylinder" size="0.04 0.05" pos="0 0 -0.05" mass="0.5" material="robot0:arm_mat"/>
      <body name="right_hand" pos="0 0 0.06">
        <site name="grasp" pos="0 0 0.1" type="sphere" size="0.01" rgba="1 0 0 0"/>
        <geom type="box" size="0.05 0.015 0.01" mass="0.1" material="robot0:gripper_mat"/>
        <body name="gripper_base">
          <joint name="drive_joint" type="hinge" axis="1 0 0" range="0 0.85" limited="true"/>
          <geom type="box" size="0.005 0.005 0.005" mass="0.01" contype="0" conaffinity="0"/>
          <body name="left_finger" pos="0 0.03 0.05">
            <joint name="left_finger_joint" type="hinge" axis="-1 0 0" range="0 0.85" limited="true"/>
            <geom type="box" size="0.01 0.005 0.03" mass="0.02" material="robot0:gripper_mat"/>
          </body>
          <body name="left_inner_knuckle" pos="0 0.015 0.02">
            <joint name="left_inner_knuckle_joint" type="hinge" axis="1 0 0" range="0 0.85" limited="true"/>
            <geom type="box" size="0.005 0.005 0.01" mass="0.01" contype="0" conaffinity="0"/>
          </body>
          <body name="right_outer_knuckle" pos="0 -0.02 0.02">
            <joint name="right_outer_knuckle_joint" type="hinge" axis="-1 0 0" range="0 0.85" limited="true"/>
            <geom type="box" size="0.005 0.005 0.01" mass="0.01" contype="0" conaffinity="0"/>
          </body>
          <body name="right_finger" pos="0 -0.03 0.05">
            <joint name="right_finger_joint" type="hinge" axis="1 0 0" range="0 0.85" limited="true"/>
            <geom type="box" size="0.01 0.005 0.03" mass="0.02" material="robot0:gripper_mat"/>
          </body>
          <body name="right_inner_knuckle" pos="0 -0.015 0.02">
            <joint name="right_inner_knuckle_joint" type="hinge" axis="-1 0 0" range="0 0.85" limited="true"/>
            <geom type="box" size="0.005 0.005 0.01" mass="0.01" contype="0" conaffinity="0"/>
          </body>
        </body>
      </body>
    </body>
  </body>
</mujoco>
"""

# Per scene: skybox, floor and robot colours (test4 with upstream's malformed "0.8." literal, which the loader
# rewrites) and, for the test scenes, a table texture file.
_SCENE_LOOKS = {
    "": ("1 1 1", "0.2 0.3 0.3", "1 1 1", None),
    "_test1": ("1 0.5 1", "0.6 0.4 0.6", "0.9 0.9 0.5", "table1.png"),
    "_test2": ("0.5 0.9 0.8", "0.1 0.1 0.1", "0.5 0.9 0.8", "carpet.png"),
    "_test3": ("0.5 0.1 0.1", "0.5 0.5 0.5", "0.8 0.3 0.3", "concrete.png"),
    "_test4": ("0.1 0.5 0.8.", "0.3 0.2 0.1", "0.1 0.5 0.8", "wood.png"),
    "_test5": ("0.3 0.2 0", "0.7 0.7 0.2", "0.3 0.6 0.9", "sponge.png"),
}


def _shared(sky: str, floor: str, robot: str, table_file: str | None) -> str:
    table = (f'<texture name="table_tex" type="2d" file="{table_file}"/>' if table_file
             else '<texture name="table_tex" type="2d" builtin="checker" rgb1="0.9 0.9 0.9" rgb2="0.7 0.7 0.7" '
                  'width="64" height="64"/>')
    return f"""<mujoco>
  <asset>
    <texture type="skybox" builtin="gradient" rgb1="{sky}" rgb2="0 0 0" width="32" height="32"/>
    <texture name="texgeom" type="cube" builtin="flat" rgb1="{sky}" width="32" height="32"/>
    {table}
    <material name="floor_mat" rgba="{floor} 1"/>
    <material name="table_mat_white" texture="table_tex" texrepeat="2 2"/>
    <material name="robot0:arm_mat" rgba="{robot} 1"/>
    <material name="robot0:gripper_mat" rgba="0.3 0.3 0.3 1"/>
    <material name="box_mat" rgba="0.2 0.5 0.2 1"/>
  </asset>
</mujoco>
"""


def _scene(shared: str, peg: bool) -> str:
    objects = weld = ""
    if peg:
        objects = """
    <body name="box_hole" pos="1.605 0.3 0.62">
      <joint name="box_hole:joint" type="free"/>
      <geom type="box" pos="0 0.075 -0.04" size="0.06 0.06 0.005" mass="0.5" material="box_mat"/>
      <geom type="box" pos="0.055 0.075 0" size="0.005 0.06 0.04" mass="0.1" material="box_mat"/>
      <geom type="box" pos="-0.055 0.075 0" size="0.005 0.06 0.04" mass="0.1" material="box_mat"/>
      <geom type="box" pos="0 0.13 0" size="0.06 0.005 0.04" mass="0.1" material="box_mat"/>
      <geom type="box" pos="0 0.02 0" size="0.06 0.005 0.04" mass="0.1" material="box_mat"/>
    </body>
    <body name="object0" pos="1.3 0.3 0.75">
      <joint name="object0:joint" type="free"/>
      <geom type="cylinder" pos="0 0 -0.05" size="0.02 0.035" mass="0.05" rgba="0.6 0.8 0.5 1"/>
      <site name="object0" pos="0 0 -0.05" size="0.02 0.035" type="cylinder" rgba="0 0 0 0"/>
      <body name="B1" pos="0 0 0.04"><geom type="sphere" size="0.004" mass="0.001" rgba="0 0 0 0"/></body>
    </body>"""
        weld = '\n    <weld body1="right_hand" body2="B1" solref="0.02 1"/>'
    return f"""<?xml version="1.0" encoding="utf-8"?>
<mujoco model="synthetic {'peg_in_box' if peg else 'reach'}">
  <compiler angle="radian" texturedir="texture"/>
  <option timestep="0.002"/>
  <include file="{shared}"/>
  <worldbody>
    <body name="floor0" pos="0 0 0">
      <geom name="floorgeom0" pos="1.2 -2.0 0" size="1.0 10.0 1" type="plane" material="floor_mat"/>
      <site name="target0" pos="1.605 0.3 0.58" size="0.0475 0.001" rgba="1 0 0 1" type="cylinder"/>
    </body>
    <include file="robot_xarm.xml"/>
    <body name="table0" pos="1.555 0.3 0.53625">
      <geom name="tablegeom0" size="0.3 0.6 0.04375" type="box" material="table_mat_white"/>
    </body>{objects}
    <light directional="true" diffuse="0.6 0.6 0.6" pos="1.65 0 10" dir="-0.3 0 -1"/>
    <camera name="third_person" pos="2.2 0.3 1.35" xyaxes="0 1 0 -0.7 0 0.7" fovy="50"/>
  </worldbody>
  <equality>
    <weld body1="robot0:mocap2" body2="link7" solref="0.02 1"/>{weld}
  </equality>
  <actuator>
    <motor ctrllimited="true" ctrlrange="-1 1" joint="left_inner_knuckle_joint" gear="2"/>
    <motor ctrllimited="true" ctrlrange="-1 1" joint="right_inner_knuckle_joint" gear="2"/>
  </actuator>
</mujoco>
"""


def make_robot(root: Path) -> Path:
    """Write stand-ins for SMG's twelve robot scenes under ``root/robot``, in upstream's file layout (scene
    files including ``shared*.xml`` and ``robot_xarm.xml``, table textures under ``texture/``); returns
    ``root``. They compile, render and run the task code; they are not upstream's scenes (other meshes,
    masses and colours), so nothing that pins upstream's dynamics or looks can be checked on them."""
    from PIL import Image

    robot = Path(root) / "robot"
    (robot / "texture").mkdir(parents=True, exist_ok=True)
    (robot / "robot_xarm.xml").write_text(_ARM)
    for k, (suffix, (sky, floor, arm, table_file)) in enumerate(_SCENE_LOOKS.items()):
        if table_file:
            rng = np.random.default_rng(k)
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(robot / "texture" / table_file)
        (robot / f"shared{suffix}.xml").write_text(_shared(sky, floor, arm, table_file))
        for stem, peg in (("reach", False), ("peg_in_box", True)):
            (robot / f"{stem}{suffix}.xml").write_text(_scene(f"shared{suffix}.xml", peg))
    return Path(root)
