// CPU layout kernels of upsample_conv2d (see ../upsample_conv2d.h) and its CPU registration. Each
// task owns one row of the padded grid, (b, u), so its block of the channels-last tensor stays in
// L1/L2 while it is transposed to or from the NCHW side.
#include <ATen/Parallel.h>

#include <algorithm>

#include "../common/dispatch.h"
#include "../common/library.h"
#include "../common/math.h"
#include "../upsample_conv2d.h"

namespace smg_fast {
namespace upconv {
namespace {

template <typename T>
void pad_loop(const T* x, T* xp, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t hp = h + 2, wp = w + 2;
  at::parallel_for(0, n * hp, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / hp, u = row % hp;
      T* dst = xp + row * wp * c;
      if (u == 0 || u == hp - 1) {
        std::fill(dst, dst + wp * c, T(0));
        continue;
      }
      std::fill(dst, dst + c, T(0));
      std::fill(dst + (wp - 1) * c, dst + wp * c, T(0));
      const T* src = x + (b * c * h + (u - 1)) * w;
      // Tiles of 16 channels: the inner loop stores 16 contiguous values (vectorised) and reads
      // 16 channel rows in step, each sequentially.
      constexpr int64_t kTile = 16;
      int64_t ch0 = 0;
      for (; ch0 + kTile <= c; ch0 += kTile) {
        for (int64_t v = 0; v < w; ++v) {
          T* d = dst + (v + 1) * c + ch0;
          const T* s = src + ch0 * h * w + v;
          for (int64_t k = 0; k < kTile; ++k) d[k] = s[k * h * w];
        }
      }
      for (int64_t ch = ch0; ch < c; ++ch) {
        const T* s = src + ch * h * w;
        for (int64_t v = 0; v < w; ++v) dst[(v + 1) * c + ch] = s[v];
      }
    }
  });
}

template <typename T>
void interleave_loop(const T* y, const T* bias, T* out, int64_t n, int64_t cout, int64_t h,
                     int64_t w) {
  const int64_t ow = 2 * w, oh = 2 * h;
  // Output row oy is fed by grid row u = oy/2 + (oy & 1); so grid row u feeds rows 2u and 2u − 1.
  at::parallel_for(0, n * (h + 1), 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / (h + 1), u = task % (h + 1);
      for (int py = 0; py < 2; ++py) {
        const int64_t oy = 2 * u - py;
        if (oy < 0 || oy >= oh) continue;
        for (int64_t o = 0; o < cout; ++o) {
          const T bo = bias ? bias[o] : T(0);
          T* dst = out + ((b * cout + o) * oh + oy) * ow;
          for (int64_t ox = 0; ox < ow; ++ox) {
            dst[ox] = y[math::upconv_y_offset(b, o, oy, ox, h, w, cout)] + bo;
          }
        }
      }
    }
  });
}

template <typename T>
void deinterleave_loop(const T* grad, T* gy, int64_t n, int64_t cout, int64_t h, int64_t w) {
  const int64_t hp = h + 2, wp = w + 2, ow = 2 * w, oh = 2 * h;
  at::parallel_for(0, n * hp, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / hp, u = row % hp;
      T* dst = gy + row * wp * 4 * cout;
      for (int64_t v = 0; v < wp; ++v) {
        for (int64_t o = 0; o < cout; ++o) {
          const T* g = grad + (b * cout + o) * oh * ow;
          for (int py = 0; py < 2; ++py) {
            for (int px = 0; px < 2; ++px) {
              int64_t oy, ox;
              dst[(v * cout + o) * 4 + py * 2 + px] =
                  math::upconv_grid_to_output(u, v, py, px, h, w, &oy, &ox) ? g[oy * ow + ox] : T(0);
            }
          }
        }
      }
    }
  });
}

template <typename T>
void unpad_loop(const T* gxp, T* gx, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t hp = h + 2, wp = w + 2;
  at::parallel_for(0, n * h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / h, y = row % h;
      const T* src = gxp + ((b * hp + y + 1) * wp + 1) * c;
      constexpr int64_t kTile = 16;  // as in pad_loop: 16 channel rows written in step
      int64_t ch0 = 0;
      for (; ch0 + kTile <= c; ch0 += kTile) {
        T* dst = gx + ((b * c + ch0) * h + y) * w;
        for (int64_t x = 0; x < w; ++x) {
          const T* s = src + x * c + ch0;
          for (int64_t k = 0; k < kTile; ++k) dst[k * h * w + x] = s[k];
        }
      }
      for (int64_t ch = ch0; ch < c; ++ch) {
        T* dst = gx + ((b * c + ch) * h + y) * w;
        for (int64_t x = 0; x < w; ++x) dst[x] = src[x * c + ch];
      }
    }
  });
}

void pad_to_nhwc_cpu(const at::Tensor& x, at::Tensor& xp) {
  with_layout_type(x, [&](auto tag) {
    using T = decltype(tag);
    pad_loop<T>(data_as<T>(x), data_as<T>(xp), x.size(0), x.size(1), x.size(2), x.size(3));
  });
}

void interleave_phases_cpu(const at::Tensor& y, const at::Tensor& bias, at::Tensor& out) {
  with_layout_type(y, [&](auto tag) {
    using T = decltype(tag);
    interleave_loop<T>(data_as<T>(y), bias.defined() ? data_as<T>(bias) : nullptr, data_as<T>(out),
                       out.size(0), out.size(1), out.size(2) / 2, out.size(3) / 2);
  });
}

void deinterleave_phases_cpu(const at::Tensor& grad, at::Tensor& gy) {
  with_layout_type(grad, [&](auto tag) {
    using T = decltype(tag);
    deinterleave_loop<T>(data_as<T>(grad), data_as<T>(gy), grad.size(0), grad.size(1),
                         grad.size(2) / 2, grad.size(3) / 2);
  });
}

void unpad_from_nhwc_cpu(const at::Tensor& gxp, at::Tensor& gx) {
  with_layout_type(gx, [&](auto tag) {
    using T = decltype(tag);
    unpad_loop<T>(data_as<T>(gxp), data_as<T>(gx), gx.size(0), gx.size(1), gx.size(2), gx.size(3));
  });
}

constexpr LayoutPasses kCpuPasses{pad_to_nhwc_cpu, interleave_phases_cpu, deinterleave_phases_cpu,
                                  unpad_from_nhwc_cpu, /*cache_blocks=*/true,
                                  /*pair_16bit_taps=*/true};

at::Tensor upsample_conv2d_cpu(const at::Tensor& x, const at::Tensor& weight,
                               const c10::optional<at::Tensor>& bias) {
  return forward(x, weight, bias, kCpuPasses);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> upsample_conv2d_backward_cpu(const at::Tensor& grad,
                                                                            const at::Tensor& x,
                                                                            const at::Tensor& weight) {
  return backward(grad, x, weight, kCpuPasses);
}

}  // namespace
}  // namespace upconv
}  // namespace smg_fast

SMG_FAST_CPU_KERNELS(m) {
  m.impl("upsample_conv2d", &smg_fast::upconv::upsample_conv2d_cpu);
  m.impl("upsample_conv2d_backward", &smg_fast::upconv::upsample_conv2d_backward_cpu);
}
