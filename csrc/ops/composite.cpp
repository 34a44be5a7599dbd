// composite: schema and argument checks. Kernels: cpu/composite_kernel.cpp, cuda/composite_kernel.cu.
#include "composite.h"

#include "common/checks.h"
#include "common/library.h"

namespace smg_fast {

StackLayout validate_composite(const at::Tensor& fg, const at::Tensor& bg, const at::Tensor& mask) {
  check_frame_stack(fg, "fg");
  check_float(fg, "fg");
  check_defined(bg, "bg");
  TORCH_CHECK_VALUE(bg.sizes() == fg.sizes(), "bg must have the same shape as fg ", fg.sizes(),
                    ", got ", bg.sizes());
  check_same_dtype(bg, "bg", fg, "fg");
  check_same_device(bg, "bg", fg, "fg");
  check_contiguous(bg, "bg");
  check_frame_mask(mask, "mask", fg, "fg");
  check_same_dtype(mask, "mask", fg, "fg");
  StackLayout l = stack_layout_of(fg);
  l.mask_channels = mask.size(1);
  return l;
}

at::Tensor composite_grad(const at::Tensor& grad_in, const at::Tensor& fg) {
  // Autograd hands over whatever layout the downstream op produced (e.g. an expanded ones tensor).
  at::Tensor grad = grad_in.to(fg.scalar_type()).contiguous();
  TORCH_CHECK_VALUE(grad.sizes() == fg.sizes(), "grad must have the shape of fg ", fg.sizes(),
                    ", got ", grad.sizes());
  return grad;
}

}  // namespace smg_fast

SMG_FAST_SCHEMAS(m) {
  m.def("composite(Tensor fg, Tensor bg, Tensor mask) -> Tensor");
  m.def(
      "composite_backward(Tensor grad, Tensor fg, Tensor bg, Tensor mask) -> (Tensor, Tensor, "
      "Tensor)");
}
