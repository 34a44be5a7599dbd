// CUDA kernel of greenscreen (CPU twin: ../cpu/greenscreen_kernel.cpp); the keying rule is
// math::greenscreen_key_fast (exact integer test, upstream's float64 formula on ties; compile with
// --fmad=false so those formulas round as upstream's do).
#include "../common/math.h"
#include "launch.h"
#include "launchers.h"

namespace smg_fast {
namespace cuda {
namespace {

__global__ void greenscreen_kernel(const uint8_t* __restrict__ f, const uint8_t* __restrict__ bg,
                                   uint8_t* __restrict__ out, int64_t n, int64_t hw) {
  SMG_GRID_STRIDE(i, n * hw) {
    const int64_t p = i % hw, base = (i / hw) * 3 * hw + p;
    const bool key = math::greenscreen_key_fast(f[base], f[base + hw], f[base + 2 * hw]);
    const uint8_t* src = key ? bg : f;
    out[base] = src[base];
    out[base + hw] = src[base + hw];
    out[base + 2 * hw] = src[base + 2 * hw];
  }
}

}  // namespace

void greenscreen(const uint8_t* frames, const uint8_t* background, uint8_t* out, int64_t n,
                 int64_t hw, cudaStream_t s) {
  launch_1d(greenscreen_kernel, n * hw, s, frames, background, out, n, hw);
}

}  // namespace cuda
}  // namespace smg_fast
