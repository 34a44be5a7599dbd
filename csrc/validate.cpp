#include "validate.h"

#include "checks.h"

#include <utility>

namespace smg_fast {

namespace {
StackLayout layout_of(const at::Tensor& stack) {
  StackLayout l;
  l.batch = stack.size(0);
  l.channels = stack.size(1);
  l.hw = stack.size(2) * stack.size(3);
  return l;
}
}  // namespace

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
  StackLayout l = layout_of(fg);
  l.mask_channels = mask.size(1);
  return l;
}

StackLayout validate_attribution(const at::Tensor& obs, const at::Tensor& mask,
                                 const at::Tensor& noise) {
  check_frame_stack(obs, "obs");
  check_float_or_uint8(obs, "obs");
  check_frame_mask(mask, "mask", obs, "obs");
  if (is_float(obs)) check_same_dtype(obs, "obs", mask, "mask");
  check_frame_image(noise, "noise", obs, "obs");
  if (is_float(noise)) check_same_dtype(noise, "noise", mask, "mask");
  StackLayout l = layout_of(obs);
  l.mask_channels = mask.size(1);
  l.image_channels = noise.size(1);
  return l;
}

StackLayout validate_overlay(const at::Tensor& obs, const at::Tensor& images, double alpha,
                             at::ScalarType* out_dtype) {
  check_frame_stack(obs, "obs");
  check_float_or_uint8(obs, "obs");
  check_frame_image(images, "images", obs, "obs");
  TORCH_CHECK_VALUE(alpha >= 0.0 && alpha <= 1.0, "alpha must lie in [0, 1], got ", alpha);
  if (is_float(obs) && is_float(images)) check_same_dtype(images, "images", obs, "obs");
  *out_dtype = is_float(obs) ? obs.scalar_type() : (is_float(images) ? images.scalar_type() : at::kFloat);
  StackLayout l = layout_of(obs);
  l.image_channels = images.size(1);
  return l;
}

StackLayout validate_overlay_backward(const at::Tensor& grad, double alpha, int64_t image_channels) {
  check_frame_stack(grad, "grad");
  check_float(grad, "grad");
  TORCH_CHECK_VALUE(alpha >= 0.0 && alpha <= 1.0, "alpha must lie in [0, 1], got ", alpha);
  TORCH_CHECK_VALUE(image_channels == 3 || image_channels == grad.size(1),
                    "image_channels must be 3 or the stack's ", grad.size(1), ", got ", image_channels);
  StackLayout l = layout_of(grad);
  l.image_channels = image_channels;
  return l;
}

int64_t validate_greenscreen(const at::Tensor& frames, const at::Tensor& background, int64_t* hw) {
  check_defined(frames, "frames");
  check_defined(background, "background");
  TORCH_CHECK_VALUE(frames.dim() >= 3 && frames.size(-3) == 3,
                    "frames must be RGB images of shape [..., 3, H, W], got shape ", frames.sizes());
  TORCH_CHECK_TYPE(frames.scalar_type() == at::kByte, "frames must be uint8, got ",
                   frames.scalar_type());
  TORCH_CHECK_TYPE(background.scalar_type() == at::kByte, "background must be uint8, got ",
                   background.scalar_type());
  TORCH_CHECK_VALUE(background.sizes() == frames.sizes(),
                    "background must have the same shape as frames ", frames.sizes(), ", got ",
                    background.sizes());
  check_same_device(background, "background", frames, "frames");
  check_contiguous(frames, "frames");
  check_contiguous(background, "background");
  *hw = frames.size(-1) * frames.size(-2);
  return *hw == 0 ? 0 : frames.numel() / (3 * *hw);
}

void validate_random_shift(const at::Tensor& obs, const at::Tensor& shifts, int64_t pad) {
  check_defined(obs, "obs");
  check_rank(obs, "obs", 4, "[B, C, H, W]");
  check_float_or_uint8(obs, "obs");
  check_contiguous(obs, "obs");
  check_defined(shifts, "shifts");
  TORCH_CHECK_VALUE(shifts.dim() == 2 && shifts.size(0) == obs.size(0) && shifts.size(1) == 2,
                    "shifts must have shape [B, 2] = [", obs.size(0),
                    ", 2] (crop offsets x, y per sample), got ", shifts.sizes());
  TORCH_CHECK_TYPE(shifts.scalar_type() == at::kLong || shifts.scalar_type() == at::kInt,
                   "shifts must be int64 or int32, got ", shifts.scalar_type());
  check_same_device(shifts, "shifts", obs, "obs");
  check_contiguous(shifts, "shifts");
  TORCH_CHECK_VALUE(pad >= 0, "pad must be >= 0, got ", pad);
}

void validate_shift_values(const at::Tensor& shifts_cpu, int64_t pad) {
  const at::Tensor s = shifts_cpu.to(at::kLong).contiguous();
  const int64_t* p = s.data_ptr<int64_t>();
  for (int64_t i = 0; i < s.numel(); ++i) {
    TORCH_CHECK_VALUE(p[i] >= 0 && p[i] <= 2 * pad, "shifts must lie in [0, 2*pad] = [0, ",
                      2 * pad, "], got ", p[i], " at shifts[", i / 2, ", ", i % 2, "]");
  }
}

at::ScalarType validate_replay_gather(const at::Tensor& frames, const at::Tensor& slots,
                                      const at::Tensor& pos, const at::Tensor& shifts,
                                      int64_t frame_stack, int64_t pad,
                                      c10::optional<at::ScalarType> dtype) {
  check_defined(frames, "frames");
  check_rank(frames, "frames", 4, "[capacity, 3, H, W] (one RGB frame per slot)");
  TORCH_CHECK_TYPE(frames.scalar_type() == at::kByte, "frames must be uint8, got ",
                   frames.scalar_type());
  TORCH_CHECK_VALUE(frames.size(1) == 3 && frames.size(0) > 0, "frames must have shape [capacity, 3, H, W]"
                    " with capacity > 0, got ", frames.sizes());
  check_contiguous(frames, "frames");
  for (const auto& [t, name] : {std::pair<const at::Tensor&, const char*>{slots, "slots"},
                                std::pair<const at::Tensor&, const char*>{pos, "pos"}}) {
    check_defined(t, name);
    TORCH_CHECK_VALUE(t.dim() == 1, name, " must be a 1-D tensor [N], got shape ", t.sizes());
    TORCH_CHECK_TYPE(t.scalar_type() == at::kLong, name, " must be int64, got ", t.scalar_type());
    check_same_device(t, name, frames, "frames");
    check_contiguous(t, name);
  }
  TORCH_CHECK_VALUE(pos.size(0) == slots.size(0), "pos must have the length of slots (",
                    slots.size(0), "), got ", pos.size(0));
  check_defined(shifts, "shifts");
  TORCH_CHECK_VALUE(shifts.dim() == 2 && shifts.size(0) == slots.size(0) && shifts.size(1) == 2,
                    "shifts must have shape [N, 2] = [", slots.size(0), ", 2], got ", shifts.sizes());
  TORCH_CHECK_TYPE(shifts.scalar_type() == at::kLong, "shifts must be int64, got ",
                   shifts.scalar_type());
  check_same_device(shifts, "shifts", frames, "frames");
  check_contiguous(shifts, "shifts");
  TORCH_CHECK_VALUE(frame_stack >= 1, "frame_stack must be >= 1, got ", frame_stack);
  TORCH_CHECK_VALUE(pad >= 0, "pad must be >= 0, got ", pad);
  const at::ScalarType out = dtype.value_or(at::kFloat);
  TORCH_CHECK_TYPE(out == at::kFloat || out == at::kDouble || out == at::kByte,
                   "dtype must be float32, float64 or uint8, got ", out);
  return out;
}

void validate_replay_values(const at::Tensor& slots, const at::Tensor& pos, const at::Tensor& shifts,
                            int64_t capacity, int64_t pad) {
  const int64_t* s = slots.data_ptr<int64_t>();
  const int64_t* p = pos.data_ptr<int64_t>();
  for (int64_t i = 0; i < slots.numel(); ++i) {
    TORCH_CHECK_VALUE(s[i] >= 0 && s[i] < capacity, "slots must lie in [0, capacity) = [0, ",
                      capacity, "), got ", s[i], " at slots[", i, "]");
    TORCH_CHECK_VALUE(p[i] >= 0, "pos must be >= 0, got ", p[i], " at pos[", i, "]");
  }
  validate_shift_values(shifts, pad);
}

void validate_upsample_conv2d(const at::Tensor& x, const at::Tensor& weight,
                              const c10::optional<at::Tensor>& bias) {
  check_defined(x, "x");
  check_rank(x, "x", 4, "[B, C_in, H, W]");
  check_float_or_half(x, "x");
  check_contiguous(x, "x");
  check_defined(weight, "weight");
  check_rank(weight, "weight", 4, "[C_out, C_in, 3, 3]");
  TORCH_CHECK_VALUE(weight.size(2) == 3 && weight.size(3) == 3,
                    "weight must hold 3x3 kernels, shape [C_out, C_in, 3, 3], got ", weight.sizes());
  TORCH_CHECK_VALUE(weight.size(1) == x.size(1), "weight must have C_in = ", x.size(1),
                    " input channels like x, got shape ", weight.sizes());
  check_same_dtype(weight, "weight", x, "x");
  check_same_device(weight, "weight", x, "x");
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == weight.size(0),
                      "bias must have shape [C_out] = [", weight.size(0), "], got ", bias->sizes());
    check_same_dtype(*bias, "bias", x, "x");
    check_same_device(*bias, "bias", x, "x");
  }
}

}  // namespace smg_fast
