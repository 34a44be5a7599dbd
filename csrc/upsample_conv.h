// upsample_conv2d(x, w, b) = conv2d(nearest_upsample_2x(x), w, b, padding=1) by phase
// decomposition. Each of the four output phases (py, px) is a 2×2 convolution of x, so the whole
// op is four GEMMs over a zero-padded channels-last copy of x, each reading it at a constant row
// shift (a, c) ∈ {0,1}²: Y = Σ_ac X[shift_ac :] · Wt[a][c], with Wt[a][c] ∈ R^{C_in × 4·C_out}.
// 16 instead of 36 multiply-adds per output and input pixel pair, and no upsampled tensor.
//
// The GEMMs go through at::mm (MKL / cuBLAS); the layout kernels below are ours, one CPU and one
// CUDA implementation each, with their index maps shared in kernels/math.h.
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace smg_fast {
namespace upconv {

// The layout kernels only copy and zero-fill (bias aside), so bfloat16 / float16 tensors go through
// them as raw 16-bit words: plain integer moves vectorise on the CPU, and the .cu files need no
// half types. Their bias is added by the driver instead (see interleave_phases_*).
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

// x [n, C, H, W] -> xp [n, H+2, W+2, C] with a zero border.
void pad_to_nhwc_cpu(const at::Tensor& x, at::Tensor& xp);
// y [>= n·(H+2)·(W+2) − (W+3), 4·C_out] -> out [n, C_out, 2H, 2W] (+ bias when defined; never
// defined for 16-bit types).
void interleave_phases_cpu(const at::Tensor& y, const at::Tensor& bias, at::Tensor& out);
// grad [n, C_out, 2H, 2W] -> gy [n·(H+2)·(W+2), 4·C_out], zero where a phase has no output.
void deinterleave_phases_cpu(const at::Tensor& grad, at::Tensor& gy);
// gxp [n·(H+2)·(W+2), C] -> gx [n, C, H, W] (drops the border).
void unpad_from_nhwc_cpu(const at::Tensor& gxp, at::Tensor& gx);

#ifdef SMG_FAST_WITH_CUDA
void pad_to_nhwc_cuda(const at::Tensor& x, at::Tensor& xp);
void interleave_phases_cuda(const at::Tensor& y, const at::Tensor& bias, at::Tensor& out);
void deinterleave_phases_cuda(const at::Tensor& grad, at::Tensor& gy);
void unpad_from_nhwc_cuda(const at::Tensor& gxp, at::Tensor& gx);
#endif

}  // namespace upconv
}  // namespace smg_fast
