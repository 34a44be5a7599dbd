"""How smg_fast's op library is compiled, for both ways it gets built:

* ahead of time by ``setup.py`` when the build sees torch (``pip install --no-build-isolation .``): the
  Python extension ``smg_fast._C``, with ``_C.build.json`` beside it naming the torch it was built for;
* on first use (:func:`ensure_library`), when the install could not see torch (plain ``pip install .``
  builds in an isolated environment without it, on purpose: torch as a build requirement would download a
  second, multi-GB torch) or when the running torch is not the one the installed library was built for.
  The library is compiled from the sources shipped in the package (``smg_fast/csrc``, or ``csrc/`` of a
  checkout) with ``torch.utils.cpp_extension.load`` and ninja, into a folder of the cache named for the
  torch version, CUDA version and architectures, Python and a hash of the sources and flags, so a torch
  upgrade or a source change builds anew and nothing else does. A file lock makes processes that start
  at once build it once.

The flags are defined here once for both: ``-ffp-contract=off`` because the greenscreen rule must evaluate
its float64 formulas exactly as upstream's Python does, ``--fmad=false`` likewise for the CUDA kernels,
``-fopenmp`` because ``at::parallel_for`` runs on one thread without it.

This module imports nothing from smg_fast (``setup.py`` loads it by path, before the package exists) and
torch only inside functions.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import sysconfig
import time
import warnings
from pathlib import Path

CXX_FLAGS = ["-O3", "-fopenmp", "-ffp-contract=off"]
NVCC_FLAGS = ["-O3", "--fmad=false"]
LINK_FLAGS = ["-fopenmp"]

# The torch releases CI builds and tests against (scripts/check_torch.sh); setup.py requires the oldest.
OLDEST_TORCH = "2.11"
NEWEST_TESTED_TORCH = "2.15"

BUILD_INFO = "_C.build.json"  # beside the ahead-of-time library: what it was built against
LIBRARY = "smg_fast_ops"  # the first-use build's library name (a plain shared library, not a module)
CACHE_ENV_VAR = "SMG_FAST_CACHE"
_RECIPE = 1  # bump when the way the library is built changes without the sources or flags changing


class ExtensionBuildError(ImportError):
    """The op library cannot be loaded or built here: the message names what is missing, in one line."""


def package_dir() -> Path:
    return Path(__file__).resolve().parent


def source_root() -> Path:
    """``smg_fast/csrc`` in an installed package, else ``csrc/`` beside the package in a checkout."""
    for root in (package_dir() / "csrc", package_dir().parent / "csrc"):
        if (root / "ops").is_dir():
            return root
    raise ExtensionBuildError(
        f"smg-fast's C++ sources are missing (neither {package_dir() / 'csrc'} nor {package_dir().parent / 'csrc'} "
        "exists): reinstall smg-fast (pip install .)")


def sources(root: Path, cuda: bool, python_module: bool) -> list[Path]:
    """The translation units: ``ops/<op>.cpp`` (schemas, argument checks), ``ops/cpu/*_kernel.cpp``, with
    ``cuda``: ``ops/cuda/*_glue.cpp`` + ``*_kernel.cu``; with ``python_module``: ``module.cpp`` (the empty
    Python module whose import loads the library; the first-use build loads a plain library instead)."""
    files = sorted(root.glob("ops/*.cpp")) + sorted(root.glob("ops/cpu/*.cpp"))
    if cuda:
        files += sorted(root.glob("ops/cuda/*.cpp")) + sorted(root.glob("ops/cuda/*.cu"))
    if python_module:
        files = [root / "module.cpp"] + files
    return files


def source_hash(root: Path) -> str:
    """Every file under ``ops/`` (headers included) with its path, the flags and the recipe version."""
    h = hashlib.sha256(json.dumps([CXX_FLAGS, NVCC_FLAGS, LINK_FLAGS, _RECIPE]).encode())
    for path in sorted(p for p in (root / "ops").rglob("*") if p.is_file() and p.suffix in (".cpp", ".h", ".cu", ".cuh")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def torch_identity() -> dict:
    """What a compiled library is tied to: the exact torch build (its C++ ABI and symbols)."""
    import torch

    return {"torch": torch.__version__, "git": torch.version.git_version, "cuda": torch.version.cuda,
            "python": f"cp{sys.version_info.major}{sys.version_info.minor}"}


def cuda_toolkit() -> str | None:
    """CUDA_HOME as torch's extension builder finds it on Linux (None for a CPU torch or without a toolkit),
    without importing the builder (it imports setuptools: too slow for every start)."""
    import torch

    if torch.version.cuda is None:
        return None
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if not home:
        nvcc = shutil.which("nvcc")
        home = str(Path(nvcc).parent.parent) if nvcc else "/usr/local/cuda"
    return home if Path(home).is_dir() else None


def cuda_kernels() -> tuple[bool, str]:
    """Whether to compile the CUDA kernels, and why (for the notes). They need a CUDA build of torch, a
    CUDA toolkit (nvcc) and a target: a visible GPU or ``TORCH_CUDA_ARCH_LIST`` (without either, torch's
    builder has no architecture to compile for). ``FORCE_CUDA=1`` / ``FORCE_CUDA=0`` decide outright."""
    import torch

    force = os.environ.get("FORCE_CUDA")
    if force == "0":
        return False, "CPU kernels only: FORCE_CUDA=0"
    if force == "1":
        return True, "CPU and CUDA kernels: FORCE_CUDA=1"
    if torch.version.cuda is None:
        return False, "CPU kernels only: a CPU build of torch"
    if cuda_toolkit() is None:
        return False, ("CPU kernels only: this torch has CUDA but no CUDA toolkit (nvcc) was found; set CUDA_HOME "
                       "to build the CUDA kernels")
    if not os.environ.get("TORCH_CUDA_ARCH_LIST") and torch.cuda.device_count() == 0:
        return False, "CPU kernels only: no GPU visible and TORCH_CUDA_ARCH_LIST unset"
    return True, "CPU and CUDA kernels"


def cuda_arch() -> str:
    """The architectures the CUDA kernels are compiled for, as torch's builder chooses them."""
    import torch

    env = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if env:
        return "sm" + "_".join(a.replace(".", "").replace("+PTX", "ptx") for a in env.replace(" ", ";").split(";") if a)
    caps = sorted({torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
    return "sm" + "_".join(f"{a}{b}" for a, b in caps)


def build_info(cuda: bool) -> dict:
    return {**torch_identity(), "cuda_kernels": cuda, "sources": source_hash(source_root())}


def aot_library() -> tuple[Path | None, dict | None]:
    """The install-time library ``smg_fast._C`` (found, not imported) and its build record."""
    import importlib.util

    loaded = sys.modules.get("smg_fast._C")
    origin = getattr(loaded, "__file__", None) if loaded else getattr(importlib.util.find_spec("smg_fast._C"), "origin", None)
    if not origin or Path(origin).resolve().parent != package_dir():  # not this package's (an editable
        return None, None  # install's finder can offer another checkout's library)
    path = Path(origin)
    try:
        info = json.loads((path.parent / BUILD_INFO).read_text())
    except (OSError, ValueError):
        info = None
    return path, info


def aot_mismatch(info: dict | None) -> str | None:
    """None when the ahead-of-time library was built for the running torch, else why it must not be loaded
    (a library built against another torch can fail to load, or load and crash)."""
    if info is None:
        return "it has no record of the torch it was built for (an older build)"
    now = torch_identity()
    for key, what in (("torch", "torch"), ("cuda", "torch's CUDA"), ("python", "Python")):
        if info.get(key) != now[key]:
            return f"it was built for {what} {info.get(key)}, this is {what} {now[key]}"
    if info.get("git") != now["git"]:
        return f"it was built for another build of torch {now['torch']} (commit {info.get('git')}, this is {now['git']})"
    return None


def cache_root() -> Path:
    """``$SMG_FAST_CACHE/ext``, default ``~/.cache/smg-fast/ext``. A compiled library must be a file to be
    loaded, so ``SMG_FAST_CACHE=none`` (other caches in memory only) keeps the default here."""
    base = os.environ.get(CACHE_ENV_VAR, "")
    if not base or base.lower() == "none":
        base = str(Path.home() / ".cache" / "smg-fast")
    return Path(base).expanduser() / "ext"


def cache_dir(cuda: bool | None = None) -> Path:
    """The first-use build's folder for this torch, CUDA target, Python and these sources."""
    import torch

    if cuda is None:
        cuda = cuda_kernels()[0]
    ident = torch_identity()
    target = f"cu{torch.version.cuda}-{cuda_arch()}" if cuda else "cpu"
    key = f"torch{ident['torch'].replace('+', '_')}-{ident['python']}-{target}-{source_hash(source_root())[:16]}"
    return cache_root() / key


def _library_path(folder: Path) -> Path:
    return folder / f"{LIBRARY}.so"


def _missing_tools(cuda: bool) -> str | None:
    """What a build here lacks, in words a user can act on, or None."""
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        return (f"no C++ compiler: `{cxx}` is not on PATH (Debian/Ubuntu: apt-get install g++; or set CXX). smg-fast "
                "compiles its ops against the installed torch once, on first use")
    if _ninja_dir() is None:
        return "ninja is not installed (pip install ninja): torch builds extensions with it"
    if cuda:
        nvcc = Path(cuda_toolkit() or "/nonexistent") / "bin" / "nvcc"
        if not nvcc.exists():
            return f"the CUDA kernels need nvcc, not found at {nvcc} (set CUDA_HOME, or FORCE_CUDA=0 for CPU kernels only)"
    return None


def _ninja_dir() -> str | None:
    found = shutil.which("ninja")
    if found:
        return str(Path(found).parent)
    try:
        import ninja

        if getattr(ninja, "BIN_DIR", None):
            return str(ninja.BIN_DIR)
    except ImportError:
        pass
    beside = Path(sys.executable).parent / "ninja"  # a venv used without activating it
    return str(beside.parent) if beside.exists() else None


@contextlib.contextmanager
def _locked(path: Path, waiting_note: str):
    """An exclusive lock on ``path`` (released by the kernel if the holder dies, unlike a lock file)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(waiting_note, file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_library(verbose: bool = False) -> tuple[Path, bool]:
    """The first-use build's library for the running torch, compiled unless the cache has it, and
    whether it was compiled now. Raises :class:`ExtensionBuildError` naming what is missing."""
    cuda, why = cuda_kernels()
    folder = cache_dir(cuda)
    lib, done = _library_path(folder), folder / "done.json"
    if lib.exists() and done.exists():
        return lib, False
    import torch

    try:
        lock = _locked(folder.with_name(folder.name + ".lock"),
                       f"smg-fast: waiting for another process that is compiling the fused ops into {folder}")
        with lock:
            if lib.exists() and done.exists():  # built while this process waited
                return lib, False
            missing = _missing_tools(cuda)
            if missing:
                raise ExtensionBuildError(f"cannot compile smg-fast's fused ops for torch {torch.__version__}: {missing}")
            if folder.exists():
                shutil.rmtree(folder)  # a half-built folder: an interrupted build
            folder.mkdir(parents=True)
            print(f"smg-fast: compiling the fused ops for torch {torch.__version__} into {folder} ({why}); once per "
                  f"torch version, about {'4' if cuda else '1.5'} minutes on 2 cores (`smg-fast build` does it ahead)",
                  file=sys.stderr, flush=True)
            start = time.perf_counter()
            _compile(folder, cuda, verbose)
            info = {**build_info(cuda), "why": why, "seconds": round(time.perf_counter() - start, 1)}
            tmp = done.with_suffix(".tmp")
            tmp.write_text(json.dumps(info, indent=1))
            tmp.replace(done)
            return lib, True
    except OSError as e:
        raise ExtensionBuildError(f"cannot compile smg-fast's fused ops into {folder}: {e.strerror or e} (set "
                                  f"{CACHE_ENV_VAR} to a writable folder)") from e


def _compile(folder: Path, cuda: bool, verbose: bool) -> None:
    import logging

    # torch's builder logs at import and while building (e.g. "No CUDA runtime is found" on a machine without a
    # GPU): silenced, so the note above is the one line a user sees (--verbose shows them).
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        _load_with_torch(folder, cuda, verbose)
    finally:
        logger.setLevel(level)


def _load_with_torch(folder: Path, cuda: bool, verbose: bool) -> None:
    from torch.utils import cpp_extension

    root = source_root()
    env_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([_ninja_dir() or "", env_path])  # ninja of a venv not activated
    log = folder / "build.log"
    try:
        with warnings.catch_warnings(record=True) as caught:  # torch's build warnings go to the log
            warnings.simplefilter("always")
            cpp_extension.load(
                name=LIBRARY, sources=[str(p) for p in sources(root, cuda, python_module=False)],
                # copies: torch appends to the lists it is given (the source hash reads these)
                extra_cflags=list(CXX_FLAGS), extra_cuda_cflags=list(NVCC_FLAGS), extra_ldflags=list(LINK_FLAGS),
                build_directory=str(folder), verbose=verbose, with_cuda=cuda, is_python_module=False)
        log.write_text("".join(f"warning: {w.message}\n" for w in caught))
    except Exception as e:  # noqa: BLE001 - a failed build is reported in one line, the rest in the log
        text = str(e)
        log.write_text(text)
        first = next((ln.strip() for ln in text.splitlines() if "error" in ln.lower() and ln.strip() != text.splitlines()[0].strip()),
                     text.splitlines()[0] if text else type(e).__name__)
        raise ExtensionBuildError(f"compiling smg-fast's fused ops failed: {first[:300]} (full log: {log})") from None
    finally:
        os.environ["PATH"] = env_path


def build_now(verbose: bool = False) -> list[str]:
    """``smg-fast build``: compile the op library for the running torch now rather than on first use (nothing to
    do when pip built it at install time for this torch). Returns the lines to show (a note on a torch newer
    than the newest tested starts with "note:"); raises :class:`ExtensionBuildError` naming what is missing."""
    import torch

    lines = []
    path, info = aot_library()
    if path is not None and aot_mismatch(info) is None:
        from smg_fast import _extension  # loads it: proves it works here

        lines.append(f"the library built at install time is for this torch ({torch.__version__}, "
                     f"{'with' if _extension.has_cuda_kernels() else 'without'} CUDA kernels): {path}")
    else:
        if path is not None:
            lines.append(f"not using the library built at install time ({path.name}): {aot_mismatch(info)}")
        start = time.perf_counter()
        lib, built = ensure_library(verbose=verbose)
        from smg_fast import _extension

        assert _extension.library()[0] == lib, (_extension.library(), lib)
        done = json.loads((lib.parent / "done.json").read_text())
        when = f"compiled in {time.perf_counter() - start:.0f} s" if built else "already compiled"
        lines.append(f"{when} for torch {torch.__version__} ({done['why']}): {lib}")
    newest = tuple(int(x) for x in NEWEST_TESTED_TORCH.split("."))
    if tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]) > newest:
        lines.append(f"note: torch {torch.__version__} is newer than the newest release smg-fast is tested with "
                     f"({NEWEST_TESTED_TORCH})")
    return lines


def python_headers() -> bool:
    """Whether Python.h is here (the ahead-of-time build's module needs it; the first-use build does not)."""
    include = sysconfig.get_path("include", scheme="posix_prefix")
    return bool(include) and (Path(include) / "Python.h").exists()
