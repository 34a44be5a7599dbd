// CUDA kernels of random_shift (CPU twin: ../cpu/random_shift_kernel.cpp); index maps from
// ../common/math.h.
#include "../common/math.h"
#include "launch.h"
#include "launchers.h"

namespace smg_fast {
namespace cuda {
namespace {

template <typename T>
__global__ void shift_kernel(const T* __restrict__ in, const int64_t* __restrict__ shifts,
                             int64_t pad, T* __restrict__ out, int64_t batch, int64_t channels,
                             int64_t h, int64_t w) {
  SMG_GRID_STRIDE(i, batch * channels * h * w) {
    const int64_t x = i % w, y = (i / w) % h, plane = i / (h * w), b = plane / channels;
    const int64_t sy = math::shift_source(y, shifts[2 * b + 1], pad, h);
    const int64_t sx = math::shift_source(x, shifts[2 * b], pad, w);
    out[i] = in[(plane * h + sy) * w + sx];
  }
}

// One thread per input pixel: it sums the output pixels that read it (a run at the borders).
template <typename T>
__global__ void shift_backward_kernel(const T* __restrict__ grad,
                                      const int64_t* __restrict__ shifts, int64_t pad,
                                      T* __restrict__ out, int64_t batch, int64_t channels,
                                      int64_t h, int64_t w) {
  SMG_GRID_STRIDE(i, batch * channels * h * w) {
    const int64_t x = i % w, y = (i / w) % h, plane = i / (h * w), b = plane / channels;
    int64_t i0, i1, j0, j1;
    math::shift_preimage(y, shifts[2 * b + 1], pad, h, &i0, &i1);
    math::shift_preimage(x, shifts[2 * b], pad, w, &j0, &j1);
    const T* g = grad + plane * h * w;
    T acc = T(0);
    for (int64_t r = i0; r <= i1; ++r) {
      for (int64_t c = j0; c <= j1; ++c) acc += g[r * w + c];
    }
    out[i] = acc;
  }
}

}  // namespace

template <typename T>
void random_shift(const T* in, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                  int64_t channels, int64_t h, int64_t w, cudaStream_t s) {
  launch_1d(shift_kernel<T>, batch * channels * h * w, s, in, shifts, pad, out, batch, channels, h,
            w);
}

template <typename T>
void random_shift_backward(const T* grad, const int64_t* shifts, int64_t pad, T* out, int64_t batch,
                           int64_t channels, int64_t h, int64_t w, cudaStream_t s) {
  launch_1d(shift_backward_kernel<T>, batch * channels * h * w, s, grad, shifts, pad, out, batch,
            channels, h, w);
}

template void random_shift<uint8_t>(const uint8_t*, const int64_t*, int64_t, uint8_t*, int64_t,
                                    int64_t, int64_t, int64_t, cudaStream_t);
template void random_shift<float>(const float*, const int64_t*, int64_t, float*, int64_t, int64_t,
                                  int64_t, int64_t, cudaStream_t);
template void random_shift<double>(const double*, const int64_t*, int64_t, double*, int64_t,
                                   int64_t, int64_t, int64_t, cudaStream_t);
template void random_shift_backward<float>(const float*, const int64_t*, int64_t, float*, int64_t,
                                           int64_t, int64_t, int64_t, cudaStream_t);
template void random_shift_backward<double>(const double*, const int64_t*, int64_t, double*,
                                            int64_t, int64_t, int64_t, int64_t, cudaStream_t);

}  // namespace cuda
}  // namespace smg_fast
