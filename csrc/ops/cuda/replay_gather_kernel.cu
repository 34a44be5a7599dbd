// CUDA kernel of replay_gather, the replay buffer's sampler (CPU twin:
// ../cpu/replay_gather_kernel.cpp). Indices come from the buffer's own sampler and are not read back
// to the host; they are clamped so a bad value can never read out of bounds.
#include "../common/math.h"
#include "launch.h"
#include "launchers.h"

namespace smg_fast {
namespace cuda {
namespace {

template <typename T>
__global__ void replay_gather_kernel(const uint8_t* __restrict__ frames,
                                     const int64_t* __restrict__ slots,
                                     const int64_t* __restrict__ pos,
                                     const int64_t* __restrict__ shifts, T* __restrict__ out,
                                     int64_t n, int64_t k, int64_t capacity, int64_t h, int64_t w,
                                     int64_t pad) {
  SMG_GRID_STRIDE(e, n * 3 * k * h * w) {
    const int64_t x = e % w, y = (e / w) % h, plane = e / (h * w);
    const int64_t i = plane / (3 * k), j = (plane / 3) % k, c = plane % 3;
    const int64_t p = pos[i] < 0 ? 0 : pos[i];
    const int64_t src = math::stack_source_slot(slots[i], p, k - 1 - j, capacity);
    const int64_t sx = math::clamp(shifts[2 * i], 0, 2 * pad);
    const int64_t sy = math::clamp(shifts[2 * i + 1], 0, 2 * pad);
    const int64_t yy = math::shift_source(y, sy, pad, h), xx = math::shift_source(x, sx, pad, w);
    out[e] = static_cast<T>(frames[((src * 3 + c) * h + yy) * w + xx]);
  }
}

}  // namespace

template <typename T>
void replay_gather(const uint8_t* frames, const int64_t* slots, const int64_t* pos,
                   const int64_t* shifts, T* out, int64_t n, int64_t k, int64_t capacity, int64_t h,
                   int64_t w, int64_t pad, cudaStream_t s) {
  launch_1d(replay_gather_kernel<T>, n * 3 * k * h * w, s, frames, slots, pos, shifts, out, n, k,
            capacity, h, w, pad);
}

template void replay_gather<uint8_t>(const uint8_t*, const int64_t*, const int64_t*, const int64_t*,
                                     uint8_t*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                     cudaStream_t);
template void replay_gather<float>(const uint8_t*, const int64_t*, const int64_t*, const int64_t*,
                                   float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                   cudaStream_t);
template void replay_gather<double>(const uint8_t*, const int64_t*, const int64_t*, const int64_t*,
                                    double*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                    cudaStream_t);

}  // namespace cuda
}  // namespace smg_fast
