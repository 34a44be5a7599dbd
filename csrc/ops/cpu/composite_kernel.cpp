// CPU kernel of composite: one pass over memory forward and one backward, parallel over mask planes
// with at::parallel_for (OpenMP), inner loops simple enough for the compiler to vectorise.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>

#include <algorithm>
#include <tuple>

#include "../common/library.h"
#include "../common/math.h"
#include "../composite.h"

namespace smg_fast {
namespace {

template <typename T>
void composite_loop(const T* __restrict__ fg, const T* __restrict__ bg, const T* __restrict__ mask,
                    T* __restrict__ out, const StackLayout& l) {
  const int64_t k = l.per_mask(), hw = l.hw;
  at::parallel_for(0, l.batch * l.mask_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const T* m = mask + g * hw;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t o = (g * k + j) * hw;
        const T* __restrict__ f = fg + o;
        const T* __restrict__ b = bg + o;
        T* __restrict__ y = out + o;
        for (int64_t p = 0; p < hw; ++p) y[p] = math::composite(f[p], b[p], m[p]);
      }
    }
  });
}

template <typename T>
void composite_backward_loop(const T* __restrict__ grad, const T* __restrict__ fg,
                             const T* __restrict__ bg, const T* __restrict__ mask,
                             T* __restrict__ gfg, T* __restrict__ gbg, T* __restrict__ gmask,
                             const StackLayout& l) {
  const int64_t k = l.per_mask(), hw = l.hw;
  at::parallel_for(0, l.batch * l.mask_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const T* __restrict__ m = mask + g * hw;
      T* __restrict__ gm = gmask + g * hw;
      std::fill(gm, gm + hw, T(0));
      for (int64_t j = 0; j < k; ++j) {
        const int64_t o = (g * k + j) * hw;
        const T* __restrict__ gr = grad + o;
        const T* __restrict__ f = fg + o;
        const T* __restrict__ b = bg + o;
        T* __restrict__ gf = gfg + o;
        T* __restrict__ gb = gbg + o;
        for (int64_t p = 0; p < hw; ++p) {
          gf[p] = gr[p] * m[p];
          gb[p] = gr[p] * (T(1) - m[p]);
          gm[p] += math::composite_mask_grad_term(gr[p], f[p], b[p]);
        }
      }
    }
  });
}

at::Tensor composite_cpu(const at::Tensor& fg, const at::Tensor& bg, const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  at::Tensor out = at::empty_like(fg);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite", [&] {
    composite_loop<scalar_t>(fg.data_ptr<scalar_t>(), bg.data_ptr<scalar_t>(),
                             mask.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), l);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_backward_cpu(const at::Tensor& grad_in,
                                                                      const at::Tensor& fg,
                                                                      const at::Tensor& bg,
                                                                      const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  const at::Tensor grad = composite_grad(grad_in, fg);
  at::Tensor gfg = at::empty_like(fg), gbg = at::empty_like(bg), gmask = at::empty_like(mask);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite_backward", [&] {
    composite_backward_loop<scalar_t>(grad.data_ptr<scalar_t>(), fg.data_ptr<scalar_t>(),
                                      bg.data_ptr<scalar_t>(), mask.data_ptr<scalar_t>(),
                                      gfg.data_ptr<scalar_t>(), gbg.data_ptr<scalar_t>(),
                                      gmask.data_ptr<scalar_t>(), l);
  });
  return {gfg, gbg, gmask};
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CPU_KERNELS(m) {
  m.impl("composite", &smg_fast::composite_cpu);
  m.impl("composite_backward", &smg_fast::composite_backward_cpu);
}
