// CUDA glue of random_shift: validation (shared with the CPU kernel), allocation, the caller's
// stream, then the raw launchers of random_shift_kernel.cu.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty_like.h>

#include "../common/checks.h"
#include "../common/library.h"
#include "../random_shift.h"
#include "glue.h"
#include "launchers.h"

namespace smg_fast {
namespace {

at::Tensor random_shift_cuda(const at::Tensor& obs, const at::Tensor& shifts, int64_t pad) {
  validate_random_shift(obs, shifts, pad);
  // Reading the offsets back costs a synchronisation; out-of-range offsets would read out of
  // bounds, so correctness wins here (the replay buffer draws valid offsets on the device itself).
  validate_shift_values(shifts.cpu(), pad);
  const cuda::DeviceGuard guard(obs.device());
  const at::Tensor s = shifts.to(at::kLong).contiguous();
  at::Tensor out = at::empty_like(obs);
  if (obs.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kByte, obs.scalar_type(), "random_shift", [&] {
    cuda::random_shift<scalar_t>(obs.data_ptr<scalar_t>(), s.data_ptr<int64_t>(), pad,
                                 out.data_ptr<scalar_t>(), obs.size(0), obs.size(1), obs.size(2),
                                 obs.size(3), cuda::current_stream(obs));
  });
  cuda::check_launch("random_shift");
  return out;
}

at::Tensor random_shift_backward_cuda(const at::Tensor& grad_in, const at::Tensor& shifts,
                                      int64_t pad) {
  const at::Tensor grad = grad_in.contiguous();
  validate_random_shift(grad, shifts, pad);
  check_float(grad, "grad");
  const cuda::DeviceGuard guard(grad.device());
  const at::Tensor s = shifts.to(at::kLong).contiguous();
  at::Tensor out = at::empty_like(grad);
  if (grad.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "random_shift_backward", [&] {
    cuda::random_shift_backward<scalar_t>(grad.data_ptr<scalar_t>(), s.data_ptr<int64_t>(), pad,
                                          out.data_ptr<scalar_t>(), grad.size(0), grad.size(1),
                                          grad.size(2), grad.size(3), cuda::current_stream(grad));
  });
  cuda::check_launch("random_shift_backward");
  return out;
}

}  // namespace
}  // namespace smg_fast

SMG_FAST_CUDA_GLUE(m) {
  m.impl("random_shift", &smg_fast::random_shift_cuda);
  m.impl("random_shift_backward", &smg_fast::random_shift_backward_cuda);
}
