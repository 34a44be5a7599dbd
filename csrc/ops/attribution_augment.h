// attribution_augment(obs, mask, noise) = obs·M + 255·ε·(1−M) (SMG's attribution augmentation).
#pragma once

#include <ATen/core/Tensor.h>

#include "common/stack_layout.h"

namespace smg_fast {

// Checks the arguments and returns their layout; the output dtype is mask's.
StackLayout validate_attribution(const at::Tensor& obs, const at::Tensor& mask,
                                 const at::Tensor& noise);

}  // namespace smg_fast
