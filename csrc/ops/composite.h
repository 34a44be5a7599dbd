// composite(fg, bg, mask) = fg·m + bg·(1−m) per RGB frame (SMG's reconstruction).
#pragma once

#include <ATen/core/Tensor.h>

#include "common/stack_layout.h"

namespace smg_fast {

// Checks fg / bg / mask (shared by the CPU kernel and the CUDA glue) and returns their layout.
StackLayout validate_composite(const at::Tensor& fg, const at::Tensor& bg, const at::Tensor& mask);

// grad_in converted to fg's dtype, contiguous, checked to have fg's shape.
at::Tensor composite_grad(const at::Tensor& grad_in, const at::Tensor& fg);

}  // namespace smg_fast
