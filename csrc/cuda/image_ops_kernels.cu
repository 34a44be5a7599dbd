// CUDA kernels of the elementwise image ops; per-element math from ../kernels/math.h, shared with
// the CPU loops in ../cpu/image_ops.cpp.
#include "../kernels/math.h"
#include "kernels.h"
#include "launch.cuh"

namespace smg_fast {
namespace cuda {
namespace {

template <typename T>
__global__ void composite_kernel(const T* __restrict__ fg, const T* __restrict__ bg,
                                 const T* __restrict__ mask, T* __restrict__ out, StackLayout l) {
  const int64_t k = l.per_mask();
  SMG_GRID_STRIDE(i, l.numel()) {
    const int64_t p = i % l.hw, g = i / (l.hw * k);
    out[i] = math::composite(fg[i], bg[i], mask[g * l.hw + p]);
  }
}

// One thread per mask pixel: it owns the k channels that share the pixel's mask value, so the mask
// gradient is a private sum (no atomics, deterministic).
template <typename T>
__global__ void composite_backward_kernel(const T* __restrict__ grad, const T* __restrict__ fg,
                                          const T* __restrict__ bg, const T* __restrict__ mask,
                                          T* __restrict__ gfg, T* __restrict__ gbg,
                                          T* __restrict__ gmask, StackLayout l) {
  const int64_t k = l.per_mask();
  SMG_GRID_STRIDE(i, l.batch * l.mask_channels * l.hw) {
    const int64_t p = i % l.hw, g = i / l.hw;
    const T m = mask[i];
    T acc = T(0);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t o = (g * k + j) * l.hw + p;
      const T gr = grad[o];
      gfg[o] = gr * m;
      gbg[o] = gr * (T(1) - m);
      acc += math::composite_mask_grad_term(gr, fg[o], bg[o]);
    }
    gmask[i] = acc;
  }
}

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

__global__ void greenscreen_kernel(const uint8_t* __restrict__ f, const uint8_t* __restrict__ bg,
                                   uint8_t* __restrict__ out, int64_t n, int64_t hw) {
  SMG_GRID_STRIDE(i, n * hw) {
    const int64_t p = i % hw, base = (i / hw) * 3 * hw + p;
    const bool key = math::greenscreen_key_fast(f[base], f[base + hw], f[base + 2 * hw]);
    const uint8_t* src = key ? bg : f;
    out[base] = src[base];
    out[base + hw] = src[base + hw];
    out[base + 2 * hw] = src[base + 2 * hw];
  }
}

template <typename T>
__global__ void shift_kernel(const T* __restrict__ in, const int64_t* __restrict__ shifts,
                             int64_t pad, T* __restrict__ out, int64_t batch, int64_t channels,
                             int64_t h, int64_t w) {
  SMG_GRID_STRIDE(i, batch * channels * h * w) {
    const int64_t x = i % w, y = (i / w) % h, plane = i / (h * w), b = plane / channels;
    const int64_t sy = math::shift_source(y, shifts[2 * b + 1], pad, h);
    const int64_t sx = math::shift_source(x, shifts[2 * b], pad, w);
    out[i] = in[(plane * h + sy) * w + sx];
  }
}

template <typename T>
__global__ void shift_backward_kernel(const T* __restrict__ grad,
                                      const int64_t* __restrict__ shifts, int64_t pad,
                                      T* __restrict__ out, int64_t batch, int64_t channels,
                                      int64_t h, int64_t w) {
  SMG_GRID_STRIDE(i, batch * channels * h * w) {
    const int64_t x = i % w, y = (i / w) % h, plane = i / (h * w), b = plane / channels;
    int64_t i0, i1, j0, j1;
    math::shift_preimage(y, shifts[2 * b + 1], pad, h, &i0, &i1);
    math::shift_preimage(x, shifts[2 * b], pad, w, &j0, &j1);
    const T* g = grad + plane * h * w;
    T acc = T(0);
    for (int64_t r = i0; r <= i1; ++r) {
      for (int64_t c = j0; c <= j1; ++c) acc += g[r * w + c];
    }
    out[i] = acc;
  }
}

}  // namespace

template <typename T>
void composite(const T* fg, const T* bg, const T* mask, T* out, StackLayout l, cudaStream_t s) {
  composite_kernel<T><<<blocks_for(l.numel()), kThreads, 0, s>>>(fg, bg, mask, out, l);
}

template <typename T>
void composite_backward(const T* grad, const T* fg, const T* bg, const T* mask, T* gfg, T* gbg,
                        T* gmask, StackLayout l, cudaStream_t s) {
  const int64_t n = l.batch * l.mask_channels * l.hw;
  composite_backward_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(grad, fg, bg, mask, gfg, gbg,
                                                                   gmask, l);
}

template <typename T, typename TObs, typename TNoise>
void attribution_augment(const TObs* obs, const T* mask, const TNoise* noise, T* out, StackLayout l,
                         cudaStream_t s) {
  attribution_kernel<T, TObs, TNoise><<<blocks_for(l.numel()), kThreads, 0, s>>>(obs, mask, noise,
                                                                                 out, l);
}

template <typename T, typename TObs, typename TImg>
void overlay(const TObs* obs, const TImg* img, T alpha, T* out, StackLayout l, cudaStream_t s) {
  overlay_kernel<T, TObs, TImg><<<blocks_for(l.numel()), kThreads, 0, s>>>(obs, img, alpha, out, l);
}

template <typename T>
void overlay_backward(const T* grad, T alpha, T* gobs, T* gimg, StackLayout l, cudaStream_t s) {
  const int64_t n = l.batch * l.image_channels * l.hw;
  overlay_backward_kernel<T><<<blocks_for(n), kThreads, 0, s>>>(grad, alpha, gobs, gimg, l);
}

void greenscreen(const uint8_t* frames, const uint8_t* background, uint8_t* out, int64_t n,
                 int64_t hw, cudaStream_t s) {
  greenscreen_kernel<<<blocks_for(n * hw), kThreads, 0, s>>>(frames, background, out, n, hw);
}

template <typename T>
void random_shift(const T* in, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                  int64_t channels, int64_t h, int64_t w, cudaStream_t s) {
  shift_kernel<T><<<blocks_for(batch * channels * h * w), kThreads, 0, s>>>(in, shifts, pad, out,
                                                                           batch, channels, h, w);
}

template <typename T>
void random_shift_backward(const T* grad, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                           int64_t channels, int64_t h, int64_t w, cudaStream_t s) {
  shift_backward_kernel<T><<<blocks_for(batch * channels * h * w), kThreads, 0, s>>>(
      grad, shifts, pad, out, batch, channels, h, w);
}

cudaError_t last_error() { return cudaGetLastError(); }

#define SMG_INSTANTIATE_FLOAT(T)                                                                  \
  template void composite<T>(const T*, const T*, const T*, T*, StackLayout, cudaStream_t);       \
  template void composite_backward<T>(const T*, const T*, const T*, const T*, T*, T*, T*,         \
                                      StackLayout, cudaStream_t);                                 \
  template void attribution_augment<T, uint8_t, uint8_t>(const uint8_t*, const T*, const uint8_t*, \
                                                         T*, StackLayout, cudaStream_t);          \
  template void attribution_augment<T, uint8_t, T>(const uint8_t*, const T*, const T*, T*,        \
                                                   StackLayout, cudaStream_t);                    \
  template void attribution_augment<T, T, uint8_t>(const T*, const T*, const uint8_t*, T*,        \
                                                   StackLayout, cudaStream_t);                    \
  template void attribution_augment<T, T, T>(const T*, const T*, const T*, T*, StackLayout,       \
                                             cudaStream_t);                                       \
  template void overlay<T, uint8_t, uint8_t>(const uint8_t*, const uint8_t*, T, T*, StackLayout,  \
                                             cudaStream_t);                                       \
  template void overlay<T, uint8_t, T>(const uint8_t*, const T*, T, T*, StackLayout,              \
                                       cudaStream_t);                                             \
  template void overlay<T, T, uint8_t>(const T*, const uint8_t*, T, T*, StackLayout,              \
                                       cudaStream_t);                                             \
  template void overlay<T, T, T>(const T*, const T*, T, T*, StackLayout, cudaStream_t);           \
  template void overlay_backward<T>(const T*, T, T*, T*, StackLayout, cudaStream_t);               \
  template void random_shift_backward<T>(const T*, const int64_t*, int64_t, T*, int64_t, int64_t, \
                                         int64_t, int64_t, cudaStream_t);

SMG_INSTANTIATE_FLOAT(float)
SMG_INSTANTIATE_FLOAT(double)

template void random_shift<uint8_t>(const uint8_t*, const int64_t*, int64_t, uint8_t*, int64_t,
                                    int64_t, int64_t, int64_t, cudaStream_t);
template void random_shift<float>(const float*, const int64_t*, int64_t, float*, int64_t, int64_t,
                                  int64_t, int64_t, cudaStream_t);
template void random_shift<double>(const double*, const int64_t*, int64_t, double*, int64_t,
                                   int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace smg_fast
