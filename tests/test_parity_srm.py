"""Our SRM against the official implementation, update for update (../shared/fixtures/official/srm.pt; see
tests/official.py): float64 over four updates at 1e-9, float32 first update against the float64 run at float32
tolerances (official.Expected); besides the generic checks, the applied pattern (U1, U2, U4 masked, U3 not),
the drawn limits, the removed frequencies exactly, and the masked observations that the critic and the actor
saw."""
import pytest
import torch

from official import FP64, Replay, Tolerances, check_run, image_size
from smg_fast.agent.srm import SRMAgent
from smg_fast.ops import ring_mask

FP32_U1 = Tolerances(losses=1e-5, outputs=1e-4, grads=1e-4, params=2e-3, zero_grad_abs=1e-6, zero_change_abs=1e-4)
OBS_TOL = {torch.float64: 1e-9, torch.float32: 1e-5}


def record(agent, fx, u, dtype):
    seen = agent.parity_seen = {"obs": []}
    agent.draw_ring = lambda: seen.setdefault("ring", SRMAgent.draw_ring(agent))

    def update_critic(b):
        seen["obs"].append(b.obs)
        return SRMAgent.update_critic(agent, b)

    def update_actor_and_alpha(obs):
        seen["obs"].append(obs)
        return SRMAgent.update_actor_and_alpha(agent, obs)

    agent.update_critic, agent.update_actor_and_alpha = update_critic, update_actor_and_alpha


def check(agent, fx, u, *, dtype, exp, where, **_):
    rec = exp.ref["tensors"]
    seen = agent.parity_seen
    ring = seen["ring"]
    assert (ring is not None) == rec["srm_applied"], f"{where}: applied {ring is not None}, official {rec['srm_applied']}"
    # The actor update (even steps) sees the same masked observations as the critic.
    assert all(o is seen["obs"][0] for o in seen["obs"]), f"{where}: the actor saw other observations"
    obs = seen["obs"][0]
    if ring is None:
        assert torch.equal(obs, fx["augmented"][u]["obs"].to(dtype)), f"{where}: unmasked batch changed"
        return
    lim = rec["srm_limits"]
    # Python floats, computed as upstream does: exact equality.
    assert ring == (lim["low"], lim["hi"]) and round(ring[1] - ring[0], 2) == lim["diff"], (where, ring, lim)
    size = image_size(fx)
    removed = ring_mask(size, size, *ring, dtype=dtype)
    assert torch.equal(removed, rec["srm_ring_removed"]), f"{where}: removed frequencies differ"
    # sketched: values and norm (a ring with low = 0 removes the mean, the sum is then ~0)
    exp.recorded(obs, lambda r: r["tensors"]["srm_final_obs"], OBS_TOL[dtype], f"{where} masked obs",
                 parts=("values", "norm"))


REPLAY = Replay("srm", "srm", prepare=record, check=check)


@pytest.mark.fast
def test_float64_four_updates_match_the_official_code():
    check_run(REPLAY, torch.float64, updates=4, tol=FP64)


def test_float32_first_update_matches_the_official_code():
    check_run(REPLAY, torch.float32, updates=1, tol=FP32_U1)


@pytest.mark.parametrize("u", range(4))
def test_the_official_inputs_give_the_recorded_limits(u):
    """The recorded uniforms through our draw code give upstream's limits (rounding to 2 decimals)."""
    from official import RecordedDraws, load_fixture

    fx = load_fixture("srm")
    agent = SRMAgent.__new__(SRMAgent)
    agent.cfg, agent.draws = SRMAgent.Config(), RecordedDraws(fx["draws"][u])
    ring = agent.draw_ring()
    rec = fx["runs"]["fp64"][u]
    calls = rec["uniform_calls"]
    assert [(c["a"], c["b"]) for c in calls] == [(0.0, 1.0), (0.0, 0.5), (0.0, 0.05)][:len(calls)]
    if rec["tensors"]["srm_applied"]:
        lim = rec["tensors"]["srm_limits"]
        assert ring == (lim["low"], lim["hi"])
    else:
        assert ring is None and len(calls) == 1
    assert "uniform" not in agent.draws.left()
