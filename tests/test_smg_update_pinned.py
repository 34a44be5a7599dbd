"""SMG's update, pinned: on fixed weights, one fixed batch, fixed overlay images and seeded actor noise, in
float64, the losses, the gradients every optimiser step sees and the parameter changes equal what the code
computed before the SAC core was restructured (``tests/data/smg_update_pin.pt``, recorded at the commit
stored in the file by ``tests/data/make_smg_update_pin.py``, which ran against that commit's API). Both
augmentation paths (overlay and attribution), an even step (critic, actor, α, targets, auxiliary) and an odd
one (critic only). A refactor that changes no math passes this test."""
from pathlib import Path

import math

import pytest
import torch

from smg_fast.agent import Batch, make_agent
from smg_fast.config import make_config
from smg_pin import A, B, fill_params_by_name, fixed_batch, fixed_images, summarize

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)

PIN = torch.load(Path(__file__).parent / "data" / "smg_update_pin.pt", weights_only=False)
RTOL = 1e-9  # float64; the recorded run used 1 thread, a reordered reduction differs by ~1e-15


def canonical_params(agent):
    """(first name of each distinct tensor, tensor), over the agent's modules in checkpoint order."""
    out, seen = [], set()
    for mname, m in agent.modules().items():
        for n, p in m.named_parameters(remove_duplicate=False):
            if id(p) not in seen:
                seen.add(id(p))
                out.append((f"{mname}.{n}", p))
    return out


def close(a, b, what):
    assert math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12), f"{what}: {a!r} != pinned {b!r}"


@pytest.mark.parametrize("scenario", ["overlay", "attribution"])
def test_smg_update_matches_the_pinned_values(scenario):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = make_config("walker-walk", "smg", "paper", batch_size=B,
                          attribution_prob={"overlay": 0.0, "attribution": 1.0}[scenario])
        images = iter(fixed_images(8))
        torch.manual_seed(0)
        agent = make_agent(cfg, (9, 84, 84), A, images=lambda: next(images))
        named = canonical_params(agent)
        fill_params_by_name(named)
        for m in agent.modules().values():
            m.double()
        agent.log_alpha.data = torch.tensor(math.log(0.1), dtype=torch.float64)
        initial = {n: p.detach().clone() for n, p in named}
        name_of = {id(p): n for n, p in named}
        b = fixed_batch()
        agent.sample = lambda replay: Batch(b["obs"], b["action"], b["reward"], b["next_obs"], b["not_done"])

        seen_steps = []
        for opt_name, opt in agent.optimizers().items():
            def capture(grads, _real=opt.step, _opt=opt, _name=opt_name):
                seen = {name_of.get(id(p), "log_alpha"): summarize(g) for p, g in zip(_opt.params, grads)
                        if g is not None}
                seen_steps.append((_name, seen))
                return _real(grads)
            opt.step = capture

        for u, pinned in enumerate(PIN["scenarios"][scenario]):
            seen_steps.clear()
            torch.manual_seed(100 + u)
            metrics = agent.update(None, pinned["step"])
            assert set(metrics) == set(pinned["metrics"])
            for k, v in pinned["metrics"].items():
                close(float(metrics[k]), v, f"step {pinned['step']} {k}")
            assert [s for s, _ in seen_steps] == [o["opt"] for o in pinned["opt_steps"]]
            for (opt_name, grads), want in zip(seen_steps, pinned["opt_steps"]):
                assert set(grads) == set(want["grads"]), opt_name
                for n, g in want["grads"].items():
                    close(grads[n]["norm"], g["norm"], f"{opt_name} grad norm of {n}")
                    torch.testing.assert_close(grads[n]["values"], g["values"], rtol=RTOL, atol=1e-15)
            for n, p in named:
                got = summarize(p.detach() - initial[n])
                close(got["norm"], pinned["params"][n]["norm"], f"change of {n}")
                torch.testing.assert_close(got["values"], pinned["params"][n]["values"], rtol=1e-7, atol=1e-15)
            close(float(agent.log_alpha.detach()), pinned["log_alpha"], "log_alpha")
    finally:
        torch.set_num_threads(threads)
