// replay_gather(frames, slots, pos, shifts, frame_stack, pad, dtype): the replay buffer's sampler.
// Rebuilds frame stacks from single stored frames, applies the random shift and converts to the
// training dtype in one pass (see math::stack_source_slot).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace smg_fast {

// Checks the arguments; returns the output dtype (float32 unless given).
at::ScalarType validate_replay_gather(const at::Tensor& frames, const at::Tensor& slots,
                                      const at::Tensor& pos, const at::Tensor& shifts,
                                      int64_t frame_stack, int64_t pad,
                                      c10::optional<at::ScalarType> dtype);
// Checks the index values (reads them: CPU tensors only).
void validate_replay_values(const at::Tensor& slots, const at::Tensor& pos, const at::Tensor& shifts,
                            int64_t capacity, int64_t pad);

}  // namespace smg_fast
