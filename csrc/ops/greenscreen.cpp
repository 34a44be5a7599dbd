// greenscreen: schema and argument checks. Kernels: cpu/greenscreen_kernel.cpp,
// cuda/greenscreen_kernel.cu; the keying rule itself is in common/math.h.
#include "greenscreen.h"

#include "common/checks.h"
#include "common/library.h"

namespace smg_fast {

int64_t validate_greenscreen(const at::Tensor& frames, const at::Tensor& background, int64_t* hw) {
  check_defined(frames, "frames");
  check_defined(background, "background");
  TORCH_CHECK_VALUE(frames.dim() >= 3 && frames.size(-3) == 3,
                    "frames must be RGB images of shape [..., 3, H, W], got shape ", frames.sizes());
  TORCH_CHECK_TYPE(frames.scalar_type() == at::kByte, "frames must be uint8, got ",
                   frames.scalar_type());
  TORCH_CHECK_TYPE(background.scalar_type() == at::kByte, "background must be uint8, got ",
                   background.scalar_type());
  TORCH_CHECK_VALUE(background.sizes() == frames.sizes(),
                    "background must have the same shape as frames ", frames.sizes(), ", got ",
                    background.sizes());
  check_same_device(background, "background", frames, "frames");
  check_contiguous(frames, "frames");
  check_contiguous(background, "background");
  *hw = frames.size(-1) * frames.size(-2);
  return *hw == 0 ? 0 : frames.numel() / (3 * *hw);
}

}  // namespace smg_fast

SMG_FAST_SCHEMAS(m) { m.def("greenscreen(Tensor frames, Tensor background) -> Tensor"); }
