// CUDA glue of overlay: validation (shared with the CPU kernel), allocation, the caller's stream,
// then the raw launchers of overlay_kernel.cu.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <tuple>

#include "../common/dispatch.h"
#include "../common/library.h"
#include "../overlay.h"
#include "glue.h"
#include "launchers.h"

namespace smg_fast {
namespace {

at::Tensor overlay_cuda(const at::Tensor& obs, const at::Tensor& images, double alpha) {
  at::ScalarType out_dtype;
  const StackLayout l = validate_overlay(obs, images, alpha, &out_dtype);
  const cuda::DeviceGuard guard(obs.device());
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(out_dtype));
  AT_DISPATCH_FLOATING_TYPES(out_dtype, "overlay", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(images, [&](auto img_tag) {
        using TImg = decltype(img_tag);
        cuda::overlay<T, TObs, TImg>(obs.data_ptr<TObs>(), images.data_ptr<TImg>(),
                                     static_cast<T>(alpha), out.data_ptr<T>(), l,
                                     cuda::current_stream(obs));
      });
    });
  });
  cuda::check_launch("overlay");
  return out;
}

std::tuple<at::Tensor, at::Tensor> overlay_backward_cuda(const at::Tensor& grad_in, double alpha,
                                                         int64_t image_channels, bool obs_grad,
                                                         bool images_grad) {
  const at::Tensor grad = grad_in.contiguous();
  const StackLayout l = validate_overlay_backward(grad, alpha, image_channels);
  const cuda::DeviceGuard guard(grad.device());
  at::Tensor gobs = obs_grad ? at::empty_like(grad) : at::empty({0}, grad.options());
  at::Tensor gimg = images_grad ? at::empty({l.batch, image_channels, grad.size(2), grad.size(3)}, grad.options())
                                : at::empty({0}, grad.options());
  if (grad.numel() > 0 && (obs_grad || images_grad)) {
    AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "overlay_backward", [&] {
      cuda::overlay_backward<scalar_t>(grad.data_ptr<scalar_t>(), static_cast<scalar_t>(alpha),
                                       obs_grad ? gobs.data_ptr<scalar_t>() : nullptr,
                                       images_grad ? gimg.data_ptr<scalar_t>() : nullptr, l,
                                       cuda::current_stream(grad));
    });
    cuda::check_launch("overlay_backward");
  }
  return {gobs, gimg};
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CUDA_GLUE(m) {
  m.impl("overlay", &smg_fast::overlay_cuda);
  m.impl("overlay_backward", &smg_fast::overlay_backward_cuda);
}
