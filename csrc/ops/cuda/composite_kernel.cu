// CUDA kernels of composite (CPU twin: ../cpu/composite_kernel.cpp); per-element math from
// ../common/math.h.
#include "../common/math.h"
#include "launch.h"
#include "launchers.h"

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

}  // namespace

template <typename T>
void composite(const T* fg, const T* bg, const T* mask, T* out, StackLayout l, cudaStream_t s) {
  launch_1d(composite_kernel<T>, l.numel(), s, fg, bg, mask, out, l);
}

template <typename T>
void composite_backward(const T* grad, const T* fg, const T* bg, const T* mask, T* gfg, T* gbg,
                        T* gmask, StackLayout l, cudaStream_t s) {
  launch_1d(composite_backward_kernel<T>, l.batch * l.mask_channels * l.hw, s, grad, fg, bg, mask,
            gfg, gbg, gmask, l);
}

#define SMG_INSTANTIATE(T)                                                                  \
  template void composite<T>(const T*, const T*, const T*, T*, StackLayout, cudaStream_t); \
  template void composite_backward<T>(const T*, const T*, const T*, const T*, T*, T*, T*,   \
                                      StackLayout, cudaStream_t);
SMG_INSTANTIATE(float)
SMG_INSTANTIATE(double)
#undef SMG_INSTANTIATE

}  // namespace cuda
}  // namespace smg_fast
