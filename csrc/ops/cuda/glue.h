// Helpers shared by the CUDA tensor glue (<op>_glue.cpp): the device guard, the caller's current
// stream and the launch check. Light headers only: the c10/cuda headers (slow to compile) are
// confined to glue.cpp, the one unit that needs them.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceGuard.h>
#include <c10/util/Exception.h>

#ifdef SMG_CUDA_EMULATION
#include "emulation.h"
#else
#include <cuda_runtime_api.h>
#endif

namespace smg_fast {
namespace cuda {

// Makes a tensor's device current while the glue allocates and launches.
using DeviceGuard = c10::DeviceGuard;

#ifdef SMG_CUDA_EMULATION
inline cudaStream_t current_stream(const at::Tensor&) { return nullptr; }
#else
// The current CUDA stream of t's device: kernels queue behind the caller's work on it.
cudaStream_t current_stream(const at::Tensor& t);
#endif

// Raises a RuntimeError naming the op if its launch failed (a launch reports errors asynchronously
// only through cudaGetLastError).
inline void check_launch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  TORCH_CHECK(err == cudaSuccess, "smg_fast::", op, " CUDA launch failed: ", cudaGetErrorString(err));
}

}  // namespace cuda
}  // namespace smg_fast
