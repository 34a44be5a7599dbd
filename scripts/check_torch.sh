#!/usr/bin/env bash
# smg-fast on one torch release, installed the way a user installs it, then the `fast` test subset
# (pyproject.toml: ops, one update of each method against the official code, a tiny training run):
#   scripts/check_torch.sh 2.11.0 jit   # plain `pip install .`; the ops compile on first use (smg-fast build)
#   scripts/check_torch.sh 2.15.0 aot   # `pip install --no-build-isolation .`: compiled at install time
# CI runs the oldest supported release with the first and the newest with the second.
#   1. the release's cached venv (scripts/torch_venv.sh: PyPI's torch, a CUDA build);
#   2. smg-fast from a copy of the tracked sources with its dependencies from PyPI (PIP_CONFIG_FILE=/dev/null:
#      this machine's pip configuration caps torch at 2.14.1 and prefers a local CPU torch; a user's does not);
#   3. the ops compiled with this machine's nvcc for TORCH_CUDA_ARCH_LIST (default "9.0": H100/H200, the GPU
#      machines this project is timed on; a second architecture would compile every kernel again and check
#      nothing more about the sources against this torch), as a GPU user's build would, then
#      scripts/cuda_build_checks.py;
#   4. `pytest -m fast` against the installed package, from outside the checkout.
# The first-use build goes to build/torch-VERSION/cache (SMG_FAST_CACHE), new each run, so it is tested anew.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VERSION="${1:?usage: scripts/check_torch.sh TORCH_VERSION jit|aot}"
MODE="${2:?usage: scripts/check_torch.sh TORCH_VERSION jit|aot}"
WORK="$ROOT/build/torch-$VERSION"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
export PATH="$CUDA_HOME/bin:$PATH"
export MAX_JOBS="${MAX_JOBS:-2}"
t0=$(date +%s)
lap() { local now; now=$(date +%s); echo "[check_torch $VERSION $MODE] $1: $((now - t0)) s"; t0=$now; }

VENV="$(scripts/torch_venv.sh "$VERSION")"
lap "venv $VENV"
rm -rf "$WORK" && mkdir -p "$WORK/src" "$WORK/cwd"
git ls-files -z | xargs -0 cp --parents -t "$WORK/src" --
export SMG_FAST_CACHE="$WORK/cache"
pip_pypi() { PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }
pip_pypi uninstall -q -y smg-fast 2>/dev/null || true
if [ "$MODE" = aot ]; then
  pip_pypi install -q setuptools wheel ninja
  (cd "$WORK/src" && pip_pypi install -q --no-build-isolation ".[test]")
  lap "pip install --no-build-isolation (compiled at install time)"
else
  (cd "$WORK/src" && pip_pypi install -q ".[test]")
  lap "pip install (pure-Python wheel: torch is not visible to the isolated build)"
  (cd "$WORK/cwd" && "$VENV/bin/smg-fast" build)
  lap "smg-fast build (first-use compile into $SMG_FAST_CACHE)"
fi
"$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('$VERSION'), torch.__version__"
if "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then
  (cd "$WORK/cwd" && "$VENV/bin/python" "$ROOT/scripts/cuda_build_checks.py")
fi
cd "$WORK/cwd"  # not the checkout: the tests must import the installed package
"$VENV/bin/python" -c "import smg_fast, smg_fast._extension as e; print('[check_torch] smg_fast from', smg_fast.__file__, '| library', *e.library())"
export SMG_FAST_DATA="${SMG_FAST_DATA:-$ROOT/../shared/data}"
"$VENV/bin/python" -m pytest "$ROOT/tests" -m fast -q -p no:cacheprovider
lap "pytest -m fast"
