"""Installing smg-fast and getting its op library built for the torch that runs it (smg_fast/_build.py).

The quick tests check the rules (which library may load, what the cache is keyed by, the one-line errors);
the slow ones compile for real: the first-use build shared by processes that start together, a library built
for another torch left alone, and fresh venvs installed with plain ``pip install .`` (a pure-Python wheel, the
ops compiled on first use) and with ``--no-build-isolation`` (compiled at install time).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest
import torch

import reference_files
from smg_fast import _build

ROOT = Path(__file__).resolve().parents[1]
CHECK = ("import torch, smg_fast.ops as ops, smg_fast._extension as e\n"
         "x, m = torch.rand(1, 3, 4, 4), torch.rand(1, 1, 4, 4)\n"
         "assert torch.equal(ops.composite(x, x * 0, m), x * m)\n"
         "print(*e.library())\n")


def package_copy(dest: Path) -> Path:
    """The tracked package and C++ sources, without any compiled library: a checkout before its build."""
    files = subprocess.run(["git", "ls-files", "smg_fast", "csrc", "setup.py", "pyproject.toml", "MANIFEST.in",
                            "README.md", "CMakeLists.txt"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not files:  # not a git checkout: the files as they are
        files = [str(p.relative_to(ROOT)) for d in ("smg_fast", "csrc") for p in (ROOT / d).rglob("*") if p.is_file()
                 and p.suffix not in (".so", ".pyc") and p.name != _build.BUILD_INFO]
        files += ["setup.py", "pyproject.toml", "MANIFEST.in"]
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        (dest / f).write_bytes((ROOT / f).read_bytes())
    return dest


def run(code_or_args, env: dict, cwd: Path, timeout=900) -> subprocess.CompletedProcess:
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def env_for(pkg: Path, cache: Path, **extra) -> dict:
    """The environment of a command run from ``pkg`` with a cache of its own (where a session without the
    reference data has its DMC-GB stand-ins recorded as verified, as the session's own cache has them)."""
    if reference_files.SYNTHETIC:
        from synthetic_data import record_as_verified

        record_as_verified(reference_files.DATA, cache)
    return {**os.environ, "PYTHONPATH": str(pkg), "SMG_FAST_CACHE": str(cache), "PYTHONUNBUFFERED": "1", **extra}


# ---- the rules -----------------------------------------------------------------------------------------------


@pytest.mark.fast
def test_a_library_built_for_another_torch_is_not_loaded():
    now = _build.torch_identity()
    assert _build.aot_mismatch(dict(now)) is None
    assert "no record" in _build.aot_mismatch(None)
    msg = _build.aot_mismatch({**now, "torch": "1.0.0+foreign"})
    assert "1.0.0+foreign" in msg and torch.__version__ in msg
    assert _build.aot_mismatch({**now, "git": "0" * 40}) is not None  # same version string, another build
    assert "Python" in _build.aot_mismatch({**now, "python": "cp399"})


def test_the_cache_is_keyed_by_torch_cuda_target_python_and_sources(tmp_path, monkeypatch):
    src = package_copy(tmp_path) / "csrc"
    monkeypatch.setattr(_build, "source_root", lambda: src)
    monkeypatch.setenv("SMG_FAST_CACHE", str(tmp_path / "cache"))
    base = _build.cache_dir(cuda=False)
    assert base.parent == tmp_path / "cache" / "ext"
    assert torch.__version__.replace("+", "_") in base.name and f"cp{sys.version_info[0]}{sys.version_info[1]}" in base.name
    assert _build.cache_dir(cuda=False) == base  # stable
    kernel = src / "ops" / "cpu" / "composite_kernel.cpp"
    kernel.write_text(kernel.read_text() + "\n// changed\n")
    assert _build.cache_dir(cuda=False) != base  # a changed source builds anew
    header = src / "ops" / "common" / "math.h"
    before = _build.cache_dir(cuda=False)
    header.write_text(header.read_text() + "\n")
    assert _build.cache_dir(cuda=False) != before  # headers count too
    real = _build.torch_identity()
    monkeypatch.setattr(_build, "torch_identity", lambda: {**real, "torch": "9.9.9"})
    assert "torch9.9.9" in _build.cache_dir(cuda=False).name
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.6;9.0+PTX")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    assert _build.cache_dir(cuda=True).name.split("-")[2:4] == ["cu13.0", "sm86_90ptx"]


def test_cache_root_follows_smg_fast_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SMG_FAST_CACHE", str(tmp_path))
    assert _build.cache_root() == tmp_path / "ext"
    monkeypatch.setenv("SMG_FAST_CACHE", "none")  # other caches in memory; a library must be a file
    assert _build.cache_root() == Path.home() / ".cache" / "smg-fast" / "ext"


def test_cuda_kernels_need_cuda_torch_a_toolkit_and_a_target(monkeypatch):
    monkeypatch.setenv("FORCE_CUDA", "0")
    assert _build.cuda_kernels() == (False, "CPU kernels only: FORCE_CUDA=0")
    monkeypatch.setenv("FORCE_CUDA", "1")
    assert _build.cuda_kernels()[0] is True
    monkeypatch.delenv("FORCE_CUDA")
    monkeypatch.setattr(torch.version, "cuda", None)
    assert _build.cuda_kernels() == (False, "CPU kernels only: a CPU build of torch")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setenv("CUDA_HOME", "/nonexistent/cuda")
    assert "no CUDA toolkit" in _build.cuda_kernels()[1]
    monkeypatch.setenv("CUDA_HOME", "/")  # a toolkit, but no GPU and no TORCH_CUDA_ARCH_LIST
    monkeypatch.delenv("TORCH_CUDA_ARCH_LIST", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert "no GPU visible" in _build.cuda_kernels()[1]
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "9.0")
    assert _build.cuda_kernels() == (True, "CPU and CUDA kernels")


def test_a_build_that_cannot_see_torch_makes_a_pure_package_and_says_when_the_ops_compile(tmp_path):
    """pip's isolated build environment cannot import the installed torch: simulated with a torch package that
    fails to import. The build goes on without the extension (no error, no traceback), saying so."""
    site = tmp_path / "pip-build-env-x" / "site"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text("raise ImportError('No module named torch')\n")
    proc = subprocess.run([sys.executable, "setup.py", "--name"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(site)})
    assert proc.returncode == 0 and proc.stdout.strip() == "smg-fast", proc.stderr
    assert proc.stderr.strip() == ("smg-fast: torch is not visible to this build (pip's isolated build): the fused ops "
                                   "will be compiled for the installed torch on first use, or by `smg-fast build`")


@pytest.mark.fast
def test_without_a_compiler_each_entry_point_says_so_in_one_line(tmp_path):
    pkg = package_copy(tmp_path / "pkg")
    env = env_for(pkg, tmp_path / "cache", CXX="/nonexistent/g++")
    need = "cannot compile smg-fast's fused ops for torch"
    out = run(["-m", "smg_fast.cli", "build"], env, tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and out.stderr.startswith("smg-fast build: error: ")
    assert need in out.stderr and "no C++ compiler: `/nonexistent/g++`" in out.stderr
    out = run(["-m", "smg_fast.cli", "train", "--task", "walker-walk"], env, tmp_path)
    errors = [line for line in out.stderr.splitlines() if not line.startswith("smg-fast train: warning: ")]
    assert out.returncode == 1 and len(errors) == 1 and errors[0].startswith("smg-fast train: error: "), out.stderr
    assert need in errors[0], out.stderr
    out = run("import smg_fast.ops", env, tmp_path)  # Python users: an ImportError naming what is missing
    assert out.returncode == 1 and "ExtensionBuildError: " + need in out.stderr.strip().splitlines()[-1]
    assert not list((tmp_path / "cache" / "ext").glob("*/done.json"))


@pytest.mark.fast
def test_the_checkout_under_test_loads_a_library_built_for_this_torch():
    import smg_fast._extension as ext

    path, source = ext.library()
    assert path.exists()
    if source == "install":  # pip's build: its record names this torch
        info = json.loads((path.parent / _build.BUILD_INFO).read_text())
        assert _build.aot_mismatch(info) is None
        assert info["sources"] == _build.source_hash(_build.source_root()), "the built library is older than csrc/"
    else:  # the first-use build: its folder is this torch's and these sources'
        assert path.parent.name.startswith(f"torch{torch.__version__.replace('+', '_')}-")
        assert json.loads((path.parent / "done.json").read_text())["sources"] == _build.source_hash(_build.source_root())


# ---- real builds (slow) --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One first-use build for the slow tests of this module (a CPU build takes ~1.5 min on 2 cores)."""
    return tmp_path_factory.mktemp("ext-cache")


@pytest.mark.slow
def test_processes_started_together_compile_once_and_a_foreign_library_is_left_alone(tmp_path, shared_cache):
    pkg = package_copy(tmp_path / "pkg")
    env = env_for(pkg, shared_cache)
    for d in (shared_cache / "ext").glob("*"):  # a build from an earlier test of this run: start cold
        if d.is_dir():
            import shutil

            shutil.rmtree(d)
    procs = [subprocess.Popen([sys.executable, "-c", CHECK], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=1200) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    libs = {out.split()[0] for out, _ in outs}
    assert len(libs) == 1 and all(out.split()[1] == "cache" for out, _ in outs)
    lib = Path(libs.pop())
    notes = [err.strip().splitlines() for _, err in outs]
    compiled = [n for n in notes if any(ln.startswith("smg-fast: compiling the fused ops") for ln in n)]
    waited = [n for n in notes if any(ln.startswith("smg-fast: waiting for another process") for ln in n)]
    assert len(compiled) == 1, notes  # one build ...
    assert len(waited) == 1, notes  # ... the other process waited for it
    assert all(len([ln for ln in n if ln.startswith("smg-fast:")]) == 1 for n in notes), notes  # one line each
    assert json.loads((lib.parent / "done.json").read_text())["sources"] == _build.source_hash(pkg / "csrc")

    # Later: no compile, no note. A library from an install against another torch (here: not even a real
    # library, so loading it would fail) is passed over with a note naming both torches.
    (pkg / "smg_fast" / f"_C{sysconfig.get_config_var('EXT_SUFFIX')}").write_bytes(b"not a library")
    (pkg / "smg_fast" / _build.BUILD_INFO).write_text(json.dumps({**_build.torch_identity(), "torch": "1.0.0+foreign"}))
    start = time.perf_counter()
    out = run(CHECK, env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(lib), "cache"]
    assert out.stderr.strip() == (f"smg-fast: not loading the fused-op library built at install time "
                                  f"(_C{sysconfig.get_config_var('EXT_SUFFIX')}): it was built for torch 1.0.0+foreign, "
                                  f"this is torch {torch.__version__}; using one compiled for this torch")
    assert time.perf_counter() - start < 60
    out = run(["-m", "smg_fast.cli", "build"], env, tmp_path)
    assert out.returncode == 0 and "already compiled" in out.stdout and str(lib) in out.stdout, out.stdout + out.stderr


def fresh_venv(path: Path) -> Path:
    """A new venv that sees the running torch (and the rest of this environment) as installed, through a
    .pth line: `pip install` then finds torch and smg-fast's dependencies satisfied and downloads nothing big."""
    venv.create(path, with_pip=True)
    py = path / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True,
                          text=True, check=True).stdout.strip()
    Path(site, "running-env.pth").write_text(str(Path(torch.__file__).parents[1]) + "\n")
    return py


@pytest.mark.slow
def test_pip_install_without_build_isolation_compiles_now_and_plain_pip_install_on_first_use(tmp_path, shared_cache):
    src = package_copy(tmp_path / "src")
    py = fresh_venv(tmp_path / "venv")
    env = {**os.environ, "SMG_FAST_CACHE": str(shared_cache), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    check = [py, "-c", CHECK]

    # Plain `pip install .`: the isolated build cannot see torch, so the wheel is pure Python with the sources;
    # the installed torch meets the requirement: no second torch.
    out = subprocess.run([py, "-m", "pip", "install", str(src)], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    installed = out.stdout.strip().splitlines()[-1].split()
    assert installed[:2] == ["Successfully", "installed"] and "smg-fast-0.1.0" in installed, out.stdout[-2000:]
    assert not [p for p in installed if p.startswith(("torch-", "nvidia"))], installed
    site = Path(subprocess.run([py, "-c", "import smg_fast, os; print(os.path.dirname(smg_fast.__file__))"], env=env,
                               cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip())
    assert (site / "csrc" / "ops" / "cpu" / "composite_kernel.cpp").exists() and not list(site.glob("_C*.so"))
    out = subprocess.run(check, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0 and out.stdout.split()[1] == "cache", out.stderr
    assert Path(out.stdout.split()[0]).parent.parent == shared_cache / "ext"

    # `pip install --no-build-isolation .`: compiled against this torch now, with its record.
    out = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(src)], env=env,
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    info = json.loads((site / _build.BUILD_INFO).read_text())
    assert info["torch"] == torch.__version__ and info["cuda_kernels"] == _build.cuda_kernels()[0]
    out = subprocess.run(check, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.split() == [str(next(site.glob("_C*.so"))), "install"], out.stderr
    assert out.stderr == ""
    out = subprocess.run([py.parent / "smg-fast", "build"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and "built at install time is for this torch" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow
def test_sdist_and_wheel_carry_the_sources(tmp_path):
    """`python -m build` makes the sdist, then the wheel from it: both must hold csrc/ for the first-use build."""
    src = package_copy(tmp_path / "src")
    out = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path / "dist")], cwd=src,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    sdist = next((tmp_path / "dist").glob("smg_fast-*.tar.gz"))
    names = tarfile.open(sdist).getnames()
    assert any(n.endswith("csrc/ops/cuda/composite_kernel.cu") for n in names)
    assert any(n.endswith("csrc/ops/common/math.h") for n in names)
    unpacked = tmp_path / "unpacked"
    tarfile.open(sdist).extractall(unpacked, filter="data")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "wheels"),
                          str(next(unpacked.iterdir()))], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert out.returncode == 0, out.stderr
    wheel = next((tmp_path / "wheels").glob("smg_fast-*.whl"))
    assert wheel.name.endswith("-py3-none-any.whl")  # isolated: no torch, so nothing compiled
    names = zipfile.ZipFile(wheel).namelist()
    assert "smg_fast/csrc/ops/cpu/composite_kernel.cpp" in names and "smg_fast/_build.py" in names
    assert not any(n.endswith(".so") for n in names)
