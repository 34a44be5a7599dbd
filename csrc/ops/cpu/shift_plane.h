// The CPU random-shift plane kernel, shared by random_shift_kernel.cpp and replay_gather_kernel.cpp.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../common/math.h"

namespace smg_fast {

// One H×W plane, replicate-padded by `pad` and cropped at (sx, sy); converts TIn → TOut on the way.
template <typename TIn, typename TOut>
void shift_plane(const TIn* __restrict__ in, TOut* __restrict__ out, int64_t h, int64_t w,
                 int64_t sx, int64_t sy, int64_t pad) {
  const int64_t dx = sx - pad;
  // Columns [j0, j1) read the row in place; the rest repeat its edge pixels.
  const int64_t j0 = std::min(w, std::max<int64_t>(0, -dx));
  const int64_t j1 = std::max(j0, std::min(w, w - dx));
  for (int64_t i = 0; i < h; ++i) {
    const TIn* row = in + math::shift_source(i, sy, pad, h) * w;
    TOut* o = out + i * w;
    std::fill(o, o + j0, static_cast<TOut>(row[0]));
    std::transform(row + j0 + dx, row + j1 + dx, o + j0, [](TIn v) { return static_cast<TOut>(v); });
    std::fill(o + j1, o + w, static_cast<TOut>(row[w - 1]));
  }
}

}  // namespace smg_fast
