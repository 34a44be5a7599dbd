// random_shift(obs, shifts, pad): DrQ's shift, replicate-pad by `pad` and crop at per-sample offsets.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace smg_fast {

void validate_random_shift(const at::Tensor& obs, const at::Tensor& shifts, int64_t pad);
// Checks the shift values themselves (reads them: call with a CPU copy on accelerators).
void validate_shift_values(const at::Tensor& shifts_cpu, int64_t pad);

}  // namespace smg_fast
