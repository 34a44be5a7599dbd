"""replay_gather (the replay buffer's kernel; its values against the reference are tested with the buffer in
tests/test_replay.py and the CUDA kernel's in tests/test_cuda_emulation.py): opcheck and bad inputs."""
import pytest
import torch

import smg_fast.ops as ops
from op_inputs import r, shifts, u8, raises_named_error

pytestmark = pytest.mark.fast  # the subset run against every supported torch (pyproject.toml)


def _opcheck_cases():
    g = torch.Generator().manual_seed(0)
    u8 = lambda *s: torch.randint(0, 256, s, dtype=torch.uint8, generator=g)  # noqa: E731
    return [
        ("replay_gather", (u8(6, 3, 5, 5), torch.tensor([0, 5, 2]), torch.tensor([0, 3, 1]),
                           torch.tensor([[0, 8], [4, 4], [8, 1]]), 3, 4, None)),
    ]


@pytest.mark.parametrize("case", _opcheck_cases(), ids=lambda c: c[0])
def test_opcheck(case):
    name, args = case
    torch.library.opcheck(getattr(torch.ops.smg_fast, name.split()[0]).default, args)


CASES = [
    ("replay_gather frames dtype", lambda: ops.replay_gather(r(5, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long), shifts), TypeError, ["frames", "uint8"]),
    ("replay_gather slot range", lambda: ops.replay_gather(u8(5, 3, 8, 8), torch.tensor([0, 5]), torch.zeros(2, dtype=torch.long), shifts), ValueError, ["slots", "capacity"]),
    ("replay_gather pos length", lambda: ops.replay_gather(u8(5, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(3, dtype=torch.long), shifts), ValueError, ["pos"]),
    ("replay_gather negative pos", lambda: ops.replay_gather(u8(5, 3, 8, 8), torch.zeros(2, dtype=torch.long), torch.tensor([0, -1]), shifts), ValueError, ["pos", ">= 0"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_named_error(case):
    raises_named_error(case)
