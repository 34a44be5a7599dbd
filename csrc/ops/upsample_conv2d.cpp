// upsample_conv2d: schema, argument checks and the device-generic driver (the math is explained in
// upsample_conv2d.h). The CPU and CUDA registrations (cpu/upsample_conv2d_kernel.cpp,
// cuda/upsample_conv2d_glue.cpp) call forward / backward with their own layout kernels; the
// autocast kernels are registered here.
#include "upsample_conv2d.h"

#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <ATen/record_function.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <utility>

#include "common/checks.h"
#include "common/library.h"

// Declared in ATen/autocast_mode.h, which pulls in all of ATen (~25 s more per build of this unit).
namespace at::autocast {
TORCH_API at::ScalarType get_autocast_dtype(at::DeviceType device_type);
}  // namespace at::autocast

namespace smg_fast {

void validate_upsample_conv2d(const at::Tensor& x, const at::Tensor& weight,
                              const c10::optional<at::Tensor>& bias) {
  check_defined(x, "x");
  check_rank(x, "x", 4, "[B, C_in, H, W]");
  check_float_or_half(x, "x");
  check_contiguous(x, "x");
  check_defined(weight, "weight");
  check_rank(weight, "weight", 4, "[C_out, C_in, 3, 3]");
  TORCH_CHECK_VALUE(weight.size(2) == 3 && weight.size(3) == 3,
                    "weight must hold 3x3 kernels, shape [C_out, C_in, 3, 3], got ", weight.sizes());
  TORCH_CHECK_VALUE(weight.size(1) == x.size(1), "weight must have C_in = ", x.size(1),
                    " input channels like x, got shape ", weight.sizes());
  check_same_dtype(weight, "weight", x, "x");
  check_same_device(weight, "weight", x, "x");
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == weight.size(0),
                      "bias must have shape [C_out] = [", weight.size(0), "], got ", bias->sizes());
    check_same_dtype(*bias, "bias", x, "x");
    check_same_device(*bias, "bias", x, "x");
  }
}

namespace upconv {
namespace {

// Runs one layout kernel as a named range in torch.profiler traces.
template <typename Kernel, typename... Args>
void profiled(const char* name, Kernel kernel, Args&&... args) {
  RECORD_FUNCTION(name, std::vector<c10::IValue>());
  kernel(std::forward<Args>(args)...);
}

// Tap t ∈ {0,1,2} of a 3-tap kernel lands on tap phase_tap(p, t) of phase p's 2-tap kernel
// (common/math.h). Along one axis the four (phase, tap) combinations are therefore
//   (0,0): w0   (0,1): w1 + w2   (1,0): w0 + w1   (1,1): w2.
at::Tensor fold_axis(const at::Tensor& w, int64_t dim) {
  const at::Tensor w0 = w.select(dim, 0), w1 = w.select(dim, 1), w2 = w.select(dim, 2);
  return at::stack({w0, w1.add(w2), w0.add(w1), w2}, dim);
}

// Its adjoint: gradients of the four combinations back onto the three taps.
at::Tensor unfold_axis(const at::Tensor& g, int64_t dim) {
  const at::Tensor g0 = g.select(dim, 0), g1 = g.select(dim, 1), g2 = g.select(dim, 2),
                   g3 = g.select(dim, 3);
  return at::stack({g0.add(g2), g1.add(g2), g1.add(g3)}, dim);
}

bool is_16bit(const at::Tensor& t) { return t.element_size() == 2; }

// weight [Co, Ci, 3, 3] -> Wt [2 (a), 2 (c), Ci, 4·Co] with column o·4 + py·2 + px. The tap sums
// of 16-bit weights are formed in float and rounded once.
at::Tensor phase_weights(const at::Tensor& weight) {
  const int64_t co = weight.size(0), ci = weight.size(1);
  const at::Tensor w = is_16bit(weight) ? weight.to(at::kFloat) : weight;
  at::Tensor k = fold_axis(fold_axis(w, 2), 3);  // [Co, Ci, (py,a), (px,c)]
  return k.view({co, ci, 2, 2, 2, 2})            // o, i, py, a, px, c
      .permute({3, 5, 1, 0, 2, 4})               // a, c, i, o, py, px
      .contiguous()
      .view({2, 2, ci, 4 * co})
      .to(weight.scalar_type());
}

at::Tensor phase_weights_grad_to_weight(const at::Tensor& gwt, int64_t co, int64_t ci) {
  at::Tensor g = gwt.view({2, 2, ci, co, 2, 2})  // a, c, i, o, py, px
                     .permute({3, 2, 4, 0, 5, 1})  // o, i, py, a, px, c
                     .reshape({co, ci, 4, 4});
  return unfold_axis(unfold_axis(g, 3), 2).contiguous();
}

// Samples per GEMM block: with cache_blocks (CPU) keep the block's padded input and GEMM output near
// 4 MiB, so the four tap GEMMs re-read the input from cache and the interleave reads the output from
// cache (measured on the 2-core reference machine: 8-20 % faster decoder passes than an 8 MiB bound
// on the output alone); accelerators take the whole batch at once.
int64_t block_size(const at::Tensor& x, int64_t cout, const LayoutPasses& passes) {
  const int64_t batch = std::max<int64_t>(x.size(0), 1);
  if (!passes.cache_blocks) return batch;
  const int64_t per_sample = (x.size(2) + 2) * (x.size(3) + 2) * (x.size(1) + 4 * cout) * x.element_size();
  return std::clamp<int64_t>((int64_t{4} << 20) / std::max<int64_t>(per_sample, 1), 1, batch);
}

// Row offsets of the four taps in the flattened padded grid.
std::array<int64_t, 4> tap_shifts(int64_t w) { return {0, 1, w + 2, w + 3}; }

}  // namespace

at::Tensor forward(const at::Tensor& x, const at::Tensor& weight,
                   const c10::optional<at::Tensor>& bias_opt, const LayoutPasses& k) {
  validate_upsample_conv2d(x, weight, bias_opt);
  const int64_t batch = x.size(0), ci = x.size(1), h = x.size(2), w = x.size(3), co = weight.size(0);
  at::Tensor out = at::empty({batch, co, 2 * h, 2 * w}, x.options());
  if (out.numel() == 0) return out;
  const at::Tensor bias = bias_opt.has_value() ? bias_opt->contiguous() : at::Tensor();
  if (ci == 0) {
    out.zero_();
    if (bias.defined()) out.add_(bias.view({1, co, 1, 1}));
    return out;
  }
  const bool words = is_16bit(x);
  const at::Tensor wt = phase_weights(weight);
  const int64_t grid = (h + 2) * (w + 2);
  const auto shifts = tap_shifts(w);
  // With pair_16bit_taps (CPU), 16-bit inputs pair the taps c = 0, 1 of a row shift a: row r of
  // xpair holds [xp[r], xp[r + 1]], so two GEMMs with K = 2·C_in (Wt[a] viewed as [2·C_in, 4·C_out])
  // replace four with K = C_in and the output is accumulated into once instead of three times.
  // Measured on the 2-core reference CPU, forward at 384 frames: bf16 128→64 215 ms against 250,
  // 64→4 111 against 127; float32 gained nothing (64→4 lost 7 %), so float32 and accelerators keep
  // four GEMMs.
  const bool pair = words && k.pair_16bit_taps;
  const int64_t block = block_size(x, co, k);
  at::Tensor xp = at::empty({block * grid, ci}, x.options());
  at::Tensor xpair = pair ? at::empty({block * grid, 2 * ci}, x.options()) : at::Tensor();
  at::Tensor y = at::empty({block * grid, 4 * co}, x.options());
  for (int64_t s = 0; s < batch; s += block) {
    const int64_t n = std::min(block, batch - s);
    at::Tensor xpv = xp.narrow(0, 0, n * grid);
    at::Tensor xv = x.narrow(0, s, n);
    at::Tensor xp4 = xpv.view({n, h + 2, w + 2, ci});
    profiled("upsample_conv2d::pad", k.pad, xv, xp4);
    // Outputs of the last grid rows would read past the block; no phase uses them.
    const int64_t rows = n * grid - shifts[3];
    at::Tensor yv = y.narrow(0, 0, rows);
    if (pair) {
      // The GEMMs read pair rows [0, rows) and [W + 2, W + 2 + rows), i.e. up to n·grid − 2.
      at::Tensor pairs = xpair.narrow(0, 0, n * grid - 1);
      pairs.narrow(1, 0, ci).copy_(xpv.narrow(0, 0, n * grid - 1));
      pairs.narrow(1, ci, ci).copy_(xpv.narrow(0, 1, n * grid - 1));
      const at::Tensor wpair = wt.view({2, 2 * ci, 4 * co});
      at::mm_out(yv, pairs.narrow(0, shifts[0], rows), wpair.select(0, 0));
      yv.addmm_(pairs.narrow(0, shifts[2], rows), wpair.select(0, 1));
    } else {
      at::mm_out(yv, xpv.narrow(0, shifts[0], rows), wt.select(0, 0).select(0, 0));
      for (int tap = 1; tap < 4; ++tap) {
        yv.addmm_(xpv.narrow(0, shifts[tap], rows), wt.select(0, tap / 2).select(0, tap % 2));
      }
    }
    at::Tensor ov = out.narrow(0, s, n);
    profiled("upsample_conv2d::interleave", k.interleave, y, words ? at::Tensor() : bias, ov);
  }
  // 16-bit words are only moved by the layout kernels; ATen adds the bias in float, rounding once.
  if (words && bias.defined()) out.add_(bias.view({1, co, 1, 1}));
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& grad_in,
                                                        const at::Tensor& x,
                                                        const at::Tensor& weight,
                                                        const LayoutPasses& k) {
  validate_upsample_conv2d(x, weight, c10::nullopt);
  const int64_t batch = x.size(0), ci = x.size(1), h = x.size(2), w = x.size(3), co = weight.size(0);
  const at::Tensor grad = grad_in.to(x.scalar_type()).contiguous();
  TORCH_CHECK_VALUE(grad.dim() == 4 && grad.size(0) == batch && grad.size(1) == co &&
                        grad.size(2) == 2 * h && grad.size(3) == 2 * w,
                    "grad must have the output's shape [", batch, ", ", co, ", ", 2 * h, ", ",
                    2 * w, "], got ", grad.sizes());
  at::Tensor gx = at::empty_like(x);
  at::Tensor gbias = grad.sum({0, 2, 3});
  // The weight gradient sums over every block: for 16-bit inputs it is accumulated in float and
  // rounded once at the end (each block's GEMM still accumulates in float internally).
  const bool words = is_16bit(x);
  at::Tensor gwt = at::zeros({2, 2, ci, 4 * co}, x.options().dtype(words ? at::kFloat : x.scalar_type()));
  auto weight_grad = [&] { return phase_weights_grad_to_weight(gwt, co, ci).to(weight.scalar_type()); };
  if (grad.numel() == 0 || ci == 0) {
    gx.zero_();
    return {gx, weight_grad(), gbias};
  }
  const at::Tensor wt = phase_weights(weight);
  const int64_t grid = (h + 2) * (w + 2);
  const auto shifts = tap_shifts(w);
  const int64_t block = block_size(x, co, k);
  at::Tensor xp = at::empty({block * grid, ci}, x.options());
  at::Tensor gxp = at::empty({block * grid, ci}, x.options());
  at::Tensor gy = at::empty({block * grid, 4 * co}, x.options());
  for (int64_t s = 0; s < batch; s += block) {
    const int64_t n = std::min(block, batch - s);
    at::Tensor xpv = xp.narrow(0, 0, n * grid);
    at::Tensor xp4 = xpv.view({n, h + 2, w + 2, ci});
    profiled("upsample_conv2d::pad", k.pad, x.narrow(0, s, n), xp4);
    at::Tensor gyv = gy.narrow(0, 0, n * grid);
    profiled("upsample_conv2d::deinterleave", k.deinterleave, grad.narrow(0, s, n), gyv);
    // Only the first `rows` grid positions carry gradient (the rest belong to no phase).
    const int64_t rows = n * grid - shifts[3];
    at::Tensor gyr = gy.narrow(0, 0, rows);
    at::Tensor gxpv = gxp.narrow(0, 0, n * grid);
    at::Tensor head = gxpv.narrow(0, 0, rows);
    at::mm_out(head, gyr, wt.select(0, 0).select(0, 0).t());
    gxpv.narrow(0, rows, shifts[3]).zero_();
    for (int tap = 0; tap < 4; ++tap) {
      const at::Tensor wtap = wt.select(0, tap / 2).select(0, tap % 2);
      at::Tensor gw = gwt.select(0, tap / 2).select(0, tap % 2);
      if (words) {
        gw.add_(at::mm(xpv.narrow(0, shifts[tap], rows).t(), gyr));
      } else {
        gw.addmm_(xpv.narrow(0, shifts[tap], rows).t(), gyr);
      }
      if (tap > 0) gxpv.narrow(0, shifts[tap], rows).addmm_(gyr, wtap.t());
    }
    at::Tensor gxv = gx.narrow(0, s, n);
    profiled("upsample_conv2d::unpad", k.unpad, gxpv, gxv);
  }
  return {gx, weight_grad(), gbias};
}

namespace {

// Under autocast the op behaves like conv2d: float32 inputs are cast to the autocast dtype
// (bfloat16 on CPU by default), float64 ones are left alone, and the op runs in that dtype.
template <c10::DeviceType device, c10::DispatchKey autocast_key>
at::Tensor upsample_conv2d_autocast(const at::Tensor& x, const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(autocast_key);
  const at::ScalarType dtype = at::autocast::get_autocast_dtype(device);
  auto cast = [dtype](const at::Tensor& t) {
    const bool eligible = t.defined() && t.is_floating_point() && t.scalar_type() != at::kDouble;
    return eligible ? t.to(dtype) : t;
  };
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(SMG_FAST_OP_NAME("upsample_conv2d"), "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                               const c10::optional<at::Tensor>&)>();
  const c10::optional<at::Tensor> b =
      bias.has_value() ? c10::optional<at::Tensor>(cast(*bias)) : c10::nullopt;
  return op.call(cast(x), cast(weight), b);
}

}  // namespace
}  // namespace upconv
}  // namespace smg_fast

SMG_FAST_SCHEMAS(m) {
  m.def("upsample_conv2d(Tensor x, Tensor weight, Tensor? bias=None) -> Tensor");
  m.def(
      "upsample_conv2d_backward(Tensor grad, Tensor x, Tensor weight) -> (Tensor, Tensor, "
      "Tensor)");
}

// The backward needs no autocast kernel: it runs in the dtypes the forward saw.
SMG_FAST_EXPAND_IMPL(SMG_FAST_NS, AutocastCPU, m) {
  m.impl("upsample_conv2d",
         &smg_fast::upconv::upsample_conv2d_autocast<c10::DeviceType::CPU,
                                                     c10::DispatchKey::AutocastCPU>);
}

SMG_FAST_EXPAND_IMPL(SMG_FAST_NS, AutocastCUDA, m) {
  m.impl("upsample_conv2d",
         &smg_fast::upconv::upsample_conv2d_autocast<c10::DeviceType::CUDA,
                                                     c10::DispatchKey::AutocastCUDA>);
}
