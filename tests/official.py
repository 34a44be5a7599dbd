"""Replaying the official implementations' recorded updates through our agents (``../shared/fixtures/official``,
format in its README): load the official initial weights into our modules, feed the recorded batch and every
recorded random draw, run the four updates (steps 1002-1005) and compare what the official code computed —
losses, module outputs, the gradient every optimiser step saw, and the parameters after each update.

A method's parity test builds a :class:`Replay` with its name map and draw replayer, then calls
:func:`check_run`. Both precisions are compared with the official float64 run (``runs["fp64"]``): float64
runs at 1e-9 (normwise relative) over all four updates; float32 runs over the first update at float32
tolerances (see :class:`Expected`). The settings, batch size and seed are the fixture's own (``args``,
``shapes``), so any fixture set of this format replays.

The fixtures are reference files, not part of the repository (see tests/reference_files.py):
without them the parity tests skip, naming what is missing, except under CI where that is a failure.
"""
from __future__ import annotations

import copy
import math
import re
import types
from dataclasses import dataclass, field

import torch

from reference_files import official_fixtures
from smg_fast.agent import Batch, make_agent, method_class
from smg_fast.agent.draws import Draws, ImageStream
from smg_fast.config import field_names, make_config

OPTIMIZERS = {"critic": "critic_opt", "actor": "actor_opt", "alpha": "alpha_opt", "aux": "aux_opt", "soda": "aux_opt"}


def load_fixture(method: str) -> dict:
    """``<method>.pt`` of the official fixtures; skips (fails under CI) where they are not here."""
    return torch.load(official_fixtures(f"{method}.pt", *CORE_FILES), weights_only=True)


CORE_FILES = ("init_core_critic.pt", "init_core_actor.pt")


def initial_state(fx: dict) -> dict[str, torch.Tensor]:
    """Official name -> initial tensor (the README's loader)."""
    core = {f: torch.load(official_fixtures(f), weights_only=True)["state"] for f in fx["init"]["core_files"]}
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
    overrides: dict = field(default_factory=dict)  # settings beyond the fixture's (fixture_settings)
    batch: callable = None  # (fx, u, dtype) -> Batch; default: the recorded augmented obs
    prepare: callable = None  # (agent, fx, u, dtype) -> None: feed method-specific recorded inputs
    # rec -> [(module, outputs)]: the official forward calls as ours make them (default: every actor /
    # critic / critic_target call as recorded), e.g. where ours batch two of them into one
    official_calls: callable = None
    # (agent, fx, u, *, dtype, exp, tol, where) -> None: method-specific intermediates, checked right after
    # update u against ``exp`` (an Expected; before the common comparisons: they explain later mismatches)
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


# Official arguments that set up an update, under the same name and meaning in our settings: the replay
# takes them from the fixture (``args``), whatever flags it was made with.
UPDATE_SETTINGS = ("seed", "batch_size", "discount", "hidden_dim", "num_shared_layers", "num_filters",
                   "projection_dim", "actor_lr", "actor_log_std_min", "actor_log_std_max", "actor_update_freq",
                   "critic_lr", "critic_tau", "critic_target_update_freq", "encoder_tau", "init_temperature",
                   "alpha_lr", "alpha_beta", "aux_lr", "aux_beta", "aux_update_freq", "soda_batch_size", "soda_tau",
                   "svea_alpha", "svea_beta", "sgqn_quantile")


def fixture_settings(fx: dict, algo: str) -> dict:
    """Our settings for the fixture's run: its task and every update setting of ``args`` that ``algo`` has."""
    args = fx["args"]
    ours = field_names(method_class(algo).Config) | {"seed"}
    settings = {k: args[k] for k in UPDATE_SETTINGS if k in args and k in ours}
    assert settings["batch_size"] == fx["shapes"]["batch"], (settings["batch_size"], fx["shapes"])
    return {"task": f"{args['domain_name']}-{args['task_name']}", **settings}


def image_size(fx: dict) -> int:
    """Side of the observations the update sees (after any crop): ``shapes["obs"]`` is (C, H, W)."""
    return fx["shapes"]["obs"][-1]


def build(replay: Replay, fx: dict, dtype) -> tuple:
    """Our agent with the official initial values, in ``dtype``; (agent, our tensor by official canonical name)."""
    settings = fixture_settings(fx, replay.algo)
    cfg = make_config(settings.pop("task"), replay.algo, "paper", **{**settings, **replay.overrides})
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

# float32 tolerances (see Expected): a quantity may lie DRIFT times as far from the float64 result as float32
# rounding moves it, and ROUNDING_SAMPLES replays from 1-ulp-perturbed initial values measure how far that is.
DRIFT = 4.0
ROUNDING_SAMPLES = 3


class Expected:
    """What the official code computed in one update, and how closely a run of ours in ``dtype`` must match.

    The reference is always the official float64 run: float64 runs of ours match it at ``FP64``. A float32
    run of ours is compared with it too, not with the official float32 run, which is one float32 rounding of
    the computation and, where the computation is ill-conditioned, lies as far from the exact result as a
    correct float32 implementation may, in its own direction. Ill-conditioned here: Adam's first step is
    ``lr * g / (|g| + eps)``, so an element whose gradient is rounding noise steps by ±lr either way, and
    every later quantity inherits the flip (SODA's and SGQN's auxiliary steps come after the critic's); BatchNorm
    on 4 samples; SGQN's cancelling decoder gradients.

    A float32 quantity passes within ``max(floor, DRIFT * max(gap, spread))`` (normwise relative), where
    ``floor`` is its category's tolerance (the fixture README's suggested float32 tolerances, but parameter
    changes at 2e-3, SODA's and SGQN's at 1e-2: the README's 1e-2 and 1e-1 are bounds against the official
    float32 run, which carries its own sign flips, and would let a step 1 % too long pass), ``gap`` the
    official float32 run's own distance from the official float64 run on that very quantity (the fixture),
    and ``spread`` how far the same quantity moves in our float32 replays from initial values perturbed by
    one ulp (``samples``, collected by replays whose Expected has ``collect``): float32 rounding moves a
    quantity by about that much, so a correct implementation lands within a few times of it, on any CPU,
    while a bug that moves a well-conditioned quantity (``gap``, ``spread`` ~1e-7) beyond its floor fails.
    """

    def __init__(self, fx: dict, u: int, dtype, collect: dict | None = None, samples: tuple = ()):
        self.ref = fx["runs"]["fp64"][u]
        self.fp32 = fx["runs"]["fp32"][u] if dtype == torch.float32 else None
        self.collect, self.samples = collect, samples

    def tol(self, ours, get, floor: float, what: str) -> float:
        """The tolerance of quantity ``get(record)`` (a record: one ``runs[prec][u]``) where ours is ``ours``."""
        if self.fp32 is None:
            return floor
        ours_and_samples = [ours] + [s[what] for s in self.samples]
        spread = max((rel(a, b) for a in ours_and_samples for b in ours_and_samples if a is not b), default=0.0)
        return max(floor, DRIFT * max(rel(get(self.fp32), get(self.ref)), spread))

    def close(self, ours, get, floor: float, what: str, abs_tol: float = 0.0) -> None:
        """``ours`` against the official value ``get(record)``, normwise relative."""
        ours = torch.as_tensor(ours.detach() if isinstance(ours, torch.Tensor) else ours, dtype=torch.float64)
        if self.collect is not None:
            self.collect[what] = ours.clone()
            return
        close(ours, get(self.ref), self.tol(ours, get, floor, what), what, abs_tol)

    def near_zero(self, ours: float, get, abs_floor: float, rel_floor: float, what: str) -> None:
        """A quantity that is zero in exact arithmetic (e.g. the change of a parameter whose gradient is):
        absolutely within ``abs_floor`` (plus ``rel_floor`` of the official value), or DRIFT times how far the
        official float32 run's value or our perturbed replays' lie from it, whichever is larger."""
        if self.collect is not None:
            self.collect[what] = ours
            return
        ref, runs = get(self.ref), [ours] + [s[what] for s in self.samples]
        limit = abs_floor if self.fp32 is None else max(
            abs_floor, DRIFT * max([abs(get(self.fp32) - ref)] + [abs(a - b) for a in runs for b in runs]))
        assert abs(ours - ref) <= limit + rel_floor * abs(ref), \
            f"{what}: {ours!r} != official {ref!r} (within {limit:g})"

    def differing(self, ours: torch.Tensor, get, floor: int, what: str) -> None:
        """A boolean tensor (e.g. a saliency mask) against the recorded one: at most ``floor`` elements differ,
        or DRIFT times as many as differ between the official float32 and float64 runs or between our float32
        runs (pixels next to a threshold round across it), whichever is more."""
        if self.collect is not None:
            self.collect[what] = ours.clone()
            return
        count = int((ours != get(self.ref)).sum())
        limit = floor
        if self.fp32 is not None:
            runs = [ours] + [s[what] for s in self.samples]
            limit = max(floor, DRIFT * max([int((get(self.fp32) != get(self.ref)).sum())]
                                           + [int((a != b).sum()) for a in runs for b in runs]))
        assert count <= limit, f"{what}: {count} elements differ from the official float64 run's (at most {limit:g})"

    def recorded(self, ours: torch.Tensor, get, floor: float, what: str,
                 parts=("values", "norm", "sum", "absmax")) -> None:
        """``ours`` against a recorded intermediate ``get(record)``: ``{"full": t}`` normwise, or a sketch:
        the ``parts`` of it (the values at its sampled indices, its norm, sum, largest magnitude; a sum near
        zero, e.g. of zero-mean values, has no relative precision and is left out there)."""
        ours = ours.detach()
        if "full" in get(self.ref):
            self.close(ours, lambda r: get(r)["full"], floor, what)
            return
        shape = tuple(get(self.ref)["sketch"]["shape"])
        assert tuple(ours.shape) == shape, f"{what}: shape {tuple(ours.shape)} != official {shape}"
        flat = ours.reshape(-1).double()
        idx = get(self.ref)["sketch"]["idx"]
        stats = {"values": flat[idx], "norm": flat.norm(), "sum": flat.sum(), "absmax": flat.abs().max()}
        for key in parts:
            self.close(stats[key], lambda r, k=key: get(r)["sketch"][k], floor, f"{what} ({key})")


def perturbed_copy(agent, by_official: dict, seed: int) -> tuple:
    """A copy of a freshly built agent whose float32 initial values are each moved by -1, 0 or +1 ulp (drawn
    with ``seed``): how far float32 rounding alone moves what an update computes (Expected's ``spread``)."""
    memo = {id(v): v for v in vars(agent).values() if isinstance(v, types.ModuleType)}  # e.g. the ops it uses
    twin = copy.deepcopy(agent, memo)
    tensors = {n: memo[id(t)] for n, t in by_official.items()}
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in tensors.values():
            if t.dtype == torch.float32:
                step = torch.randint(-1, 2, t.shape, generator=gen)
                t.copy_(torch.where(step > 0, torch.nextafter(t, torch.full_like(t, math.inf)),
                                    torch.where(step < 0, torch.nextafter(t, torch.full_like(t, -math.inf)), t)))
    return twin, tensors


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
    """Replay ``updates`` of the fixture through our agent in ``dtype`` and compare everything recorded."""
    fx = load_fixture(replay.method)
    agent, by_official = build(replay, fx, dtype)
    check_optimizers(agent, fx, by_official)
    samples = []
    if dtype == torch.float32:  # before the agent below is patched and updated
        for seed in range(ROUNDING_SAMPLES):
            twin, tensors = perturbed_copy(agent, by_official, seed)
            samples.append({})
            replay_updates(replay, fx, twin, tensors, dtype, updates, tol,
                           lambda u, c=samples[-1]: Expected(fx, u, dtype, collect=c))
    replay_updates(replay, fx, agent, by_official, dtype, updates, tol,
                   lambda u: Expected(fx, u, dtype, samples=tuple(samples)))


def replay_updates(replay: Replay, fx: dict, agent, by_official: dict, dtype, updates: int, tol: Tolerances,
                   expected) -> None:
    """Run updates 1..``updates`` on ``agent`` (fresh, with the official initial values) and compare each with
    ``expected(u)``, an :class:`Expected`."""
    initial = {n: t.detach().clone() for n, t in by_official.items()}
    zero = set(fx["zero_grad"])
    # Where a gradient is zero in exact arithmetic: the fixture lists "U<k>.<optimizer>: ..." per tensor
    # (SODA's last conv bias is zero in the SODA step only; the critic step trains it normally).
    zero_at = {(n, e.split(":")[0]) for n, entries in fx["zero_grad"].items() for e in entries if e[:1] == "U"}
    calls, grads = [], []
    capture_calls(agent, calls)
    capture_grads(agent, by_official, grads)
    batch_of = replay.batch or default_batch
    prec = "fp64" if dtype == torch.float64 else "fp32"
    for u in range(updates):
        exp = expected(u)
        rec = exp.ref
        calls.clear()
        grads.clear()
        agent.draws = RecordedDraws(fx["draws"][u])
        agent._images = ImageStream(agent.draws.places, fx["shapes"]["batch"], image_size(fx), fx["args"]["seed"],
                                    agent.device)
        b = batch_of(fx, u, dtype)
        agent.sample = lambda replay_, _b=b: _b
        if replay.prepare is not None:
            replay.prepare(agent, fx, u, dtype)
        alpha_before = float(agent.alpha.detach())
        metrics = agent.update(None, rec["step"])
        where = f"{replay.method} {prec} U{u + 1}"
        assert not agent.draws.left(), f"{where}: recorded draws left unused: {agent.draws.left()}"
        if replay.check is not None:  # method-specific intermediates first: they explain later mismatches
            replay.check(agent, fx, u, dtype=dtype, exp=exp, tol=tol, where=where)

        # losses as logged
        logged = rec["logged"]

        def log(key):
            return lambda r: r["logged"][key]

        exp.close(metrics["critic/loss"], log("train_critic/loss"), tol.losses, f"{where} critic loss")
        if "train_actor/loss" in logged:
            exp.close(metrics["actor/loss"], log("train_actor/loss"), tol.losses, f"{where} actor loss")
            exp.close(metrics["alpha/loss"], log("train_alpha/loss"), tol.losses, f"{where} alpha loss")
            # upstream logs α before its step (ours logs it after: alpha/value is α as it leaves the update)
            exp.close(alpha_before, log("train_alpha/value"), tol.losses, f"{where} alpha value")
        else:
            assert "actor/loss" not in metrics, f"{where}: the actor updated on an odd step"
        if "train/aux_loss" in logged:
            exp.close(metrics["aux/loss"], log("train/aux_loss"), tol.losses, f"{where} aux loss")

        # module outputs, per module and phase, concatenated over calls
        def outputs(entries, name):
            return [t for n, out in entries if n == name for t in out if t is not None]

        def cat(ts):
            return torch.cat([t.detach().reshape(-1).double() for t in ts]) if ts else torch.zeros(0)

        def official_outputs(r, name):
            if replay.official_calls is not None:
                entries = replay.official_calls(r)
            else:
                entries = [(c["module"], c["out"]) for c in r["calls"]
                           if c["module"] in ("actor", "critic", "critic_target")]
            # actor: ours has (tanh μ, π, log π, log σ) only where π was drawn, as upstream's
            return cat(outputs(entries, name))

        for name in ("actor", "critic", "critic_target"):
            exp.close(cat(outputs(calls, name)), lambda r, n=name: official_outputs(r, n), tol.outputs,
                      f"{where} {name} outputs")

        # gradients at every optimiser step
        official_steps = rec["opt_steps"]
        assert [OPTIMIZERS[s["opt"]] for s in official_steps] == [n for n, _ in grads], \
            f"{where}: optimiser steps {[n for n, _ in grads]} vs official {[s['opt'] for s in official_steps]}"
        for k, ((opt_name, got), want) in enumerate(zip(grads, official_steps)):
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
                    exp.close(g, lambda r, k=k, n=n: r["opt_steps"][k]["grad_norms"][n], grad_tol,
                              f"{where} {opt_name}: grad norm of {n}")
            for n in want["grads"]:
                if n not in zero_here:
                    exp.close(got[n], lambda r, k=k, n=n: r["opt_steps"][k]["grads"][n], grad_tol,
                              f"{where} {opt_name} grad of {n}")

        # parameters after the update: their changes (after - initial)
        after = rec["after"]
        for n, dn in after["delta_norm"].items():
            if n not in by_official:
                continue
            got = float((by_official[n].detach().double() - initial[n].double()).norm())
            if n in zero:
                exp.near_zero(got, lambda r, n=n: r["after"]["delta_norm"][n], tol.zero_change_abs, tol.params,
                              f"{where}: change of {n} (zero gradient)")
            else:
                exp.close(got, lambda r, n=n: r["after"]["delta_norm"][n], tol.params, f"{where}: change of {n}")
        for n, full in after["full"].items():
            if n in by_official and n not in zero and full.is_floating_point():
                exp.close(by_official[n].detach() - initial[n],
                          lambda r, n=n: r["after"]["full"][n].double() - initial[n].double(),
                          tol.params, f"{where}: {n} after the update")
        for n, sk in after["sketch"].items():
            if n in by_official and n not in zero:
                start = initial[n].reshape(-1)[sk["idx"]].double()
                vals = by_official[n].detach().reshape(-1)[sk["idx"]]
                exp.close(vals - start, lambda r, n=n, s=start: r["after"]["sketch"][n]["values"].double() - s,
                          tol.params, f"{where}: sampled values of {n} after the update")
        exp.close(agent.alpha.detach(), lambda r: r["alpha_after"], tol.params, f"{where} alpha after")
