// Per-element math and index maps of every smg_fast op, shared verbatim by the CPU kernels
// (ops/cpu/) and the CUDA kernels (ops/cuda/): the CPU tests check the arithmetic the GPU runs, and
// the emulation build (ops/cuda/emulation.h) runs the CUDA kernels themselves on the CPU.
// Header-only, no torch includes: nvcc compiles it in about a second.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SMG_HD __host__ __device__ __forceinline__
#else
#define SMG_HD inline
#endif

namespace smg_fast {
namespace math {

// ---- loading pixels -----------------------------------------------------------------------------
// Observations are 0-255 whether stored as uint8 or float; noise / overlay images are either uint8
// pixels (0-255) or float images in [0, 1] (Places' ToTensor convention), hence the two loaders.
template <typename T>
SMG_HD T pixel(uint8_t v) { return static_cast<T>(v); }
template <typename T>
SMG_HD T pixel(T v) { return v; }

template <typename T>
SMG_HD T image_255(uint8_t v) { return static_cast<T>(v); }
template <typename T>
SMG_HD T image_255(T v) { return v * T(255); }

// ---- composite: fg·m + bg·(1−m) -----------------------------------------------------------------
template <typename T>
SMG_HD T composite(T fg, T bg, T m) { return fg * m + bg * (T(1) - m); }

// d/dfg = g·m, d/dbg = g·(1−m); the mask gradient g·(fg−bg) is summed over the RGB channels
// (and frames) that share one mask value by the caller.
template <typename T>
SMG_HD T composite_mask_grad_term(T g, T fg, T bg) { return g * (fg - bg); }

// ---- overlay: (1−α)·obs + α·255·img (DMC-GB's ((1−α)·x/255 + α·img)·255) -------------------------
template <typename T>
SMG_HD T overlay(T obs, T img_255, T alpha) { return (T(1) - alpha) * obs + alpha * img_255; }

// Its gradients: d/dobs = (1−α)·g, d/dimg = 255·α·g (uint8 images carry no gradient).
template <typename T>
SMG_HD T overlay_obs_grad(T g, T alpha) { return (T(1) - alpha) * g; }
template <typename T>
SMG_HD T overlay_image_grad(T g, T alpha) { return T(255) * alpha * g; }

// v clamped to [lo, hi] (CUDA's device min/max overloads do not exist in host C++).
SMG_HD int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

// ---- random shift ---------------------------------------------------------------------------------
// Output pixel i of a crop at offset `shift` from an image replicate-padded by `pad` reads source
// pixel clamp(i + shift − pad, 0, size − 1).
SMG_HD int64_t shift_source(int64_t i, int64_t shift, int64_t pad, int64_t size) {
  int64_t s = i + shift - pad;
  return s < 0 ? 0 : (s >= size ? size - 1 : s);
}

// The output indices [*lo, *hi] (empty when lo > hi) whose shift_source is `src`: a single index
// inside the image, a run at the borders where the replicate padding repeats the edge pixel.
SMG_HD void shift_preimage(int64_t src, int64_t shift, int64_t pad, int64_t size, int64_t* lo,
                           int64_t* hi) {
  const int64_t d = shift - pad;
  int64_t a = src == 0 ? 0 : src - d;
  int64_t b = src == size - 1 ? size - 1 : src - d;
  *lo = a < 0 ? 0 : a;
  *hi = b > size - 1 ? size - 1 : b;
}

// ---- greenscreen ------------------------------------------------------------------------------------
// DMC-GB's keying rule (src/env/wrappers.py: rgb_to_hsv + do_green_screen), evaluated with the same
// float64 operations in the same order so the decision is bit-identical to upstream's per-pixel loop.
// Compile with floating-point contraction off (-ffp-contract=off / nvcc --fmad=false).
SMG_HD bool greenscreen_key(uint8_t r8, uint8_t g8, uint8_t b8) {
  const double r = r8 / 255.0, g = g8 / 255.0, b = b8 / 255.0;
  const double maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
  const double minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
  double h = 0.0, s = 0.0;
  const double v = maxc;
  if (minc != maxc) {
    s = (maxc - minc) / maxc;
    const double rc = (maxc - r) / (maxc - minc);
    const double gc = (maxc - g) / (maxc - minc);
    const double bc = (maxc - b) / (maxc - minc);
    if (r == maxc) {
      h = bc - gc;
    } else if (g == maxc) {
      h = 2.0 + rc - bc;
    } else {
      h = 4.0 + gc - rc;
    }
    // Python's float modulo: the result takes the sign of the divisor.
    h = h / 6.0;
    double m = fmod(h, 1.0);
    if (m != 0.0 && m < 0.0) m += 1.0;
    h = m;
  }
  const double hd = h * 360, sd = s * 255, vd = v * 255;
  return 100 <= hd && hd <= 185 && 80 <= sd && sd <= 255 && 70 <= vd && vd <= 255;
}

// The same decision in exact integer arithmetic. With d = max − min:
//   V ≥ 70   ⇔ max ≥ 70;   S ≥ 80 ⇔ 255·d ≥ 80·max ⇔ 51·d ≥ 16·max;
//   g is the max (r is not): H = 120° + 60°·(b − r)/d ∈ [60°, 180°], so H ≥ 100° ⇔ 3(b − r) ≥ −d;
//   b is the max (r, g are not): H = 240° + 60°·(r − g)/d ∈ [180°, 300°], so H ≤ 185° ⇔
//   12(g − r) ≥ 11·d;  r is the max, or d = 0 (grey, H = 0): never keyed.
// The upper bounds S ≤ 255, V ≤ 255 always hold. Away from equality every margin is at least
// 1/255 of a unit, far above float64 rounding, so upstream's float formula agrees; at equality it can
// fall either way. Returns 1 (keyed), 0 (not keyed) or 2 (a tie: ask greenscreen_key). Every
// intermediate fits in int16 and the function is branch-free, so the CPU loop vectorises 8 or 16
// pixels wide; an exhaustive test over all 2^24 colours checks it against upstream's rule.
SMG_HD int greenscreen_key_int(int16_t r, int16_t g, int16_t b) {
  const int16_t mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
  const int16_t mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
  const int16_t d = static_cast<int16_t>(mx - mn);
  const int16_t hue = static_cast<int16_t>(g == mx ? 3 * (b - r) + d : 12 * (g - r) - 11 * d);
  const int16_t sat = static_cast<int16_t>(51 * d - 16 * mx);
  const int16_t val = static_cast<int16_t>(mx - 70);
  const bool out = (r == mx) | (hue < 0) | (sat < 0) | (val < 0);
  const bool tie = (hue == 0) | (sat == 0) | (val == 0);
  return out ? 0 : (tie ? 2 : 1);
}

SMG_HD bool greenscreen_key_fast(uint8_t r, uint8_t g, uint8_t b) {
  const int code = greenscreen_key_int(r, g, b);
  return code == 2 ? greenscreen_key(r, g, b) : code == 1;
}

// ---- upsample_conv2d: phase decomposition ---------------------------------------------------------
// conv3x3(nearest_up2(x), pad 1) at output row 2i+p reads upsampled rows 2i+p−1 .. 2i+p+1, which are
// x rows i−1+p+a for a 2-tap kernel a ∈ {0, 1}. Tap t of the 3×3 kernel lands on tap
// phase_tap(p, t) of phase p's 2×2 kernel: p = 0 → {0, 1, 1}, p = 1 → {0, 0, 1}.
SMG_HD int phase_tap(int p, int t) { return p == 0 ? (t == 0 ? 0 : 1) : (t == 2 ? 1 : 0); }

}  // namespace math
}  // namespace smg_fast

namespace smg_fast {
namespace math {

// Layout of the phase GEMM: x is zero-padded by one pixel and stored channels-last as
// xp[b, u, v, c] (u < H+2, v < W+2); row r = (b·(H+2) + u)·(W+2) + v of the GEMM output Y holds, for
// each output channel o and phase (py, px), column o·4 + py·2 + px. Phase (py, px) of output pixel
// (i, j) sits at grid position (u, v) = (i + py, j + px). These two functions are that map and its
// inverse, used by the forward interleave and the backward de-interleave.
SMG_HD int64_t upconv_y_offset(int64_t b, int64_t o, int64_t oy, int64_t ox, int64_t h, int64_t w,
                               int64_t cout) {
  const int64_t py = oy & 1, px = ox & 1;
  const int64_t u = (oy >> 1) + py, v = (ox >> 1) + px;
  return ((b * (h + 2) + u) * (w + 2) + v) * 4 * cout + o * 4 + py * 2 + px;
}

// Output pixel (oy, ox) fed by grid position (u, v) in phase (py, px), or false if that grid entry
// is not used by the phase (the extra row / column of the (H+1)×(W+1) grid, or the padding).
SMG_HD bool upconv_grid_to_output(int64_t u, int64_t v, int py, int px, int64_t h, int64_t w,
                                  int64_t* oy, int64_t* ox) {
  const int64_t i = u - py, j = v - px;
  if (i < 0 || i >= h || j < 0 || j >= w) return false;
  *oy = 2 * i + py;
  *ox = 2 * j + px;
  return true;
}

}  // namespace math
}  // namespace smg_fast

namespace smg_fast {
namespace math {

// ---- replay buffer: frame stacks rebuilt from single frames ---------------------------------------
// Frames live once in a ring of `capacity` slots. A stack of k frames ends at `slot`, a frame at
// position `pos` of its episode; its frame `back` steps before the newest (back = k−1 … 0) is
// `back` slots earlier, except that steps before the episode's first frame repeat that frame (what a
// frame-stack wrapper returns after reset).
SMG_HD int64_t stack_source_slot(int64_t slot, int64_t pos, int64_t back, int64_t capacity) {
  const int64_t s = (slot - (back < pos ? back : pos)) % capacity;
  return s < 0 ? s + capacity : s;
}

}  // namespace math
}  // namespace smg_fast
