// CUDA glue of composite: validation (shared with the CPU kernel), allocation, the caller's stream,
// then the raw launchers of composite_kernel.cu.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty_like.h>

#include <tuple>

#include "../common/library.h"
#include "../composite.h"
#include "glue.h"
#include "launchers.h"

namespace smg_fast {
namespace {

at::Tensor composite_cuda(const at::Tensor& fg, const at::Tensor& bg, const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  const cuda::DeviceGuard guard(fg.device());
  at::Tensor out = at::empty_like(fg);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite", [&] {
    cuda::composite<scalar_t>(fg.data_ptr<scalar_t>(), bg.data_ptr<scalar_t>(),
                              mask.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), l,
                              cuda::current_stream(fg));
  });
  cuda::check_launch("composite");
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_backward_cuda(const at::Tensor& grad_in,
                                                                       const at::Tensor& fg,
                                                                       const at::Tensor& bg,
                                                                       const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  const cuda::DeviceGuard guard(fg.device());
  const at::Tensor grad = composite_grad(grad_in, fg);
  at::Tensor gfg = at::empty_like(fg), gbg = at::empty_like(bg), gmask = at::empty_like(mask);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite_backward", [&] {
    cuda::composite_backward<scalar_t>(grad.data_ptr<scalar_t>(), fg.data_ptr<scalar_t>(),
                                       bg.data_ptr<scalar_t>(), mask.data_ptr<scalar_t>(),
                                       gfg.data_ptr<scalar_t>(), gbg.data_ptr<scalar_t>(),
                                       gmask.data_ptr<scalar_t>(), l, cuda::current_stream(fg));
  });
  cuda::check_launch("composite_backward");
  return {gfg, gbg, gmask};
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CUDA_GLUE(m) {
  m.impl("composite", &smg_fast::composite_cuda);
  m.impl("composite_backward", &smg_fast::composite_backward_cuda);
}
