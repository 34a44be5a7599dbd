"""Our Adam (the fused kernel, eagerly) against torch.optim.Adam when a gradient's memory layout is not its
parameter's: channels-last gradients of contiguous weights and the reverse, a transposed 2-D gradient, a
parameter converted to channels-last after its first steps (moments in the old layout). The fused kernel walks
parameter, gradient and moments as flat memory, so without the layout fix these steps are wrong by ~1.4 of the
step (relative). Shapes that do not match and parameters with gaps in memory are refused."""
import pytest
import torch

from smg_fast.agent.adam import Adam

CL = torch.channels_last


def _pair(p0: torch.Tensor, lr: float = 0.1):
    ours = p0.detach().clone()
    theirs = torch.nn.Parameter(p0.detach().clone())
    return ours, theirs, Adam([ours], lr=lr, betas=(0.9, 0.999)), torch.optim.Adam([theirs], lr=lr)


def _steps(ours, theirs, opt, ref, grads):
    for g in grads:
        opt.step([g])
        theirs.grad = g.clone()
        ref.step()
    return ours, theirs.detach()


def _grads(shape, n, layout=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(n)]
    return [g.contiguous(memory_format=layout) if layout is not None else g for g in out]


@pytest.mark.parametrize("param_layout, grad_layout", [(None, CL), (CL, None)],
                         ids=["channels-last-grad", "channels-last-param"])
def test_a_gradient_in_another_layout_than_its_parameter_steps_like_torch_adam(param_layout, grad_layout):
    p0 = torch.randn(4, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    if param_layout is not None:
        p0 = p0.contiguous(memory_format=param_layout)
    ours, theirs, opt, ref = _pair(p0)
    grads = _grads(p0.shape, 4, grad_layout)
    assert grads[0].stride() != ours.stride()
    a, b = _steps(ours, theirs, opt, ref, grads)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert a.stride() == p0.stride()  # the parameter keeps its own layout
    torch.testing.assert_close(opt.exp_avgs[0], ref.state[theirs]["exp_avg"], rtol=1e-12, atol=1e-14)


def test_a_transposed_gradient_of_a_matrix():
    p0 = torch.randn(6, 4, dtype=torch.float64)
    ours, theirs, opt, ref = _pair(p0)
    grads = [g.t().contiguous().t() for g in _grads((6, 4), 3)]  # same values, column-major
    assert grads[0].stride() == (1, 6)
    a, b = _steps(ours, theirs, opt, ref, grads)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_a_parameter_converted_after_its_first_steps_keeps_its_moments():
    """Moments made in the contiguous layout, then the parameter's data swapped to channels-last (one
    ``.data`` assignment): the moments follow it and the steps stay torch.optim.Adam's."""
    p0 = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    ours, theirs, opt, ref = _pair(p0)
    grads = _grads(p0.shape, 4)
    _steps(ours, theirs, opt, ref, grads[:2])
    ours.data = ours.data.contiguous(memory_format=CL)
    a, b = _steps(ours, theirs, opt, ref, [g.contiguous(memory_format=CL) for g in grads[2:]])
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert opt.exp_avgs[0].stride() == ours.stride() == opt.exp_avg_sqs[0].stride()


def test_mismatches_that_cannot_be_stepped_are_refused():
    ours, _, opt, _ = _pair(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"gradient of parameter 0 has shape \(3, 4\), the parameter \(4, 3\)"):
        opt.step([torch.zeros(3, 4, dtype=torch.float64)])
    assert float(opt.steps[0]) == 0.0  # nothing was stepped
    gappy = torch.zeros(4, 6, dtype=torch.float64)[:, ::2]
    opt = Adam([gappy], lr=0.1)
    with pytest.raises(ValueError, match="gaps or overlaps in memory"):
        opt.step([torch.ones(4, 3, dtype=torch.float64)])
