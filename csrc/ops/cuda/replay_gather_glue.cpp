// CUDA glue of replay_gather: validation (shared with the CPU kernel; index values are not read
// back, the kernel clamps them), allocation, the caller's stream, then the raw launcher of
// replay_gather_kernel.cu.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../common/library.h"
#include "../replay_gather.h"
#include "glue.h"
#include "launchers.h"

namespace smg_fast {
namespace {

at::Tensor replay_gather_cuda(const at::Tensor& frames, const at::Tensor& slots,
                              const at::Tensor& pos, const at::Tensor& shifts, int64_t k,
                              int64_t pad, c10::optional<at::ScalarType> dtype) {
  const at::ScalarType out_dtype = validate_replay_gather(frames, slots, pos, shifts, k, pad, dtype);
  const cuda::DeviceGuard guard(frames.device());
  const int64_t n = slots.size(0);
  at::Tensor out =
      at::empty({n, 3 * k, frames.size(2), frames.size(3)}, frames.options().dtype(out_dtype));
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kByte, out_dtype, "replay_gather", [&] {
    cuda::replay_gather<scalar_t>(frames.data_ptr<uint8_t>(), slots.data_ptr<int64_t>(),
                                  pos.data_ptr<int64_t>(), shifts.data_ptr<int64_t>(),
                                  out.data_ptr<scalar_t>(), n, k, frames.size(0), frames.size(2),
                                  frames.size(3), pad, cuda::current_stream(frames));
  });
  cuda::check_launch("replay_gather");
  return out;
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CUDA_GLUE(m) { m.impl("replay_gather", &smg_fast::replay_gather_cuda); }
