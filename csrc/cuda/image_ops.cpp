// CUDA registrations: validation (shared with CPU), allocation, the caller's current stream, then
// the raw launchers of kernels.h. Built only when torch has CUDA (setup.py), because the CPU wheel
// cannot link c10_cuda; CI still compiles every .cu file with nvcc.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "../checks.h"
#include "../upsample_conv.h"
#include "../validate.h"
#include "kernels.h"

namespace smg_fast {
namespace {

cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

void check_launch(const char* op) {
  const cudaError_t err = cuda::last_error();
  TORCH_CHECK(err == cudaSuccess, "smg_fast::", op, " CUDA launch failed: ", cudaGetErrorString(err));
}

template <typename T, typename F>
void with_pixel_type(const at::Tensor& t, F&& f) {
  if (t.scalar_type() == at::kByte) {
    f(uint8_t{});
  } else {
    f(T{});
  }
}

at::Tensor composite_cuda(const at::Tensor& fg, const at::Tensor& bg, const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  const c10::cuda::CUDAGuard guard(fg.device());
  at::Tensor out = at::empty_like(fg);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite", [&] {
    cuda::composite<scalar_t>(fg.data_ptr<scalar_t>(), bg.data_ptr<scalar_t>(),
                              mask.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), l, stream());
  });
  check_launch("composite");
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> composite_backward_cuda(const at::Tensor& grad_in,
                                                                       const at::Tensor& fg,
                                                                       const at::Tensor& bg,
                                                                       const at::Tensor& mask) {
  const StackLayout l = validate_composite(fg, bg, mask);
  const c10::cuda::CUDAGuard guard(fg.device());
  const at::Tensor grad = grad_in.to(fg.scalar_type()).contiguous();
  TORCH_CHECK_VALUE(grad.sizes() == fg.sizes(), "grad must have the shape of fg ", fg.sizes(),
                    ", got ", grad.sizes());
  at::Tensor gfg = at::empty_like(fg), gbg = at::empty_like(bg), gmask = at::empty_like(mask);
  AT_DISPATCH_FLOATING_TYPES(fg.scalar_type(), "composite_backward", [&] {
    cuda::composite_backward<scalar_t>(grad.data_ptr<scalar_t>(), fg.data_ptr<scalar_t>(),
                                       bg.data_ptr<scalar_t>(), mask.data_ptr<scalar_t>(),
                                       gfg.data_ptr<scalar_t>(), gbg.data_ptr<scalar_t>(),
                                       gmask.data_ptr<scalar_t>(), l, stream());
  });
  check_launch("composite_backward");
  return {gfg, gbg, gmask};
}

at::Tensor attribution_augment_cuda(const at::Tensor& obs, const at::Tensor& mask,
                                    const at::Tensor& noise) {
  const StackLayout l = validate_attribution(obs, mask, noise);
  const c10::cuda::CUDAGuard guard(obs.device());
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(mask.scalar_type()));
  AT_DISPATCH_FLOATING_TYPES(mask.scalar_type(), "attribution_augment", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(noise, [&](auto noise_tag) {
        using TNoise = decltype(noise_tag);
        cuda::attribution_augment<T, TObs, TNoise>(obs.data_ptr<TObs>(), mask.data_ptr<T>(),
                                                   noise.data_ptr<TNoise>(), out.data_ptr<T>(), l,
                                                   stream());
      });
    });
  });
  check_launch("attribution_augment");
  return out;
}

at::Tensor overlay_cuda(const at::Tensor& obs, const at::Tensor& images, double alpha) {
  at::ScalarType out_dtype;
  const StackLayout l = validate_overlay(obs, images, alpha, &out_dtype);
  const c10::cuda::CUDAGuard guard(obs.device());
  at::Tensor out = at::empty(obs.sizes(), obs.options().dtype(out_dtype));
  AT_DISPATCH_FLOATING_TYPES(out_dtype, "overlay", [&] {
    using T = scalar_t;
    with_pixel_type<T>(obs, [&](auto obs_tag) {
      using TObs = decltype(obs_tag);
      with_pixel_type<T>(images, [&](auto img_tag) {
        using TImg = decltype(img_tag);
        cuda::overlay<T, TObs, TImg>(obs.data_ptr<TObs>(), images.data_ptr<TImg>(),
                                     static_cast<T>(alpha), out.data_ptr<T>(), l, stream());
      });
    });
  });
  check_launch("overlay");
  return out;
}

std::tuple<at::Tensor, at::Tensor> overlay_backward_cuda(const at::Tensor& grad_in, double alpha,
                                                         int64_t image_channels, bool obs_grad,
                                                         bool images_grad) {
  const at::Tensor grad = grad_in.contiguous();
  const StackLayout l = validate_overlay_backward(grad, alpha, image_channels);
  const c10::cuda::CUDAGuard guard(grad.device());
  at::Tensor gobs = obs_grad ? at::empty_like(grad) : at::empty({0}, grad.options());
  at::Tensor gimg = images_grad ? at::empty({l.batch, image_channels, grad.size(2), grad.size(3)}, grad.options())
                                : at::empty({0}, grad.options());
  if (grad.numel() > 0 && (obs_grad || images_grad)) {
    AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "overlay_backward", [&] {
      cuda::overlay_backward<scalar_t>(grad.data_ptr<scalar_t>(), static_cast<scalar_t>(alpha),
                                       obs_grad ? gobs.data_ptr<scalar_t>() : nullptr,
                                       images_grad ? gimg.data_ptr<scalar_t>() : nullptr, l, stream());
    });
    check_launch("overlay_backward");
  }
  return {gobs, gimg};
}

at::Tensor greenscreen_cuda(const at::Tensor& frames, const at::Tensor& background) {
  int64_t hw = 0;
  const int64_t n = validate_greenscreen(frames, background, &hw);
  const c10::cuda::CUDAGuard guard(frames.device());
  at::Tensor out = at::empty_like(frames);
  if (n > 0) {
    cuda::greenscreen(frames.data_ptr<uint8_t>(), background.data_ptr<uint8_t>(),
                      out.data_ptr<uint8_t>(), n, hw, stream());
    check_launch("greenscreen");
  }
  return out;
}

at::Tensor random_shift_cuda(const at::Tensor& obs, const at::Tensor& shifts, int64_t pad) {
  validate_random_shift(obs, shifts, pad);
  // Reading the offsets back costs a synchronisation; out-of-range offsets would read out of
  // bounds, so correctness wins here (the replay buffer draws valid offsets on the device itself).
  validate_shift_values(shifts.cpu(), pad);
  const c10::cuda::CUDAGuard guard(obs.device());
  const at::Tensor s = shifts.to(at::kLong).contiguous();
  at::Tensor out = at::empty_like(obs);
  if (obs.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kByte, obs.scalar_type(), "random_shift", [&] {
    cuda::random_shift<scalar_t>(obs.data_ptr<scalar_t>(), s.data_ptr<int64_t>(), pad,
                                 out.data_ptr<scalar_t>(), obs.size(0), obs.size(1), obs.size(2),
                                 obs.size(3), stream());
  });
  check_launch("random_shift");
  return out;
}

at::Tensor random_shift_backward_cuda(const at::Tensor& grad_in, const at::Tensor& shifts,
                                      int64_t pad) {
  const at::Tensor grad = grad_in.contiguous();
  validate_random_shift(grad, shifts, pad);
  check_float(grad, "grad");
  const c10::cuda::CUDAGuard guard(grad.device());
  const at::Tensor s = shifts.to(at::kLong).contiguous();
  at::Tensor out = at::empty_like(grad);
  if (grad.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "random_shift_backward", [&] {
    cuda::random_shift_backward<scalar_t>(grad.data_ptr<scalar_t>(), s.data_ptr<int64_t>(), pad,
                                          out.data_ptr<scalar_t>(), grad.size(0), grad.size(1),
                                          grad.size(2), grad.size(3), stream());
  });
  check_launch("random_shift_backward");
  return out;
}

at::Tensor replay_gather_cuda(const at::Tensor& frames, const at::Tensor& slots,
                              const at::Tensor& pos, const at::Tensor& shifts, int64_t k,
                              int64_t pad, c10::optional<at::ScalarType> dtype) {
  const at::ScalarType out_dtype = validate_replay_gather(frames, slots, pos, shifts, k, pad, dtype);
  const c10::cuda::CUDAGuard guard(frames.device());
  const int64_t n = slots.size(0);
  at::Tensor out =
      at::empty({n, 3 * k, frames.size(2), frames.size(3)}, frames.options().dtype(out_dtype));
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kByte, out_dtype, "replay_gather", [&] {
    cuda::replay_gather<scalar_t>(frames.data_ptr<uint8_t>(), slots.data_ptr<int64_t>(),
                                  pos.data_ptr<int64_t>(), shifts.data_ptr<int64_t>(),
                                  out.data_ptr<scalar_t>(), n, k, frames.size(0), frames.size(2),
                                  frames.size(3), pad, stream());
  });
  check_launch("replay_gather");
  return out;
}

}  // namespace

namespace upconv {

void pad_to_nhwc_cuda(const at::Tensor& x, at::Tensor& xp) {
  with_layout_type(x, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_pad<T>(data_as<T>(x), data_as<T>(xp), x.size(0), x.size(1), x.size(2), x.size(3),
                        stream());
  });
  check_launch("upsample_conv2d");
}

void interleave_phases_cuda(const at::Tensor& y, const at::Tensor& bias, at::Tensor& out) {
  with_layout_type(y, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_interleave<T>(data_as<T>(y), bias.defined() ? data_as<T>(bias) : nullptr,
                               data_as<T>(out), out.size(0), out.size(1), out.size(2) / 2,
                               out.size(3) / 2, stream());
  });
  check_launch("upsample_conv2d");
}

void deinterleave_phases_cuda(const at::Tensor& grad, at::Tensor& gy) {
  with_layout_type(grad, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_deinterleave<T>(data_as<T>(grad), data_as<T>(gy), grad.size(0), grad.size(1),
                                 grad.size(2) / 2, grad.size(3) / 2, stream());
  });
  check_launch("upsample_conv2d_backward");
}

void unpad_from_nhwc_cuda(const at::Tensor& gxp, at::Tensor& gx) {
  with_layout_type(gx, [&](auto tag) {
    using T = decltype(tag);
    cuda::upconv_unpad<T>(data_as<T>(gxp), data_as<T>(gx), gx.size(0), gx.size(1), gx.size(2),
                          gx.size(3), stream());
  });
  check_launch("upsample_conv2d_backward");
}

}  // namespace upconv

TORCH_LIBRARY_IMPL(smg_fast, CUDA, m) {
  m.impl("composite", &composite_cuda);
  m.impl("composite_backward", &composite_backward_cuda);
  m.impl("attribution_augment", &attribution_augment_cuda);
  m.impl("overlay", &overlay_cuda);
  m.impl("overlay_backward", &overlay_backward_cuda);
  m.impl("greenscreen", &greenscreen_cuda);
  m.impl("random_shift", &random_shift_cuda);
  m.impl("random_shift_backward", &random_shift_backward_cuda);
  m.impl("replay_gather", &replay_gather_cuda);
}

}  // namespace smg_fast
