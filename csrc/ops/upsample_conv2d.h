// upsample_conv2d(x, w, b) = conv2d(nearest_upsample_2x(x), w, b, padding=1) by phase
// decomposition. Each of the four output phases (py, px) is a 2×2 convolution of x, so the whole
// op is four GEMMs over a zero-padded channels-last copy of x, each reading it at a constant row
// shift (a, c) ∈ {0,1}²: Y = Σ_ac X[shift_ac :] · Wt[a][c], with Wt[a][c] ∈ R^{C_in × 4·C_out}.
// 16 instead of 36 multiply-adds per output and input pixel pair, and no upsampled tensor.
//
// The driver (upsample_conv2d.cpp) is device-generic: its GEMMs go through at::mm (MKL / cuBLAS).
// Around them run four layout kernels, one CPU implementation (cpu/upsample_conv2d_kernel.cpp) and
// one CUDA implementation (cuda/upsample_conv2d_kernel.cu) each, with their index maps shared in
// common/math.h. Each device hands the driver its kernels as a LayoutPasses table.
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

namespace smg_fast {

void validate_upsample_conv2d(const at::Tensor& x, const at::Tensor& weight,
                              const c10::optional<at::Tensor>& bias);

namespace upconv {

// One device's layout kernels and how the driver batches the GEMMs around them.
struct LayoutPasses {
  // x [n, C, H, W] -> xp [n, H+2, W+2, C] with a zero border.
  void (*pad)(const at::Tensor& x, at::Tensor& xp);
  // y [>= n·(H+2)·(W+2) − (W+3), 4·C_out] -> out [n, C_out, 2H, 2W] (+ bias when defined; never
  // defined for 16-bit types, whose bias the driver adds).
  void (*interleave)(const at::Tensor& y, const at::Tensor& bias, at::Tensor& out);
  // grad [n, C_out, 2H, 2W] -> gy [n·(H+2)·(W+2), 4·C_out], zero where a phase has no output.
  void (*deinterleave)(const at::Tensor& grad, at::Tensor& gy);
  // gxp [n·(H+2)·(W+2), C] -> gx [n, C, H, W] (drops the border).
  void (*unpad)(const at::Tensor& gxp, at::Tensor& gx);
  // Split the batch into blocks whose operands stay in cache (CPU); otherwise one block.
  bool cache_blocks;
  // 16-bit inputs: pair the two taps of a row shift into one GEMM with K = 2·C_in (CPU).
  bool pair_16bit_taps;
};

at::Tensor forward(const at::Tensor& x, const at::Tensor& weight,
                   const c10::optional<at::Tensor>& bias, const LayoutPasses& passes);
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad, const at::Tensor& x,
                                                        const at::Tensor& weight,
                                                        const LayoutPasses& passes);

}  // namespace upconv
}  // namespace smg_fast
