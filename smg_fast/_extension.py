"""Loads the compiled op library; everything in :mod:`smg_fast.ops` needs it.

The library built at install time (``smg_fast._C``, by ``pip install --no-build-isolation .``) is loaded
when it was built for the running torch; otherwise the library is compiled for this torch on first use and
cached (:mod:`smg_fast._build`), with a one-line note on stderr. ``smg-fast build`` does that ahead.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import torch  # libtorch must be loaded before the library's symbols resolve

from smg_fast import _build
from smg_fast._build import ExtensionBuildError

__all__ = ["ExtensionBuildError", "has_cuda_kernels", "library"]


def _load() -> tuple[Path, str]:
    """Load the library for this torch: the path and how it was found (``install`` or ``cache``)."""
    path, info = _build.aot_library()
    if "smg_fast._C" in sys.modules:  # imported directly: its ops are registered, and a second library can't be
        return path, "install"
    if path is not None:
        mismatch = _build.aot_mismatch(info)
        if mismatch is None:
            from smg_fast import _C  # noqa: F401  (its static initialisers register torch.ops.smg_fast.*)

            return path, "install"
        print(f"smg-fast: not loading the fused-op library built at install time ({path.name}): {mismatch}; "
              "using one compiled for this torch", file=sys.stderr, flush=True)
    lib, _ = _build.ensure_library()
    torch.ops.load_library(str(lib))
    # The rest of smg_fast refers to the library as smg_fast._C (its file: doctor's cache key).
    module = types.ModuleType("smg_fast._C", "smg_fast's fused-op library, compiled on first use")
    module.__file__ = str(lib)
    sys.modules["smg_fast._C"] = module
    setattr(sys.modules["smg_fast"], "_C", module)
    return lib, "cache"


_library, _source = _load()


def library() -> tuple[Path, str]:
    """The loaded library's file and where it came from: ``install`` (built by pip against this torch) or
    ``cache`` (compiled for this torch on first use)."""
    return _library, _source


def has_cuda_kernels() -> bool:
    """True if the library was built with its CUDA kernels."""
    return torch._C._dispatch_has_kernel_for_dispatch_key("smg_fast::composite", "CUDA")
