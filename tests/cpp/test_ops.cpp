// C++ smoke test of the op library: every op is reachable through the dispatcher from plain
// libtorch (no Python) and agrees with an ATen composition of its definition.
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::cout << (ok ? "[ ok ] " : "[FAIL] ") << what << "\n";
  if (!ok) ++failures;
}

c10::OperatorHandle op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
}

void test_composite() {
  auto fg = torch::rand({2, 9, 6, 7}), bg = torch::rand({2, 9, 6, 7}), m = torch::rand({2, 3, 6, 7});
  auto out = op("smg_fast::composite").typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>()
                 .call(fg, bg, m);
  auto mm = m.repeat_interleave(3, 1);
  expect(torch::allclose(out, fg * mm + bg * (1 - mm)), "composite == fg*m + bg*(1-m)");
}

void test_upsample_conv2d() {
  auto x = torch::randn({2, 5, 4, 6}, torch::kFloat64), w = torch::randn({3, 5, 3, 3}, torch::kFloat64),
       b = torch::randn({3}, torch::kFloat64);
  auto out = op("smg_fast::upsample_conv2d")
                 .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&)>()
                 .call(x, w, b);
  auto up = torch::upsample_nearest2d(x, std::vector<int64_t>{8, 12});
  auto expected = torch::conv2d(up, w, b, /*stride=*/1, /*padding=*/1);
  expect(torch::allclose(out, expected, 1e-12, 1e-12), "upsample_conv2d == conv2d(upsample(x))");

  // Under autocast the float32 op runs in bfloat16, like conv2d.
  auto xf = x.to(torch::kFloat32), wf = w.to(torch::kFloat32), bf = b.to(torch::kFloat32);
  at::Tensor half;
  {
    at::autocast::set_autocast_enabled(at::kCPU, true);
    half = op("smg_fast::upsample_conv2d")
               .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&)>()
               .call(xf, wf, bf);
    at::autocast::set_autocast_enabled(at::kCPU, false);
  }
  const double rel = ((half.to(torch::kFloat64) - expected).norm() / expected.norm()).item<double>();
  expect(half.scalar_type() == torch::kBFloat16 && rel < 1e-2,
         "upsample_conv2d under CPU autocast runs in bfloat16 (relative error " + std::to_string(rel) +
             ")");
}

void test_random_shift() {
  auto obs = torch::randint(0, 256, {3, 9, 10, 10}, torch::kUInt8);
  auto shifts = torch::tensor({4, 4, 0, 8, 8, 0}, torch::kLong).view({3, 2});
  auto out = op("smg_fast::random_shift")
                 .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>()
                 .call(obs, shifts, 4);
  auto padded = torch::replication_pad2d(obs.to(torch::kFloat), {4, 4, 4, 4}).to(torch::kUInt8);
  bool ok = out[0].equal(obs[0]);
  ok = ok && out[1].equal(padded[1].slice(1, 8, 18).slice(2, 0, 10));
  ok = ok && out[2].equal(padded[2].slice(1, 0, 10).slice(2, 8, 18));
  expect(ok, "random_shift == replicate pad + crop");
}

void test_greenscreen() {
  auto frames = torch::zeros({3, 1, 2}, torch::kUInt8);
  frames.index_put_({torch::indexing::Slice(), 0, 0}, torch::tensor({51, 204, 51}, torch::kUInt8));
  frames.index_put_({torch::indexing::Slice(), 0, 1}, torch::tensor({200, 30, 30}, torch::kUInt8));
  auto bg = torch::full({3, 1, 2}, 9, torch::kUInt8);
  auto out = op("smg_fast::greenscreen").typed<at::Tensor(const at::Tensor&, const at::Tensor&)>().call(frames, bg);
  expect(out.select(2, 0).eq(9).all().item<bool>() && out.select(2, 1).equal(frames.select(2, 1)),
         "greenscreen keys DMC-GB green, keeps red");
}

void test_bad_input() {
  bool threw = false;
  try {
    op("smg_fast::composite").typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>()
        .call(torch::rand({2, 8, 4, 4}), torch::rand({2, 8, 4, 4}), torch::rand({2, 1, 4, 4}));
  } catch (const c10::ValueError& e) {
    threw = std::string(e.what()).find("multiple of 3") != std::string::npos;
  }
  expect(threw, "composite rejects a channel count that is not a multiple of 3 with ValueError");
}

}  // namespace

int main() {
  torch::manual_seed(0);
  test_composite();
  test_upsample_conv2d();
  test_random_shift();
  test_greenscreen();
  test_bad_input();
  std::cout << (failures == 0 ? "all passed" : "FAILURES") << "\n";
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
