"""DMC-GB scene appearance: which colours each mode sets, and two ways of applying them to a physics.

DMC-GB (``suite/common/settings.py``) edits four things in dm_control's common assets and reloads the
physics from the edited XML on every reset:

* texture ``grid`` (the floor checker, ``materials.xml``): ``rgb1``, ``rgb2``, ``markrgb``;
* material ``self`` (the agent's body; no other material): ``rgba`` = (r, g, b, 1);
* texture ``skybox`` (``skybox.xml``): ``rgb1``, ``rgb2``, ``markrgb``.

:class:`InPlaceAppearance` (the default) edits the compiled model instead: it writes the material colour
into ``model.mat_rgba`` and rewrites the builtin textures' pixels in ``model.tex_data``, then re-uploads
them to the GL context with ``mjr_uploadTexture``. The new pixels are produced by MuJoCo's own texture
builder (a one-texture model compiled from the edited ``<texture>`` element), so they are the bytes an XML
reload would produce, random skybox marks included. :class:`XmlAppearance` is the XML-reload path; the
tests check that both render identical frames (colour and video modes, several domains). In-place
editing keeps the physics object, its GL context and the task's state untouched, and skips textures that
did not change (video modes upload their green textures once per env, not once per episode).
"""
from __future__ import annotations

import functools
import xml.etree.ElementTree as ET

import mujoco
import numpy as np
from dm_control.suite import common

GREEN = (0.2, 0.8, 0.2)  # DMC-GB's key colour; (51, 204, 51) in 8 bits, hue 120°

_MATERIALS = "./common/materials.xml"
_SKYBOX = "./common/skybox.xml"

# setting key -> (asset file, element tag, element name, attribute)
_TARGETS = {
    "grid_rgb1": (_MATERIALS, "texture", "grid", "rgb1"),
    "grid_rgb2": (_MATERIALS, "texture", "grid", "rgb2"),
    "grid_markrgb": (_MATERIALS, "texture", "grid", "markrgb"),
    "self_rgb": (_MATERIALS, "material", "self", "rgba"),
    "skybox_rgb": (_SKYBOX, "texture", "skybox", "rgb1"),
    "skybox_rgb2": (_SKYBOX, "texture", "skybox", "rgb2"),
    "skybox_markrgb": (_SKYBOX, "texture", "skybox", "markrgb"),
}
_TEXTURES = (("grid", _MATERIALS), ("skybox", _SKYBOX))


def video_settings(mode: str) -> dict[str, tuple[float, float, float]]:
    """The greenscreen setup of a video mode: green sky (and in video_hard a green floor), marks included."""
    if mode not in ("video_easy", "video_hard"):
        raise ValueError(f"{mode!r} is not a video mode")
    keys = ["skybox_rgb", "skybox_rgb2", "skybox_markrgb"]
    if mode == "video_hard":
        keys += ["grid_rgb1", "grid_rgb2", "grid_markrgb"]
    return {k: GREEN for k in keys}


def _attr_value(key: str, rgb) -> str:
    # The string DMC-GB writes: Python's repr of each float, space separated; alpha 1 for materials.
    r, g, b = (float(x) for x in rgb)
    return f"{r} {g} {b} 1" if key == "self_rgb" else f"{r} {g} {b}"


def _check_keys(settings: dict) -> None:
    unknown = set(settings) - set(_TARGETS)
    if unknown:
        raise ValueError(f"unknown appearance settings {sorted(unknown)}; known: {sorted(_TARGETS)}")


def _find(root: ET.Element, tag: str, name: str) -> ET.Element:
    el = root.find(f"./asset/{tag}[@name='{name}']")
    if el is None:
        raise ValueError(f"dm_control's common assets have no {tag} named {name!r}")
    return el


def edited_common_assets(settings: dict) -> dict[str, bytes]:
    """dm_control's common asset files with ``settings`` written into them (DMC-GB's XML edit)."""
    _check_keys(settings)
    trees = {f: ET.fromstring(common.ASSETS[f]) for f in (_MATERIALS, _SKYBOX)}
    for key, rgb in settings.items():
        fname, tag, name, attr = _TARGETS[key]
        _find(trees[fname], tag, name).set(attr, _attr_value(key, rgb))
    assets = dict(common.ASSETS)
    assets.update({f: ET.tostring(t) for f, t in trees.items()})
    return assets


def _texture_attrs(name: str, fname: str, settings: dict) -> tuple[tuple[str, str], ...]:
    """The attributes of common texture ``name`` once ``settings`` are applied (a hashable key)."""
    attrs = dict(_find(ET.fromstring(common.ASSETS[fname]), "texture", name).attrib)
    for key, rgb in settings.items():
        f, tag, n, attr = _TARGETS[key]
        if tag == "texture" and n == name:
            attrs[attr] = _attr_value(key, rgb)
    return tuple(sorted(attrs.items()))


@functools.lru_cache(maxsize=4)  # default + green textures of one env stay cached; ~12 MB per skybox
def builtin_texture_pixels(attrs: tuple[tuple[str, str], ...]) -> np.ndarray:
    """The pixels MuJoCo's compiler builds for one builtin ``<texture>`` element (read-only array)."""
    el = ET.Element("texture", dict(attrs))
    model = mujoco.MjModel.from_xml_string(f"<mujoco><asset>{ET.tostring(el).decode()}</asset></mujoco>")
    n = int(model.tex_width[0] * model.tex_height[0] * model.tex_nchannel[0])
    px = model.tex_data[model.tex_adr[0]: model.tex_adr[0] + n].copy()
    px.setflags(write=False)
    return px


class InPlaceAppearance:
    """Applies appearance settings by editing a dm_control physics' compiled model (see module doc)."""

    def __init__(self, physics):
        self._physics = physics
        m = physics.model.ptr
        self._tex = {}  # name -> (texture id, asset file)
        for name, fname in _TEXTURES:
            tid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_TEXTURE, name)
            if tid >= 0:
                self._tex[name] = (tid, fname)
        self._self_mat = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_MATERIAL, "self")
        self._default_rgba = m.mat_rgba[self._self_mat].copy() if self._self_mat >= 0 else None
        # What each texture currently shows, so that unchanged textures are neither rebuilt nor re-uploaded.
        self._current = {name: _texture_attrs(name, fname, {}) for name, (tid, fname) in self._tex.items()}

    @property
    def editable(self) -> tuple[str, ...]:
        return tuple(self._tex) + (("self",) if self._self_mat >= 0 else ())

    def apply(self, settings: dict) -> None:
        """Show ``settings`` (anything not named takes the default colour)."""
        _check_keys(settings)
        m = self._physics.model.ptr
        for name, (tid, fname) in self._tex.items():
            attrs = _texture_attrs(name, fname, settings)
            if attrs == self._current[name]:
                continue
            px = builtin_texture_pixels(attrs)
            adr, n = int(m.tex_adr[tid]), int(m.tex_width[tid] * m.tex_height[tid] * m.tex_nchannel[tid])
            if px.size != n:
                raise RuntimeError(f"texture {name!r} of this model has {n} bytes, the common asset "
                                   f"builds {px.size}: the domain does not use dm_control's common {name}")
            m.tex_data[adr: adr + n] = px
            self._upload(tid)
            self._current[name] = attrs
        if self._self_mat >= 0:
            rgba = self._default_rgba
            if "self_rgb" in settings:
                rgba = np.append(np.asarray(settings["self_rgb"], dtype=np.float64), 1.0)
            m.mat_rgba[self._self_mat] = rgba

    def _upload(self, tid: int) -> None:
        physics = self._physics
        with physics.contexts.gl.make_current() as ctx:
            ctx.call(mujoco.mjr_uploadTexture, physics.model.ptr, physics.contexts.mujoco.ptr, tid)


class XmlAppearance:
    """Applies appearance settings as DMC-GB does: edit the XML, reload the physics (state restored).

    Kept as the reference the in-place path is tested against, and as a fallback. The edited asset
    strings are cached per setting. Needs the domain's model and assets from its suite module's
    ``get_model_and_assets()`` (domains whose builder takes arguments are not supported here).
    """

    def __init__(self, physics, domain: str):
        from dm_control import suite

        self._physics = physics
        builder = getattr(getattr(suite, domain), "get_model_and_assets")
        try:
            self._xml, self._assets = builder()
        except TypeError as e:
            raise NotImplementedError(f"XML appearance reload does not support domain {domain!r}: {e}")
        self._cache: dict[tuple, dict[str, bytes]] = {}

    def apply(self, settings: dict) -> None:
        key = tuple(sorted((k, tuple(float(x) for x in v)) for k, v in settings.items()))
        assets = self._cache.get(key)
        if assets is None:
            assets = dict(self._assets)
            assets.update({f: v for f, v in edited_common_assets(settings).items() if f in (_MATERIALS, _SKYBOX)})
            if len(self._cache) >= 8:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = assets
        state = self._physics.get_state()
        self._physics.reload_from_xml_string(self._xml, assets)
        self._physics.set_state(state)
