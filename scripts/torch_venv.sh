#!/usr/bin/env bash
# A venv holding PyPI's torch==VERSION and nothing else, cached between runs:
#   scripts/torch_venv.sh 2.11.0                       # prints the venv's path
#   scripts/torch_venv.sh 2.11.0 gpu-image numpy ...   # another venv of that torch, with these packages too
# PyPI's default Linux wheel is a CUDA build (2.11: CUDA 13.0, 2.15: CUDA 13.2) with the NVIDIA runtime
# wheels it requires (~2.6 GB of wheels, ~4.7 GB installed); its CPU execution works without a GPU, which
# is how CI tests the supported torch range on a machine without one. The wheels are kept in
# $SMG_FAST_WHEEL_CACHE (default ~/.cache/smg-fast/cuda-wheels) and the venv in
# $SMG_FAST_VENVS/torch-VERSION (default ~/.cache/smg-fast/venvs): a re-run that finds torch installed
# neither downloads nor installs anything.
# PIP_CONFIG_FILE=/dev/null: pip asks PyPI alone. Machines like the CI machine configure pip to prefer a
# local CPU wheel of torch 2.13.0 and cap torch at 2.14.1; a user's GPU machine has neither.
set -euo pipefail
VERSION="${1:?usage: scripts/torch_venv.sh TORCH_VERSION [NAME PACKAGE...]}"
NAME="${2:-torch}"
shift $(( $# < 2 ? $# : 2 ))
VENV="${SMG_FAST_VENVS:-$HOME/.cache/smg-fast/venvs}/$NAME-$VERSION"
WHEELS="${SMG_FAST_WHEEL_CACHE:-$HOME/.cache/smg-fast/cuda-wheels}"
PYTHON="${PYTHON:-python3}"
pypi() { PIP_CONFIG_FILE=/dev/null "$VENV/bin/python" -m pip --disable-pip-version-check "$@"; }
has_torch() { "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$VERSION')" 2>/dev/null; }

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" >&2
if ! has_torch; then
  t0=$(date +%s)
  mkdir -p "$WHEELS"
  pypi download -q --progress-bar off -d "$WHEELS" "torch==$VERSION" >&2
  pypi install -q --no-index --find-links "$WHEELS" "torch==$VERSION" >&2
  has_torch || { echo "[torch_venv] torch $VERSION did not install in $VENV" >&2; exit 1; }
  echo "[torch_venv] torch $VERSION installed in $VENV in $(( $(date +%s) - t0 )) s ($(du -sh "$VENV" | cut -f1))" >&2
fi
if [ $# -gt 0 ] && [ ! -f "$VENV/.packages" -o "$(cat "$VENV/.packages" 2>/dev/null)" != "$*" ]; then
  pypi install -q "torch==$VERSION" "$@" >&2  # torch named again: the packages must not move it
  echo "$*" >"$VENV/.packages"
fi
echo "$VENV"
