// The CPU random-shift plane kernel, shared by random_shift (image_ops.cpp) and the replay gather.
#pragma once

#include <cstdint>

namespace smg_fast {

template <typename TIn, typename TOut>
void shift_plane(const TIn* in, TOut* out, int64_t h, int64_t w, int64_t sx, int64_t sy,
                 int64_t pad);

}  // namespace smg_fast
