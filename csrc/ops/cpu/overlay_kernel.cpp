// CPU kernel of overlay: one pass forward (conversion fused) and one backward, parallel over planes
// with at::parallel_for (OpenMP).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <tuple>

#include "../common/dispatch.h"
#include "../common/library.h"
#include "../common/math.h"
#include "../overlay.h"

namespace smg_fast {
namespace {

template <typename T, typename TObs, typename TImg>
void overlay_loop(const TObs* __restrict__ obs, const TImg* __restrict__ img, T alpha,
                  T* __restrict__ out, const StackLayout& l) {
  const int64_t hw = l.hw, nc = l.image_channels, c_all = l.channels;
  at::parallel_for(0, l.batch * c_all, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t b = plane / c_all, c = plane % c_all;
      const TObs* __restrict__ x = obs + plane * hw;
      const TImg* __restrict__ e = img + (b * nc + c % nc) * hw;
      T* __restrict__ o = out + plane * hw;
      for (int64_t p = 0; p < hw; ++p) {
        o[p] = math::overlay(math::pixel<T>(x[p]), math::image_255<T>(e[p]), alpha);
      }
    }
  });
}

at::Tensor overlay_cpu(const at::Tensor& obs, const at::Tensor& images, double alpha) {
  at::ScalarType out_dtype;
  const StackLayout l = validate_overlay(obs, images, alpha, &out_dtype);
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(out_dtype));
  AT_DISPATCH_FLOATING_TYPES(out_dtype, "overlay", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(images, [&](auto img_tag) {
        using TImg = decltype(img_tag);
        overlay_loop<T, TObs, TImg>(obs.data_ptr<TObs>(), images.data_ptr<TImg>(),
                                    static_cast<T>(alpha), out.data_ptr<T>(), l);
      });
    });
  });
  return out;
}

// One pass over the gradient: the obs gradient per channel, the image gradient summed over the frames
// that share an image. Each task owns one (sample, image channel) plane, so the sum needs no atomics.
template <typename T>
void overlay_backward_loop(const T* __restrict__ grad, T alpha, T* gobs, T* gimg, const StackLayout& l) {
  const int64_t hw = l.hw, nc = l.image_channels, c_all = l.channels, reps = c_all / nc;
  at::parallel_for(0, l.batch * nc, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / nc, ci = task % nc;
      T* __restrict__ gi = gimg ? gimg + task * hw : nullptr;
      for (int64_t r = 0; r < reps; ++r) {
        const int64_t plane = b * c_all + r * nc + ci;
        const T* __restrict__ g = grad + plane * hw;
        if (gobs) {
          T* __restrict__ go = gobs + plane * hw;
          for (int64_t p = 0; p < hw; ++p) go[p] = math::overlay_obs_grad(g[p], alpha);
        }
        if (gi) {
          if (r == 0) {
            for (int64_t p = 0; p < hw; ++p) gi[p] = math::overlay_image_grad(g[p], alpha);
          } else {
            for (int64_t p = 0; p < hw; ++p) gi[p] += math::overlay_image_grad(g[p], alpha);
          }
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> overlay_backward_cpu(const at::Tensor& grad_in, double alpha,
                                                        int64_t image_channels, bool obs_grad,
                                                        bool images_grad) {
  const at::Tensor grad = grad_in.contiguous();
  const StackLayout l = validate_overlay_backward(grad, alpha, image_channels);
  at::Tensor gobs = obs_grad ? at::empty_like(grad) : at::empty({0}, grad.options());
  at::Tensor gimg = images_grad ? at::empty({l.batch, image_channels, grad.size(2), grad.size(3)}, grad.options())
                                : at::empty({0}, grad.options());
  if (grad.numel() > 0 && (obs_grad || images_grad)) {
    AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "overlay_backward", [&] {
      overlay_backward_loop<scalar_t>(grad.data_ptr<scalar_t>(), static_cast<scalar_t>(alpha),
                                      obs_grad ? gobs.data_ptr<scalar_t>() : nullptr,
                                      images_grad ? gimg.data_ptr<scalar_t>() : nullptr, l);
    });
  }
  return {gobs, gimg};
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CPU_KERNELS(m) {
  m.impl("overlay", &smg_fast::overlay_cpu);
  m.impl("overlay_backward", &smg_fast::overlay_backward_cpu);
}
