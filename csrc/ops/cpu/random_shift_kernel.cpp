// CPU kernel of random_shift: one plane per task (at::parallel_for, OpenMP), rows copied in place
// with the replicate padding filled from the edge pixels (shift_plane.h).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>

#include "../common/checks.h"
#include "../common/library.h"
#include "../common/math.h"
#include "../random_shift.h"
#include "shift_plane.h"

namespace smg_fast {
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
}  // namespace smg_fast

SMG_FAST_CPU_KERNELS(m) {
  m.impl("random_shift", &smg_fast::random_shift_cpu);
  m.impl("random_shift_backward", &smg_fast::random_shift_backward_cpu);
}
