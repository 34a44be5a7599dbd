#!/usr/bin/env bash
# CUDA code must not rot on machines without a GPU:
#   1. every .cu file compiles with nvcc (kernels need no torch headers: ~2 s each);
#   2. the CUDA tensor glue (csrc/cuda/*.cpp) and the CUDA paths of the shared driver pass a
#      syntax check with the host compiler against torch's headers (linking needs a CUDA torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
command -v nvcc >/dev/null || { echo "nvcc not found: install the CUDA toolkit to check the .cu files"; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for f in $(git ls-files 'csrc/*.cu'); do
  echo "[nvcc] $f"
  nvcc -std=c++17 -O3 --fmad=false -c "$f" -o "$out/$(basename "$f").o"
done
TORCH_INCLUDES=$("$PY" -c "import torch.utils.cpp_extension as c; print(' '.join('-I' + p for p in c.include_paths()))")
CUDA_INCLUDE="${CUDA_HOME:-/usr/local/cuda}/include"
[ -f "$CUDA_INCLUDE/cuda_runtime_api.h" ] || CUDA_INCLUDE=$(dirname "$(find /usr/local /opt /usr/include -maxdepth 4 -name cuda_runtime_api.h 2>/dev/null | head -n 1)")
for f in $(git ls-files 'csrc/cuda/*.cpp') csrc/upsample_conv.cpp; do
  echo "[g++ -fsyntax-only, SMG_FAST_WITH_CUDA] $f"
  g++ -std=c++20 -fsyntax-only -DSMG_FAST_WITH_CUDA -DC10_CUDA_NO_CMAKE_CONFIGURE_FILE \
    -I"$CUDA_INCLUDE" $TORCH_INCLUDES "$f"
done
echo "[check_cuda] ok"
