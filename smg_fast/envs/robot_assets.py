"""The SMG robot scenes (upstream MJCF under ``<data dir>/robot``), gathered in memory for the current mujoco.

A scene is one of the twelve top-level files ``reach.xml``, ``reach_test{1..5}.xml``, ``peg_in_box.xml`` and
``peg_in_box_test{1..5}.xml``; each test file differs from its train file only by including
``shared_test{N}.xml`` (colours and table texture) instead of ``shared.xml``.

How a scene is loaded (no file is ever written: the data directory may be the project's shared read-only
folder, and a process running as root would ignore its permission bits):

1. the scene file and, recursively, every file it references (``<include>``, ``<mesh file>``,
   ``<texture file*>``, resolved against ``<compiler meshdir/texturedir/assetdir>``) are read into a dict
   ``{normalised path relative to robot/: bytes}``; a missing file raises :class:`MissingDataError`
   naming ``smg-fast data download robot``;
2. every XML text goes through :func:`fix_malformed_numbers`: current MuJoCo rejects the numeric
   literals with a second trailing dot (``"0.1 0.5 0.8."``) of ``shared_test4.xml``, which MuJoCo 2.x
   (mujoco-py) read as ``0.8``; they are rewritten to ``0.8``. The other eleven scenes need no rewrite
   (the fix is a no-op on them; ``"1."`` is a valid literal and stays);
3. the caller compiles ``MjModel.from_xml_string(scene.xml, scene.assets)`` (mujoco's in-memory VFS).

This module imports neither mujoco nor dm_control.
"""
from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from smg_fast.data import ENV_VAR, download_command, MissingDataError, resolve_data_dir
from smg_fast.tasks import ROBOT_MODES, ROBOT_TASKS

# Public task name -> stem of upstream's scene files.
TASK_FILES = {"robot-reach": "reach", "robot-peg-in-box": "peg_in_box"}
assert tuple(TASK_FILES) == ROBOT_TASKS, "every robot task of smg_fast.tasks needs its scene files here"
DATA_GROUP = "robot"

# A number with a second, trailing dot ("0.8."), inside an attribute value. "1." alone is valid and is
# not matched: the look-behind/-ahead keep the match to a whole token.
_MALFORMED_NUMBER = re.compile(r"(?<![\w.])([-+]?\d*\.\d+|[-+]?\d+\.\d*)\.(?![\w.])")
_ATTRIBUTE_VALUE = re.compile(r"""(=\s*)(["'])(.*?)\2""", re.S)


@dataclass(frozen=True)
class Scene:
    """A scene ready to compile: the top-level XML text and every file it needs, all in memory."""

    name: str                      # e.g. "peg_in_box_test4.xml"
    xml: str                       # top-level MJCF text (after rewrites)
    assets: dict = field(repr=False)  # {path relative to robot/: bytes}, rewritten XML included
    rewrites: dict = field(default_factory=dict)  # {file: number of literals rewritten} (non-zero only)
    root: Path = Path()            # the robot/ folder the files were read from


def scene_file(task: str, mode: str) -> str:
    """``("robot-reach", "test3")`` -> ``"reach_test3.xml"``; ValueError for unknown names."""
    if task not in TASK_FILES:
        raise ValueError(f"unknown robot task {task!r}; expected one of {ROBOT_TASKS}")
    if mode not in ROBOT_MODES:
        raise ValueError(f"unknown mode {mode!r} for {task}; expected one of {ROBOT_MODES} (the train scene "
                         f"and upstream's five test scenes)")
    stem = TASK_FILES[task]
    return f"{stem}.xml" if mode == "train" else f"{stem}_{mode}.xml"


def fix_malformed_numbers(text: str) -> tuple[str, int]:
    """Rewrite ``0.8.``-style literals in attribute values to ``0.8``; return the text and the count."""
    count = 0

    def fix_value(m: re.Match) -> str:
        nonlocal count
        value, n = _MALFORMED_NUMBER.subn(r"\1", m.group(3))
        count += n
        return f"{m.group(1)}{m.group(2)}{value}{m.group(2)}"

    return _ATTRIBUTE_VALUE.sub(fix_value, text), count


def robot_dir(data_dir=None) -> Path:
    return resolve_data_dir(data_dir) / DATA_GROUP


def _missing(paths: list[str], root: Path) -> MissingDataError:
    shown = ", ".join(f"robot/{p}" for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    hint = ""
    if any(p.endswith("concrete.png") for p in paths):
        hint = (" (upstream's texture/concrete.png, used by the test3 scenes, may be unavailable upstream; any "
                "grey texture image of that name stands in for it)")
    data_dir = root.parent
    return MissingDataError(
        f"robot scene files not found in the data directory {data_dir}: {shown}{hint}. Fetch them with "
        f"`{download_command()} {DATA_GROUP}` (add `--dir {data_dir}` if that is not the default), or point "
        f"${ENV_VAR} / data_dir at a folder that holds them.")


def _references(xml_text: str, dirs: dict) -> tuple[list[str], list[str]]:
    """(included XML files, other asset files) referenced by one MJCF text, as paths relative to robot/.

    ``dirs`` carries the compiler's meshdir/texturedir/assetdir; the top-level file sets them.
    """
    root = ET.fromstring(xml_text)
    for comp in root.iter("compiler"):
        for key in ("meshdir", "texturedir", "assetdir"):
            if comp.get(key) is not None:
                dirs[key] = comp.get(key)
    includes, files = [], []
    for el in root.iter():
        if el.tag == "include" and el.get("file"):
            includes.append(posixpath.normpath(el.get("file")))
            continue
        if el.tag == "mesh":
            base = dirs.get("meshdir", dirs.get("assetdir", ""))
        elif el.tag == "texture":
            base = dirs.get("texturedir", dirs.get("assetdir", ""))
        elif el.tag in ("hfield", "skin"):
            base = dirs.get("assetdir", "")
        else:
            continue
        for key, value in el.attrib.items():
            if key.startswith("file") and value:  # file, fileright, fileup, ... (cube faces)
                files.append(posixpath.normpath(posixpath.join(base, value)))
    return includes, files


def load_scene(task: str, mode: str = "train", data_dir=None) -> Scene:
    """Read scene ``(task, mode)`` and everything it references from the data directory, rewritten."""
    name = scene_file(task, mode)
    root = robot_dir(data_dir)
    if not (root / name).is_file():
        raise _missing([name], root)

    assets: dict[str, bytes] = {}
    rewrites: dict[str, int] = {}
    dirs: dict[str, str] = {}
    missing: list[str] = []
    pending, seen = [name], set()
    texts: dict[str, str] = {}
    while pending:  # the XML files, depth first; the top-level file first, so its <compiler> sets dirs
        rel = pending.pop(0)
        if rel in seen:
            continue
        seen.add(rel)
        path = root / rel
        if not path.is_file():
            missing.append(rel)
            continue
        text, n = fix_malformed_numbers(path.read_text(encoding="utf-8"))
        if n:
            rewrites[rel] = n
        texts[rel] = text
        assets[rel] = text.encode("utf-8")
        includes, files = _references(text, dirs)
        pending[:0] = includes
        for f in files:
            if f in assets or f in missing:
                continue
            if (root / f).is_file():
                assets[f] = (root / f).read_bytes()
            else:
                missing.append(f)
    if missing:
        raise _missing(sorted(missing), root)
    return Scene(name=name, xml=texts[name], assets=assets, rewrites=rewrites, root=root)
