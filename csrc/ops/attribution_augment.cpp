// attribution_augment: schema and argument checks. Kernels: cpu/attribution_augment_kernel.cpp,
// cuda/attribution_augment_kernel.cu. Forward only: the mask is detached, as upstream does.
#include "attribution_augment.h"

#include "common/checks.h"
#include "common/library.h"

namespace smg_fast {

StackLayout validate_attribution(const at::Tensor& obs, const at::Tensor& mask,
                                 const at::Tensor& noise) {
  check_frame_stack(obs, "obs");
  check_float_or_uint8(obs, "obs");
  check_frame_mask(mask, "mask", obs, "obs");
  if (is_float(obs)) check_same_dtype(obs, "obs", mask, "mask");
  check_frame_image(noise, "noise", obs, "obs");
  if (is_float(noise)) check_same_dtype(noise, "noise", mask, "mask");
  StackLayout l = stack_layout_of(obs);
  l.mask_channels = mask.size(1);
  l.image_channels = noise.size(1);
  return l;
}

}  // namespace smg_fast

SMG_FAST_SCHEMAS(m) { m.def("attribution_augment(Tensor obs, Tensor mask, Tensor noise) -> Tensor"); }
