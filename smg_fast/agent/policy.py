"""Acting: an actor's actions for observations, and a snapshot of the deterministic policy that an evaluation
can run on while training goes on (``async_eval``).

An evaluation needs only the actor (its encoder — the trunk it shares with the critic — and its heads) and
acts deterministically (tanh μ): no optimiser, no random draw. :class:`PolicySnapshot` copies that actor where
it lives (on a GPU: on the device, no host round trip), so the updates that follow, which change the live
weights in place, leave the evaluation's weights as they were at the evaluation's step: its actions are the ones
the agent itself would have given at that step.
"""
from __future__ import annotations

import contextlib
import copy

import numpy as np
import torch


def actions(actor, obs, device: torch.device, bf16: bool, sample: bool, draw_noise=None) -> np.ndarray:
    """``actor``'s action(s) for uint8 observation(s) ``[3k, H, W]`` or ``[N, 3k, H, W]``: tanh(μ), or a draw
    from π with ``sample`` (ε from ``draw_noise``); forward passes under bfloat16 autocast with ``bf16``."""
    x = torch.as_tensor(np.asarray(obs), device=device).float()
    single = x.dim() == 3
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        mu, pi, _, _ = actor.heads(actor.encoder(x[None] if single else x), sample, draw_noise or torch.randn_like)
    a = (pi if sample else mu).cpu().numpy()
    return a[0] if single else a


class PolicySnapshot:
    """The deterministic policy of a copy of ``actor`` (see the module doc), with :meth:`act` like an agent's
    (``sample=False`` only) and the copy's weights as :meth:`state_dict` (a checkpoint taken while the
    evaluation runs keeps them, so a resumed run can evaluate that step again).

    On a GPU it acts on a CUDA stream of its own, which first waits for the copy: its small forward passes do
    not queue behind the update's kernels on the training stream."""

    def __init__(self, actor: torch.nn.Module, device, bf16: bool):
        self.device, self.bf16 = torch.device(device), bf16
        self.actor = copy.deepcopy(actor).requires_grad_(False)  # a Parameter's deepcopy leaves its .grad
        self.stream = None
        if self.device.type == "cuda":
            self.stream = torch.cuda.Stream(self.device)
            self.stream.wait_stream(torch.cuda.current_stream(self.device))

    def act(self, obs, sample: bool = False) -> np.ndarray:
        if sample:
            raise ValueError("a policy snapshot acts deterministically (evaluation): sample must be False")
        with torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext():
            return actions(self.actor, obs, self.device, self.bf16, sample=False)

    def state_dict(self) -> dict:
        return self.actor.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state)
