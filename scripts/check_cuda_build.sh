#!/usr/bin/env bash
# The real CUDA build, as a GPU user's install does it (README: "Install on a GPU machine"), on a
# machine without a GPU:
#   1. a separate venv (not .venv) with PyPI's torch==2.13.0, the CUDA 13.0 build, and the NVIDIA
#      runtime wheels it requires;
#   2. smg-fast built in it with CUDAExtension and this machine's nvcc (README command 2, on a copy of
#      the tracked sources so the .venv build in this checkout is left alone);
#   3. the library imports, every op has a CUDA kernel, and calling one without a GPU is a clear
#      Python error, not a crash.
# Cached under ~/.cache/smg-fast (a fresh machine builds both once): the wheels
# ($SMG_FAST_WHEEL_CACHE, ~2.6 GB: a re-run resolves against PyPI but downloads nothing) and the venv
# ($SMG_FAST_CUDA_VENV, ~4.7 GB: a re-run finds torch installed). smg-fast itself is rebuilt each run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${SMG_FAST_CUDA_VENV:-$HOME/.cache/smg-fast/cuda-venv}"
SRC="$ROOT/build/cuda-src"
WHEELS="${SMG_FAST_WHEEL_CACHE:-$HOME/.cache/smg-fast/cuda-wheels}"
PYTHON="${PYTHON:-python3}"
# No GPU here to detect the architecture from: RTX 30xx (the paper's RTX 3090) and H100/H200.
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-8.6;9.0}"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
export PATH="$CUDA_HOME/bin:$PATH"
command -v nvcc >/dev/null || { echo "nvcc not found (CUDA_HOME=$CUDA_HOME)"; exit 1; }
t0=$(date +%s)
lap() { local now; now=$(date +%s); echo "[check_cuda_build] $1: $((now - t0)) s"; t0=$now; }

# 1. torch with CUDA. --isolated: pip's configuration on these machines prefers a local CPU wheel of
#    torch 2.13.0; a GPU machine's plain `pip install torch==2.13.0` gets the CUDA build from PyPI.
mkdir -p "$WHEELS"
pip_pypi() { "$VENV/bin/python" -m pip --isolated --disable-pip-version-check "$@"; }
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip_pypi download -q --progress-bar off -d "$WHEELS" torch==2.13.0
lap "download (cache: $(du -sh "$WHEELS" | cut -f1))"
pip_pypi install -q --no-index --find-links "$WHEELS" torch==2.13.0
lap "install torch (venv: $(du -sh "$VENV" | cut -f1))"

# 2. README command 2 with the machine's pip configuration (ninja, setuptools and smg-fast's own
#    dependencies from wherever this machine gets packages; torch stays the CUDA build).
"$VENV/bin/python" -m pip install -q ninja setuptools wheel
rm -rf "$SRC" && mkdir -p "$SRC"
git ls-files -z | xargs -0 cp --parents -t "$SRC"
(cd "$SRC" && MAX_JOBS="${MAX_JOBS:-2}" "$VENV/bin/python" -m pip install -q --no-build-isolation -e ".[test]")
lap "build (CUDAExtension, nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"

# 3. What a GPU user's first import sees, minus the GPU.
cd "$SRC"
"$VENV/bin/python" - <<'EOF'
import pathlib

import torch

import smg_fast._C as C
import smg_fast.ops as ops

OPS = ["composite", "composite_backward", "attribution_augment", "overlay", "overlay_backward",
       "greenscreen", "random_shift", "random_shift_backward", "upsample_conv2d",
       "upsample_conv2d_backward", "replay_gather"]
assert torch.version.cuda == "13.0", torch.version.cuda
assert not torch.cuda.is_available()
print("torch", torch.__version__, "| CUDA", torch.version.cuda, "| library", pathlib.Path(C.__file__).name)
assert ops.has_cuda_kernels()
for name in OPS:
    for key in ("CPU", "CUDA"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"smg_fast::{name}", key), (name, key)
assert torch._C._dispatch_has_kernel_for_dispatch_key("smg_fast::upsample_conv2d", "AutocastCUDA")
print("every op has CPU and CUDA kernels:", ", ".join(OPS))

# The library links against libc10_cuda / libcudart and its CUDA kernels are in it.
import subprocess
needed = subprocess.run(["readelf", "-d", C.__file__], capture_output=True, text=True).stdout
assert "libc10_cuda.so" in needed and "libcudart.so" in needed, needed
symbols = subprocess.run(["nm", "-DC", C.__file__], capture_output=True, text=True).stdout
assert "smg_fast::cuda::composite<float>" in symbols

# Without a GPU, a CUDA call is a clear RuntimeError, not a crash: first where a user meets it
# (moving data to the GPU), then with the dispatcher forced into the CUDA kernel.
x = torch.rand(1, 3, 4, 4)
m = torch.rand(1, 1, 4, 4)
try:
    ops.composite(x.cuda(), x.cuda(), m.cuda())
except RuntimeError as e:
    print("ops.composite on cuda:", str(e).splitlines()[0])
else:
    raise AssertionError("a CUDA call succeeded without a GPU")
cuda_keys = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)
try:
    torch.ops.smg_fast.composite.default.redispatch(cuda_keys, x, x, m)
except RuntimeError as e:
    print("CUDA kernel without a GPU:", str(e).splitlines()[0])
else:
    raise AssertionError("the CUDA kernel ran without a GPU")
# CPU ops still work in the CUDA build.
torch.testing.assert_close(ops.composite(x, x * 0, m), x * m)
print("[check_cuda_build] ok")
EOF
lap "checks"
