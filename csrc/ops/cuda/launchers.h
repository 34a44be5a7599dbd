// Launchers: the host functions, one per CUDA kernel, defined next to it in <op>_kernel.cu, that the
// tensor glue (<op>_glue.cpp) calls. Raw pointers, sizes and the caller's stream, nothing from
// torch, so the .cu files compile with plain nvcc in about a second (and as C++ in the emulation
// build, see emulation.h).
#pragma once

#ifdef SMG_CUDA_EMULATION
#include "emulation.h"
#else
#include <cuda_runtime_api.h>
#endif

#include <cstdint>

#include "../common/stack_layout.h"

namespace smg_fast {
namespace cuda {

// composite_kernel.cu
template <typename T>
void composite(const T* fg, const T* bg, const T* mask, T* out, StackLayout l, cudaStream_t s);
template <typename T>
void composite_backward(const T* grad, const T* fg, const T* bg, const T* mask, T* gfg, T* gbg,
                        T* gmask, StackLayout l, cudaStream_t s);

// attribution_augment_kernel.cu
template <typename T, typename TObs, typename TNoise>
void attribution_augment(const TObs* obs, const T* mask, const TNoise* noise, T* out, StackLayout l,
                         cudaStream_t s);

// overlay_kernel.cu
template <typename T, typename TObs, typename TImg>
void overlay(const TObs* obs, const TImg* img, T alpha, T* out, StackLayout l, cudaStream_t s);
template <typename T>
void overlay_backward(const T* grad, T alpha, T* gobs, T* gimg, StackLayout l, cudaStream_t s);

// greenscreen_kernel.cu
void greenscreen(const uint8_t* frames, const uint8_t* background, uint8_t* out, int64_t n,
                 int64_t hw, cudaStream_t s);

// random_shift_kernel.cu
template <typename T>
void random_shift(const T* in, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                  int64_t channels, int64_t h, int64_t w, cudaStream_t s);
template <typename T>
void random_shift_backward(const T* grad, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                           int64_t channels, int64_t h, int64_t w, cudaStream_t s);

// upsample_conv2d_kernel.cu: the layout kernels (see ../upsample_conv2d.h). T = float, double, or
// uint16_t for the bits of bfloat16 / float16 (then bias must be null: the caller adds it).
template <typename T>
void upconv_pad(const T* x, T* xp, int64_t n, int64_t c, int64_t h, int64_t w, cudaStream_t s);
template <typename T>
void upconv_interleave(const T* y, const T* bias, T* out, int64_t n, int64_t cout, int64_t h,
                       int64_t w, cudaStream_t s);
template <typename T>
void upconv_deinterleave(const T* grad, T* gy, int64_t n, int64_t cout, int64_t h, int64_t w,
                         cudaStream_t s);
template <typename T>
void upconv_unpad(const T* gxp, T* gx, int64_t n, int64_t c, int64_t h, int64_t w, cudaStream_t s);

// replay_gather_kernel.cu
template <typename T>
void replay_gather(const uint8_t* frames, const int64_t* slots, const int64_t* pos,
                   const int64_t* shifts, T* out, int64_t n, int64_t k, int64_t capacity, int64_t h,
                   int64_t w, int64_t pad, cudaStream_t s);

}  // namespace cuda
}  // namespace smg_fast
