// Argument checks used by the ops' validation functions (ops/<op>.cpp), which the CPU kernels and the
// CUDA glue share. Every message names the offending argument and says what was expected, so a user
// calling torch.ops.smg_fast.* directly gets a Python TypeError / ValueError instead of a crash or a
// silent broadcast.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "stack_layout.h"

namespace smg_fast {

inline bool is_float(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble;
}

inline void check_defined(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.defined(), name, " must be a tensor, got None");
}

inline void check_rank(const at::Tensor& t, const char* name, int64_t rank, const char* layout) {
  TORCH_CHECK_VALUE(t.dim() == rank, name, " must be a ", rank, "-D tensor ", layout, ", got shape ",
                    t.sizes());
}

inline void check_contiguous(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.is_contiguous(), name,
                    " must be contiguous (call .contiguous() on it first); got shape ", t.sizes(),
                    " with strides ", t.strides());
}

inline void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK_TYPE(is_float(t), name, " must be float32 or float64, got ", t.scalar_type());
}

// upsample_conv2d also takes the 16-bit types autocast produces (its GEMMs run in that type).
inline void check_float_or_half(const at::Tensor& t, const char* name) {
  const auto st = t.scalar_type();
  TORCH_CHECK_TYPE(is_float(t) || st == at::kBFloat16 || st == at::kHalf, name,
                   " must be float32, float64, bfloat16 or float16, got ", st);
}

inline void check_float_or_uint8(const at::Tensor& t, const char* name) {
  TORCH_CHECK_TYPE(is_float(t) || t.scalar_type() == at::kByte, name,
                   " must be uint8 (0-255 pixels) or float32/float64, got ", t.scalar_type());
}

inline void check_same_dtype(const at::Tensor& t, const char* name, const at::Tensor& ref,
                             const char* ref_name) {
  TORCH_CHECK_TYPE(t.scalar_type() == ref.scalar_type(), name, " must have the same dtype as ",
                   ref_name, " (", ref.scalar_type(), "), got ", t.scalar_type());
}

inline void check_same_device(const at::Tensor& t, const char* name, const at::Tensor& ref,
                              const char* ref_name) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), name, " must be on the same device as ", ref_name,
                    " (", ref.device(), "), got ", t.device());
}

inline void check_same_spatial(const at::Tensor& t, const char* name, const at::Tensor& ref,
                               const char* ref_name) {
  TORCH_CHECK_VALUE(t.size(0) == ref.size(0) && t.size(2) == ref.size(2) && t.size(3) == ref.size(3),
                    name, " must match ", ref_name, " in batch size and height/width: ", ref_name,
                    " has shape ", ref.sizes(), ", ", name, " has shape ", t.sizes());
}

// Stacks of RGB frames: [B, 3F, H, W].
inline void check_frame_stack(const at::Tensor& t, const char* name) {
  check_defined(t, name);
  check_rank(t, name, 4, "[B, 3*frames, H, W]");
  TORCH_CHECK_VALUE(t.size(1) > 0 && t.size(1) % 3 == 0, name,
                    " must have a channel count that is a positive multiple of 3 (stacked RGB "
                    "frames), got ",
                    t.size(1), " channels in shape ", t.sizes());
  check_contiguous(t, name);
}

// One mask channel per RGB frame ([B, F, H, W]) or one shared by all frames ([B, 1, H, W]).
inline void check_frame_mask(const at::Tensor& mask, const char* name, const at::Tensor& stack,
                             const char* stack_name) {
  check_defined(mask, name);
  check_rank(mask, name, 4, "[B, frames, H, W] or [B, 1, H, W]");
  check_float(mask, name);
  check_same_device(mask, name, stack, stack_name);
  check_same_spatial(mask, name, stack, stack_name);
  const int64_t frames = stack.size(1) / 3;
  TORCH_CHECK_VALUE(mask.size(1) == frames || mask.size(1) == 1, name, " must have ", frames,
                    " channels (one per RGB frame of ", stack_name, ") or 1, got shape ",
                    mask.sizes());
  check_contiguous(mask, name);
}

// An RGB image for every sample ([B, 3, H, W], repeated over the frames) or a full stack.
inline void check_frame_image(const at::Tensor& img, const char* name, const at::Tensor& stack,
                              const char* stack_name) {
  check_defined(img, name);
  check_rank(img, name, 4, "[B, 3, H, W] or [B, 3*frames, H, W]");
  check_float_or_uint8(img, name);
  check_same_device(img, name, stack, stack_name);
  check_same_spatial(img, name, stack, stack_name);
  TORCH_CHECK_VALUE(img.size(1) == 3 || img.size(1) == stack.size(1), name,
                    " must have 3 channels (one RGB image per sample, used for every frame) or ",
                    stack.size(1), " like ", stack_name, ", got shape ", img.sizes());
  check_contiguous(img, name);
}

// The layout of a validated [B, 3F, H, W] stack (mask and image channels set by the caller).
inline StackLayout stack_layout_of(const at::Tensor& stack) {
  StackLayout l;
  l.batch = stack.size(0);
  l.channels = stack.size(1);
  l.hw = stack.size(2) * stack.size(3);
  return l;
}

}  // namespace smg_fast
