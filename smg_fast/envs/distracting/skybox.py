"""The skybox texture of ``distracting_cs``: the video frame written into the model and onto the GPU.

Upstream (``background.py``) sets the skybox texture's height to 800 (its width), so MuJoCo treats the
texture as one 800×800 face repeated on all six cube faces, writes each frame into the model's texture
bytes and re-uploads it with ``mjr_uploadTexture`` (six ``glTexImage2D`` of the face, then
``glGenerateMipmap`` of the cube map) whenever the frame changes.

Here the model's bytes are written the same way, but the GPU copy is refreshed once before each render
that needs it, not at every frame change (the render is the only reader), and by default without
``mjr_uploadTexture``, which on a software renderer costs about as much as the render itself. The
``"copy"`` upload puts the frame into one 2D texture, generates its mipmaps there (one face's work instead
of six) and copies every level into the six faces on the GPU (``glCopyImageSubData``, OpenGL 4.3). The
mipmap levels below the top one (a third of the top level's size) are kept on the GPU for each frame of the
current video, so a frame shown again costs one top-level upload and the copies. It is used only after a
check on the env's own GL context: the first frame is uploaded both ways and every level of every face is
read back and compared; any difference (or a missing OpenGL function) falls back to ``mjr_uploadTexture``
for the env's lifetime. ``upload="mujoco"`` always uses upstream's call.
"""
from __future__ import annotations

import mujoco
import numpy as np

from .settings import SKY_SIZE

UPLOADS = ("auto", "copy", "mujoco")
SKY_TEXTURE = 0  # upstream's SKY_TEXTURE_INDEX: dm_control's common skybox is each suite model's texture 0


def _mip_sizes(size: int) -> list[int]:
    sizes = [size]
    while sizes[-1] > 1:
        sizes.append(max(1, sizes[-1] // 2))
    return sizes


class Skybox:
    """Writes frames into the skybox texture of ``physics`` and uploads them (see the module doc)."""

    def __init__(self, physics, upload: str = "auto"):
        if upload not in UPLOADS:
            raise ValueError(f"upload must be one of {UPLOADS}, got {upload!r}")
        m = physics.model.ptr
        if m.ntex <= SKY_TEXTURE or m.tex_type[SKY_TEXTURE] != mujoco.mjtTexture.mjTEXTURE_SKYBOX:
            raise ValueError("the model's texture 0 is not a skybox: distracting_cs needs dm_control's common skybox")
        if m.tex_nchannel[SKY_TEXTURE] != 3 or m.tex_width[SKY_TEXTURE] != SKY_SIZE:
            raise ValueError(f"the skybox texture is not {SKY_SIZE} wide with 3 channels")
        self.physics = physics
        self.requested = upload
        self.method = None if upload == "auto" else upload  # decided at the first upload under "auto"
        self._shown = None       # the frame array in the model's bytes
        self._key = None         # ... and what it is: (video, frame index)
        self._uploaded = None    # the frame array on the GPU
        self._scratch = None     # the 2D texture of the "copy" upload
        self._mips: dict = {}    # (video, frame index) -> 2D texture holding the frame's mipmap levels 1..
        self._closed = False

    @property
    def nbytes(self) -> int:
        return SKY_SIZE * SKY_SIZE * 3

    def prepare(self) -> None:
        """Upstream's per-reset step: the texture's height set to 800, one face for all six."""
        self.physics.model.ptr.tex_height[SKY_TEXTURE] = SKY_SIZE

    def show(self, texture: np.ndarray, key=None) -> None:
        """Write a frame (flat uint8 ``[800·800·3]``) into the model's texture bytes. ``key`` = (video, frame
        index) names it for the mipmap cache; the cache keeps the frames of one video."""
        if texture is self._shown:
            return
        m = self.physics.model.ptr
        adr = int(m.tex_adr[SKY_TEXTURE])
        m.tex_data[adr: adr + self.nbytes] = texture
        self._shown, self._key = texture, key
        if key is not None and self._mips and next(iter(self._mips))[0] != key[0]:
            self._call(self._forget_mips)

    def flush(self) -> None:
        """Make the GPU show the frame last written (nothing to do if it already does)."""
        if self._shown is None or self._shown is self._uploaded:
            return
        if self.method is None:
            self.method = self._choose()
        elif self.method == "copy":
            self._call(self._copy_upload, self._shown, self._key)
        else:
            self._call(self._mujoco_upload)
        self._uploaded = self._shown

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._mips and self._scratch is None:
            return  # nothing on the GPU (and no GL context to create for it)
        try:
            self._call(self._forget_mips, True)
        except Exception:  # noqa: BLE001 - the context may be gone already; it frees its textures then
            pass
        self._scratch = None

    def _forget_mips(self, scratch_too: bool = False) -> None:
        from OpenGL import GL

        names = list(self._mips.values()) + ([self._scratch] if scratch_too and self._scratch is not None else [])
        self._mips.clear()
        if names:
            GL.glDeleteTextures(names)

    # -- GL -------------------------------------------------------------------------------------------

    def _call(self, fn, *args):
        with self.physics.contexts.gl.make_current() as ctx:
            return ctx.call(fn, *args)

    def _mujoco_upload(self) -> None:
        p = self.physics
        mujoco.mjr_uploadTexture(p.model.ptr, p.contexts.mujoco.ptr, SKY_TEXTURE)

    def _copy_upload(self, texture: np.ndarray, key=None) -> None:
        from OpenGL import GL

        n, sizes = SKY_SIZE, _mip_sizes(SKY_SIZE)
        cube = int(self.physics.contexts.mujoco.ptr.texture[SKY_TEXTURE])
        copy = GL.glCopyImageSubData
        bound = GL.glGetIntegerv(GL.GL_TEXTURE_BINDING_2D)
        align = GL.glGetIntegerv(GL.GL_UNPACK_ALIGNMENT)
        try:
            GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
            if self._scratch is None:
                self._scratch = int(GL.glGenTextures(1))
                GL.glBindTexture(GL.GL_TEXTURE_2D, self._scratch)
                GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB, n, n, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, texture)
            else:
                GL.glBindTexture(GL.GL_TEXTURE_2D, self._scratch)
                GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, n, n, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, texture)
            mips = self._mips.get(key) if key is not None else None
            if mips is None:
                GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
                source, first = self._scratch, 0
                if key is not None:  # keep levels 1.. of this frame: level l at level l - 1 of its own texture
                    mips = int(GL.glGenTextures(1))
                    GL.glBindTexture(GL.GL_TEXTURE_2D, mips)
                    for level, size in enumerate(sizes[1:]):
                        GL.glTexImage2D(GL.GL_TEXTURE_2D, level, GL.GL_RGB, size, size, 0, GL.GL_RGB,
                                        GL.GL_UNSIGNED_BYTE, None)
                    GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAX_LEVEL, len(sizes) - 2)
                    for level, size in enumerate(sizes[1:], 1):
                        copy(self._scratch, GL.GL_TEXTURE_2D, level, 0, 0, 0, mips, GL.GL_TEXTURE_2D, level - 1,
                             0, 0, 0, size, size, 1)
                    self._mips[key] = mips
            else:
                source, first = mips, 1
            for face in range(6):
                copy(self._scratch, GL.GL_TEXTURE_2D, 0, 0, 0, 0, cube, GL.GL_TEXTURE_CUBE_MAP, 0, 0, 0, face, n, n, 1)
                for level, size in enumerate(sizes[1:], 1):
                    copy(source, GL.GL_TEXTURE_2D, level - first, 0, 0, 0, cube, GL.GL_TEXTURE_CUBE_MAP, level,
                         0, 0, face, size, size, 1)
        finally:
            GL.glBindTexture(GL.GL_TEXTURE_2D, int(bound))
            GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, int(align))

    def read_cube(self) -> list[list[np.ndarray]]:
        """Every level of every face of the skybox on the GPU, RGBA (what a render samples from)."""
        return self._call(self._read_cube)

    def _read_cube(self) -> list[list[np.ndarray]]:
        from OpenGL import GL

        cube = int(self.physics.contexts.mujoco.ptr.texture[SKY_TEXTURE])
        bound = GL.glGetIntegerv(GL.GL_TEXTURE_BINDING_CUBE_MAP)
        align = GL.glGetIntegerv(GL.GL_PACK_ALIGNMENT)
        try:
            GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
            GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, cube)
            out = []
            for face in range(6):
                levels = []
                for level, size in enumerate(_mip_sizes(SKY_SIZE)):
                    buf = np.empty((size, size, 4), np.uint8)
                    GL.glGetTexImage(GL.GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, level, GL.GL_RGBA,
                                     GL.GL_UNSIGNED_BYTE, buf)
                    levels.append(buf)
                out.append(levels)
            return out
        finally:
            GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, int(bound))
            GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, int(align))

    def _choose(self) -> str:
        """Upload the first frame both ways and keep the copy upload if the GPU holds the same texels."""
        try:
            self._call(self._copy_upload, self._shown, self._key)
            fast = self.read_cube()
        except Exception:  # noqa: BLE001 - no OpenGL 4.3 (glCopyImageSubData), no PyOpenGL: upstream's call
            self._call(self._mujoco_upload)
            return "mujoco"
        self._call(self._mujoco_upload)
        reference = self.read_cube()
        same = all(np.array_equal(a, b) for fa, fb in zip(fast, reference) for a, b in zip(fa, fb))
        return "copy" if same else "mujoco"
