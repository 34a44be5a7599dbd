// CUDA glue of greenscreen: validation (shared with the CPU kernel), allocation, the caller's
// stream, then the raw launcher of greenscreen_kernel.cu.
#include <ATen/ops/empty_like.h>

#include "../common/library.h"
#include "../greenscreen.h"
#include "glue.h"
#include "launchers.h"

namespace smg_fast {
namespace {

at::Tensor greenscreen_cuda(const at::Tensor& frames, const at::Tensor& background) {
  int64_t hw = 0;
  const int64_t n = validate_greenscreen(frames, background, &hw);
  const cuda::DeviceGuard guard(frames.device());
  at::Tensor out = at::empty_like(frames);
  if (n > 0) {
    cuda::greenscreen(frames.data_ptr<uint8_t>(), background.data_ptr<uint8_t>(),
                      out.data_ptr<uint8_t>(), n, hw, cuda::current_stream(frames));
    cuda::check_launch("greenscreen");
  }
  return out;
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CUDA_GLUE(m) { m.impl("greenscreen", &smg_fast::greenscreen_cuda); }
