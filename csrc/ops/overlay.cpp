// overlay: schema and argument checks. Kernels: cpu/overlay_kernel.cpp, cuda/overlay_kernel.cu.
#include "overlay.h"

#include "common/checks.h"
#include "common/library.h"

namespace smg_fast {

StackLayout validate_overlay(const at::Tensor& obs, const at::Tensor& images, double alpha,
                             at::ScalarType* out_dtype) {
  check_frame_stack(obs, "obs");
  check_float_or_uint8(obs, "obs");
  check_frame_image(images, "images", obs, "obs");
  TORCH_CHECK_VALUE(alpha >= 0.0 && alpha <= 1.0, "alpha must lie in [0, 1], got ", alpha);
  if (is_float(obs) && is_float(images)) check_same_dtype(images, "images", obs, "obs");
  *out_dtype = is_float(obs) ? obs.scalar_type() : (is_float(images) ? images.scalar_type() : at::kFloat);
  StackLayout l = stack_layout_of(obs);
  l.image_channels = images.size(1);
  return l;
}

StackLayout validate_overlay_backward(const at::Tensor& grad, double alpha, int64_t image_channels) {
  check_frame_stack(grad, "grad");
  check_float(grad, "grad");
  TORCH_CHECK_VALUE(alpha >= 0.0 && alpha <= 1.0, "alpha must lie in [0, 1], got ", alpha);
  TORCH_CHECK_VALUE(image_channels == 3 || image_channels == grad.size(1),
                    "image_channels must be 3 or the stack's ", grad.size(1), ", got ", image_channels);
  StackLayout l = stack_layout_of(grad);
  l.image_channels = image_channels;
  return l;
}

}  // namespace smg_fast

SMG_FAST_SCHEMAS(m) {
  m.def("overlay(Tensor obs, Tensor images, float alpha=0.5) -> Tensor");
  m.def(
      "overlay_backward(Tensor grad, float alpha, int image_channels, bool obs_grad, bool images_grad) "
      "-> (Tensor, Tensor)");
}
