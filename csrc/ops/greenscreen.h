// greenscreen(frames, background): DMC-GB's HSV green-screen keying.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace smg_fast {

// Checks the arguments; returns the number of [3, H, W] frames, *hw receives H·W.
int64_t validate_greenscreen(const at::Tensor& frames, const at::Tensor& background, int64_t* hw);

}  // namespace smg_fast
