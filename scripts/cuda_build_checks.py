"""What a GPU user's first import sees, minus the GPU (run by scripts/check_torch.sh in a venv with a CUDA
build of torch, against the installed smg-fast): every op has CPU and CUDA kernels, the library links
against torch's CUDA libraries and holds the kernels, a CUDA call without a GPU is a clear RuntimeError
(not a crash), and the CPU ops still work."""
import subprocess

import torch

import smg_fast._extension as ext
import smg_fast.ops as ops

OPS = ["composite", "composite_backward", "attribution_augment", "overlay", "overlay_backward",
       "greenscreen", "random_shift", "random_shift_backward", "upsample_conv2d",
       "upsample_conv2d_backward", "replay_gather"]
path, source = ext.library()
assert torch.version.cuda is not None and not torch.cuda.is_available()
print(f"torch {torch.__version__} | CUDA {torch.version.cuda} | library {path} ({source})")
assert ops.has_cuda_kernels()
for name in OPS:
    for key in ("CPU", "CUDA"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(f"smg_fast::{name}", key), (name, key)
assert torch._C._dispatch_has_kernel_for_dispatch_key("smg_fast::upsample_conv2d", "AutocastCUDA")
print("every op has CPU and CUDA kernels:", ", ".join(OPS))

needed = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
assert "libc10_cuda.so" in needed and "libcudart.so" in needed, needed
symbols = subprocess.run(["nm", "-DC", str(path)], capture_output=True, text=True).stdout
assert "smg_fast::cuda::composite<float>" in symbols

x, m = torch.rand(1, 3, 4, 4), torch.rand(1, 1, 4, 4)
try:
    ops.composite(x.cuda(), x.cuda(), m.cuda())
except RuntimeError as e:
    print("ops.composite on cuda:", str(e).splitlines()[0])
else:
    raise AssertionError("a CUDA call succeeded without a GPU")
try:
    torch.ops.smg_fast.composite.default.redispatch(torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA), x, x, m)
except RuntimeError as e:
    print("CUDA kernel without a GPU:", str(e).splitlines()[0])
else:
    raise AssertionError("the CUDA kernel ran without a GPU")
torch.testing.assert_close(ops.composite(x, x * 0, m), x * m)
print("[cuda_build_checks] ok")
