import sys
# Runs against the API of the commit recorded in the output file (git checkout it to re-record);
# the pinned test (tests/test_smg_update_pinned.py) replays the same inputs through the current API.
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import math, subprocess
import torch
from smg_pin import B, A, fill_params_by_name, fixed_batch, fixed_images, summarize
from smg_fast.agent import make_agent, make_config

torch.set_num_threads(1)

def named_all(agent):
    out, seen = [], set()
    for mname, m in agent.modules().items():
        for n, p in m.named_parameters(remove_duplicate=False):
            full = f"{mname}.{n}"
            out.append((full, p))
    return out

def canonical(agent):
    names = {}
    for full, p in named_all(agent):
        names.setdefault(id(p), full)
    return names

def run(scenario):
    attribution_prob = {"overlay": 0.0, "attribution": 1.0}[scenario]
    cfg = make_config("walker-walk", "smg", "paper", batch_size=B, attribution_prob=attribution_prob)
    images = fixed_images(8)
    it = iter(images)
    torch.manual_seed(0)
    agent = make_agent(cfg, (9, 84, 84), A, lambda: next(it))
    # deterministic weights by canonical name (shared tensors filled once)
    canon = canonical(agent)
    seen = set()
    named = []
    for full, p in named_all(agent):
        if id(p) in seen: continue
        seen.add(id(p)); named.append((full, p))
    fill_params_by_name(named)
    for m in agent.modules().values():
        m.double()
    agent.log_alpha.data = torch.tensor(math.log(0.1), dtype=torch.float64)
    batch = fixed_batch()
    agent.sample_batch = lambda replay: batch
    initial = {canon[id(p)]: p.detach().clone() for _, p in named}
    record = []
    for opt_name, opt in agent.optimizers().items():
        real = opt.step
        def step(*a, _real=real, _name=opt_name, _opt=opt, **k):
            grads = {}
            for gr in _opt.param_groups:
                for p in gr["params"]:
                    if p.grad is not None:
                        grads[canon.get(id(p), "log_alpha")] = summarize(p.grad)
            record[-1]["opt_steps"].append({"opt": _name, "grads": grads})
            return _real(*a, **k)
        opt.step = step
    for u, step in enumerate((1002, 1003)):
        record.append({"step": step, "opt_steps": []})
        torch.manual_seed(100 + u)
        metrics = agent.update(None, step)
        record[-1]["metrics"] = {k: float(v) for k, v in metrics.items()}
        record[-1]["params"] = {canon[id(p)]: summarize(p.detach() - initial[canon[id(p)]]) for _, p in named}
        record[-1]["log_alpha"] = float(agent.log_alpha.detach())
    return record

commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2])).stdout.strip()
out = {"commit": commit, "threads": 1, "scenarios": {s: run(s) for s in ("overlay", "attribution")}}
torch.save(out, str(__import__("pathlib").Path(__file__).with_name("smg_update_pin.pt")))
for s, rec in out["scenarios"].items():
    for r in rec:
        print(s, r["step"], {k: round(v, 6) for k, v in r["metrics"].items()})
        print("  opt steps", [o["opt"] for o in r["opt_steps"]], len(r["params"]))
