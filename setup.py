"""Build and install smg-fast.

``pip install .`` works with or without torch installed: torch is an install requirement (the supported
range), never a build requirement, because pip's isolated build environment would download a second,
multi-GB torch. Where the build cannot see torch (pip's default, isolated build) the wheel is pure Python
and carries the C++ sources; the op library is then compiled against the torch that runs it, on first use
or by ``smg-fast build``, and cached (smg_fast/_build.py). Where the build sees torch
(``pip install --no-build-isolation .``) the library is compiled now, against that torch, and a record of
it is kept beside it; a different torch at run time compiles its own instead of loading it.

CUDA kernels are compiled when torch has CUDA, a CUDA toolkit is found and there is a target (a visible GPU
or TORCH_CUDA_ARCH_LIST); FORCE_CUDA=1 / FORCE_CUDA=0 decide outright. The compiler flags live in
smg_fast/_build.py, shared with the first-use build.
"""
import importlib.util
import json
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _recipe():
    """smg_fast/_build.py, loaded by path: the package itself is not importable while it is being built."""
    spec = importlib.util.spec_from_file_location("_smg_fast_build", ROOT / "smg_fast" / "_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recipe = _recipe()


class BuildPy(build_py):
    """Ship csrc/ inside the package (smg_fast/csrc) so an installed copy can compile the library for the
    torch that runs it."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install compiles from csrc/ in the checkout
            return
        target = Path(self.build_lib) / "smg_fast" / "csrc"
        shutil.rmtree(target, ignore_errors=True)
        for path in sorted((ROOT / "csrc").rglob("*")):
            if path.is_file() and path.suffix in (".cpp", ".h", ".cu", ".cuh"):
                dest = target / path.relative_to(ROOT / "csrc")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)


def _ahead_of_time():
    """The extension and build command when this build sees torch, else none (compiled on first use)."""
    try:
        import torch  # noqa: F401
        from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension
    except ImportError:
        print("smg-fast: torch is not visible to this build (pip's isolated build): the fused ops will be compiled "
              "for the installed torch on first use, or by `smg-fast build`", file=sys.stderr)
        return [], {}
    if not recipe.python_headers():
        print("smg-fast: Python's headers (Python.h) are missing, so the extension module cannot be built now: the "
              "fused ops will be compiled on first use instead (as a plain library, which needs no Python.h)",
              file=sys.stderr)
        return [], {}
    cuda, why = recipe.cuda_kernels()
    print(f"smg-fast: building the fused ops against torch {torch.__version__}: {why}", file=sys.stderr)
    srcs = [str(p.relative_to(ROOT)) for p in recipe.sources(ROOT / "csrc", cuda, python_module=True)]
    if cuda:
        ext = CUDAExtension("smg_fast._C", srcs, extra_compile_args={"cxx": list(recipe.CXX_FLAGS), "nvcc": list(recipe.NVCC_FLAGS)},
                            extra_link_args=list(recipe.LINK_FLAGS))
    else:
        ext = CppExtension("smg_fast._C", srcs, extra_compile_args={"cxx": list(recipe.CXX_FLAGS)},
                           extra_link_args=list(recipe.LINK_FLAGS))

    class BuildExt(BuildExtension):
        """Records beside the library which torch it was built for: smg_fast loads it only under that torch."""

        def run(self):
            super().run()
            info = json.dumps({**recipe.build_info(cuda), "why": why}, indent=1)
            for e in self.extensions:
                Path(self.get_ext_fullpath(e.name)).with_name(recipe.BUILD_INFO).write_text(info)

    return [ext], {"build_ext": BuildExt}


ext_modules, build_commands = _ahead_of_time()

setup(
    name="smg-fast",
    version="0.1.0",
    description="Fast, faithful SMG (NeurIPS 2024) and DMC-GB baselines with fused PyTorch ops",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["smg_fast", "smg_fast.*"]),
    package_data={"smg_fast": ["data/*.json", "experiments/paper_results.json"]},
    ext_modules=ext_modules,
    cmdclass={"build_py": BuildPy, **build_commands},
    install_requires=[
        # The oldest release tested; no upper bound, so pip never replaces the torch a user has (a newer one
        # compiles the ops for itself; smg-fast build notes when it is newer than the newest tested).
        f"torch>={recipe.OLDEST_TORCH}",
        "ninja",  # compiles the ops on first use (torch.utils.cpp_extension)
        "numpy",
        "tqdm",
        # Pinned together: an unpinned install brings mujoco 4.0.0, with which dm_control.suite.load
        # fails ("'MjModel' object has no attribute 'flex_vertedge'"); downgrading mujoco in place
        # afterwards leaves a broken install, so the pin must hold from the first install.
        "mujoco==3.17.0",
        "dm_control==1.0.50",
        "gymnasium>=1.0",
        "av>=12",  # decodes DMC-GB videos (FFmpeg bundled); frames bit-identical to upstream's OpenCV
        "pillow",  # folder:PATH overlay images, PNG figures
        "matplotlib",  # learning curves
        "tensorboard",  # training logs (torch.utils.tensorboard)
    ],
    extras_require={
        "test": ["pytest", "hypothesis", "pytest-benchmark", "expecttest"],
        # envpool for the comparison benchmark (benchmarks/envpool_vector.py); ~300 MB of assets.
        "envpool": ["envpool==1.2.5"],
        # `smg-fast sweep` (experiment grids): Ray core only, no dashboard (~35 s, ~290 MB installed), and
        # PyYAML for grid files written in YAML (TOML needs nothing).
        "sweep": ["ray>=2.9", "pyyaml"],
    },
    entry_points={"console_scripts": ["smg-fast=smg_fast.cli:main"]},
)
