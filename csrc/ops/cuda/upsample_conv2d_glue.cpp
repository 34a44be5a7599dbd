// CUDA glue of upsample_conv2d: the layout kernels of upsample_conv2d_kernel.cu wrapped for the
// device-generic driver (../upsample_conv2d.cpp), which does the validation, the allocation and the
// GEMMs (cuBLAS through at::mm).
#include <tuple>

#include "../common/dispatch.h"
#include "../common/library.h"
#include "../upsample_conv2d.h"
#include "glue.h"
#include "launchers.h"

namespace smg_fast {
namespace upconv {
namespace {

void pad_to_nhwc_cuda(const at::Tensor& x, at::Tensor& xp) {
  with_layout_type(x, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_pad<T>(data_as<T>(x), data_as<T>(xp), x.size(0), x.size(1), x.size(2), x.size(3),
                        cuda::current_stream(x));
  });
  cuda::check_launch("upsample_conv2d");
}

void interleave_phases_cuda(const at::Tensor& y, const at::Tensor& bias, at::Tensor& out) {
  with_layout_type(y, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_interleave<T>(data_as<T>(y), bias.defined() ? data_as<T>(bias) : nullptr,
                               data_as<T>(out), out.size(0), out.size(1), out.size(2) / 2,
                               out.size(3) / 2, cuda::current_stream(y));
  });
  cuda::check_launch("upsample_conv2d");
}

void deinterleave_phases_cuda(const at::Tensor& grad, at::Tensor& gy) {
  with_layout_type(grad, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_deinterleave<T>(data_as<T>(grad), data_as<T>(gy), grad.size(0), grad.size(1),
                                 grad.size(2) / 2, grad.size(3) / 2, cuda::current_stream(grad));
  });
  cuda::check_launch("upsample_conv2d_backward");
}

void unpad_from_nhwc_cuda(const at::Tensor& gxp, at::Tensor& gx) {
  with_layout_type(gx, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_unpad<T>(data_as<T>(gxp), data_as<T>(gx), gx.size(0), gx.size(1), gx.size(2),
                          gx.size(3), cuda::current_stream(gx));
  });
  cuda::check_launch("upsample_conv2d_backward");
}

// The whole batch in one block and four GEMMs per block: a GPU has no cache to block for, and the
// paired 16-bit GEMMs were measured on the CPU only.
constexpr LayoutPasses kCudaPasses{pad_to_nhwc_cuda, interleave_phases_cuda, deinterleave_phases_cuda,
                                   unpad_from_nhwc_cuda, /*cache_blocks=*/false,
                                   /*pair_16bit_taps=*/false};

at::Tensor upsample_conv2d_cuda(const at::Tensor& x, const at::Tensor& weight,
                                const c10::optional<at::Tensor>& bias) {
  const cuda::DeviceGuard guard(x.device());
  return forward(x, weight, bias, kCudaPasses);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> upsample_conv2d_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight) {
  const cuda::DeviceGuard guard(x.device());
  return backward(grad, x, weight, kCudaPasses);
}

}  // namespace
}  // namespace upconv
}  // namespace smg_fast

SMG_FAST_CUDA_GLUE(m) {
  m.impl("upsample_conv2d", &smg_fast::upconv::upsample_conv2d_cuda);
  m.impl("upsample_conv2d_backward", &smg_fast::upconv::upsample_conv2d_backward_cuda);
}
