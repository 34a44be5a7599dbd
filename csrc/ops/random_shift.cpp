// random_shift: schema and argument checks. Kernels: cpu/random_shift_kernel.cpp,
// cuda/random_shift_kernel.cu; the index maps are in common/math.h.
#include "random_shift.h"

#include "common/checks.h"
#include "common/library.h"

namespace smg_fast {

void validate_random_shift(const at::Tensor& obs, const at::Tensor& shifts, int64_t pad) {
  check_defined(obs, "obs");
  check_rank(obs, "obs", 4, "[B, C, H, W]");
  check_float_or_uint8(obs, "obs");
  check_contiguous(obs, "obs");
  check_defined(shifts, "shifts");
  TORCH_CHECK_VALUE(shifts.dim() == 2 && shifts.size(0) == obs.size(0) && shifts.size(1) == 2,
                    "shifts must have shape [B, 2] = [", obs.size(0),
                    ", 2] (crop offsets x, y per sample), got ", shifts.sizes());
  TORCH_CHECK_TYPE(shifts.scalar_type() == at::kLong || shifts.scalar_type() == at::kInt,
                   "shifts must be int64 or int32, got ", shifts.scalar_type());
  check_same_device(shifts, "shifts", obs, "obs");
  check_contiguous(shifts, "shifts");
  TORCH_CHECK_VALUE(pad >= 0, "pad must be >= 0, got ", pad);
}

void validate_shift_values(const at::Tensor& shifts_cpu, int64_t pad) {
  const at::Tensor s = shifts_cpu.to(at::kLong).contiguous();
  const int64_t* p = s.data_ptr<int64_t>();
  for (int64_t i = 0; i < s.numel(); ++i) {
    TORCH_CHECK_VALUE(p[i] >= 0 && p[i] <= 2 * pad, "shifts must lie in [0, 2*pad] = [0, ",
                      2 * pad, "], got ", p[i], " at shifts[", i / 2, ", ", i % 2, "]");
  }
}

}  // namespace smg_fast

SMG_FAST_SCHEMAS(m) {
  m.def("random_shift(Tensor obs, Tensor shifts, int pad=4) -> Tensor");
  m.def("random_shift_backward(Tensor grad, Tensor shifts, int pad) -> Tensor");
}
