// replay_gather: schema and argument checks. Kernels: cpu/replay_gather_kernel.cpp,
// cuda/replay_gather_kernel.cu.
#include "replay_gather.h"

#include <utility>

#include "common/checks.h"
#include "common/library.h"
#include "random_shift.h"

namespace smg_fast {

at::ScalarType validate_replay_gather(const at::Tensor& frames, const at::Tensor& slots,
                                      const at::Tensor& pos, const at::Tensor& shifts,
                                      int64_t frame_stack, int64_t pad,
                                      c10::optional<at::ScalarType> dtype) {
  check_defined(frames, "frames");
  check_rank(frames, "frames", 4, "[capacity, 3, H, W] (one RGB frame per slot)");
  TORCH_CHECK_TYPE(frames.scalar_type() == at::kByte, "frames must be uint8, got ",
                   frames.scalar_type());
  TORCH_CHECK_VALUE(frames.size(1) == 3 && frames.size(0) > 0, "frames must have shape [capacity, 3, H, W]"
                    " with capacity > 0, got ", frames.sizes());
  check_contiguous(frames, "frames");
  for (const auto& [t, name] : {std::pair<const at::Tensor&, const char*>{slots, "slots"},
                                std::pair<const at::Tensor&, const char*>{pos, "pos"}}) {
    check_defined(t, name);
    TORCH_CHECK_VALUE(t.dim() == 1, name, " must be a 1-D tensor [N], got shape ", t.sizes());
    TORCH_CHECK_TYPE(t.scalar_type() == at::kLong, name, " must be int64, got ", t.scalar_type());
    check_same_device(t, name, frames, "frames");
    check_contiguous(t, name);
  }
  TORCH_CHECK_VALUE(pos.size(0) == slots.size(0), "pos must have the length of slots (",
                    slots.size(0), "), got ", pos.size(0));
  check_defined(shifts, "shifts");
  TORCH_CHECK_VALUE(shifts.dim() == 2 && shifts.size(0) == slots.size(0) && shifts.size(1) == 2,
                    "shifts must have shape [N, 2] = [", slots.size(0), ", 2], got ", shifts.sizes());
  TORCH_CHECK_TYPE(shifts.scalar_type() == at::kLong, "shifts must be int64, got ",
                   shifts.scalar_type());
  check_same_device(shifts, "shifts", frames, "frames");
  check_contiguous(shifts, "shifts");
  TORCH_CHECK_VALUE(frame_stack >= 1, "frame_stack must be >= 1, got ", frame_stack);
  TORCH_CHECK_VALUE(pad >= 0, "pad must be >= 0, got ", pad);
  const at::ScalarType out = dtype.value_or(at::kFloat);
  TORCH_CHECK_TYPE(out == at::kFloat || out == at::kDouble || out == at::kByte,
                   "dtype must be float32, float64 or uint8, got ", out);
  return out;
}

void validate_replay_values(const at::Tensor& slots, const at::Tensor& pos, const at::Tensor& shifts,
                            int64_t capacity, int64_t pad) {
  const int64_t* s = slots.data_ptr<int64_t>();
  const int64_t* p = pos.data_ptr<int64_t>();
  for (int64_t i = 0; i < slots.numel(); ++i) {
    TORCH_CHECK_VALUE(s[i] >= 0 && s[i] < capacity, "slots must lie in [0, capacity) = [0, ",
                      capacity, "), got ", s[i], " at slots[", i, "]");
    TORCH_CHECK_VALUE(p[i] >= 0, "pos must be >= 0, got ", p[i], " at pos[", i, "]");
  }
  validate_shift_values(shifts, pad);
}

}  // namespace smg_fast

SMG_FAST_SCHEMAS(m) {
  m.def(
      "replay_gather(Tensor frames, Tensor slots, Tensor pos, Tensor shifts, int frame_stack, "
      "int pad=4, ScalarType? dtype=None) -> Tensor");
}
