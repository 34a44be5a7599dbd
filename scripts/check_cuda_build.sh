#!/usr/bin/env bash
# The real CUDA build as a GPU user's install does it, on a machine without a GPU: now one release of the
# supported range, scripts/check_torch.sh (CI runs 2.11.0 with the first-use build and 2.15.0 with the
# install-time build). TORCH_VERSION and MODE pick another, e.g. TORCH_VERSION=2.13.0 MODE=jit.
set -euo pipefail
exec "$(dirname "$0")/check_torch.sh" "${TORCH_VERSION:-2.15.0}" "${MODE:-aot}"
