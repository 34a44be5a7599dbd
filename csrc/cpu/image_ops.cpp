// CPU kernels of the elementwise image ops: one pass over memory per op, parallel over planes with
// at::parallel_for (OpenMP), inner loops simple enough for the compiler to vectorise.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <vector>

#include "../kernels/math.h"
#include "../checks.h"
#include "shift.h"
#include "../validate.h"

namespace smg_fast {
namespace {

// Calls f(tag) with tag's type = uint8_t for byte tensors, else T.
template <typename T, typename F>
void with_pixel_type(const at::Tensor& t, F&& f) {
  if (t.scalar_type() == at::kByte) {
    f(uint8_t{});
  } else {
    f(T{});
  }
}

// ---- composite ----------------------------------------------------------------------------------

template <typename T>
void composite_loop(const T* __restrict__ fg, const T* __restrict__ bg, const T* __restrict__ mask,
                    T* __restrict__ out, const StackLayout& l) {
  const int64_t k = l.per_mask(), hw = l.hw;
  at::parallel_for(0, l.batch * l.mask_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const T* m = mask + g * hw;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t o = (g * k + j) * hw;
        const T* __restrict__ f = fg + o;
        const T* __restrict__ b = bg + o;
        T* __restrict__ y = out + o;
        for (int64_t p = 0; p < hw; ++p) y[p] = math::composite(f[p], b[p], m[p]);
      }
    }
  });
}

template <typename T>
void composite_backward_loop(const T* __restrict__ grad, const T* __restrict__ fg,
                             const T* __restrict__ bg, const T* __restrict__ mask,
                             T* __restrict__ gfg, T* __restrict__ gbg, T* __restrict__ gmask,
                             const StackLayout& l) {
  const int64_t k = l.per_mask(), hw = l.hw;
  at::parallel_for(0, l.batch * l.mask_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const T* __restrict__ m = mask + g * hw;
      T* __restrict__ gm = gmask + g * hw;
      std::fill(gm, gm + hw, T(0));
      for (int64_t j = 0; j < k; ++j) {
        const int64_t o = (g * k + j) * hw;
        const T* __restrict__ gr = grad + o;
        const T* __restrict__ f = fg + o;
        const T* __restrict__ b = bg + o;
        T* __restrict__ gf = gfg + o;
        T* __restrict__ gb = gbg + o;
        for (int64_t p = 0; p < hw; ++p) {
          gf[p] = gr[p] * m[p];
          gb[p] = gr[p] * (T(1) - m[p]);
          gm[p] += math::composite_mask_grad_term(gr[p], f[p], b[p]);
        }
      }
    }
  });
}

at::Tensor composite_cpu(const at::Tensor& fg, const at::Tensor& bg, const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  at::Tensor out = at::empty_like(fg);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite", [&] {
    composite_loop<scalar_t>(fg.data_ptr<scalar_t>(), bg.data_ptr<scalar_t>(),
                             mask.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), l);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_backward_cpu(const at::Tensor& grad_in,
                                                                      const at::Tensor& fg,
                                                                      const at::Tensor& bg,
                                                                      const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  // Autograd hands over whatever layout the downstream op produced (e.g. an expanded ones tensor).
  const at::Tensor grad = grad_in.to(fg.scalar_type()).contiguous();
  TORCH_CHECK_VALUE(grad.sizes() == fg.sizes(), "grad must have the shape of fg ", fg.sizes(),
                    ", got ", grad.sizes());
  at::Tensor gfg = at::empty_like(fg), gbg = at::empty_like(bg), gmask = at::empty_like(mask);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite_backward", [&] {
    composite_backward_loop<scalar_t>(grad.data_ptr<scalar_t>(), fg.data_ptr<scalar_t>(),
                                      bg.data_ptr<scalar_t>(), mask.data_ptr<scalar_t>(),
                                      gfg.data_ptr<scalar_t>(), gbg.data_ptr<scalar_t>(),
                                      gmask.data_ptr<scalar_t>(), l);
  });
  return {gfg, gbg, gmask};
}

// ---- attribution augmentation -------------------------------------------------------------------

template <typename T, typename TObs, typename TNoise>
void attribution_loop(const TObs* __restrict__ obs, const T* __restrict__ mask,
                      const TNoise* __restrict__ noise, T* __restrict__ out, const StackLayout& l) {
  const int64_t k = l.per_mask(), hw = l.hw, nc = l.image_channels;
  at::parallel_for(0, l.batch * l.mask_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const T* m = mask + g * hw;
      const int64_t b = g / l.mask_channels;
      for (int64_t j = 0; j < k; ++j) {
        const int64_t c = (g % l.mask_channels) * k + j;
        const int64_t o = (g * k + j) * hw;
        const TNoise* __restrict__ e = noise + (b * nc + c % nc) * hw;
        const TObs* __restrict__ x = obs + o;
        T* __restrict__ y = out + o;
        for (int64_t p = 0; p < hw; ++p) {
          y[p] = math::composite(math::pixel<T>(x[p]), math::image_255<T>(e[p]), m[p]);
        }
      }
    }
  });
}

at::Tensor attribution_augment_cpu(const at::Tensor& obs, const at::Tensor& mask,
                                   const at::Tensor& noise) {
  const StackLayout l = validate_attribution(obs, mask, noise);
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(mask.scalar_type()));
  AT_DISPATCH_FLOATING_TYPES(mask.scalar_type(), "attribution_augment", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(noise, [&](auto noise_tag) {
        using TNoise = decltype(noise_tag);
        attribution_loop<T, TObs, TNoise>(obs.data_ptr<TObs>(), mask.data_ptr<T>(),
                                          noise.data_ptr<TNoise>(), out.data_ptr<T>(), l);
      });
    });
  });
  return out;
}

// ---- overlay ----------------------------------------------------------------------------------------

template <typename T, typename TObs, typename TImg>
void overlay_loop(const TObs* __restrict__ obs, const TImg* __restrict__ img, T alpha,
                  T* __restrict__ out, const StackLayout& l) {
  const int64_t hw = l.hw, nc = l.image_channels, c_all = l.channels;
  at::parallel_for(0, l.batch * c_all, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t b = plane / c_all, c = plane % c_all;
      const TObs* __restrict__ x = obs + plane * hw;
      const TImg* __restrict__ e = img + (b * nc + c % nc) * hw;
      T* __restrict__ o = out + plane * hw;
      for (int64_t p = 0; p < hw; ++p) {
        o[p] = math::overlay(math::pixel<T>(x[p]), math::image_255<T>(e[p]), alpha);
      }
    }
  });
}

at::Tensor overlay_cpu(const at::Tensor& obs, const at::Tensor& images, double alpha) {
  at::ScalarType out_dtype;
  const StackLayout l = validate_overlay(obs, images, alpha, &out_dtype);
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(out_dtype));
  AT_DISPATCH_FLOATING_TYPES(out_dtype, "overlay", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(images, [&](auto img_tag) {
        using TImg = decltype(img_tag);
        overlay_loop<T, TObs, TImg>(obs.data_ptr<TObs>(), images.data_ptr<TImg>(),
                                    static_cast<T>(alpha), out.data_ptr<T>(), l);
      });
    });
  });
  return out;
}

// One pass over the gradient: the obs gradient per channel, the image gradient summed over the frames
// that share an image. Each task owns one (sample, image channel) plane, so the sum needs no atomics.
template <typename T>
void overlay_backward_loop(const T* __restrict__ grad, T alpha, T* gobs, T* gimg, const StackLayout& l) {
  const int64_t hw = l.hw, nc = l.image_channels, c_all = l.channels, reps = c_all / nc;
  at::parallel_for(0, l.batch * nc, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / nc, ci = task % nc;
      T* __restrict__ gi = gimg ? gimg + task * hw : nullptr;
      for (int64_t r = 0; r < reps; ++r) {
        const int64_t plane = b * c_all + r * nc + ci;
        const T* __restrict__ g = grad + plane * hw;
        if (gobs) {
          T* __restrict__ go = gobs + plane * hw;
          for (int64_t p = 0; p < hw; ++p) go[p] = math::overlay_obs_grad(g[p], alpha);
        }
        if (gi) {
          if (r == 0) {
            for (int64_t p = 0; p < hw; ++p) gi[p] = math::overlay_image_grad(g[p], alpha);
          } else {
            for (int64_t p = 0; p < hw; ++p) gi[p] += math::overlay_image_grad(g[p], alpha);
          }
        }
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor> overlay_backward_cpu(const at::Tensor& grad_in, double alpha,
                                                        int64_t image_channels, bool obs_grad,
                                                        bool images_grad) {
  const at::Tensor grad = grad_in.contiguous();
  const StackLayout l = validate_overlay_backward(grad, alpha, image_channels);
  at::Tensor gobs = obs_grad ? at::empty_like(grad) : at::empty({0}, grad.options());
  at::Tensor gimg = images_grad ? at::empty({l.batch, image_channels, grad.size(2), grad.size(3)}, grad.options())
                                : at::empty({0}, grad.options());
  if (grad.numel() > 0 && (obs_grad || images_grad)) {
    AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "overlay_backward", [&] {
      overlay_backward_loop<scalar_t>(grad.data_ptr<scalar_t>(), static_cast<scalar_t>(alpha),
                                      obs_grad ? gobs.data_ptr<scalar_t>() : nullptr,
                                      images_grad ? gimg.data_ptr<scalar_t>() : nullptr, l);
    });
  }
  return {gobs, gimg};
}

// ---- greenscreen --------------------------------------------------------------------------------
// Exact integer test per pixel (vectorised), upstream's float64 formula only for the rare ties.
// (An AVX2 clone of this function was twice as fast single-threaded but stalled ~8 ms per call
// inside OpenMP workers on the reference machine, so the portable build is used.)

void greenscreen_frame(const uint8_t* __restrict__ f, const uint8_t* __restrict__ bg,
                       uint8_t* __restrict__ o, uint8_t* __restrict__ code, int64_t len) {
  const uint8_t *r = f, *g = f + len, *b = f + 2 * len;
  for (int64_t p = 0; p < len; ++p) {
    code[p] = static_cast<uint8_t>(math::greenscreen_key_int(r[p], g[p], b[p]));
  }
  // Ties (code 2) are a few pixels per frame at most: find them with memchr.
  for (uint8_t* t = code; (t = static_cast<uint8_t*>(std::memchr(t, 2, code + len - t))); ++t) {
    const int64_t p = t - code;
    *t = math::greenscreen_key(r[p], g[p], b[p]);
  }
  for (int64_t c = 0; c < 3; ++c) {
    const uint8_t* __restrict__ src = f + c * len;
    const uint8_t* __restrict__ back = bg + c * len;
    uint8_t* __restrict__ dst = o + c * len;
    for (int64_t p = 0; p < len; ++p) {
      const uint8_t key = static_cast<uint8_t>(-code[p]);  // 0xFF where keyed
      dst[p] = static_cast<uint8_t>((back[p] & key) | (src[p] & ~key));
    }
  }
}

at::Tensor greenscreen_cpu(const at::Tensor& frames, const at::Tensor& background) {
  int64_t hw = 0;
  const int64_t n = validate_greenscreen(frames, background, &hw);
  at::Tensor out = at::empty_like(frames);
  const uint8_t* f = frames.data_ptr<uint8_t>();
  const uint8_t* bg = background.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> code(hw);
    for (int64_t i = begin; i < end; ++i) {
      greenscreen_frame(f + i * 3 * hw, bg + i * 3 * hw, o + i * 3 * hw, code.data(), hw);
    }
  });
  return out;
}

// ---- random shift -------------------------------------------------------------------------------

}  // namespace

// One H×W plane, replicate-padded by `pad` and cropped at (sx, sy); converts TIn → TOut on the way.
// Shared with the replay buffer's gather (replay.cpp).
template <typename TIn, typename TOut>
void shift_plane(const TIn* __restrict__ in, TOut* __restrict__ out, int64_t h, int64_t w,
                 int64_t sx, int64_t sy, int64_t pad) {
  const int64_t dx = sx - pad;
  // Columns [j0, j1) read the row in place; the rest repeat its edge pixels.
  const int64_t j0 = std::min(w, std::max<int64_t>(0, -dx));
  const int64_t j1 = std::max(j0, std::min(w, w - dx));
  for (int64_t i = 0; i < h; ++i) {
    const TIn* row = in + math::shift_source(i, sy, pad, h) * w;
    TOut* o = out + i * w;
    std::fill(o, o + j0, static_cast<TOut>(row[0]));
    std::transform(row + j0 + dx, row + j1 + dx, o + j0, [](TIn v) { return static_cast<TOut>(v); });
    std::fill(o + j1, o + w, static_cast<TOut>(row[w - 1]));
  }
}

template void shift_plane<uint8_t, uint8_t>(const uint8_t*, uint8_t*, int64_t, int64_t, int64_t,
                                            int64_t, int64_t);
template void shift_plane<uint8_t, float>(const uint8_t*, float*, int64_t, int64_t, int64_t,
                                          int64_t, int64_t);
template void shift_plane<uint8_t, double>(const uint8_t*, double*, int64_t, int64_t, int64_t,
                                           int64_t, int64_t);

namespace {

template <typename T>
void shift_loop(const T* in, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                int64_t channels, int64_t h, int64_t w) {
  at::parallel_for(0, batch * channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t b = plane / channels;
      shift_plane<T, T>(in + plane * h * w, out + plane * h * w, h, w, shifts[2 * b],
                        shifts[2 * b + 1], pad);
    }
  });
}

template <typename T>
void shift_backward_loop(const T* grad, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                         int64_t channels, int64_t h, int64_t w) {
  at::parallel_for(0, batch * channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t b = plane / channels;
      const int64_t sx = shifts[2 * b], sy = shifts[2 * b + 1];
      const T* g = grad + plane * h * w;
      for (int64_t y = 0; y < h; ++y) {
        int64_t i0, i1;
        math::shift_preimage(y, sy, pad, h, &i0, &i1);
        for (int64_t x = 0; x < w; ++x) {
          int64_t j0, j1;
          math::shift_preimage(x, sx, pad, w, &j0, &j1);
          T acc = T(0);
          for (int64_t i = i0; i <= i1; ++i) {
            for (int64_t j = j0; j <= j1; ++j) acc += g[i * w + j];
          }
          out[(plane * h + y) * w + x] = acc;
        }
      }
    }
  });
}

at::Tensor random_shift_cpu(const at::Tensor& obs, const at::Tensor& shifts, int64_t pad) {
  validate_random_shift(obs, shifts, pad);
  validate_shift_values(shifts, pad);
  const at::Tensor s = shifts.to(at::kLong).contiguous();
  at::Tensor out = at::empty_like(obs);
  if (obs.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kByte, obs.scalar_type(), "random_shift", [&] {
    shift_loop<scalar_t>(obs.data_ptr<scalar_t>(), s.data_ptr<int64_t>(), pad,
                         out.data_ptr<scalar_t>(), obs.size(0), obs.size(1), obs.size(2),
                         obs.size(3));
  });
  return out;
}

at::Tensor random_shift_backward_cpu(const at::Tensor& grad_in, const at::Tensor& shifts,
                                     int64_t pad) {
  const at::Tensor grad = grad_in.contiguous();
  validate_random_shift(grad, shifts, pad);
  check_float(grad, "grad");
  const at::Tensor s = shifts.to(at::kLong).contiguous();
  at::Tensor out = at::empty_like(grad);
  if (grad.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "random_shift_backward", [&] {
    shift_backward_loop<scalar_t>(grad.data_ptr<scalar_t>(), s.data_ptr<int64_t>(), pad,
                                  out.data_ptr<scalar_t>(), grad.size(0), grad.size(1),
                                  grad.size(2), grad.size(3));
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(smg_fast, CPU, m) {
  m.impl("composite", &composite_cpu);
  m.impl("composite_backward", &composite_backward_cpu);
  m.impl("attribution_augment", &attribution_augment_cpu);
  m.impl("overlay", &overlay_cpu);
  m.impl("overlay_backward", &overlay_backward_cpu);
  m.impl("greenscreen", &greenscreen_cpu);
  m.impl("random_shift", &random_shift_cpu);
  m.impl("random_shift_backward", &random_shift_backward_cpu);
}

}  // namespace smg_fast
