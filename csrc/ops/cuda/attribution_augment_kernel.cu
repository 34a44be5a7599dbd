// CUDA kernel of attribution_augment (CPU twin: ../cpu/attribution_augment_kernel.cpp);
// per-element math from ../common/math.h.
#include "../common/math.h"
#include "launch.h"
#include "launchers.h"

namespace smg_fast {
namespace cuda {
namespace {

template <typename T, typename TObs, typename TNoise>
__global__ void attribution_kernel(const TObs* __restrict__ obs, const T* __restrict__ mask,
                                   const TNoise* __restrict__ noise, T* __restrict__ out,
                                   StackLayout l) {
  const int64_t k = l.per_mask();
  SMG_GRID_STRIDE(i, l.numel()) {
    const int64_t p = i % l.hw, plane = i / l.hw;
    const int64_t b = plane / l.channels, c = plane % l.channels;
    const int64_t g = b * l.mask_channels + c / k;
    const int64_t e = (b * l.image_channels + c % l.image_channels) * l.hw + p;
    out[i] = math::composite(math::pixel<T>(obs[i]), math::image_255<T>(noise[e]),
                             mask[g * l.hw + p]);
  }
}

}  // namespace

template <typename T, typename TObs, typename TNoise>
void attribution_augment(const TObs* obs, const T* mask, const TNoise* noise, T* out, StackLayout l,
                         cudaStream_t s) {
  launch_1d(attribution_kernel<T, TObs, TNoise>, l.numel(), s, obs, mask, noise, out, l);
}

#define SMG_INSTANTIATE(T, TObs, TNoise)                                                        \
  template void attribution_augment<T, TObs, TNoise>(const TObs*, const T*, const TNoise*, T*, \
                                                     StackLayout, cudaStream_t);
SMG_INSTANTIATE(float, uint8_t, uint8_t)
SMG_INSTANTIATE(float, uint8_t, float)
SMG_INSTANTIATE(float, float, uint8_t)
SMG_INSTANTIATE(float, float, float)
SMG_INSTANTIATE(double, uint8_t, uint8_t)
SMG_INSTANTIATE(double, uint8_t, double)
SMG_INSTANTIATE(double, double, uint8_t)
SMG_INSTANTIATE(double, double, double)
#undef SMG_INSTANTIATE

}  // namespace cuda
}  // namespace smg_fast
