"""Inputs the op tests share: hypothesis strategies for frame-stack geometry, seeded tensors, the well-formed
shapes the bad-input cases spoil one argument of, and the outputs and gradients of one backward pass."""
import hypothesis.strategies as st
import pytest
import torch

DTYPES = [torch.float32, torch.float64]
f64 = dict(dtype=torch.float64)

# Well-formed arguments of the compiled ops; each bad-input case spoils one of them.
OK_STACK, OK_MASK = (2, 9, 8, 8), (2, 3, 8, 8)
shifts = torch.zeros(2, 2, dtype=torch.long)
r = torch.rand


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def u8(*shape, seed=0):
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen(seed))


def meta(*shape):
    return torch.empty(*shape, device="meta")


def stack(b, f, h, w, dtype=torch.float32, gen=None):
    return torch.rand(b, 3 * f, h, w, dtype=dtype, generator=gen) * 255


@st.composite
def geometry(draw):
    return (
        draw(st.integers(1, 4)),  # batch
        draw(st.integers(1, 3)),  # frames
        draw(st.integers(1, 13)),  # height
        draw(st.integers(1, 13)),  # width
        draw(st.booleans()),  # one mask channel per frame (else shared)
        draw(st.integers(0, 2**31 - 1)),  # seed
    )


def leaf(*shape, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g, **f64) * scale).requires_grad_()


def grads(fn, *inputs):
    """fn's output and the gradients of its inputs under a fixed, non-uniform output gradient."""
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    out = fn(*inputs)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out))
    return [out.detach()] + [t.grad for t in inputs]


def raises_named_error(case) -> None:
    """A bad-input case ``(id, call, exception, words)``: ``call()`` raises ``exception`` naming every word."""
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} missing from error message: {message}"
