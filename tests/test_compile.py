"""The update as captured graphs (smg_fast/agent/compiled.py) and the Adam it needs (smg_fast/agent/adam.py).

For every method, the tensor part of the update under ``torch.compile(fullgraph=True)`` gives the eager
update's losses, parameters, targets, optimiser state and α (float64, fixed weights and batch, the same
draws), on even and odd steps and on each path a draw selects (SMG: attribution and overlay, with and
without the mask warm-up; SRM: masked and not); there are no graph breaks and one graph per plan shape
(the shapes are compiled once: later steps reuse them).

No host sync inside the step: ``fullgraph=True`` turns every graph break into an error, and ``.item()``,
``bool(tensor)``, ``if`` on a tensor's value, ``.tolist()``, ``.cpu()`` in the traced Python are graph breaks
(``capture_scalar_outputs`` stays off), so a step that compiles has none; ``test_a_host_read_in_the_step_
does_not_compile`` shows the mechanism catching one. (On CUDA the same holds, and CUDA graphs could not
capture a sync anyway.)

Backend ``aot_eager``: the graph Dynamo and AOTAutograd trace, run by eager kernels — what is checked here
is the tracing, at a fraction of inductor's compile time; one slow test runs inductor, the CPU training
path. Time (2 shared cores): SAC, DrQ and SMG in the quick tier (~1 min together); SVEA, SODA, SGQN and SRM
and the inductor test are slow-marked (CI's full run has them).
"""
import math

import pytest
import torch
from torch._dynamo.utils import counters

from method_helpers import random_replay, small_agent
from smg_fast.agent import Batch
from smg_fast.agent.adam import Adam
from smg_fast.agent.draws import Draws

B = 2
RTOL, ATOL = 1e-9, 1e-12
# Smaller than method_helpers' small agents, for time (float64 convolutions on the CPU are unvectorised, and
# every step runs twice): batch 2 and a 4-layer trunk. The same code paths; what is compared is the tracing.
TINY = dict(batch_size=B, num_shared_layers=4)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    """Each test starts without compiled graphs (they are cached per code object, across agents)."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


class Scripted(Draws):
    """The agent's own draws, except Python's uniforms, which come from a list (choosing the paths)."""

    def __init__(self, us, seed=0):
        super().__init__(seed, torch.device("cpu"))
        self.us = list(us)

    def random(self):
        return self.us.pop(0)

    def uniform(self, a, b):
        return a + (b - a) * self.us.pop(0)


def fixed_inputs(algo: str, size: int):
    """One float64 batch (and SODA's auxiliary batch) from a replay of random frames."""
    buf = random_replay(size)
    s = buf.sample(B, shift=False)
    crop = (slice(None), slice(None), slice(8, 92), slice(8, 92)) if size == 100 else (...,)
    b = Batch(*(s[k].double()[crop] if k in ("obs", "next_obs") else s[k].double()
                for k in ("obs", "action", "reward", "next_obs", "not_done")))
    return buf, b, buf.sample(6, shift=False)["obs"].double() if algo == "soda" else None


def build(algo: str, size: int, settings: dict, uniforms, compiled: bool):
    agent = small_agent(algo, size, **{**TINY, **settings})
    for m in agent.modules().values():
        m.double()
    agent.log_alpha.data = agent.log_alpha.data.double()
    if uniforms is not None:
        agent.draws = Scripted(uniforms)
    buf, b, aux = fixed_inputs(algo, size)
    agent.sample = lambda replay: b
    if aux is not None:
        agent.sample_aux = lambda replay: aux
    if compiled:
        agent.compile(backend="aot_eager")
    return agent, buf


def state(agent) -> dict[str, torch.Tensor]:
    """Every tensor an update changes: parameters and buffers of every module, Adam's state, α."""
    out = {}
    for name, m in agent.modules().items():
        out.update({f"{name}.{k}": v for k, v in m.state_dict().items()})
    for name, opt in agent.optimizers().items():
        for i, s in opt.state_dict()["state"].items():
            out.update({f"{name}.{i}.{k}": v for k, v in s.items()})
    out["log_alpha"] = agent.log_alpha
    return {k: v.detach().clone() for k, v in out.items()}


# method: (render size, settings, scripted uniforms or None, steps, graphs: distinct plan shapes of the steps)
SCENARIOS = {
    "sac": (84, {}, None, (2, 3, 4, 5), 2),
    "drq": (84, {}, None, (2, 3, 4, 5), 2),
    "svea": (84, {}, None, (2, 3, 4, 5), 2),
    "soda": (100, {"soda_batch_size": 6}, None, (2, 3, 4, 5), 2),
    "sgqn": (84, {}, None, (2, 3, 4, 5), 2),
    # masked (p = 0.3) on an even step, not (0.7) on odd and even steps, masked on an odd step, then the
    # even-masked shape again: 4 shapes
    "srm": (84, {}, [0.3, 0.62, 0.8, 0.7, 0.7, 0.1, 0.5, 0.5, 0.2, 0.1, 0.9], (2, 3, 4, 5, 6), 4),
    # overlay (u >= 1/4) on an odd and an even step, attribution (u < 1/4) on an odd and an even step, overlay
    # again on an odd one: 4 shapes (the mask warm-up's shape differs only by the mask term's detach)
    "smg": (84, {}, [0.9, 0.9, 0.1, 0.1, 0.9], (1001, 1002, 1003, 1004, 1005), 4),
}


# SAC, DrQ and SMG in the quick tier (~15-40 s each on 2 cores, mostly tracing); the other baselines'
# scenarios are slow-marked (~15-20 s each), CI's full run has them all.
QUICK = ("sac", "drq", "smg")


# SAC's is also in the subset run against every supported torch (pyproject.toml's `fast`): tracing is what a
# torch release changes most.
@pytest.mark.parametrize("algo", [pytest.param(a, marks=pytest.mark.fast) if a == "sac" else a if a in QUICK
                                  else pytest.param(a, marks=pytest.mark.slow) for a in SCENARIOS])
def test_compiled_update_equals_the_eager_update(algo):
    size, settings, uniforms, steps, graphs = SCENARIOS[algo]
    runs = []
    for compiled in (False, True):
        agent, buf = build(algo, size, settings, uniforms, compiled)
        initial = state(agent)
        metrics, states = [], []
        for step in steps:
            torch.manual_seed(100 + step)  # the actor noise (drawn inside the step, global generator)
            metrics.append(agent.update(buf, step))
            states.append(state(agent))
        if uniforms is not None:
            assert agent.draws.us == [], "the scenario's uniforms were not all drawn"
        runs.append((metrics, states))
    (m_eager, s_eager), (m_comp, s_comp) = runs
    before = initial
    for step, me, mc, se, sc in zip(steps, m_eager, m_comp, s_eager, s_comp):
        assert me.keys() == mc.keys(), step
        for k in me:
            torch.testing.assert_close(mc[k], me[k], rtol=RTOL, atol=ATOL, msg=f"step {step}: {k}")
        assert any(not torch.equal(se[k], before[k]) for k in se), f"step {step} changed nothing"
        before = se
        for k in se:
            torch.testing.assert_close(sc[k], se[k], rtol=RTOL, atol=ATOL, msg=f"step {step}: {k}")
    assert dict(counters["graph_break"]) == {}, counters["graph_break"]
    assert counters["stats"]["unique_graphs"] == graphs


def test_a_host_read_in_the_step_does_not_compile():
    """How "no host sync" is enforced: a Python branch on a tensor's value in any hook is a graph break,
    which fullgraph=True makes an error (here in the critic's loss terms)."""
    agent, buf = build("sac", 84, {}, None, compiled=True)
    real = agent.critic_losses

    def branching(b, q1, q2, target):
        terms = real(b, q1, q2, target)
        if terms["td"][1] > 1e6:  # bool(tensor): a device-to-host read
            raise RuntimeError("diverged")
        return terms

    agent.critic_losses = branching
    with pytest.raises(torch._dynamo.exc.Unsupported):
        agent.update(buf, 2)


def test_compile_setting_runs_the_update_compiled():
    """``compile=True`` (``--compile``) makes the first update build the compiled step."""
    agent = small_agent("sac", compile=True, **TINY)
    assert agent.cfg.compile and agent._compiled is None
    agent.compile(backend="aot_eager")  # what the first update does, with the test's backend
    metrics = agent.update(random_replay(), 2)
    assert counters["stats"]["unique_graphs"] == 1 and math.isfinite(float(metrics["critic/loss"]))


def test_compile_setting_is_a_checked_bool_and_the_train_flag_sets_it():
    """``compile`` is an agent setting (default off), typed true/false from ``--set``, and a non-bool value
    is refused; ``train --compile`` is ``--set compile=true`` (and adds to other ``--set`` pairs)."""
    from smg_fast.cli import build_parser
    from smg_fast.cli.common import parse_set_pairs
    from smg_fast.config import make_config, parse_setting

    assert make_config("walker-walk", "sac").agent.compile is False
    assert make_config("walker-walk", "smg", compile=True).agent.compile is True
    assert parse_setting("smg", "compile", "true") is True and parse_setting("sac", "compile", "0") is False
    with pytest.raises(ValueError, match="compile takes true/false"):
        parse_setting("sac", "compile", "yes")
    with pytest.raises(ValueError, match="compile.*true or false"):
        make_config("walker-walk", "sac", compile="false")
    args = build_parser().parse_args(["train", "--algo", "sac", "--set", "init_steps=5", "--compile"])
    assert parse_set_pairs(args.set, "sac", {}) == {"init_steps": 5, "compile": True}
    assert build_parser().parse_args(["train"]).set is None


def test_the_loops_per_update_bookkeeping_reads_no_tensor(monkeypatch):
    """What the training loop does with each update's metrics (``MetricAverager.add``) stays on the device:
    with every tensor-to-host read disabled it still runs; NaN/inf is found from the means at a logging
    point (one read per interval), a NaN in any one update included."""
    from smg_fast.run.logger import MetricAverager
    from smg_fast.run.trainer import nonfinite

    metrics = [{"critic/loss": torch.tensor(v), "actor/loss": torch.tensor(1.0)} for v in (0.5, float("nan"), 2.0)]
    averager = MetricAverager()
    with monkeypatch.context() as m:
        def host_read(*_):
            raise AssertionError("a host read in the per-update path")

        for name in ("item", "tolist", "__bool__", "__float__", "__int__", "numpy", "cpu"):
            m.setattr(torch.Tensor, name, host_read)
        for x in metrics:
            averager.add(x)
    assert nonfinite(averager.means()) == "critic/loss"


@pytest.mark.slow
def test_inductor_update_matches_eager_in_float32():
    """The CPU training path (inductor: generated C++ kernels) on SAC: the first two updates from the same
    weights, batch and noise agree with eager up to float32 rounding (the noise: inductor draws its own
    random numbers unless told to call torch's, as here)."""
    runs = []
    for compiled in (False, True):
        agent = small_agent("sac", compile=compiled)
        buf, b, _ = fixed_inputs("sac", 84)
        b = Batch(*(t.float() for t in (b.obs, b.action, b.reward, b.next_obs, b.not_done)))
        agent.sample = lambda replay, _b=b: _b
        out = []
        for step in (2, 3):
            torch.manual_seed(step)
            with torch._inductor.config.patch(fallback_random=True):
                out.append(agent.update(buf, step))
        runs.append((out, state(agent)))
    (m_e, s_e), (m_c, s_c) = runs
    for me, mc in zip(m_e, m_c):
        for k in me:
            torch.testing.assert_close(mc[k], me[k], rtol=1e-3, atol=1e-5, msg=k)
    for k in s_e:
        torch.testing.assert_close(s_c[k], s_e[k], rtol=1e-3, atol=1e-5, msg=k)


# ---- Adam ---------------------------------------------------------------------------------------------


def adam_pair(shapes, dtype=torch.float64, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    ours = [torch.nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    return ours, theirs, Adam(ours, **kw), torch.optim.Adam(theirs, foreach=False, **kw)


def grads_for(params, step):
    g = torch.Generator().manual_seed(1000 + step)
    return [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]


SHAPES = [(3, 5), (7,), ()]  # () as log_alpha


@pytest.mark.parametrize("compiled", [False, True], ids=["fused-kernel", "traced"])
def test_adam_follows_torch_adam(compiled):
    """Both of Adam's forms (the fused kernel eagerly, the traced ops under compile) give torch.optim.Adam's
    single-tensor steps (float64, five steps, one β1 as α's)."""
    ours, theirs, opt, ref = adam_pair(SHAPES, lr=1e-3, betas=(0.5, 0.999))
    opt.init_state()
    step = torch.compile(opt.step, fullgraph=True, backend="aot_eager") if compiled else opt.step
    for t in range(5):
        grads = grads_for(ours, t)
        step(grads)
        for p, gr in zip(theirs, grads):
            p.grad = gr.clone()
        ref.step()
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    assert dict(counters["graph_break"]) == {}


def test_adam_state_dict_is_torch_adams():
    """Same format as torch.optim.Adam(fused=True): each loads the other's state and they go on equally."""
    ours, theirs, opt, _ = adam_pair(SHAPES, lr=1e-3)
    ref = torch.optim.Adam(theirs, lr=1e-3, fused=True)
    for t in range(2):
        grads = grads_for(ours, t)
        opt.step(grads)
        for p, gr in zip(theirs, grads):
            p.grad = gr.clone()
        ref.step()
    ours_sd, ref_sd = opt.state_dict(), ref.state_dict()
    assert ours_sd["param_groups"] == ref_sd["param_groups"]
    assert ours_sd["state"].keys() == ref_sd["state"].keys()
    for i, s in ref_sd["state"].items():
        assert s.keys() == ours_sd["state"][i].keys()
        for k in s:
            torch.testing.assert_close(ours_sd["state"][i][k], s[k], rtol=1e-12, atol=1e-15, check_dtype=False)
    # cross-load, then one more step each: equal
    fresh_ours = Adam([torch.nn.Parameter(p.detach().clone()) for p in theirs], lr=1e-3)
    fresh_ref = torch.optim.Adam([torch.nn.Parameter(p.detach().clone()) for p in ours], lr=1e-3, fused=True)
    fresh_ours.load_state_dict(ref_sd)
    fresh_ref.load_state_dict(ours_sd)
    grads = grads_for(ours, 9)
    fresh_ours.step(grads)
    for p, gr in zip(fresh_ref.param_groups[0]["params"], grads):
        p.grad = gr.clone()
    fresh_ref.step()
    for a, b in zip(fresh_ours.params, fresh_ref.param_groups[0]["params"]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_adam_leaves_parameters_without_a_gradient_alone():
    ours, _, opt, _ = adam_pair(SHAPES, lr=1e-2)
    before = [p.detach().clone() for p in ours]
    opt.step([grads_for(ours, 0)[0], None, None])
    assert not torch.equal(ours[0], before[0])
    assert torch.equal(ours[1], before[1]) and torch.equal(ours[2], before[2])
    assert [float(t) for t in opt.steps] == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="gradients for 3 parameters"):
        opt.step([None])
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([], lr=1e-3)
