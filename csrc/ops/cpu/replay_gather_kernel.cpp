// CPU kernel of replay_gather, the replay buffer's sampler: one (sample, frame, channel) plane per
// task, its source slot from math::stack_source_slot, shifted and converted by shift_plane.h.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "../common/library.h"
#include "../common/math.h"
#include "../replay_gather.h"
#include "shift_plane.h"

namespace smg_fast {
namespace {

at::Tensor replay_gather_cpu(const at::Tensor& frames, const at::Tensor& slots, const at::Tensor& pos,
                             const at::Tensor& shifts, int64_t k, int64_t pad,
                             c10::optional<at::ScalarType> dtype) {
  const at::ScalarType out_dtype = validate_replay_gather(frames, slots, pos, shifts, k, pad, dtype);
  const int64_t capacity = frames.size(0), h = frames.size(2), w = frames.size(3);
  validate_replay_values(slots, pos, shifts, capacity, pad);
  const int64_t n = slots.size(0);
  at::Tensor out = at::empty({n, 3 * k, h, w}, frames.options().dtype(out_dtype));
  if (out.numel() == 0) return out;
  const uint8_t* f = frames.data_ptr<uint8_t>();
  const int64_t *s = slots.data_ptr<int64_t>(), *p = pos.data_ptr<int64_t>(),
                *sh = shifts.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kByte, out_dtype, "replay_gather", [&] {
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, n * 3 * k, 1, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const int64_t i = plane / (3 * k), j = (plane / 3) % k, c = plane % 3;
        const int64_t src = math::stack_source_slot(s[i], p[i], k - 1 - j, capacity);
        shift_plane<uint8_t, scalar_t>(f + (src * 3 + c) * h * w, o + plane * h * w, h, w,
                                       sh[2 * i], sh[2 * i + 1], pad);
      }
    });
  });
  return out;
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CPU_KERNELS(m) { m.impl("replay_gather", &smg_fast::replay_gather_cpu); }
