// The op schemas, declared once. Kernels register per device in cpu/ and cuda/; autograd formulas
// and fake (meta) kernels are registered from Python (smg_fast/ops/_registrations.py).
#include <torch/library.h>

TORCH_LIBRARY(smg_fast, m) {
  m.def("composite(Tensor fg, Tensor bg, Tensor mask) -> Tensor");
  m.def(
      "composite_backward(Tensor grad, Tensor fg, Tensor bg, Tensor mask) -> (Tensor, Tensor, "
      "Tensor)");
  m.def("attribution_augment(Tensor obs, Tensor mask, Tensor noise) -> Tensor");
  m.def("overlay(Tensor obs, Tensor images, float alpha=0.5) -> Tensor");
  m.def(
      "overlay_backward(Tensor grad, float alpha, int image_channels, bool obs_grad, bool images_grad) "
      "-> (Tensor, Tensor)");
  m.def("greenscreen(Tensor frames, Tensor background) -> Tensor");
  m.def("random_shift(Tensor obs, Tensor shifts, int pad=4) -> Tensor");
  m.def("random_shift_backward(Tensor grad, Tensor shifts, int pad) -> Tensor");
  m.def("upsample_conv2d(Tensor x, Tensor weight, Tensor? bias=None) -> Tensor");
  m.def(
      "upsample_conv2d_backward(Tensor grad, Tensor x, Tensor weight) -> (Tensor, Tensor, "
      "Tensor)");
  m.def(
      "replay_gather(Tensor frames, Tensor slots, Tensor pos, Tensor shifts, int frame_stack, "
      "int pad=4, ScalarType? dtype=None) -> Tensor");
}
