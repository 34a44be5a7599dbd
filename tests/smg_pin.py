"""Deterministic weights and inputs for pinning the SMG update (shared by the generator and the test)."""
import zlib

import numpy as np
import torch

B, A = 4, 6


def fill_params_by_name(named):
    """Every tensor gets values that depend only on its name: weights U(±sqrt(6/fan_in)) (He-uniform),
    LayerNorm weights 1 + 0.1·U(-1, 1), biases 0.05·U(-1, 1)."""
    with torch.no_grad():
        for name, p in named:
            g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            u = torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(u * (6.0 / fan_in) ** 0.5)
            elif name.endswith("weight"):
                p.copy_(1 + 0.1 * u)
            else:
                p.copy_(0.05 * u)


def fixed_batch(seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 256, (B, 9, 84, 84), generator=g).to(dtype)
    next_obs = torch.randint(0, 256, (B, 9, 84, 84), generator=g).to(dtype)
    action = (torch.rand(B, A, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)
    reward = torch.rand(B, 1, generator=g, dtype=torch.float64).to(dtype)
    not_done = torch.tensor([[1.0], [1.0], [1.0], [0.0]], dtype=dtype)
    return {"obs": obs, "action": action, "reward": reward, "next_obs": next_obs, "not_done": not_done}


def fixed_images(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (B, 3, 84, 84), generator=g, dtype=torch.uint8) for _ in range(n)]


def sample_idx(numel, k=32):
    return np.sort(np.random.default_rng(numel).choice(numel, min(k, numel), replace=False))


def summarize(t):
    t = t.detach().double().flatten()
    idx = sample_idx(t.numel())
    return {"norm": float(t.norm()), "sum": float(t.sum()), "values": t[torch.as_tensor(idx)].clone()}
