// How every CUDA kernel of smg_fast is launched: launch() is `kernel<<<grid, block, smem, stream>>>`
// under nvcc and a host loop over blocks and threads in the emulation build (emulation.h), so the
// same kernel source runs on the GPU and, for the tests, on the CPU. Kernels are grid-stride loops
// (SMG_GRID_STRIDE), correct for any grid size; launch_blocks() sizes the grid.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#ifdef SMG_CUDA_EMULATION
#include "emulation.h"
#else
#include <cuda_runtime.h>
#endif

namespace smg_fast {
namespace cuda {

constexpr int kThreads = 256;
// Grid-stride loops cover any size; more blocks than this add scheduling, not parallelism.
constexpr int64_t kMaxBlocks = 65535 * 8;

// Blocks of kThreads threads for n elements (at least one).
inline unsigned int launch_blocks(int64_t n) {
  int64_t cap = kMaxBlocks;
#ifdef SMG_CUDA_EMULATION
  // Tests lower the cap to make grid-stride loops take several turns at small sizes.
  if (emulation::max_blocks() > 0) cap = emulation::max_blocks();
#endif
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(b, cap)));
}

// The one launch path of every kernel.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            Args&&... args) {
#ifdef SMG_CUDA_EMULATION
  emulation::run(kernel, grid, block, smem, stream, std::forward<Args>(args)...);
#else
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
#endif
}

// A one-dimensional launch of kThreads-thread blocks covering n elements.
template <typename... Params, typename... Args>
void launch_1d(void (*kernel)(Params...), int64_t n, cudaStream_t stream, Args&&... args) {
  launch(kernel, dim3(launch_blocks(n)), dim3(kThreads), 0, stream, std::forward<Args>(args)...);
}

#define SMG_GRID_STRIDE(i, n)                                                           \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace cuda
}  // namespace smg_fast
