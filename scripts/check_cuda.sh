#!/usr/bin/env bash
# CUDA code must not rot on machines without a GPU (quick check, against the CPU torch of .venv):
#   1. every .cu kernel file compiles with nvcc (kernels need no torch headers: ~2 s each);
#   2. the CUDA tensor glue (csrc/ops/cuda/*.cpp) passes a syntax check with the host compiler
#      against torch's headers.
# The full CUDA builds (against the CUDA torch of the oldest and the newest supported release, linked and
# imported) are scripts/check_torch.sh; the kernels run on the CPU in tests/test_cuda_emulation.py.
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
for f in $(git ls-files 'csrc/ops/cuda/*.cpp'); do
  echo "[g++ -fsyntax-only] $f"
  # The CPU wheel lacks c10/cuda's generated config header (glue.cpp includes c10/cuda).
  g++ -std=c++20 -fsyntax-only -DC10_CUDA_NO_CMAKE_CONFIGURE_FILE -I"$CUDA_INCLUDE" $TORCH_INCLUDES "$f"
done
echo "[check_cuda] ok"
