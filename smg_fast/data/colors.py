"""DMC-GB colour sets: converting upstream's legacy torch pickles to JSON, and loading the JSON.

Upstream ships ``color_easy.pt`` / ``color_hard.pt``: ``torch.save`` files in the legacy (pre-zip) format
holding a list of 100 dicts ``{grid_rgb1, self_rgb, skybox_rgb, grid_rgb2}`` of float64 NumPy arrays of
length 3. Unpickling arbitrary files can run arbitrary code, so they are read here with a restricted
unpickler that resolves only the handful of globals such a file needs (NumPy array reconstruction and
``_codecs.encode``), and only after the downloader verified the file's git blob id. Neither torch nor
``weights_only=False`` is needed.
"""
from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import numpy as np

from . import download_command, require

COLOR_KEYS = ("grid_rgb1", "grid_rgb2", "self_rgb", "skybox_rgb")

# torch.serialization's legacy format: a magic-number pickle, a protocol-version pickle, a sys-info
# pickle, the object pickle, then a pickle of tensor-storage keys followed by their raw bytes.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _numpy_reconstruct():
    try:  # NumPy >= 2 moved the module; pickles written by NumPy 1.x name numpy.core
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: __import__("codecs").encode,
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asks for something a colour table never contains."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        factory = _ALLOWED_GLOBALS.get((module, name))
        if factory is None:
            raise UnsafePickleError(f"refusing to load global {module}.{name} from a colour table")
        return factory()

    def persistent_load(self, pid):
        raise UnsafePickleError("colour tables hold no tensor storages; refusing persistent id "
                                f"{pid!r}")


def load_legacy_torch_pickle(data: bytes):
    """The object of a legacy-format ``torch.save`` file that holds no tensors (NumPy arrays only)."""
    if data[:2] == b"PK":
        raise UnsafePickleError("zip-format torch file; expected the legacy format DMC-GB ships")
    f = io.BytesIO(data)
    if _RestrictedUnpickler(f).load() != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a legacy torch.save file (bad magic number)")
    if _RestrictedUnpickler(f).load() != _LEGACY_PROTOCOL:
        raise pickle.UnpicklingError("unsupported legacy torch.save protocol version")
    _RestrictedUnpickler(f).load()  # sys info (endianness, type sizes): plain dict
    obj = _RestrictedUnpickler(f).load()
    storage_keys = _RestrictedUnpickler(f).load()
    if storage_keys:
        raise UnsafePickleError("colour table unexpectedly holds tensor storages")
    return obj


def colors_from_legacy_pickle(data: bytes) -> list[dict[str, list[float]]]:
    """The colour entries of an upstream ``color_*.pt`` file, as lists of Python floats (values unchanged)."""
    obj = load_legacy_torch_pickle(data)
    if not isinstance(obj, list) or not all(isinstance(d, dict) for d in obj):
        raise ValueError("colour table is not a list of dicts")
    out = []
    for d in obj:
        if set(d) != set(COLOR_KEYS):
            raise ValueError(f"colour entry has keys {sorted(d)}, expected {sorted(COLOR_KEYS)}")
        out.append({k: [float(x) for x in np.asarray(v, dtype=np.float64).reshape(3)] for k, v in d.items()})
    return out


def convert_color_pickle(pt_path: str | os.PathLike, json_path: str | os.PathLike) -> Path:
    """Write the JSON form (the reference folder's layout: a list of dicts, ``indent=0``) atomically."""
    colors = colors_from_legacy_pickle(Path(pt_path).read_bytes())
    json_path = Path(json_path)
    tmp = json_path.with_name(json_path.name + ".part")
    tmp.write_text(json.dumps(colors, indent=0))
    os.replace(tmp, json_path)
    return json_path


def load_colors(mode: str, data_dir: str | os.PathLike | None = None) -> list[dict[str, np.ndarray]]:
    """The 100 entries of ``color_easy`` / ``color_hard`` from ``<data dir>/dmcgb/<mode>.json``; DataError (naming
    the file and the command that repairs it) when the file is not such a table."""
    if mode not in ("color_easy", "color_hard"):
        raise ValueError(f"no colour table for mode {mode!r}")
    path = require(f"dmcgb/{mode}.json", data_dir)
    try:
        entries = json.loads(path.read_text())
        problem = _table_problem(entries)
    except (ValueError, UnicodeDecodeError) as e:
        problem = f"it is not valid JSON ({e})"
    if problem:
        from smg_fast.errors import DataError

        raise DataError(f"{path} is damaged: {problem}; `{download_command()} dmcgb --force` fetches a verified copy")
    return [{k: np.asarray(e[k], dtype=np.float64) for k in COLOR_KEYS} for e in entries]


def _table_problem(entries) -> str | None:
    """What keeps ``entries`` from being a DMC-GB colour table (a list of at least 100 entries, upstream's
    assertion, each holding exactly the four colours as three numbers in [0, 1]), or None."""
    if not isinstance(entries, list):
        return "it is not a list of colour entries"
    if len(entries) < 100:
        return f"it holds {len(entries)} entries; DMC-GB has 100"
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or set(e) != set(COLOR_KEYS):
            keys = sorted(e) if isinstance(e, dict) else type(e).__name__
            return f"entry {i} has keys {keys}, expected {sorted(COLOR_KEYS)}"
        for k in COLOR_KEYS:
            v = e[k]
            if not (isinstance(v, list) and len(v) == 3 and all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0 for x in v)):
                return f"entry {i}'s {k} is not three numbers in [0, 1]"
    return None
