"""Our SGQN against the official SGSAC, update for update (../shared/fixtures/official/sgqn.pt; see
tests/official.py): float64 over four updates at 1e-9 with every saliency mask equal, float32 first update against
the float64 run at float32 tolerances (official.Expected). Besides the generic checks: the guided-backprop
attributions, masks and quantile thresholds before the critic step and (aux steps) after it, the fill value of the
masked observation, the loss terms, the overlaid auxiliary input and the attribution predictor's logits.

Ours computes the post-step attribution only on auxiliary (even) steps, where it is used; upstream also computes
it on odd steps (``attribution.2[update]`` of U2, U4), unused there, so those are not compared."""
import pytest
import torch

from official import FP64, Replay, Tolerances, check_run
from smg_fast.agent.sgqn import SGQNAgent
from smg_fast.ops import quantile_mask

# README: U1 fp32 1e-5 losses, 1e-4 outputs and gradients (aux-step encoder gradients 5e-2), SGQN
# parameter changes 1e-1.
FP32_U1 = Tolerances(losses=1e-5, outputs=1e-4, grads=1e-4, params=1e-2, zero_grad_abs=1e-6, zero_change_abs=1e-4,
                     opt_grads={"aux_opt": 5e-2})
TENSOR_TOL = {torch.float64: 1e-9, torch.float32: 1e-4}


def official_calls(rec):
    """Upstream's critic step calls the critic on o, inside captum (on o again) and on o_m; ours runs the
    critic heads once on [o, o_m] and the attribution pass outside them. Its post-step attribution call
    (phase ``update``) has no counterpart among our head calls either."""
    out, pending = [], []
    for c in rec["calls"]:
        m, phase = c["module"], c["phase"]
        if m == "critic" and phase == "critic":
            pending.append(c["out"])
            if len(pending) == 3:  # o, captum's o, o_m
                (q1, q2), _, (m1, m2) = pending
                out.append(("critic", (torch.cat([q1, m1]), torch.cat([q2, m2]))))
        elif m in ("actor", "critic", "critic_target") and phase != "update":
            out.append((m, c["out"]))
    assert len(pending) == 3, "upstream's critic step makes three critic calls"
    return out


def record(agent, fx, u, dtype):
    seen = agent.parity_seen = {"attribution": [], "mask": [], "views": [], "critic": None, "aux": None}

    def attribution(obs, action):
        out = SGQNAgent.attribution(agent, obs, action)
        seen["attribution"].append(out)
        return out

    def saliency_mask(obs, action):
        out = SGQNAgent.saliency_mask(agent, obs, action)
        seen["mask"].append(out)
        return out

    def critic_views(b):
        out = SGQNAgent.critic_views(agent, b)
        seen["views"].append((b.obs, out))
        return out

    def update_critic(b):
        seen["critic"] = SGQNAgent.update_critic(agent, b)
        return seen["critic"]

    def update_aux(b, plan):
        seen["aux"] = SGQNAgent.update_aux(agent, b, plan)
        return seen["aux"]

    agent.attribution, agent.saliency_mask, agent.critic_views = attribution, saliency_mask, critic_views
    agent.update_critic, agent.update_aux = update_critic, update_aux
    if not hasattr(agent, "parity_hook"):
        def hook(module, args, out):
            agent.parity_seen["predictor"] = (args[0].detach(), out.detach())

        agent.parity_hook = agent.attribution_predictor.register_forward_hook(hook)


def check(agent, fx, u, *, dtype, exp, where, **_):
    run, seen, tol = exp.ref, agent.parity_seen, TENSOR_TOL[dtype]
    rec = run["tensors"]
    aux_step = "train/aux_loss" in run["logged"]
    assert len(seen["attribution"]) == (2 if aux_step else 1), f"{where}: attribution passes"

    def tensor(key):
        return lambda r: r["tensors"][key]

    def compare(k, name):
        attr, mask = seen["attribution"][k], seen["mask"][k]
        exp.recorded(attr, tensor(f"attribution.{name}"), tol, f"{where} attribution {name}", parts=("values", "norm"))
        _, q = quantile_mask(attr, agent.cfg.sgqn_quantile)
        thr = rec[f"attribution_mask_threshold.{name}"]
        assert thr["quantile"] == agent.cfg.sgqn_quantile
        exp.close(q, lambda r: r["tensors"][f"attribution_mask_threshold.{name}"]["q"], tol, f"{where} mask thresholds {name}")
        # float64: every pixel; float32: pixels next to the threshold may round across it (a few)
        exp.differing(mask, tensor(f"attribution_mask.{name}"), 0 if dtype == torch.float64 else 8,
                      f"{where} mask {name}")
        return mask

    compare(0, "1[critic]")
    # The masked observation: o where the mask holds, else upstream's one uniform value, drawn between the
    # batch's min and max and rounded to the run's dtype: exactly what the official run of our precision drew.
    same = exp.fp32 if exp.fp32 is not None else run
    obs, (masked,) = seen["views"][0]
    value = same["uniform_calls"][0]["value"]
    assert same["uniform_calls"][0]["a"] == float(obs.min()) and same["uniform_calls"][0]["b"] == float(obs.max())
    keep = seen["mask"][0].repeat_interleave(3, dim=1)
    assert torch.equal(masked[keep], obs[keep]) and bool((masked[~keep] == value).all()), f"{where}: masked obs"

    # Loss terms: TD (two MSEs), consistency (two MSEs) and the aux BCE, as upstream's F.* calls returned.
    def f_sum(*k):
        return lambda r: sum(r["f_calls"][i]["value"] for i in k)

    exp.close(seen["critic"]["critic/td_loss"], f_sum(0, 1), tol, f"{where} TD loss")
    exp.close(seen["critic"]["critic/consistency_loss"], f_sum(2, 3), tol, f"{where} consistency loss")
    if aux_step:
        compare(1, "2[update]")
        assert torch.equal(seen["mask"][1], rec["attribution_mask.3[aux]"]) or dtype != torch.float64
        exp.close(seen["aux"]["aux/loss"], f_sum(4), tol, f"{where} aux loss")
        s_tilde, logits = seen["predictor"]
        exp.recorded(s_tilde, tensor("random_overlay_out.1[aux]"), tol, f"{where} overlaid aux input", parts=("values", "norm"))
        exp.recorded(logits, tensor("attribution_predictor_logits.1"), tol, f"{where} predictor logits", parts=("values", "norm"))


REPLAY = Replay("sgqn", "sgqn", official_calls=official_calls, prepare=record, check=check)


@pytest.mark.fast
def test_float64_four_updates_match_the_official_code():
    check_run(REPLAY, torch.float64, updates=4, tol=FP64)


def test_float32_first_update_matches_the_official_code():
    check_run(REPLAY, torch.float32, updates=1, tol=FP32_U1)
