#!/usr/bin/env bash
# Installs smg-fast from this checkout into ./.venv on a fresh Debian/Ubuntu machine (Python >= 3.11).
#   - Debian packages for headless MuJoCo rendering: EGL + Mesa (llvmpipe) and OSMesa as a fallback;
#   - PyTorch, unless .venv already has a supported one (>= 2.11, which it keeps): $SMG_FAST_TORCH, default
#     torch==2.13.0 (on this project's machines pip takes a CPU wheel of it from disk; an unpinned torch there
#     would be a multi-GB CUDA build). Elsewhere, e.g. SMG_FAST_TORCH="torch==2.15.0 --index-url
#     https://download.pytorch.org/whl/cpu" for a CPU build, or plain "torch" for PyPI's default (CUDA) build;
#   - smg-fast itself in editable mode, its fused ops compiled now against that torch (--no-build-isolation:
#     build isolation would hide the installed torch), with its test dependencies.
# Re-running it is cheap: present packages are skipped and the extension rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgles2 libosmesa6"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "[setup] installing Debian packages:$missing"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
if .venv/bin/python -c "import sys, torch; sys.exit(tuple(map(int, torch.__version__.split('.')[:2])) < (2, 11))" 2>/dev/null; then
  echo "[setup] keeping the installed torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
else
  # shellcheck disable=SC2086  # SMG_FAST_TORCH may carry pip options (--index-url ...)
  $PIP install -q ${SMG_FAST_TORCH:-torch==2.13.0}
fi
$PIP install -q ninja setuptools wheel
echo "[setup] building smg-fast (C++ extension: about 4 min on 2 idle cores, 10 or more on busy ones)"
MAX_JOBS="${MAX_JOBS:-2}" $PIP install -q --no-build-isolation -e ".[test]"
.venv/bin/python -c "import smg_fast.ops, torch; print('[setup] ok: torch', torch.__version__, '| smg_fast ops loaded')"
echo "[setup] smg-fast is .venv/bin/smg-fast; to type plain smg-fast in this shell: source .venv/bin/activate"
