import os
import sys
from pathlib import Path

import torch

# The loop benchmark drives the trainer with the tests' synthetic stand-ins (tests/synthetic.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

# SMG_FAST_BENCH_TUNED_MALLOC=1: keep freed memory in glibc's heap, as training does
# (smg_fast.run.allocator.tune_allocator); the fused and the reference side both benefit.
if os.environ.get("SMG_FAST_BENCH_TUNED_MALLOC") == "1":
    from smg_fast.run.allocator import tune_allocator

    tune_allocator()


def pytest_report_header(config):
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def pytest_generate_tests(metafunc):
    """Benchmarks that take a ``device`` run on the CPU and, where one is present, on CUDA: the day a GPU
    is lent, ``pytest benchmarks/ --benchmark-only`` fills the GPU rows too."""
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
