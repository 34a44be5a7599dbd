// CPU kernel of greenscreen: exact integer test per pixel (vectorised), upstream's float64 formula
// only for the rare ties. (An AVX2 clone of this function was twice as fast single-threaded but
// stalled ~8 ms per call inside OpenMP workers on the reference machine, so the portable build is
// used.)
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>

#include <cstring>
#include <vector>

#include "../common/library.h"
#include "../common/math.h"
#include "../greenscreen.h"

namespace smg_fast {
namespace {

void greenscreen_frame(const uint8_t* __restrict__ f, const uint8_t* __restrict__ bg,
                       uint8_t* __restrict__ o, uint8_t* __restrict__ code, int64_t len) {
  const uint8_t *r = f, *g = f + len, *b = f + 2 * len;
  for (int64_t p = 0; p < len; ++p) {
    code[p] = static_cast<uint8_t>(math::greenscreen_key_int(r[p], g[p], b[p]));
  }
  // Ties (code 2) are a few pixels per frame at most: find them with memchr.
  for (uint8_t* t = code; (t = static_cast<uint8_t*>(std::memchr(t, 2, code + len - t))); ++t) {
    const int64_t p = t - code;
    *t = math::greenscreen_key(r[p], g[p], b[p]);
  }
  for (int64_t c = 0; c < 3; ++c) {
    const uint8_t* __restrict__ src = f + c * len;
    const uint8_t* __restrict__ back = bg + c * len;
    uint8_t* __restrict__ dst = o + c * len;
    for (int64_t p = 0; p < len; ++p) {
      const uint8_t key = static_cast<uint8_t>(-code[p]);  // 0xFF where keyed
      dst[p] = static_cast<uint8_t>((back[p] & key) | (src[p] & ~key));
    }
  }
}

at::Tensor greenscreen_cpu(const at::Tensor& frames, const at::Tensor& background) {
  int64_t hw = 0;
  const int64_t n = validate_greenscreen(frames, background, &hw);
  at::Tensor out = at::empty_like(frames);
  const uint8_t* f = frames.data_ptr<uint8_t>();
  const uint8_t* bg = background.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> code(hw);
    for (int64_t i = begin; i < end; ++i) {
      greenscreen_frame(f + i * 3 * hw, bg + i * 3 * hw, o + i * 3 * hw, code.data(), hw);
    }
  });
  return out;
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CPU_KERNELS(m) { m.impl("greenscreen", &smg_fast::greenscreen_cpu); }
