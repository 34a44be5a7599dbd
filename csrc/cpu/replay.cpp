// CPU kernel of the replay buffer's sampler: rebuild frame stacks from single stored frames,
// apply the random shift and convert to the training dtype in one pass (see math::stack_source_slot).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../kernels/math.h"
#include "../validate.h"
#include "shift.h"

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

TORCH_LIBRARY_IMPL(smg_fast, CPU, m) { m.impl("replay_gather", &replay_gather_cpu); }

}  // namespace smg_fast
