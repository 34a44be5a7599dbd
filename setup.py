"""Build and install smg-fast.

Install with ``pip install --no-build-isolation -e .`` after ``pip install torch==2.13.0``:
the extension compiles against the torch that is already installed. Build isolation would make pip
download a second (multi-GB CUDA) torch into a throwaway environment, so torch is deliberately not
a build requirement, and not an install requirement either (an unpinned ``torch`` requirement pulls
the CUDA build on a machine that has none).

CUDA sources are compiled when the installed torch was built with CUDA (or ``FORCE_CUDA=1``);
otherwise only the CPU kernels are built. CPU sources are compiled with OpenMP: without it
``at::parallel_for`` runs on one thread.
"""
import glob
import os
import sys

from setuptools import find_packages, setup

def _no_torch_message() -> str:
    """Why this build cannot import torch, and the command that works. Under pip's build isolation (its
    default) the build runs in a throwaway environment (a ``pip-build-env-*`` folder on sys.path, or a
    ``build-env-*`` venv of ``python -m build``) that cannot see the torch installed in the user's
    environment; torch is deliberately not a build requirement (it would download a second, multi-GB CUDA
    torch), so the build must run in the user's environment: ``--no-build-isolation``."""
    isolated = any("pip-build-env-" in p or "build-env-" in p for p in sys.path)
    fix = "pip install --no-build-isolation ."
    if isolated:
        return (f"smg-fast: this build cannot import torch because pip builds it in an isolated environment, which "
                f"does not see the torch installed in yours. Add --no-build-isolation: `{fix}` (or `-e .`). "
                "smg-fast compiles its extension against the installed torch; torch is not a build requirement "
                "because an isolated build would download a second, multi-GB CUDA torch. No torch installed yet? "
                "First `pip install torch==2.13.0` (CPU: --index-url https://download.pytorch.org/whl/cpu).")
    return ("smg-fast: this build cannot import torch. smg-fast compiles its extension against the installed "
            "PyTorch: install it first (`pip install torch==2.13.0`; CPU: --index-url "
            f"https://download.pytorch.org/whl/cpu), then `{fix}` (--no-build-isolation: pip's isolated build "
            "environment would not see the installed torch).")


try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError:  # only hit where the build cannot see a torch
    sys.exit(_no_torch_message())

ROOT = os.path.dirname(os.path.abspath(__file__))


def _sources(pattern):
    return sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, pattern)))


def _with_cuda():
    if os.environ.get("FORCE_CUDA") == "1":
        return True
    return torch.version.cuda is not None and CUDA_HOME is not None


def extension():
    # csrc/ops/<op>.cpp: schemas and argument checks; cpu/<op>_kernel.cpp: CPU kernels;
    # cuda/<op>_kernel.cu + cuda/<op>_glue.cpp: CUDA kernels and their tensor glue.
    sources = ["csrc/module.cpp"] + _sources("csrc/ops/*.cpp") + _sources("csrc/ops/cpu/*.cpp")
    # -ffp-contract=off: the greenscreen rule must evaluate its float64 formulas exactly as
    # upstream's Python does (no fused multiply-adds), so keying decisions are bit-identical.
    cxx = ["-O3", "-fopenmp", "-ffp-contract=off"]
    link = ["-fopenmp"]
    if _with_cuda():
        sources += _sources("csrc/ops/cuda/*.cpp") + _sources("csrc/ops/cuda/*.cu")
        return CUDAExtension(
            "smg_fast._C",
            sources,
            extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "--fmad=false"]},
            extra_link_args=link,
        )
    return CppExtension("smg_fast._C", sources, extra_compile_args={"cxx": cxx}, extra_link_args=link)


setup(
    name="smg-fast",
    version="0.1.0",
    description="Fast, faithful SMG (NeurIPS 2024) and DMC-GB baselines with fused PyTorch ops",
    long_description=open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(ROOT, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["smg_fast", "smg_fast.*"]),
    package_data={"smg_fast": ["data/*.json", "experiments/paper_results.json"]},
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension},
    install_requires=[
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
