// The shape of a stack of RGB frames and of the mask / image operands that go with it, derived once
// from validated tensors (ops/<op>.cpp) and handed to the CPU kernels or the CUDA launchers, which
// see only raw pointers and these sizes. Used by composite, attribution_augment and overlay.
#pragma once

#include <cstdint>

#include "math.h"  // SMG_HD

namespace smg_fast {

// A [B, C, H, W] stack of C = 3F channels, a mask of M ∈ {F, 1} channels each covering
// k = C / M consecutive channels, and an image operand of N ∈ {3, C} channels (channel c reads
// image channel c % N).
struct StackLayout {
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t hw = 0;
  int64_t mask_channels = 1;
  int64_t image_channels = 3;

  SMG_HD int64_t per_mask() const { return channels / mask_channels; }
  SMG_HD int64_t numel() const { return batch * channels * hw; }
};

}  // namespace smg_fast
