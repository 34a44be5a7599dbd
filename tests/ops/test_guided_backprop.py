"""Guided backpropagation (smg_fast.ops.guided_backprop) against hand-computed values and against captum's
mechanism in plain autograd (full backward hooks on the ReLU modules), on the model's current weights,
compiled without graph breaks; and SGQN's quantile mask and masked observation (smg_fast.ops.quantile_mask,
smg_fast.ops.fill_unmasked) against upstream's loop and hand-computed values."""
import pytest
import torch
import torch.nn as nn

import smg_fast.ops as ops
from smg_fast.agent.networks import Critic, Encoder, Projection, SharedCNN
from smg_fast.ops import reference as ref
from smg_fast.ops.guided_backprop import GuidedReLU

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

f64 = torch.float64


def tiny_net():
    """x (2) -> Linear(2, 3) -> ReLU -> Linear(3, 2) -> ReLU -> Linear(2, 1), hand-set weights."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2), nn.ReLU(inplace=True), nn.Linear(2, 1)).to(f64)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0], [3.0, -1.0]]))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor([[1.0, -1.0, 2.0], [-2.0, 1.0, 1.0]]))
        net[2].bias.zero_()
        net[4].weight.copy_(torch.tensor([[1.0, -3.0]]))
        net[4].bias.zero_()
    return net


def test_guided_gradient_by_hand():
    net = tiny_net()
    x = torch.tensor([[1.0, 1.0]], dtype=f64)
    # h1 = relu([3, 0, 2]) = [3, 0, 2] (unit 2 is inactive: pre-activation 0);
    # h2 = relu([1*3 + 2*2, -2*3 + 1*2]) = relu([7, -4]) = [7, 0]; q = 7.
    # Guided: dq/dh2 = [1, -3] -> relu -> [1, 0], times 1[h2 > 0] = [1, 0];
    # dq/dh1 = W2^T [1, 0] = [1, -1, 2] -> relu -> [1, 0, 2], times 1[h1 > 0] = [1, 0, 2];
    # dq/dx = W1^T [1, 0, 2] = [1 + 6, 2 - 2] = [7, 0].
    got = ops.guided_backprop(net)(x)
    assert torch.equal(got, torch.tensor([[7.0, 0.0]], dtype=f64))
    # The plain gradient differs: it lets the negative -1 through (dq/dh1 = [1, -1, 2] -> [1, 0, 2] here by
    # the inactive unit, so take a point where the negative path is active).
    x2 = torch.tensor([[0.0, 1.0]], dtype=f64)  # h1 = relu([2, 1, -1]) = [2, 1, 0]; h2 = relu([1, -3]) = [1, 0]
    plain = torch.autograd.functional.jacobian(lambda t: net(t).sum(), x2)
    guided = ops.guided_backprop(net)(x2)
    # guided: dq/dh1 = relu([1, -1, 2]) * [1, 1, 0] = [1, 0, 0]; dq/dx = W1^T [1, 0, 0] = [1, 2]
    assert torch.equal(guided, torch.tensor([[1.0, 2.0]], dtype=f64))
    # plain: dq/dh1 = [1, -1, 2] * [1, 1, 0] = [1, -1, 0]; dq/dx = [1 + 1, 2 - 1] = [2, 1]
    assert torch.equal(plain, torch.tensor([[2.0, 1.0]], dtype=f64))


def small_critic(seed=0):
    torch.manual_seed(seed)
    trunk = SharedCNN(9, num_layers=3, num_filters=8)
    critic = Critic(Encoder(trunk, Projection(trunk.out_features(20), 16)), 6, 32).to(f64)
    with torch.no_grad():  # biases off zero so that ReLU patterns are mixed
        for p in critic.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return critic


def test_matches_captums_mechanism_on_the_critic():
    """Q1 of our critic (conv trunk with in-place ReLUs, LayerNorm/tanh projection, ReLU MLP head), float64:
    the autograd-function rule equals full backward hooks returning relu(grad_input) (captum's
    GuidedBackprop)."""
    critic = small_critic()
    obs = torch.rand(5, 9, 20, 20, dtype=f64, generator=torch.Generator().manual_seed(1)) * 255
    action = torch.rand(5, 6, dtype=f64) * 2 - 1

    def q1(c, o):
        return c.Q1(c.encoder(o), action)

    got = ops.guided_backprop(critic)(obs, q1)
    want = ref.guided_backprop(critic)(obs, q1)
    assert got.shape == obs.shape and got.is_contiguous()
    assert float((got - want).abs().max()) <= 1e-12 * float(want.abs().max())
    assert all(p.grad is None for p in critic.parameters())
    leaf = obs.clone().requires_grad_()
    (plain,) = torch.autograd.grad(q1(critic, leaf).sum(), leaf)
    assert not torch.allclose(got, plain)  # the rule changes something here
    # The model is left as it was.
    relus = [m for m in critic.modules() if isinstance(m, nn.ReLU)]
    assert relus and all("forward" not in vars(m) for m in relus)
    assert [m.inplace for m in critic.encoder.trunk.modules() if isinstance(m, nn.ReLU)] == [True, True]


def test_relus_are_restored_after_an_error():
    net = tiny_net()

    def fails(m, x):
        m(x)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        ops.guided_backprop(net)(torch.ones(1, 2, dtype=f64), fails)
    with pytest.raises(RuntimeError, match="boom"):
        ref.guided_backprop(net)(torch.ones(1, 2, dtype=f64), fails)
    assert all("forward" not in vars(m) for m in net.modules())


def test_guided_relu_function():
    x = torch.tensor([-1.0, 0.0, 2.0, 3.0], dtype=f64, requires_grad=True)
    y = GuidedReLU.apply(x)
    assert torch.equal(y, torch.relu(x))
    y.backward(torch.tensor([5.0, 5.0, -4.0, 6.0], dtype=f64))
    assert torch.equal(x.grad, torch.tensor([0.0, 0.0, 0.0, 6.0], dtype=f64))


def test_follows_the_models_current_weights_and_dtype():
    """Set up once (SGQN: at construction), the pass computes with the model's parameters as they are at
    each call: after an in-place step and after a dtype change, as a pass set up afresh does."""
    critic = small_critic().float()
    attribute = ops.guided_backprop(critic)
    obs = torch.rand(3, 9, 20, 20, generator=torch.Generator().manual_seed(4)) * 255
    action = torch.rand(3, 6, generator=torch.Generator().manual_seed(5)) * 2 - 1

    def q1(c, o):
        return c.Q1(c.encoder(o), action.to(o.dtype))

    before = attribute(obs, q1)
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(1.5)
    after = attribute(obs, q1)
    assert not torch.equal(before, after)
    assert torch.equal(after, ops.guided_backprop(critic)(obs, q1))
    critic.double()
    got = attribute(obs.double(), q1)
    assert got.dtype == f64 and torch.equal(got, ops.guided_backprop(critic)(obs.double(), q1))
    assert all(p.grad is None for p in critic.parameters())


def test_compiles_without_graph_breaks():
    """The pass inside a compiled function (SGQN's compiled update): one graph, the eager values."""
    from torch._dynamo.utils import counters

    critic = small_critic()
    attribute = ops.guided_backprop(critic)
    obs = torch.rand(2, 9, 20, 20, dtype=f64, generator=torch.Generator().manual_seed(6)) * 255
    action = torch.rand(2, 6, dtype=f64) * 2 - 1

    def saliency(o, a):
        return attribute(o, lambda c, x: c.Q1(c.encoder(x), a)).abs().amax(dim=1)

    torch._dynamo.reset()
    counters.clear()
    compiled = torch.compile(saliency, fullgraph=True, backend="aot_eager")
    with torch._dynamo.config.patch(trace_autograd_ops=True):
        got = compiled(obs, action)
    torch.testing.assert_close(got, saliency(obs, action), rtol=1e-12, atol=1e-12)
    assert counters["stats"]["unique_graphs"] == 1 and dict(counters["graph_break"]) == {}
    torch._dynamo.reset()


def test_the_form_traced_when_compiling_equals_the_eager_one(monkeypatch):
    """While compiling the pass takes torch.func.grad (Dynamo before 2.13 cannot trace requires_grad_()); run
    eagerly, that form gives the autograd form's values bit for bit, and no graph or parameter gradient."""
    critic = small_critic()
    attribute = ops.guided_backprop(critic)
    obs = torch.rand(3, 9, 20, 20, dtype=f64, generator=torch.Generator().manual_seed(7)) * 255
    action = torch.rand(3, 6, dtype=f64) * 2 - 1

    def q1(c, o):
        return c.Q1(c.encoder(o), action)

    eager = attribute(obs, q1)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    traced_form = attribute(obs, q1)
    assert torch.equal(traced_form, eager) and traced_form.is_contiguous()
    assert traced_form.grad_fn is None and all(p.grad is None for p in critic.parameters())


def test_guided_backprop_bad_inputs():
    net = tiny_net()
    with pytest.raises(TypeError, match="model"):
        ops.guided_backprop(lambda x: x)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        ops.guided_backprop(net)(torch.ones(1, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="fn must return"):
        ops.guided_backprop(net)(torch.ones(1, 2, dtype=f64), lambda m, x: (m(x) > 0))
