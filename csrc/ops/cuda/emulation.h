// CUDA emulation: the kernels of ops/cuda/*_kernel.cu compiled as plain C++ and run on the CPU, so
// tests check the code the GPU runs without a GPU (tests/test_cuda_emulation.py). The build defines
// SMG_CUDA_EMULATION and includes the .cu files from csrc/emulation/; launch.h then routes every
// launch to run() below instead of <<<grid, block, smem, stream>>>.
//
// What it provides: __global__ / __device__ / __host__ / __forceinline__, dim3 / uint3, threadIdx,
// blockIdx, blockDim and gridDim (thread_local, set before each emulated thread runs),
// cudaStream_t, cudaError_t with cudaGetLastError / cudaGetErrorString, and CUDA's launch
// configuration checks (an invalid grid, block or shared-memory size is reported as
// cudaErrorInvalidConfiguration and the kernel does not run, as on a GPU).
//
// How it runs a launch: blocks one after another (x fastest, then y, z), and inside a block its
// threads one after another, each to completion. That is exact for kernels whose threads do not
// communicate within a launch, which is every kernel today: grid-stride loops in which each output
// element is written by one thread (sums over a private range, no atomics, no shared memory).
//
// THE RULE for a future kernel that needs shared memory, __syncthreads or warp primitives: it must
// still run here, and its emulation test must run in CI. Running threads to completion would be
// wrong for it (a thread would read shared values its block-mates have not written yet), so such a
// kernel is emulated by cooperative threads, not by rewriting it:
//   * run the threads of one block as fibers (ucontext, or std::thread with a std::barrier), one
//     block at a time; __syncthreads() suspends the calling fiber and resumes the next one until
//     every thread of the block has arrived, then releases them all (a barrier, as on the GPU);
//   * __shared__ memory is storage of the block: `static` locals of the kernel are correct
//     because only one block runs at a time (dynamic shared memory: a buffer of `smem` bytes that
//     run() allocates per block);
//   * warp primitives (__shfl_sync, __ballot_sync, __any_sync, ...) are a barrier among the 32
//     fibers of the warp, each publishing its operand to a per-warp slot before the barrier and
//     reading its partner's after it;
//   * add that runner to run() behind a per-launch flag (the launch passes smem > 0 or a
//     cooperative tag), keep the sequential path for the kernels above, and test the runner on a
//     block reduction against a CPU sum.
// Until then, __syncthreads() and the warp primitives below throw, so a kernel that uses them fails
// its emulation test loudly instead of returning wrong numbers.
#pragma once

#ifdef __CUDACC__
#error "emulation.h is for host compilers: nvcc builds the real kernels"
#endif

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};

struct CUstream_st;
using cudaStream_t = CUstream_st*;

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };

namespace smg_fast {
namespace cuda {
namespace emulation {

inline cudaError_t& last_error_slot() {
  static thread_local cudaError_t error = cudaSuccess;
  return error;
}

// 0: the launch helpers' default cap on the number of blocks; > 0: that cap (tests).
inline int64_t& max_blocks_slot() {
  static int64_t cap = 0;
  return cap;
}
inline int64_t max_blocks() { return max_blocks_slot(); }
inline void set_max_blocks(int64_t cap) { max_blocks_slot() = cap; }

// What the last launch looked like, and how many launches ran (tests check the grid they asked for).
struct LaunchRecord {
  dim3 grid, block;
  int64_t launches = 0;
};
inline LaunchRecord& launch_record() {
  static LaunchRecord record;
  return record;
}

[[noreturn]] inline void unsupported(const char* what) {
  throw std::logic_error(std::string("CUDA emulation: ") + what +
                         " needs the cooperative runner described in ops/cuda/emulation.h");
}

// CUDA's limits on a launch (compute capability >= 3.0).
inline bool valid_config(dim3 grid, dim3 block, size_t smem) {
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  return grid.x >= 1 && grid.x <= 2147483647u && grid.y >= 1 && grid.y <= 65535 && grid.z >= 1 &&
         grid.z <= 65535 && threads >= 1 && threads <= 1024 && block.x <= 1024 && block.y <= 1024 &&
         block.z <= 64 && smem <= 48 * 1024;
}

template <typename... Params, typename... Args>
void run(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t /*stream*/,
         Args&&... args) {
  if (!valid_config(grid, block, smem)) {
    last_error_slot() = cudaErrorInvalidConfiguration;
    return;
  }
  // Kernel parameters are passed by value, once per launch, as CUDA does.
  const std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
  LaunchRecord& record = launch_record();
  record.grid = grid;
  record.block = block;
  ++record.launches;
  gridDim = grid;
  blockDim = block;
  for (unsigned int bz = 0; bz < grid.z; ++bz) {
    for (unsigned int by = 0; by < grid.y; ++by) {
      for (unsigned int bx = 0; bx < grid.x; ++bx) {
        blockIdx = {bx, by, bz};
        for (unsigned int tz = 0; tz < block.z; ++tz) {
          for (unsigned int ty = 0; ty < block.y; ++ty) {
            for (unsigned int tx = 0; tx < block.x; ++tx) {
              threadIdx = {tx, ty, tz};
              std::apply(kernel, params);
            }
          }
        }
      }
    }
  }
}

}  // namespace emulation
}  // namespace cuda
}  // namespace smg_fast

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = smg_fast::cuda::emulation::last_error_slot();
  smg_fast::cuda::emulation::last_error_slot() = cudaSuccess;
  return e;
}

inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
  }
  return "unknown error";
}

// Threads of a block communicate through these: not emulated yet (see THE RULE above).
inline void __syncthreads() { smg_fast::cuda::emulation::unsupported("__syncthreads()"); }
template <typename T>
T __shfl_sync(unsigned, T, int, int = 32) {
  smg_fast::cuda::emulation::unsupported("__shfl_sync()");
}
template <typename T>
T __shfl_down_sync(unsigned, T, unsigned, int = 32) {
  smg_fast::cuda::emulation::unsupported("__shfl_down_sync()");
}
inline unsigned __ballot_sync(unsigned, int) { smg_fast::cuda::emulation::unsupported("__ballot_sync()"); }
