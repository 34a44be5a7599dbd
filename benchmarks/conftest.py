import torch


def pytest_report_header(config):
    return f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def pytest_configure(config):
    # SMG_FAST_BENCH_TUNED_MALLOC=1: keep freed memory in glibc's heap, as training does
    # (smg_fast.runtime.tune_allocator); both the fused and the reference side benefit.
    import os

    if os.environ.get("SMG_FAST_BENCH_TUNED_MALLOC") == "1":
        from smg_fast.runtime import tune_allocator

        tune_allocator()
