// overlay(obs, images, alpha) = (1−α)·obs + α·255·img (DMC-GB's random overlay).
#pragma once

#include <ATen/core/Tensor.h>

#include "common/stack_layout.h"

namespace smg_fast {

// Checks the arguments and returns the layout (mask_channels unused); *out_dtype receives the
// result dtype.
StackLayout validate_overlay(const at::Tensor& obs, const at::Tensor& images, double alpha,
                             at::ScalarType* out_dtype);
// grad [B, C, H, W] of an overlay whose images had image_channels ∈ {3, C} channels.
StackLayout validate_overlay_backward(const at::Tensor& grad, double alpha, int64_t image_channels);

}  // namespace smg_fast
