#!/usr/bin/env bash
# Everything a GPU machine can tell smg-fast, in one offline run of at most 8 minutes, as one report:
# $OUT/gpu_check.{json,md} (or build/gpu-check/report/ where OUT is unset), with the log and two pictures.
# Steps and sizes: scripts/gpu_check.py; the plan of the transfers: docs/install.md ("The offline GPU check").
#
# Prepared on a machine with network (scripts/gpu_wheelhouse.sh), then on the GPU machine, in the repository:
#   scripts/gpu_check.sh --transfer build/gpu-wheelhouse/py312/1
# (the device tool: carry ["build/gpu-wheelhouse/py312/1"], timeout_s 600). A second, optional call on the
# still-warm machine adds the video step: carry [".../py312/2"],
#   scripts/gpu_check.sh --transfer build/gpu-wheelhouse/py312/1 --transfer build/gpu-wheelhouse/py312/2
# CI rehearses it on the CPU without network: scripts/gpu_rehearsal.sh.
#   --device cpu   the rehearsal's small sizes;   --budget S   seconds for the whole check (default 480)
# PYTHON: the interpreter whose torch is checked (default python3, the image's).
set -euo pipefail
cd "$(dirname "$0")/.."
budget=480
args=("$@")
for i in "${!args[@]}"; do [ "${args[$i]}" = --budget ] && budget="${args[$((i + 1))]:-480}"; done
# The check keeps to its budget itself; this is the backstop for a step that ignores its limit.
exec timeout -k 15 "$(( ${budget%.*} + 120 ))" "${PYTHON:-python3}" scripts/gpu_check.py "$@"
