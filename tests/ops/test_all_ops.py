"""The ops together: one compiled graph through several of them, the count of bad-input cases, and the layout
(one module per op, its reference in ops.reference under the op's name, one fused/reference switch)."""
import importlib
import pathlib

import pytest
import torch

import smg_fast.ops as ops
from smg_fast.ops import reference as ref

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_fullgraph_traces_through_the_ops(backend):
    def decoder_step(x, weight, bias, fg, bg, mask, obs_u8, noise, shifts):
        h = ops.upsample_conv2d(torch.relu(x), weight, bias)
        recon = ops.composite(fg * torch.sigmoid(h[:, :1]), bg, mask)
        aug = ops.attribution_augment(ops.random_shift(obs_u8, shifts), mask.detach(), noise)
        frames = obs_u8.view(-1, 3, 6, 6)
        keyed = ops.greenscreen(frames, frames.flip(0))
        return recon.square().mean() + ops.overlay(aug, noise).mean() + keyed.float().mean()

    g = torch.Generator().manual_seed(0)
    args = [
        torch.randn(2, 4, 3, 3, generator=g, requires_grad=True),
        torch.randn(2, 4, 3, 3, generator=g, requires_grad=True),
        torch.randn(2, generator=g, requires_grad=True),
        torch.rand(2, 6, 6, 6, generator=g, requires_grad=True),
        torch.rand(2, 6, 6, 6, generator=g, requires_grad=True),
        torch.rand(2, 2, 6, 6, generator=g, requires_grad=True),
        torch.randint(0, 256, (2, 6, 6, 6), dtype=torch.uint8, generator=g),
        torch.rand(2, 3, 6, 6, generator=g),
        torch.tensor([[0, 8], [5, 2]]),
    ]
    compiled = torch.compile(decoder_step, fullgraph=True, backend=backend)
    eager_out = decoder_step(*args)
    eager_grads = torch.autograd.grad(eager_out, [a for a in args if a.requires_grad])
    compiled_out = compiled(*args)
    compiled_grads = torch.autograd.grad(compiled_out, [a for a in args if a.requires_grad])
    torch.testing.assert_close(compiled_out, eager_out)
    for a, b in zip(compiled_grads, eager_grads):
        torch.testing.assert_close(a, b)


COMPILED = ["composite", "attribution_augment", "overlay", "greenscreen", "random_shift", "replay_gather", "upsample_conv2d"]
PYTHON_OPS = ["random_crop", "random_conv", "frequency_mask", "guided_backprop", "quantile_mask", "fill_unmasked"]
ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_at_least_twenty_bad_inputs_are_covered():
    cases = [case for op in COMPILED for case in importlib.import_module(f"test_{op}").CASES]
    assert len(cases) >= 20


def test_one_module_per_op_beside_its_kernels_and_its_reference_under_its_name():
    """Each compiled op's csrc/ops/<op>.cpp has its smg_fast/ops/<op>.py, every op's module defines the op and
    its <op>_reference, and ops.reference holds that reference under the op's name."""
    assert sorted(p.stem for p in (ROOT / "csrc" / "ops").glob("*.cpp")) == sorted(COMPILED)
    for name in COMPILED + PYTHON_OPS:
        module = importlib.import_module(f"smg_fast.ops.{name}")
        assert getattr(ops, name) is getattr(module, name), name
        assert getattr(ref, name) is getattr(module, f"{name}_reference"), name


def test_the_switch_gives_the_ops_or_their_references_under_the_same_names():
    assert ops.implementation(True) is ops and ops.implementation(False) is ref
    for name in COMPILED + PYTHON_OPS:
        fused, reference = getattr(ops.implementation(True), name), getattr(ops.implementation(False), name)
        assert callable(fused) and callable(reference) and fused is not reference, name


@pytest.mark.parametrize("fused", [True, False])
def test_the_switch_reaches_the_decoders(fused):
    """Both decoders' ×2-up-then-conv follow fused_ops through the switch; the two paths agree."""
    from smg_fast.agent.networks import Decoder
    from smg_fast.agent.sgqn import AttributionDecoder

    torch.manual_seed(0)
    decoder, attribution = Decoder(16, mask=True, fused=fused), AttributionDecoder(2, 3, 16, fused=fused)
    want = ops.upsample_conv2d if fused else ref.upsample_conv2d
    assert decoder.upsample_conv2d is want and attribution.upsample_conv2d is want
    torch.manual_seed(0)
    other = Decoder(16, mask=True, fused=not fused)
    codes = torch.randn(2, 16)
    for a, b in zip(decoder(codes), other(codes)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-3)
