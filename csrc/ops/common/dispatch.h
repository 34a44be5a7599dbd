// Dtype dispatch helpers of the tensor-level code (CPU kernels and CUDA glue), shared by every op.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace smg_fast {

// Calls f(tag) with tag's type = uint8_t for byte tensors, else T: the pixel operands of
// attribution_augment and overlay are uint8 (0-255) or float images of the output's type.
template <typename T, typename F>
void with_pixel_type(const at::Tensor& t, F&& f) {
  if (t.scalar_type() == at::kByte) {
    f(uint8_t{});
  } else {
    f(T{});
  }
}

// Calls f(tag) with float / double, or uint16_t for bfloat16 / float16: upsample_conv2d's layout
// kernels only copy and zero-fill (bias aside), so 16-bit tensors go through them as raw 16-bit
// words (plain integer moves vectorise on the CPU, and the .cu files need no half types). Their
// bias is added by the driver instead.
template <typename F>
void with_layout_type(const at::Tensor& t, F&& f) {
  if (t.element_size() == 2) {
    f(uint16_t{});
    return;
  }
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "upsample_conv2d", [&] { f(scalar_t{}); });
}

template <typename T>
T* data_as(const at::Tensor& t) {
  return static_cast<T*>(t.data_ptr());
}

}  // namespace smg_fast
