#!/usr/bin/env bash
# scripts/gpu_check.sh rehearsed on the CPU, as CI runs it: the GPU image stood in for by a cached venv with
# its torch (2.11.0, PyPI's CUDA build, run on the CPU) and the image's other packages that smg-fast uses, the
# wheelhouse made for its Python (scripts/gpu_wheelhouse.sh 3.11), and the check itself run without network
# (a network namespace of its own: only loopback) with both transfers, at small sizes, within a budget of
# 900 s (the 2-core CPU builds and runs slower than the GPU machine's 16 cores and its GPU: 480 s there).
# Passes when every step of the report passed (or was skipped for a stated reason).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE_TORCH="${IMAGE_TORCH:-2.11.0}"
# What the GPU image holds beside torch that smg-fast and its dependencies import (docs/install.md).
IMAGE_PACKAGES="numpy scipy matplotlib pillow tqdm tensorboard absl-py etils lxml protobuf pyparsing requests attrs
wrapt cloudpickle typing-extensions filelock fsspec zipp packaging setuptools wheel ninja pytest pytest-benchmark hypothesis"
VENV="$(scripts/torch_venv.sh "$IMAGE_TORCH" gpu-image $IMAGE_PACKAGES)"
scripts/gpu_wheelhouse.sh 3.11
OUT_DIR=build/gpu-check/rehearsal
rm -rf "$OUT_DIR"
NET=""
if unshare -n true 2>/dev/null; then NET="unshare -n"; else echo "[gpu_rehearsal] note: no network namespace here; pip runs --no-index"; fi
status=0
PYTHON="$VENV/bin/python" $NET scripts/gpu_check.sh --device cpu --budget "${BUDGET:-900}" --out "$OUT_DIR" \
  --transfer build/gpu-wheelhouse/py311/1 --transfer build/gpu-wheelhouse/py311/2 || status=$?
"$VENV/bin/python" - "$OUT_DIR/gpu_check.json" <<'PY'
import json, sys
steps = json.load(open(sys.argv[1]))["steps"]
for s in steps:
    print(f"[gpu_rehearsal] {s['step']:9s} {s['status']:8s} {s.get('seconds', '')!s:>6} s  {s.get('detail', '')}"[:200])
bad = [s["step"] for s in steps if s["status"] not in ("ok", "skipped")]
names = {s["step"] for s in steps}
missing = {"machine", "install", "build", "renderer", "doctor", "ops", "updates", "train", "compiled", "video"} - names
sys.exit(f"[gpu_rehearsal] failed: {bad or ''} {sorted(missing) or ''}" if bad or missing else 0)
PY
exit $status
