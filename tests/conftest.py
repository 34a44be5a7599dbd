import os

from hypothesis import settings

# Kernels are fast but hypothesis' default 200 ms deadline trips on first-call JIT/dispatch warm-up
# and on a loaded 2-core CI machine.
settings.register_profile("smg", deadline=None, max_examples=40, derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "smg"))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: an end-to-end run over ~30 s (deselect with -m 'not slow')")
