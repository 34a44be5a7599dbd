// CUDA glue of attribution_augment: validation (shared with the CPU kernel), allocation, the
// caller's stream, then the raw launcher of attribution_augment_kernel.cu.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>

#include "../attribution_augment.h"
#include "../common/dispatch.h"
#include "../common/library.h"
#include "glue.h"
#include "launchers.h"

namespace smg_fast {
namespace {

at::Tensor attribution_augment_cuda(const at::Tensor& obs, const at::Tensor& mask,
                                    const at::Tensor& noise) {
  const StackLayout l = validate_attribution(obs, mask, noise);
  const cuda::DeviceGuard guard(obs.device());
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(mask.scalar_type()));
  AT_DISPATCH_FLOATING_TYPES(mask.scalar_type(), "attribution_augment", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(noise, [&](auto noise_tag) {
        using TNoise = decltype(noise_tag);
        cuda::attribution_augment<T, TObs, TNoise>(obs.data_ptr<TObs>(), mask.data_ptr<T>(),
                                                   noise.data_ptr<TNoise>(), out.data_ptr<T>(), l,
                                                   cuda::current_stream(obs));
      });
    });
  });
  cuda::check_launch("attribution_augment");
  return out;
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CUDA_GLUE(m) { m.impl("attribution_augment", &smg_fast::attribution_augment_cuda); }
