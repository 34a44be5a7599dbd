// CUDA kernels of overlay (CPU twin: ../cpu/overlay_kernel.cpp); per-element math from
// ../common/math.h.
#include "../common/math.h"
#include "launch.h"
#include "launchers.h"

namespace smg_fast {
namespace cuda {
namespace {

template <typename T, typename TObs, typename TImg>
__global__ void overlay_kernel(const TObs* __restrict__ obs, const TImg* __restrict__ img, T alpha,
                               T* __restrict__ out, StackLayout l) {
  SMG_GRID_STRIDE(i, l.numel()) {
    const int64_t p = i % l.hw, plane = i / l.hw;
    const int64_t b = plane / l.channels, c = plane % l.channels;
    const int64_t e = (b * l.image_channels + c % l.image_channels) * l.hw + p;
    out[i] = math::overlay(math::pixel<T>(obs[i]), math::image_255<T>(img[e]), alpha);
  }
}

// One thread per (sample, image channel, pixel): it sums over the frames that share the image.
template <typename T>
__global__ void overlay_backward_kernel(const T* __restrict__ grad, T alpha, T* __restrict__ gobs,
                                        T* __restrict__ gimg, StackLayout l) {
  const int64_t nc = l.image_channels, reps = l.channels / nc;
  SMG_GRID_STRIDE(i, l.batch * nc * l.hw) {
    const int64_t p = i % l.hw, ci = (i / l.hw) % nc, b = i / (l.hw * nc);
    T acc = T(0);
    for (int64_t r = 0; r < reps; ++r) {
      const int64_t o = (b * l.channels + r * nc + ci) * l.hw + p;
      if (gobs) gobs[o] = math::overlay_obs_grad(grad[o], alpha);
      acc += math::overlay_image_grad(grad[o], alpha);
    }
    if (gimg) gimg[i] = acc;
  }
}

}  // namespace

template <typename T, typename TObs, typename TImg>
void overlay(const TObs* obs, const TImg* img, T alpha, T* out, StackLayout l, cudaStream_t s) {
  launch_1d(overlay_kernel<T, TObs, TImg>, l.numel(), s, obs, img, alpha, out, l);
}

template <typename T>
void overlay_backward(const T* grad, T alpha, T* gobs, T* gimg, StackLayout l, cudaStream_t s) {
  launch_1d(overlay_backward_kernel<T>, l.batch * l.image_channels * l.hw, s, grad, alpha, gobs,
            gimg, l);
}

#define SMG_INSTANTIATE(T)                                                                       \
  template void overlay<T, uint8_t, uint8_t>(const uint8_t*, const uint8_t*, T, T*, StackLayout, \
                                             cudaStream_t);                                      \
  template void overlay<T, uint8_t, T>(const uint8_t*, const T*, T, T*, StackLayout,             \
                                       cudaStream_t);                                            \
  template void overlay<T, T, uint8_t>(const T*, const uint8_t*, T, T*, StackLayout,             \
                                       cudaStream_t);                                            \
  template void overlay<T, T, T>(const T*, const T*, T, T*, StackLayout, cudaStream_t);          \
  template void overlay_backward<T>(const T*, T, T*, T*, StackLayout, cudaStream_t);
SMG_INSTANTIATE(float)
SMG_INSTANTIATE(double)
#undef SMG_INSTANTIATE

}  // namespace cuda
}  // namespace smg_fast
