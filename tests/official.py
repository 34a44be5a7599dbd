"""Replaying the official implementations' recorded updates through our agents (``../shared/fixtures/official``,
format in its README): load the official initial weights into our modules, feed the recorded batch and every
recorded random draw, run the four updates (steps 1002-1005) and compare what the official code computed —
losses, module outputs, the gradient every optimiser step saw, and the parameters after each update.

A method's parity test builds a :class:`Replay` with its name map and draw replayer, then calls
:func:`check_run`. float64 runs are compared with ``runs["fp64"]`` at 1e-9 (normwise relative) over all four
updates; float32 runs with ``runs["fp32"]`` for the first update at the README's suggested tolerances.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from smg_fast.agent import Batch, make_agent
from smg_fast.agent.draws import Draws, ImageStream
from smg_fast.config import make_config

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "official"
STEPS = (1002, 1003, 1004, 1005)
OPTIMIZERS = {"critic": "critic_opt", "actor": "actor_opt", "alpha": "alpha_opt", "aux": "aux_opt", "soda": "aux_opt"}


def load_fixture(method: str) -> dict:
    path = FIXTURES / f"{method}.pt"
    if not path.is_file():
        pytest.fail(f"official fixture {path} is missing: the parity tests need ../shared/fixtures/official")
    return torch.load(path, weights_only=True)


def initial_state(fx: dict) -> dict[str, torch.Tensor]:
    """Official name -> initial tensor (the README's loader)."""
    core = {f: torch.load(FIXTURES / f, weights_only=True)["state"] for f in fx["init"]["core_files"]}
    return {name: (fx["init"]["tensors"][key] if src == "self" else core[src][key])
            for name, (src, key) in fx["init"]["source"].items()}


def core_name(official: str) -> str:
    """Official state name -> ours, for the SAC core: the official trunk ``shared_cnn.layers`` starts with
    CenterCrop and NormalizeImg (indices 0, 1), ours with the first conv."""
    m = re.match(r"(.*)\.encoder\.shared_cnn\.layers\.(\d+)\.(\w+)$", official)
    if m:
        return f"{m[1]}.encoder.trunk.layers.{int(m[2]) - 2}.{m[3]}"
    return official


def draws_by_phase(draws: dict) -> dict[str, dict[str, list]]:
    """The recorded draws of one update split by phase (``sample``, ``critic``, ``actor``, ``aux``,
    ``update``), each kind in call order (from ``draws["order"]``)."""
    pools = {k: list(v) for k, v in draws.items() if k != "order"}
    out: dict[str, dict[str, list]] = {}
    for entry in draws["order"]:
        phase, kind, _ = entry.split("|")
        out.setdefault(phase, {}).setdefault(kind, []).append(pools[kind].pop(0))
    assert not any(pools.values()), "draws not named in the recorded order"
    return out


class RecordedDraws(Draws):
    """Every draw the update itself makes (not the batch's: the harness feeds the sampled batch), served
    in the recorded order; ``left()`` names what the update did not consume."""

    def __init__(self, draws: dict):
        self.rec: dict[str, list] = {}
        for phase, kinds in draws_by_phase(draws).items():
            if phase != "sample":
                for kind, values in kinds.items():
                    self.rec.setdefault(kind, []).extend(values)

    def pop(self, kind: str):
        assert self.rec.get(kind), f"the update drew more {kind} than the official code"
        return self.rec[kind].pop(0)

    def actor_noise(self, like):
        return self.pop("actor_noise").to(like)

    def uniform(self, a, b):
        return a + (b - a) * self.pop("uniform")

    def random(self):
        return self.pop("uniform")

    def places(self, n=None):
        """The next recorded natural-image batch (float [0, 1), as upstream's Places loader gives)."""
        return self.pop("places")

    def conv_kernels(self, n):
        """One recorded ``conv_kernel`` per sample (upstream draws them one by one)."""
        return torch.stack([self.pop("conv_kernel") for _ in range(n)])

    def crop_offsets(self, n, high):
        offsets = self.pop("crop")
        assert offsets.shape == (n, 2) and int(offsets.max()) < high, (offsets, n, high)
        return offsets

    def left(self) -> dict:
        return {k: len(v) for k, v in self.rec.items() if v}


@dataclass
class Replay:
    """How one method's fixture maps onto our agent."""

    method: str  # fixture name
    algo: str  # our algorithm name
    name_map: callable = core_name  # official canonical name -> our parameter path ("module.param")
    overrides: dict = field(default_factory=dict)  # config settings (batch size 4 is set here)
    batch: callable = None  # (fx, u, dtype) -> Batch; default: the recorded augmented obs
    prepare: callable = None  # (agent, fx, u, dtype) -> None: feed method-specific recorded inputs
    # rec -> [(module, outputs)]: the official forward calls as ours make them (default: every actor /
    # critic / critic_target call as recorded), e.g. where ours batch two of them into one
    official_calls: callable = None
    # (agent, fx, u, *, dtype, rec, tol, where) -> None: method-specific intermediates, checked right after
    # update u (before the common comparisons: they explain later mismatches)
    check: callable = None


def default_batch(fx: dict, u: int, dtype) -> Batch:
    """The recorded (augmented) batch: observations in the run's dtype; action, reward and not_done float32
    in both precisions, as the official fp64 run kept them (so ``not_done * γ`` rounds γ to float32 there)."""
    aug, b = fx["augmented"][u], fx["batch"]
    return Batch(aug["obs"].to(dtype), b["action"], b["reward"], aug["next_obs"].to(dtype), b["not_done"])


def our_tensors(agent) -> dict[str, torch.Tensor]:
    out = {}
    for mname, m in agent.modules().items():
        for n, p in m.named_parameters(remove_duplicate=False):
            out[f"{mname}.{n}"] = p
        for n, b in m.named_buffers(remove_duplicate=False):
            out[f"{mname}.{n}"] = b
    out["log_alpha"] = agent.log_alpha
    return out


def build(replay: Replay, fx: dict, dtype) -> tuple:
    """Our agent with the official initial values, in ``dtype``; (agent, our tensor by official canonical name)."""
    cfg = make_config("walker-walk", replay.algo, "paper", batch_size=fx["shapes"]["batch"], **replay.overrides)
    agent = make_agent(cfg, tuple(fx["shapes"]["obs"]), fx["shapes"]["action_dim"])
    for m in agent.modules().values():
        m.to(dtype)
    # log_alpha is float64 in both official runs (torch.tensor(np.log(0.1))); 0-dim, so the fp32 run's
    # alpha·log π stays float32 as ours does.
    agent.log_alpha.data = agent.log_alpha.data.to(torch.float64)
    ours = our_tensors(agent)
    init = initial_state(fx)
    by_official = {}
    for name in fx["names"]:
        canon = fx["canonical"][name]
        if canon != name:
            continue
        path = replay.name_map(canon)
        assert path in ours, f"official {canon} -> {path}: no such tensor in our {replay.algo} agent"
        by_official[canon] = ours[path]
    with torch.no_grad():
        for canon, t in by_official.items():
            assert t.shape == init[canon].shape, (canon, t.shape, init[canon].shape)
            t.copy_(init[canon])
    # Every tensor of ours that the official agent has is loaded; ours has no extra trainable tensors.
    loaded = {id(t) for t in by_official.values()}
    extra = [n for n, t in ours.items() if id(t) not in loaded and t.is_floating_point()]
    assert not extra, f"tensors without an official counterpart: {extra}"
    return agent, by_official


def check_optimizers(agent, fx: dict, by_official: dict) -> None:
    """Same hyperparameters, and each of our optimisers owns the official one's tensors (minus those the
    official step never sees a gradient for, e.g. the shared trunk in the actor's)."""
    ours = agent.optimizers()
    for name, spec in fx["optimizers"].items():
        opt = ours[OPTIMIZERS[name]]
        hyper = opt.param_groups[0]
        for k in ("lr", "eps", "weight_decay", "amsgrad", "maximize"):
            assert hyper[k] == spec["hyper"][k], (name, k, hyper[k], spec["hyper"][k])
        assert tuple(hyper["betas"]) == tuple(spec["hyper"]["betas"]), name
        owned = {id(p) for g in opt.param_groups for p in g["params"]}
        theirs = {id(by_official[n]) for n in spec["params"]}
        assert owned <= theirs, f"{name}: our optimiser steps tensors the official one does not"
        never = {id(by_official[n]) for n in spec["params"]} - owned
        for run in fx["runs"]["fp64"]:
            for step in run["opt_steps"]:
                if step["opt"] == name:
                    seen = {id(by_official[n]) for n, v in step["grad_norms"].items() if v is not None}
                    assert not (seen & never), f"{name}: a tensor with an official gradient is not in our optimiser"


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    d = float((a - b).norm())
    n = float(b.norm())
    return d / n if n > 0 else d


def close(a, b, tol, what, abs_tol=0.0):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, f"{what}: shape {tuple(a.shape)} != official {tuple(b.shape)}"
    err = float((a - b).norm())
    assert err <= tol * float(b.norm()) + abs_tol, f"{what}: relative error {rel(a, b):.3g} > {tol:g}"


@dataclass
class Tolerances:
    losses: float
    outputs: float
    grads: float
    params: float
    zero_grad_abs: float  # gradients that are zero in exact arithmetic (fixture's zero_grad list)
    zero_change_abs: float
    opt_grads: dict = field(default_factory=dict)  # our optimiser name -> its own gradient tolerance


FP64 = Tolerances(1e-9, 1e-9, 1e-9, 1e-9, 1e-12, 1e-12)


def capture_calls(agent, log: list) -> None:
    """Record (module, outputs) of every actor / critic / critic_target head call, in call order."""
    for mname in ("actor", "critic", "critic_target"):
        module = getattr(agent, mname)
        real = module.heads

        def heads(*a, _real=real, _name=mname, **k):
            out = _real(*a, **k)
            log.append((_name, out))
            return out

        module.heads = heads


def capture_grads(agent, by_official: dict, log: list) -> None:
    """Record the gradients every optimiser step receives (``opt.step(grads)``, one per parameter)."""
    name_of = {id(t): n for n, t in by_official.items()}
    for opt_name, opt in agent.optimizers().items():
        real = opt.step

        def step(grads, _real=real, _opt=opt, _name=opt_name):
            got = {name_of[id(p)]: g.detach().clone() for p, g in zip(_opt.params, grads) if g is not None}
            log.append((_name, got))
            return _real(grads)

        opt.step = step


def check_run(replay: Replay, dtype=torch.float64, updates=4, tol: Tolerances = FP64) -> None:
    fx = load_fixture(replay.method)
    prec = "fp64" if dtype == torch.float64 else "fp32"
    agent, by_official = build(replay, fx, dtype)
    check_optimizers(agent, fx, by_official)
    initial = {n: t.detach().clone() for n, t in by_official.items()}
    zero = set(fx["zero_grad"])
    # Where a gradient is zero in exact arithmetic: the fixture lists "U<k>.<optimizer>: ..." per tensor
    # (SODA's last conv bias is zero in the SODA step only; the critic step trains it normally).
    zero_at = {(n, e.split(":")[0]) for n, entries in fx["zero_grad"].items() for e in entries if e[:1] == "U"}
    calls, grads = [], []
    capture_calls(agent, calls)
    capture_grads(agent, by_official, grads)
    batch_of = replay.batch or default_batch
    for u in range(updates):
        rec = fx["runs"][prec][u]
        calls.clear()
        grads.clear()
        agent.draws = RecordedDraws(fx["draws"][u])
        agent._images = ImageStream(agent.draws.places, fx["shapes"]["batch"], 84, 0, agent.device)
        b = batch_of(fx, u, dtype)
        agent.sample = lambda replay_, _b=b: _b
        if replay.prepare is not None:
            replay.prepare(agent, fx, u, dtype)
        alpha_before = float(agent.alpha.detach())
        metrics = agent.update(None, rec["step"])
        where = f"{replay.method} {prec} U{u + 1}"
        assert not agent.draws.left(), f"{where}: recorded draws left unused: {agent.draws.left()}"
        if replay.check is not None:  # method-specific intermediates first: they explain later mismatches
            replay.check(agent, fx, u, dtype=dtype, rec=rec, tol=tol, where=where)

        # losses as logged
        logged = rec["logged"]
        close(metrics["critic/loss"], logged["train_critic/loss"], tol.losses, f"{where} critic loss")
        if "train_actor/loss" in logged:
            close(metrics["actor/loss"], logged["train_actor/loss"], tol.losses, f"{where} actor loss")
            close(metrics["alpha/loss"], logged["train_alpha/loss"], tol.losses, f"{where} alpha loss")
            # upstream logs α before its step (ours logs it after: alpha/value is α as it leaves the update)
            close(alpha_before, logged["train_alpha/value"], tol.losses, f"{where} alpha value")
        else:
            assert "actor/loss" not in metrics, f"{where}: the actor updated on an odd step"
        if "train/aux_loss" in logged:
            close(metrics["aux/loss"], logged["train/aux_loss"], tol.losses, f"{where} aux loss")

        # module outputs, per module and phase, concatenated over calls
        def outputs(entries, name):
            return [t for n, out in entries if n == name for t in out if t is not None]

        if replay.official_calls is not None:
            official_calls = replay.official_calls(rec)
        else:
            official_calls = [(c["module"], c["out"]) for c in rec["calls"] if c["module"] in ("actor", "critic", "critic_target")]
        for name in ("actor", "critic", "critic_target"):
            theirs, ours_ = outputs(official_calls, name), outputs(calls, name)
            if name == "actor":  # ours: (tanh μ, π, log π, log σ) only where π was drawn, as upstream's
                theirs = [t for t in theirs if t is not None]
            cat = lambda ts: torch.cat([t.detach().reshape(-1).double() for t in ts]) if ts else torch.zeros(0)  # noqa: E731
            close(cat(ours_), cat(theirs), tol.outputs, f"{where} {name} outputs")

        # gradients at every optimiser step
        official_steps = rec["opt_steps"]
        assert [OPTIMIZERS[s["opt"]] for s in official_steps] == [n for n, _ in grads], \
            f"{where}: optimiser steps {[n for n, _ in grads]} vs official {[s['opt'] for s in official_steps]}"
        for (opt_name, got), want in zip(grads, official_steps):
            zero_here = {n for n in zero if (n, f"U{u + 1}.{want['opt']}") in zero_at}
            grad_tol = tol.opt_grads.get(opt_name, tol.grads)
            for n, norm in want["grad_norms"].items():
                if norm is None:
                    assert n not in got or float(got[n].norm()) == 0.0, f"{where} {opt_name}: {n} got a gradient"
                    continue
                assert n in got, f"{where} {opt_name}: no gradient for {n}"
                g = float(got[n].double().norm())
                if n in zero_here:
                    assert g <= tol.zero_grad_abs + 1e-30, f"{where} {opt_name}: {n} grad norm {g:.3g} should be ~0"
                else:
                    assert math.isclose(g, norm, rel_tol=grad_tol, abs_tol=1e-300), \
                        f"{where} {opt_name}: grad norm of {n} {g!r} != official {norm!r}"
            for n, full in want["grads"].items():
                if n not in zero_here:
                    close(got[n], full, grad_tol, f"{where} {opt_name} grad of {n}")

        # parameters after the update
        after = rec["after"]
        for n, dn in after["delta_norm"].items():
            if n not in by_official:
                continue
            got = float((by_official[n].detach().double() - initial[n].double()).norm())
            if n in zero:
                assert abs(got - dn) <= tol.zero_change_abs + tol.params * dn, f"{where}: change of {n} {got!r} != {dn!r}"
            else:
                assert math.isclose(got, dn, rel_tol=tol.params, abs_tol=1e-300), \
                    f"{where}: change of {n} {got!r} != official {dn!r}"
        for n, full in after["full"].items():
            if n in by_official and n not in zero and full.is_floating_point():
                close(by_official[n].detach() - initial[n], full.double() - initial[n].double(), tol.params,
                      f"{where}: {n} after the update")
        for n, sk in after["sketch"].items():
            if n in by_official and n not in zero:
                vals = by_official[n].detach().reshape(-1)[sk["idx"]]
                close(vals - initial[n].reshape(-1)[sk["idx"]], sk["values"].double() - initial[n].reshape(-1)[sk["idx"]].double(),
                      tol.params, f"{where}: sampled values of {n} after the update")
        close(agent.alpha.detach(), rec["alpha_after"], tol.params, f"{where} alpha after")


def compare_recorded(got: torch.Tensor, recorded: dict, tol: float, what: str) -> None:
    """A tensor against a recorded intermediate: ``{"full": t}`` normwise, or a sketch (the values at its
    sampled indices, its norm, sum and largest magnitude)."""
    got = got.detach()
    if "full" in recorded:
        close(got, recorded["full"], tol, what)
        return
    sk = recorded["sketch"]
    assert tuple(got.shape) == tuple(sk["shape"]), f"{what}: shape {tuple(got.shape)} != official {tuple(sk['shape'])}"
    flat = got.reshape(-1).double()
    close(flat[sk["idx"]], sk["values"], tol, f"{what} (sampled values)")
    close(flat.norm(), sk["norm"], tol, f"{what} (norm)")
    close(flat.sum(), sk["sum"], tol, f"{what} (sum)")
    close(flat.abs().max(), sk["absmax"], tol, f"{what} (absmax)")
