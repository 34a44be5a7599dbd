// CUDA layout kernels of upsample_conv2d (see ../upsample_conv2d.h); index maps from
// ../common/math.h, shared with ../cpu/upsample_conv2d_kernel.cpp. The GEMMs run in cuBLAS through
// at::mm in the driver.
#include "../common/math.h"
#include "launch.h"
#include "launchers.h"

namespace smg_fast {
namespace cuda {
namespace {

template <typename T>
__global__ void pad_kernel(const T* __restrict__ x, T* __restrict__ xp, int64_t n, int64_t c,
                           int64_t h, int64_t w) {
  const int64_t hp = h + 2, wp = w + 2;
  SMG_GRID_STRIDE(i, n * hp * wp * c) {
    const int64_t ch = i % c, v = (i / c) % wp, u = (i / (c * wp)) % hp, b = i / (c * wp * hp);
    const bool inside = u > 0 && u <= h && v > 0 && v <= w;
    xp[i] = inside ? x[((b * c + ch) * h + u - 1) * w + v - 1] : T(0);
  }
}

template <typename T>
__global__ void interleave_kernel(const T* __restrict__ y, const T* __restrict__ bias,
                                  T* __restrict__ out, int64_t n, int64_t cout, int64_t h,
                                  int64_t w) {
  const int64_t oh = 2 * h, ow = 2 * w;
  SMG_GRID_STRIDE(i, n * cout * oh * ow) {
    const int64_t ox = i % ow, oy = (i / ow) % oh, o = (i / (ow * oh)) % cout,
                  b = i / (ow * oh * cout);
    out[i] = y[math::upconv_y_offset(b, o, oy, ox, h, w, cout)] + (bias ? bias[o] : T(0));
  }
}

template <typename T>
__global__ void deinterleave_kernel(const T* __restrict__ grad, T* __restrict__ gy, int64_t n,
                                    int64_t cout, int64_t h, int64_t w) {
  const int64_t hp = h + 2, wp = w + 2, oh = 2 * h, ow = 2 * w;
  SMG_GRID_STRIDE(i, n * hp * wp * cout * 4) {
    const int px = i & 1, py = (i >> 1) & 1;
    const int64_t o = (i / 4) % cout, v = (i / (4 * cout)) % wp, u = (i / (4 * cout * wp)) % hp,
                  b = i / (4 * cout * wp * hp);
    int64_t oy, ox;
    gy[i] = math::upconv_grid_to_output(u, v, py, px, h, w, &oy, &ox)
                ? grad[((b * cout + o) * oh + oy) * ow + ox]
                : T(0);
  }
}

template <typename T>
__global__ void unpad_kernel(const T* __restrict__ gxp, T* __restrict__ gx, int64_t n, int64_t c,
                             int64_t h, int64_t w) {
  const int64_t hp = h + 2, wp = w + 2;
  SMG_GRID_STRIDE(i, n * c * h * w) {
    const int64_t x = i % w, y = (i / w) % h, ch = (i / (w * h)) % c, b = i / (w * h * c);
    gx[i] = gxp[((b * hp + y + 1) * wp + x + 1) * c + ch];
  }
}

}  // namespace

template <typename T>
void upconv_pad(const T* x, T* xp, int64_t n, int64_t c, int64_t h, int64_t w, cudaStream_t s) {
  launch_1d(pad_kernel<T>, n * (h + 2) * (w + 2) * c, s, x, xp, n, c, h, w);
}

template <typename T>
void upconv_interleave(const T* y, const T* bias, T* out, int64_t n, int64_t cout, int64_t h,
                       int64_t w, cudaStream_t s) {
  launch_1d(interleave_kernel<T>, n * cout * 4 * h * w, s, y, bias, out, n, cout, h, w);
}

template <typename T>
void upconv_deinterleave(const T* grad, T* gy, int64_t n, int64_t cout, int64_t h, int64_t w,
                         cudaStream_t s) {
  launch_1d(deinterleave_kernel<T>, n * (h + 2) * (w + 2) * cout * 4, s, grad, gy, n, cout, h, w);
}

template <typename T>
void upconv_unpad(const T* gxp, T* gx, int64_t n, int64_t c, int64_t h, int64_t w, cudaStream_t s) {
  launch_1d(unpad_kernel<T>, n * c * h * w, s, gxp, gx, n, c, h, w);
}

#define SMG_INSTANTIATE_UPCONV(T)                                                             \
  template void upconv_pad<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, cudaStream_t); \
  template void upconv_interleave<T>(const T*, const T*, T*, int64_t, int64_t, int64_t,        \
                                     int64_t, cudaStream_t);                                   \
  template void upconv_deinterleave<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t,       \
                                       cudaStream_t);                                          \
  template void upconv_unpad<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, cudaStream_t);

SMG_INSTANTIATE_UPCONV(float)
SMG_INSTANTIATE_UPCONV(double)
SMG_INSTANTIATE_UPCONV(uint16_t)  // bfloat16 / float16 as raw words: moves only, bias added by the caller

}  // namespace cuda
}  // namespace smg_fast
