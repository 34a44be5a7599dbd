// CPU kernel of attribution_augment: one pass, uint8 → float conversion fused, parallel over mask
// planes with at::parallel_for (OpenMP).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include "../attribution_augment.h"
#include "../common/dispatch.h"
#include "../common/library.h"
#include "../common/math.h"

namespace smg_fast {
namespace {

template <typename T, typename TObs, typename TNoise>
void attribution_loop(const TObs* __restrict__ obs, const T* __restrict__ mask,
                      const TNoise* __restrict__ noise, T* __restrict__ out, const StackLayout& l) {
  const int64_t k = l.per_mask(), hw = l.hw, nc = l.image_channels;
  at::parallel_for(0, l.batch * l.mask_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const T* m = mask + g * hw;
      const int64_t b = g / l.mask_channels;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t c = (g % l.mask_channels) * k + j;
        const int64_t o = (g * k + j) * hw;
        const TNoise* __restrict__ e = noise + (b * nc + c % nc) * hw;
        const TObs* __restrict__ x = obs + o;
        T* __restrict__ y = out + o;
        for (int64_t p = 0; p < hw; ++p) {
          y[p] = math::composite(math::pixel<T>(x[p]), math::image_255<T>(e[p]), m[p]);
        }
      }
    }
  });
}

at::Tensor attribution_augment_cpu(const at::Tensor& obs, const at::Tensor& mask,
                                   const at::Tensor& noise) {
  const StackLayout l = validate_attribution(obs, mask, noise);
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(mask.scalar_type()));
  AT_DISPATCH_FLOATING_TYPES(mask.scalar_type(), "attribution_augment", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(noise, [&](auto noise_tag) {
        using TNoise = decltype(noise_tag);
        attribution_loop<T, TObs, TNoise>(obs.data_ptr<TObs>(), mask.data_ptr<T>(),
                                          noise.data_ptr<TNoise>(), out.data_ptr<T>(), l);
      });
    });
  });
  return out;
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CPU_KERNELS(m) { m.impl("attribution_augment", &smg_fast::attribution_augment_cpu); }
