"""The compiled library must be what runs: there is no Python fallback to hide a failed build."""
import importlib
import pathlib

import pytest
import torch

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

OPS = [
    "composite",
    "composite_backward",
    "attribution_augment",
    "overlay",
    "overlay_backward",
    "greenscreen",
    "random_shift",
    "random_shift_backward",
    "upsample_conv2d",
    "upsample_conv2d_backward",
    "replay_gather",
]


def test_compiled_extension_is_loaded():
    importlib.import_module("smg_fast.ops")  # loads the library: pip's build, or the one compiled on first use
    ext = importlib.import_module("smg_fast._C")
    path = pathlib.Path(ext.__file__)
    assert path.suffix == ".so" and path.exists(), f"smg_fast._C is not a compiled library: {path}"
    for name in OPS:
        assert hasattr(torch.ops.smg_fast, name), f"op smg_fast::{name} is not registered"
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"smg_fast::{name}", "CPU"), (
            f"smg_fast::{name} has no CPU kernel"
        )


def test_wrappers_call_the_registered_ops():
    import smg_fast.ops as ops

    fg = torch.rand(1, 3, 2, 2)
    mask = torch.rand(1, 1, 2, 2)
    # Through the dispatcher and through the wrapper: same kernel, same bits.
    assert torch.equal(ops.composite(fg, fg * 0, mask), torch.ops.smg_fast.composite(fg, fg * 0, mask))


def test_openmp_threads_available():
    # Built without -fopenmp, at::parallel_for silently runs on one thread.
    assert "OpenMP" in torch.__config__.parallel_info()
