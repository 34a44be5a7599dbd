// Validation of each op's arguments (device-independent) and the layout it implies. Shared by the
// CPU and CUDA registrations so both reject exactly the same inputs with the same messages.
#pragma once

#include <ATen/core/Tensor.h>

#include "image_ops.h"

namespace smg_fast {

StackLayout validate_composite(const at::Tensor& fg, const at::Tensor& bg, const at::Tensor& mask);
// Returns the layout; the output dtype is mask's.
StackLayout validate_attribution(const at::Tensor& obs, const at::Tensor& mask,
                                 const at::Tensor& noise);
// Returns the layout (mask_channels unused); *out_dtype receives the result dtype.
StackLayout validate_overlay(const at::Tensor& obs, const at::Tensor& images, double alpha,
                             at::ScalarType* out_dtype);
// grad [B, C, H, W] of an overlay whose images had image_channels ∈ {3, C} channels.
StackLayout validate_overlay_backward(const at::Tensor& grad, double alpha, int64_t image_channels);
// Returns the number of [3, H, W] frames; *hw receives H·W.
int64_t validate_greenscreen(const at::Tensor& frames, const at::Tensor& background, int64_t* hw);
void validate_random_shift(const at::Tensor& obs, const at::Tensor& shifts, int64_t pad);
// Checks the shift values themselves (reads them: call with a CPU copy on accelerators).
void validate_shift_values(const at::Tensor& shifts_cpu, int64_t pad);
// Returns the output dtype (float32 unless given).
at::ScalarType validate_replay_gather(const at::Tensor& frames, const at::Tensor& slots,
                                      const at::Tensor& pos, const at::Tensor& shifts,
                                      int64_t frame_stack, int64_t pad,
                                      c10::optional<at::ScalarType> dtype);
// Checks the index values (reads them: CPU tensors only).
void validate_replay_values(const at::Tensor& slots, const at::Tensor& pos, const at::Tensor& shifts,
                            int64_t capacity, int64_t pad);
void validate_upsample_conv2d(const at::Tensor& x, const at::Tensor& weight,
                              const c10::optional<at::Tensor>& bias);

}  // namespace smg_fast
