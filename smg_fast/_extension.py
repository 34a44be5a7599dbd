"""Loads the compiled op library; everything in :mod:`smg_fast.ops` needs it."""
import torch  # noqa: F401  (libtorch must be loaded before the extension's symbols resolve)

try:
    from smg_fast import _C  # noqa: F401  (registers torch.ops.smg_fast.*)
except ImportError as exc:  # pragma: no cover - exercised by hand, not in CI
    raise ImportError(
        "smg_fast's compiled extension (smg_fast._C) did not load: "
        f"{exc}. Build it against the installed torch with "
        "`pip install --no-build-isolation -e .` from the repository root."
    ) from exc


def has_cuda_kernels() -> bool:
    """True if the library was built with its CUDA kernels."""
    return torch._C._dispatch_has_kernel_for_dispatch_key("smg_fast::composite", "CUDA")
