// The CUDA emulation build: every CUDA kernel of smg_fast (ops/cuda/*_kernel.cu), its launcher and
// its tensor glue (ops/cuda/*_glue.cpp), compiled as plain C++ with SMG_CUDA_EMULATION and run on
// the CPU by ops/cuda/emulation.h. The op schemas and argument checks (ops/<op>.cpp) are compiled
// once more too, so the ops register as torch.ops.smg_fast_emu.*, taking CPU tensors, beside the
// real torch.ops.smg_fast.* (see ops/common/library.h). Tests only: tests/test_cuda_emulation.py
// builds this file (torch.utils.cpp_extension.load, cached under build/) and compares every kernel
// with the CPU kernels and the pure-PyTorch references.
//
// One translation unit (the sources are included below, not compiled separately): torch's headers
// are parsed once, which keeps the build near a single unit's time (measured: README, Fused ops).
#ifndef SMG_CUDA_EMULATION
#error "build with -DSMG_CUDA_EMULATION"
#endif

#include "../ops/attribution_augment.cpp"
#include "../ops/composite.cpp"
#include "../ops/greenscreen.cpp"
#include "../ops/overlay.cpp"
#include "../ops/random_shift.cpp"
#include "../ops/replay_gather.cpp"
#include "../ops/upsample_conv2d.cpp"

#include "../ops/cuda/attribution_augment_kernel.cu"
#include "../ops/cuda/composite_kernel.cu"
#include "../ops/cuda/greenscreen_kernel.cu"
#include "../ops/cuda/overlay_kernel.cu"
#include "../ops/cuda/random_shift_kernel.cu"
#include "../ops/cuda/replay_gather_kernel.cu"
#include "../ops/cuda/upsample_conv2d_kernel.cu"

#include "../ops/cuda/attribution_augment_glue.cpp"
#include "../ops/cuda/composite_glue.cpp"
#include "../ops/cuda/greenscreen_glue.cpp"
#include "../ops/cuda/overlay_glue.cpp"
#include "../ops/cuda/random_shift_glue.cpp"
#include "../ops/cuda/replay_gather_glue.cpp"
#include "../ops/cuda/upsample_conv2d_glue.cpp"

#include <vector>

namespace smg_fast {
namespace cuda {
namespace emulation {
namespace {

// Test hooks: cap the number of blocks a launch may use (0: the default cap), so grid-stride loops
// take several turns at small sizes; and report the last launch's grid and block sizes.
void set_max_blocks_op(int64_t cap) {
  TORCH_CHECK_VALUE(cap >= 0, "cap must be >= 0, got ", cap);
  set_max_blocks(cap);
}

__global__ void noop_kernel(int64_t) {}

// A launch CUDA would refuse (2048 threads per block): the error must surface as a RuntimeError
// through the glue's check_launch, as a failed launch does on a GPU.
void launch_invalid_config_op() {
  launch(noop_kernel, dim3(1), dim3(2048), 0, nullptr, int64_t{0});
  check_launch("_launch_invalid_config");
}

std::vector<int64_t> last_launch_op() {
  const LaunchRecord& r = launch_record();
  return {r.grid.x, r.grid.y, r.grid.z, r.block.x, r.block.y, r.block.z, r.launches};
}

}  // namespace
}  // namespace emulation
}  // namespace cuda
}  // namespace smg_fast

TORCH_LIBRARY_FRAGMENT(smg_fast_emu, m) {
  m.def("_set_max_blocks(int cap) -> ()", &smg_fast::cuda::emulation::set_max_blocks_op);
  // [grid.x, grid.y, grid.z, block.x, block.y, block.z, launches so far]
  m.def("_last_launch() -> int[]", &smg_fast::cuda::emulation::last_launch_op);
  m.def("_launch_invalid_config() -> ()", &smg_fast::cuda::emulation::launch_invalid_config_op);
}
